"""Merge execution (DESIGN.md flow 4): approved merges run after their undo window, in chunks of at most 20 ids,
exactly once even when AWS times out, answers 5xx after merging, or a worker dies mid-job.

How "exactly once" holds, since MergeProfiles has no idempotency token:
- a job is claimed with a row lock and a claim token; every later write checks the token, so a worker that lost its
  claim stops before another call;
- the chunk plan is a pure function of the Decision, so every attempt computes the same chunks;
- before a call, the chunk is marked in flight (own transaction); after it, the chunk is marked done (own transaction);
- every attempt, and every call whose outcome is unknown, starts with BatchGetProfile: ids that are gone are not sent
  again, and a chunk whose ids are all gone counts as done. MergeProfiles is never retried blindly.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from matches import aws, fields, roles
from matches.models import Decision, Domain, MatchGroup, MergeJob, OpsSwitch, Profile
from matches.ratelimit import RateLimitTimeout, merge_call_slot
from matches.services import enqueue
from matches.services.audit import audit_log
from matches.services.groups import group_set_status, groups_set_status, linked_groups_follow

log = logging.getLogger(__name__)

JobStatus = MergeJob.Status
GroupStatus = MatchGroup.Status
MAX_IDS = aws.MAX_IDS_PER_CALL
# BatchGetProfile error codes that mean "this profile does not exist (any more)".
_GONE_CODES = {"404", "ResourceNotFoundException", "NotFound", "ProfileNotFound"}
# Confirming that AWS finished merging the field-source chunk: checks per attempt, attempts before giving up.
CONFIRM_TRIES = 3
CONFIRM_MAX_ATTEMPTS = 8


_LINKED_MERGED = "Merged after a decision in an earlier run."


class MergeRefused(Exception):
    """The action on a merge job is not allowed; the message says why."""


class MergePlanError(Exception):
    """The decision cannot be carried out with MergeProfiles as it stands."""


class _ClaimLost(Exception):
    """Another worker took this job over (ours was presumed dead): stop without any further call."""


# Plan -----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    index: int
    profile_ids: list[str]


def merge_plan(decision: Decision) -> list[list[str]]:
    """The chunks of ids to merge, in call order; the same for every run of the same Decision.

    The first chunk carries every profile chosen as a field source (with the chosen FieldSourceProfileIds), then the
    other ids in sorted order; later chunks name the main profile as the source of every decided field.
    """
    main = decision.main_profile_id
    others = sorted(set(decision.merged_profile_ids) - {main})
    sources = sorted({pid for pid in (decision.field_sources or {}).values() if pid != main})
    if len(sources) > MAX_IDS:
        raise MergePlanError(
            f"{len(sources)} different profiles are chosen as field sources, but MergeProfiles takes at most "
            f"{MAX_IDS} profiles in the call that applies the choices; nothing was merged."
        )
    if not others:
        raise MergePlanError("The decision names no profile to merge into the main profile; nothing was merged.")
    rest = [pid for pid in others if pid not in sources]
    room = MAX_IDS - len(sources)
    first = sorted(sources + rest[:room])
    later = rest[room:]
    return [first] + [later[i : i + MAX_IDS] for i in range(0, len(later), MAX_IDS)]


def chunk_field_sources(decision: Decision, index: int, present: set[str]) -> dict[str, Any] | None:
    """FieldSourceProfileIds for one call. After the first chunk the main profile holds every chosen value, so it
    is the source of every decided field (a later chunk cannot overwrite the steward's choices)."""
    chosen = decision.field_sources or {}
    if not chosen:
        return None
    main = decision.main_profile_id
    if index == 0:
        # A chosen source that is gone here was merged by an earlier, unanswered call of this same chunk.
        flat = {key: (pid if pid in present or pid == main else main) for key, pid in chosen.items()}
    else:
        flat = dict.fromkeys(chosen, main)
    return fields.to_aws_field_sources(flat)


# Claims -------------------------------------------------------------------------------------------------------------


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def merges_paused_all() -> bool:
    return OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.MATCHDESK["MERGE_STALE_SECONDS"])


def _due_q(now) -> Q:
    """Scheduled and due, or running under a worker whose heartbeat stopped (it died mid-job)."""
    return Q(status=JobStatus.SCHEDULED, not_before__lte=now) | Q(
        status=JobStatus.RUNNING, heartbeat_at__lt=_stale_before()
    )


def merge_jobs_due():
    """Due jobs of domains whose merges are not paused (empty when all merges are paused)."""
    if merges_paused_all():
        return MergeJob.objects.none()
    return (
        MergeJob.objects.filter(_due_q(timezone.now()))
        .exclude(decision__group__run__domain__merges_paused=True)
        .order_by("not_before", "id")
    )


def merge_job_claim(*, worker_id: str, job_id: int | None = None) -> tuple[MergeJob, str] | None:
    """Take one due job (or the given one, if due) so no other worker can: (job, claim token), or None."""
    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    with transaction.atomic():
        candidates = merge_jobs_due()
        if job_id is not None:
            candidates = candidates.filter(pk=job_id)
        job = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if job is None:
            return None
        now = timezone.now()
        got = MergeJob.objects.filter(pk=job.pk, status=job.status, worker=job.worker).update(
            status=JobStatus.RUNNING,
            worker=token,
            attempts=job.attempts + 1,
            started_at=job.started_at or now,
            heartbeat_at=now,
        )
        if got != 1:  # cannot happen under the row lock; checked rather than assumed
            return None
        job.refresh_from_db()
        return job, token


def _locked_job(job: MergeJob, token: str) -> MergeJob:
    current = MergeJob.objects.select_for_update().get(pk=job.pk)
    if current.status != JobStatus.RUNNING or current.worker != token:
        raise _ClaimLost(f"merge job {job.pk} is now {current.status} under {current.worker or 'no worker'}")
    return current


def _heartbeat(job: MergeJob, token: str, **values: Any) -> None:
    """Save progress in its own transaction, refusing if the claim was lost."""
    with transaction.atomic():
        current = _locked_job(job, token)
        values["heartbeat_at"] = timezone.now()
        for name, value in values.items():
            setattr(current, name, value)
            setattr(job, name, value)
        current.save(update_fields=list(values))


# Execution ----------------------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    sent_back: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.succeeded) + len(self.failed) + len(self.deferred) + len(self.sent_back) + len(self.lost)

    def add(self, job_id: int, outcome: str) -> None:
        getattr(self, outcome).append(job_id)

    def line(self) -> str:
        return (
            f"{len(self.succeeded)} succeeded, {len(self.failed)} failed, {len(self.deferred)} deferred, "
            f"{len(self.sent_back)} sent back to review"
            + (f", {len(self.lost)} taken over by another worker" if self.lost else "")
        )


def merge_jobs_run_due(*, limit: int | None = None, worker_id: str | None = None) -> RunSummary:
    """Claim and execute due merge jobs one after another until none is due (or `limit` were run)."""
    worker_id = worker_id or default_worker_id()
    summary = RunSummary()
    seen: set[int] = set()
    while limit is None or summary.total < limit:
        claimed = merge_job_claim(worker_id=worker_id)
        if claimed is None:
            break
        job, token = claimed
        if job.pk in seen:
            # Deferred to "now" by this same run (paused mid-job): leave it to the next sweep.
            _release_claim(job, token)
            break
        seen.add(job.pk)
        summary.add(job.pk, merge_job_execute(job=job, token=token))
    return summary


def merge_job_run(*, job_id: int, worker_id: str | None = None) -> str:
    """Execute one job if it is due and not paused; 'skipped' when not claimable (the sweep catches it later)."""
    claimed = merge_job_claim(worker_id=worker_id or default_worker_id(), job_id=job_id)
    if claimed is None:
        return "skipped"
    job, token = claimed
    return merge_job_execute(job=job, token=token)


def _release_claim(job: MergeJob, token: str) -> None:
    MergeJob.objects.filter(pk=job.pk, worker=token, status=JobStatus.RUNNING).update(
        status=JobStatus.SCHEDULED, worker=""
    )


def merge_job_execute(*, job: MergeJob, token: str) -> str:
    """Run a claimed job to an outcome: 'succeeded', 'failed', 'deferred', 'sent_back' or 'lost'."""
    try:
        return _Execution(job, token).run()
    except _ClaimLost as exc:
        log.warning("%s", exc)
        return "lost"


class _Deferred(Exception):
    """Back to scheduled after `delay` seconds; the in-flight marker stays, so the next attempt re-checks first."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class _Failed(Exception):
    pass


class _SentBack(Exception):
    pass


class _Execution:
    def __init__(self, job: MergeJob, token: str) -> None:
        self.job = job
        self.token = token
        self.decision = Decision.objects.select_related("group__run__domain", "actor").get(pk=job.decision_id)
        self.group = self.decision.group
        self.domain: Domain = self.group.run.domain
        self.main = self.decision.main_profile_id

    # Outcomes ---------------------------------------------------------------------------------------------------

    def run(self) -> str:
        try:
            self._run()
        except _Deferred as exc:
            self._defer(exc)
            return "deferred"
        except _SentBack as exc:
            self._send_back(str(exc))
            return "sent_back"
        except _Failed as exc:
            self._fail(str(exc))
            return "failed"
        except (_ClaimLost, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug must leave the job visible, never silently running
            log.exception("merge job %s crashed", self.job.pk)
            self._fail(f"Internal error while merging ({type(exc).__name__}: {exc}); see the worker log.")
            return "failed"
        self._succeed()
        return "succeeded"

    def _message(self, **entry: Any) -> dict[str, Any]:
        return {"at": timezone.now().isoformat(timespec="milliseconds"), "attempt": self.job.attempts, **entry}

    def _record(self, **entry: Any) -> None:
        self._heartbeat(aws_messages=[*self.job.aws_messages, self._message(**entry)])

    def _heartbeat(self, **values: Any) -> None:
        _heartbeat(self.job, self.token, **values)

    def _locked_group(self) -> MatchGroup:
        return MatchGroup.objects.select_for_update().get(pk=self.group.pk)

    def _audit(self, action: str, **details: Any) -> None:
        audit_log(
            actor=None,
            action=action,
            object_type="merge_job",
            object_id=self.job.pk,
            domain=self.domain,
            details={
                "decision_id": self.decision.pk,
                "group_id": self.group.pk,
                "match_id": self.group.match_id,
                "main_profile_id": self.main,
                "attempt": self.job.attempts,
                **details,
            },
        )

    def _finish(self, *, status: str, reason: str = "", extra: dict[str, Any] | None = None) -> MergeJob:
        current = _locked_job(self.job, self.token)
        current.status = status
        current.finished_at = timezone.now()
        current.heartbeat_at = current.finished_at
        current.last_error = reason
        current.worker = ""
        for name, value in (extra or {}).items():
            setattr(current, name, value)
        current.save()
        self.job = current
        return current

    def _succeed(self) -> None:
        with transaction.atomic():
            job = self._finish(status=JobStatus.SUCCEEDED, extra={"inflight_chunk": None})
            group = self._locked_group()
            note = self._gone_note() if job.gone_profile_ids else ""
            if self.decision.action == Decision.Action.MERGE:
                group_set_status(group=group, status=GroupStatus.MERGED, reason=note)
            elif note:
                group_set_status(group=group, status=group.status, reason=note)
            linked = self._linked_follow(GroupStatus.MERGED, " ".join(filter(None, [_LINKED_MERGED, note])))
            self._audit(
                "merge.succeeded",
                linked_groups=linked,
                chunks=len(job.plan),
                calls=sum(1 for m in job.aws_messages if m.get("operation") == "MergeProfiles" and m.get("ok")),
                merged_profile_ids=self._merged_ids(),
                gone_profile_ids=job.gone_profile_ids,
            )
        self._refresh_main_profile()

    def _fail(self, reason: str) -> None:
        with transaction.atomic():
            job = self._finish(status=JobStatus.FAILED, reason=reason)
            group = self._locked_group()
            group_set_status(group=group, status=GroupStatus.FAILED, reason=reason)
            linked = self._linked_follow(GroupStatus.FAILED, reason)
            self._audit(
                "merge.failed",
                reason=reason,
                linked_groups=linked,
                chunks_done=job.chunks_done,
                merged_profile_ids=self._merged_ids(),
                gone_profile_ids=job.gone_profile_ids,
            )

    def _send_back(self, reason: str) -> None:
        with transaction.atomic():
            self._finish(status=JobStatus.CANCELLED, reason=reason)
            group = self._locked_group()
            group_set_status(group=group, status=GroupStatus.OPEN, reason=reason)
            linked = self._linked_follow(GroupStatus.OPEN, reason)
            self._audit(
                "merge.sent_back", reason=reason, linked_groups=linked, gone_profile_ids=self.job.gone_profile_ids
            )

    def _linked_follow(self, status: str, reason: str) -> int:
        """Groups of later runs linked to this decision by carry-over (still approved) follow the job."""
        return linked_groups_follow(decision_id=self.decision.pk, status=status, reason=reason)

    def _defer(self, exc: _Deferred) -> None:
        with transaction.atomic():
            current = _locked_job(self.job, self.token)
            current.status = JobStatus.SCHEDULED
            current.not_before = timezone.now() + timedelta(seconds=exc.delay)
            current.worker = ""
            current.last_error = exc.reason
            current.save()
            self.job = current
            self._audit(
                "merge.deferred",
                reason=exc.reason,
                not_before=current.not_before.isoformat(),
                chunks_done=current.chunks_done,
                inflight_chunk=current.inflight_chunk,
            )

    def _backoff(self) -> float:
        base = settings.MATCHDESK["MERGE_BACKOFF_BASE"]
        cap = settings.MATCHDESK["MERGE_BACKOFF_MAX"]
        delay = min(cap, base * 2 ** min(self.job.attempts - 1, 10))
        return delay / 2 + random.uniform(0, delay / 2)  # "equal jitter": never less than half the step

    def _merged_ids(self) -> list[str]:
        gone = set(self.job.gone_profile_ids)
        done = [pid for chunk in self.job.plan[: self.job.chunks_done] for pid in chunk]
        return sorted(pid for pid in done if pid not in gone)

    def _gone_note(self) -> str:
        ids = ", ".join(self.job.gone_profile_ids)
        return f"Merged without {ids}: no longer at AWS when the merge ran (merged or deleted since the decision)."

    # Steps --------------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        if not self.job.plan:
            try:
                plan = merge_plan(self.decision)
            except MergePlanError as exc:
                raise _Failed(str(exc)) from None
            self._heartbeat(plan=plan)
        plan = self.job.plan
        done, inflight = self.job.chunks_done, self.job.inflight_chunk
        resumed = done > 0 or inflight is not None
        # Everything not known to be merged yet, plus the main profile.
        pending = [pid for chunk in plan[done:] for pid in chunk]
        present = self._present([self.main, *pending])
        if self.main not in present:
            before = f" {done} of {len(plan)} chunks had been merged into it before." if done else ""
            raise _Failed(
                f"The main profile {self.main} no longer exists at AWS (merged or deleted since the decision); "
                f"{'nothing more' if resumed else 'nothing'} was merged.{before}"
            )
        if inflight is not None and inflight < done:
            # AWS answered the field-source chunk but had not finished merging it when we last looked.
            self._confirm_merged(Chunk(inflight, plan[inflight]))
            inflight = None
        # Ids missing from chunks never sent were gone before we touched them (AWS auto-merge, a deletion); ids
        # missing from the chunk in flight were merged by the call whose answer we never got.
        never_sent_from = inflight + 1 if inflight is not None else done
        gone_now = sorted(pid for chunk in plan[never_sent_from:] for pid in chunk if pid not in present)
        if gone_now:
            with transaction.atomic():
                current = _locked_job(self.job, self.token)
                current.gone_profile_ids = sorted(set(current.gone_profile_ids) | set(gone_now))
                current.save(update_fields=["gone_profile_ids"])
                self.job = current
                Profile.objects.filter(domain=self.domain, profile_id__in=gone_now).update(missing=True)
        if done == 0 and inflight is None:
            self._check_field_sources(present)
            if not any(pid in present for pid in pending):
                raise _Failed(
                    "None of the profiles to merge into the main profile exists at AWS any more (merged or deleted "
                    "since the decision); nothing was merged."
                )
        with transaction.atomic():
            _locked_job(self.job, self.token)
            self._audit(
                "merge.started",
                chunks=len(plan),
                chunks_done=done,
                inflight_chunk=inflight,
                resumed=resumed,
                gone_profile_ids=gone_now,
            )
        for index in range(done, len(plan)):
            self._run_chunk(Chunk(index, plan[index]), present)

    def _check_field_sources(self, present: set[str]) -> None:
        """A chosen field source gone before the first chunk was sent: the steward's choice cannot be honoured."""
        missing: dict[str, list[str]] = {}
        for key, pid in sorted((self.decision.field_sources or {}).items()):
            if pid != self.main and pid not in present:
                missing.setdefault(pid, []).append(key)
        if missing:
            parts = "; ".join(f"{pid} (chosen for {', '.join(keys)})" for pid, keys in missing.items())
            raise _SentBack(
                f"A profile chosen as a field source no longer exists at AWS: {parts}. Nothing was merged; "
                "the group is back in review so the fields can be chosen again."
            )

    def _present(self, ids: list[str]) -> set[str]:
        """Which of `ids` exist at AWS now (BatchGetProfile, 20 at a time)."""
        present: set[str] = set()
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), MAX_IDS):
            batch = wanted[start : start + MAX_IDS]
            if start:
                self._heartbeat()  # a big group's re-check takes many calls: show we are alive
            try:
                profiles, errors = aws.batch_get_profiles(self.domain, batch)
            except aws.MatchdeskAwsError as exc:
                self._record(operation="BatchGetProfile", ok=False, code=exc.code, message=str(exc))
                if exc.retryable:
                    raise _Deferred(f"Could not re-check the profiles: {exc}", self._backoff()) from None
                raise _Failed(f"Could not re-check the profiles, nothing more was merged: {exc}") from None
            unknown = {pid: e for pid, e in errors.items() if str(e.get("Code", "")) not in _GONE_CODES}
            if unknown:
                detail = "; ".join(f"{pid}: {e.get('Code')} {e.get('Message', '')}" for pid, e in unknown.items())
                self._record(operation="BatchGetProfile", ok=False, code="ProfileErrors", message=detail)
                raise _Deferred(f"AWS could not say whether some profiles exist ({detail})", self._backoff())
            present.update(pid for pid in profiles if pid in batch)
        return present

    def _paused(self) -> bool:
        return merges_paused_all() or Domain.objects.filter(pk=self.domain.pk, merges_paused=True).exists()

    def _run_chunk(self, chunk: Chunk, present: set[str]) -> None:
        if self._paused():
            raise _Deferred(
                f"Merges are paused; {self.job.chunks_done} of {len(self.job.plan)} chunks done, "
                "the rest runs after resume.",
                0,
            )
        ids = [pid for pid in chunk.profile_ids if pid in present]
        if not ids:
            self._chunk_done(chunk, message="nothing left to send: no profile of this chunk exists any more", ids=[])
            return
        sources = chunk_field_sources(self.decision, chunk.index, present)
        before = self.job.inflight_chunk
        try:
            with merge_call_slot(domain_name=self.domain.name, per_second=self.domain.merge_rate_per_second):
                # Marked in flight before the call: if we die during it, the next attempt re-checks first.
                self._heartbeat(inflight_chunk=chunk.index)
                message = aws.merge_profiles(
                    self.domain, main_profile_id=self.main, profile_ids=ids, field_sources=sources
                )
        except RateLimitTimeout as exc:
            raise _Deferred(str(exc), self._backoff()) from None
        except (aws.AwsServerError, aws.AwsUnavailable) as exc:
            self._record_call(chunk, ids, ok=False, code=exc.code, message=str(exc))
            self._recheck_after_unknown(chunk, ids, present, exc)
            return
        except aws.MatchdeskAwsError as exc:
            # Throttled or refused: AWS did not take this call, so nothing more is in flight than before it.
            self._record_call(chunk, ids, ok=False, code=exc.code, message=str(exc), inflight_chunk=before)
            if isinstance(exc, aws.AwsThrottled):
                raise _Deferred(f"AWS throttled MergeProfiles: {exc.aws_message or exc}", self._backoff()) from None
            merged = self._merged_ids()
            partial = f" {len(merged)} profiles were merged in earlier chunks." if merged else " Nothing was merged."
            raise _Failed(
                f"MergeProfiles refused chunk {chunk.index + 1} of {len(self.job.plan)}: {exc}{partial}"
            ) from None
        # MergeProfiles may finish asynchronously. Later chunks name the main profile as the source of every decided
        # field, so they must not start before the field-source chunk has really been merged into it.
        confirm = chunk.index == 0 and len(self.job.plan) > 1 and bool(self.decision.field_sources)
        self._chunk_done(chunk, message=message, ids=ids, called=True, confirm=confirm)
        if confirm:
            self._confirm_merged(chunk)

    def _confirm_merged(self, chunk: Chunk) -> None:
        """Wait until the profiles of an answered chunk are gone at AWS; never send them again."""
        for _ in range(CONFIRM_TRIES):
            still = self._present(chunk.profile_ids)
            if not still:
                self._heartbeat(inflight_chunk=None)
                return
            time.sleep(settings.MATCHDESK["MERGE_RECHECK_DELAY"])
        waiting = f"AWS accepted chunk {chunk.index + 1} but {len(still)} of its profiles still exist"
        if self.job.attempts >= CONFIRM_MAX_ATTEMPTS:
            raise _Failed(
                f"{waiting} after {self.job.attempts} attempts ({', '.join(sorted(still))}); the remaining chunks "
                "were not sent. Check these profiles at AWS before retrying."
            )
        raise _Deferred(
            f"{waiting}; the remaining chunks wait so they cannot overwrite the chosen fields.", self._backoff()
        )

    def _record_call(self, chunk: Chunk, ids: list[str], **entry: Any) -> None:
        extra = {k: entry.pop(k) for k in list(entry) if k == "inflight_chunk"}
        message = self._message(operation="MergeProfiles", chunk=chunk.index, ids=ids, **entry)
        self._heartbeat(aws_messages=[*self.job.aws_messages, message], **extra)

    def _recheck_after_unknown(self, chunk: Chunk, ids: list[str], present: set[str], exc: Exception) -> None:
        """The call may or may not have merged (timeout, 5xx, asynchronous completion): look before anything else."""
        time.sleep(settings.MATCHDESK["MERGE_RECHECK_DELAY"])
        still = self._present(ids)
        if not still:
            self._chunk_done(chunk, message=f"re-checked after {exc.code}: every profile is merged", ids=[])
            return
        present.difference_update(set(ids) - still)
        raise _Deferred(
            f"MergeProfiles did not answer clearly ({exc.code}) and {len(still)} of {len(ids)} profiles of chunk "
            f"{chunk.index + 1} still exist; the next attempt re-checks and sends only those.",
            self._backoff(),
        )

    def _chunk_done(
        self, chunk: Chunk, *, message: str, ids: list[str], called: bool = False, confirm: bool = False
    ) -> None:
        """Record a chunk as merged. With `confirm` it stays marked (inflight_chunk < chunks_done) until
        BatchGetProfile shows its profiles gone, so that a rerun confirms before sending the next chunk."""
        now = timezone.now()
        with transaction.atomic():
            current = _locked_job(self.job, self.token)
            current.chunks_done = chunk.index + 1
            current.inflight_chunk = chunk.index if confirm else None
            current.heartbeat_at = now
            current.aws_messages = [
                *current.aws_messages,
                self._message(
                    operation="MergeProfiles" if called else "BatchGetProfile",
                    chunk=chunk.index,
                    ids=ids,
                    ok=True,
                    message=message,
                ),
            ]
            current.save(update_fields=["chunks_done", "inflight_chunk", "heartbeat_at", "aws_messages"])
            self.job = current
            merged = [pid for pid in chunk.profile_ids if pid not in set(current.gone_profile_ids)]
            self._mark_merged(merged, now)
            self._audit(
                "merge.chunk",
                chunk=chunk.index,
                chunks=len(current.plan),
                sent_profile_ids=ids,
                merged_profile_ids=merged,
                message=message,
            )

    def _mark_merged(self, ids: list[str], now) -> None:
        """Merged-away profiles point at the main profile; other open groups holding them can no longer be decided."""
        if not ids:
            return
        existing = set(
            Profile.objects.filter(domain=self.domain, profile_id__in=ids).values_list("profile_id", flat=True)
        )
        Profile.objects.filter(domain=self.domain, profile_id__in=existing).update(
            merged_into=self.main, merged_at=now, missing=True
        )
        Profile.objects.bulk_create(
            [
                Profile(domain=self.domain, profile_id=pid, merged_into=self.main, merged_at=now, missing=True)
                for pid in ids
                if pid not in existing
            ],
            ignore_conflicts=True,
        )
        groups_set_status(
            queryset=MatchGroup.objects.filter(
                run__domain=self.domain, status=GroupStatus.OPEN, profile_ids__overlap=ids
            ).exclude(pk=self.group.pk),
            status=GroupStatus.STALE,
            reason=f"A member was merged into {self.main} (merge job {self.job.pk}).",
        )

    def _refresh_main_profile(self) -> None:
        """Best effort: keep the cached main profile as AWS now holds it."""
        try:
            profiles, _ = aws.batch_get_profiles(self.domain, [self.main])
        except aws.MatchdeskAwsError:
            return
        if self.main in profiles:
            Profile.objects.update_or_create(
                domain=self.domain,
                profile_id=self.main,
                defaults={"attributes": profiles[self.main], "fetched_at": timezone.now(), "missing": False},
            )


# Admin actions ------------------------------------------------------------------------------------------------------


def merge_job_retry(*, job: MergeJob, actor) -> MergeJob:
    """A new attempt of a failed job (admin): it re-checks every profile before any call."""
    if not actor.has_perm(roles.ADMINISTER):
        raise MergeRefused("Only an admin can retry a failed merge.")
    with transaction.atomic():
        job = MergeJob.objects.select_for_update().select_related("decision__group__run__domain").get(pk=job.pk)
        if job.status != JobStatus.FAILED:
            raise MergeRefused(f"Only a failed merge can be retried; this one is {job.status}.")
        group = MatchGroup.objects.select_for_update().get(pk=job.decision.group_id)
        if group.status != GroupStatus.FAILED:
            raise MergeRefused(f"The group is {group.status} now; it is no longer waiting for this merge.")
        previous = job.last_error
        job.status = JobStatus.SCHEDULED
        job.not_before = timezone.now()
        job.finished_at = None
        job.worker = ""
        job.last_error = ""
        job.save(update_fields=["status", "not_before", "finished_at", "worker", "last_error"])
        new_status = GroupStatus.SPLIT if job.decision.action == Decision.Action.SPLIT else GroupStatus.APPROVED
        group_set_status(group=group, status=new_status, reason=f"Retrying the merge after: {previous}")
        linked = linked_groups_follow(
            decision_id=job.decision_id,
            status=GroupStatus.APPROVED,
            reason=f"A merge decided in an earlier run is pending (retrying after: {previous})",
            from_status=GroupStatus.FAILED,
        )
        audit_log(
            actor=actor,
            action="merge.retried",
            object_type="merge_job",
            object_id=job.pk,
            domain=group.run.domain,
            details={
                "decision_id": job.decision_id,
                "group_id": group.pk,
                "previous_error": previous,
                "linked_groups": linked,
            },
        )
        enqueue.merge_job(job_id=job.pk)
    return job


def merges_set_paused_all(*, actor, paused: bool) -> None:
    """Pause or resume merge execution for every domain (the PAUSE_ALL_MERGES switch)."""
    if not actor.has_perm(roles.ADMINISTER):
        raise MergeRefused("Only an admin can pause or resume merges.")
    with transaction.atomic():
        switch, _ = OpsSwitch.objects.select_for_update().get_or_create(name=OpsSwitch.PAUSE_ALL_MERGES)
        if switch.on == paused:
            return
        switch.on = paused
        switch.changed_by = actor
        switch.save()
        audit_log(
            actor=actor,
            action="merges.paused" if paused else "merges.resumed",
            object_type="ops_switch",
            object_id=OpsSwitch.PAUSE_ALL_MERGES,
            details={"scope": "all"},
        )
