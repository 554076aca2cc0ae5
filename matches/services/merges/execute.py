"""The steps of one attempt of a merge job: re-check at AWS, then MergeProfiles chunk by chunk, each call marked in
flight before it is sent and done after it is answered, each mark in its own transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from matches import aws
from matches.models import Domain, MatchGroup, MatchRun, MergeJob, Profile
from matches.ratelimit import RateLimitTimeout, merge_call_slot
from matches.services.groups import groups_set_status
from matches.services.merges import witness
from matches.services.merges.claims import (
    default_worker_id,
    locked_job,
    merge_job_claim,
    merges_paused_all,
    release_claim,
)
from matches.services.merges.errors import ClaimLost, MergePlanError
from matches.services.merges.outcomes import Deferred, Failed, JobOutcomes, Outcome, SentBack
from matches.services.merges.plan import MAX_IDS, Chunk, chunk_field_sources, merge_plan
from matches.services.merges.witness import merge_witness

log = logging.getLogger(__name__)

GroupStatus = MatchGroup.Status
# BatchGetProfile error codes that mean "this profile does not exist (any more)".
_GONE_CODES = {"404", "ResourceNotFoundException", "NotFound", "ProfileNotFound"}
# Confirming that AWS finished merging the field-source chunk: checks per attempt, attempts before giving up.
CONFIRM_TRIES = 3
CONFIRM_MAX_ATTEMPTS = 8


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

    def add(self, job_id: int, outcome: Outcome) -> None:
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
            release_claim(job, token)
            break
        seen.add(job.pk)
        summary.add(job.pk, merge_job_execute(job=job, token=token))
    return summary


def merge_job_run(*, job_id: int, worker_id: str | None = None) -> Outcome:
    """Execute one job if it is due and not paused; 'skipped' when not claimable (the sweep catches it later)."""
    claimed = merge_job_claim(worker_id=worker_id or default_worker_id(), job_id=job_id)
    if claimed is None:
        return Outcome.SKIPPED
    job, token = claimed
    return merge_job_execute(job=job, token=token)


def merge_job_execute(*, job: MergeJob, token: str) -> Outcome:
    """Run a claimed job to an outcome: 'succeeded', 'failed', 'deferred', 'sent_back' or 'lost'."""
    try:
        return JobExecution(job, token).run()
    except ClaimLost as exc:
        log.warning("%s", exc)
        return Outcome.LOST


class JobExecution(JobOutcomes):
    """One attempt of a claimed job."""

    def _run(self) -> None:
        if not self.job.plan:
            try:
                plan = merge_plan(self.decision)
            except MergePlanError as exc:
                raise Failed(str(exc)) from None
            self._heartbeat(plan=plan)
        plan = self.job.plan
        done, inflight = self.job.chunks_done, self.job.inflight_chunk
        resumed = done > 0 or inflight is not None
        # Everything not known to be merged yet, plus the main profile.
        pending = [pid for chunk in plan[done:] for pid in chunk]
        present = self._present([self.main, *pending])
        if self.main not in present:
            before = f" {done} of {len(plan)} chunks had been merged into it before." if done else ""
            raise Failed(
                f"The main profile {self.main} no longer exists at AWS (merged or deleted since the decision); "
                f"{'nothing more' if resumed else 'nothing'} was merged.{before}"
            )
        if inflight is not None and inflight < done:
            # AWS answered the field-source chunk but had not finished merging it when we last looked.
            self._confirm_merged(Chunk(inflight, plan[inflight]))
            inflight = None
        elif inflight is not None:
            # A worker died with this chunk in flight: what is gone of it must be witnessed as our merge.
            self._witnessed([pid for pid in plan[inflight] if pid not in present], chunk=inflight)
        # Ids missing from chunks never sent were gone before we touched them (AWS auto-merge, a deletion); ids
        # missing from the chunk in flight were merged by the call whose answer we never got.
        never_sent_from = inflight + 1 if inflight is not None else done
        gone_now = sorted(pid for chunk in plan[never_sent_from:] for pid in chunk if pid not in present)
        if gone_now:
            with transaction.atomic(durable=True):
                current = locked_job(self.job, self.token)
                current.gone_profile_ids = sorted(set(current.gone_profile_ids) | set(gone_now))
                current.save(update_fields=["gone_profile_ids"])
                self.job = current
                Profile.objects.filter(domain=self.domain, profile_id__in=gone_now).update(missing=True)
        if done == 0 and inflight is None:
            self._check_field_sources(present)
            if not any(pid in present for pid in pending):
                raise Failed(
                    "None of the profiles to merge into the main profile exists at AWS any more (merged or deleted "
                    "since the decision); nothing was merged."
                )
        with transaction.atomic(durable=True):
            locked_job(self.job, self.token)
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
            raise SentBack(
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
                    raise Deferred(f"Could not re-check the profiles: {exc}", self._backoff()) from None
                raise Failed(f"Could not re-check the profiles, nothing more was merged: {exc}") from None
            unknown = {pid: e for pid, e in errors.items() if str(e.get("Code", "")) not in _GONE_CODES}
            if unknown:
                detail = "; ".join(f"{pid}: {e.get('Code')} {e.get('Message', '')}" for pid, e in unknown.items())
                self._record(operation="BatchGetProfile", ok=False, code="ProfileErrors", message=detail)
                raise Deferred(f"AWS could not say whether some profiles exist ({detail})", self._backoff())
            present.update(pid for pid in profiles if pid in batch)
        return present

    def _paused(self) -> bool:
        return merges_paused_all() or Domain.objects.filter(pk=self.domain.pk, merges_paused=True).exists()

    def _run_chunk(self, chunk: Chunk, present: set[str]) -> None:
        if self._paused():
            raise Deferred(
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
            raise Deferred(str(exc), self._backoff()) from None
        except (aws.AwsServerError, aws.AwsUnavailable) as exc:
            self._record_call(chunk, ids, ok=False, code=exc.code, message=str(exc))
            self._recheck_after_unknown(chunk, ids, present, exc)
            return
        except aws.MatchdeskAwsError as exc:
            # Throttled or refused: AWS did not take this call, so nothing more is in flight than before it.
            self._record_call(chunk, ids, ok=False, code=exc.code, message=str(exc), inflight_chunk=before)
            if isinstance(exc, aws.AwsThrottled):
                raise Deferred(f"AWS throttled MergeProfiles: {exc.aws_message or exc}", self._backoff()) from None
            merged = self._merged_ids()
            partial = f" {len(merged)} profiles were merged in earlier chunks." if merged else " Nothing was merged."
            raise Failed(
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
            raise Failed(
                f"{waiting} after {self.job.attempts} attempts ({', '.join(sorted(still))}); the remaining chunks "
                "were not sent. Check these profiles at AWS before retrying."
            )
        raise Deferred(
            f"{waiting}; the remaining chunks wait so they cannot overwrite the chosen fields.", self._backoff()
        )

    def _witnessed(self, gone: list[str], *, chunk: int) -> None:
        """Gone after an uncertain outcome: only AWS's history records say it was this merge (witness.py)."""
        if not gone:
            return
        try:
            started = self.job.started_at or timezone.now()
            found = merge_witness(domain=self.domain, main=self.main, gone=gone, started=started)
        except aws.MatchdeskAwsError as exc:
            self._record(operation=witness.OPERATION, chunk=chunk, ok=False, code=exc.code, message=str(exc))
            if exc.retryable:
                reason = f"Could not read the history records that witness the merge: {exc}"
                raise Deferred(reason, self._backoff()) from None
            return  # history unreadable (e.g. not allowed): the re-check alone decides, and the message says so
        self._record(operation=witness.OPERATION, chunk=chunk, ids=gone, ok=True, message=found.summary())
        if found.other:
            why = "; ".join(f"{pid}: {reason}" for pid, reason in sorted(found.other.items()))
            raise SentBack(
                f"A profile of this merge vanished at AWS for another reason ({why}); the group is back in review."
            )
        if found.unknown:
            waiting = f"{len(found.unknown)} gone profiles have no history record saying why yet"
            if self.job.attempts >= CONFIRM_MAX_ATTEMPTS:
                raise Failed(f"{waiting} after {self.job.attempts} attempts; check them at AWS before retrying.")
            raise Deferred(f"{waiting}; the next attempt asks again.", self._backoff())

    def _record_call(self, chunk: Chunk, ids: list[str], **entry: Any) -> None:
        extra = {k: entry.pop(k) for k in list(entry) if k == "inflight_chunk"}
        message = self._message(operation="MergeProfiles", chunk=chunk.index, ids=ids, **entry)
        self._heartbeat(aws_messages=[*self.job.aws_messages, message], **extra)

    def _recheck_after_unknown(
        self, chunk: Chunk, ids: list[str], present: set[str], exc: aws.MatchdeskAwsError
    ) -> None:
        """The call may or may not have merged (timeout, 5xx, asynchronous completion): look before anything else."""
        time.sleep(settings.MATCHDESK["MERGE_RECHECK_DELAY"])
        still = self._present(ids)
        self._witnessed([pid for pid in ids if pid not in still], chunk=chunk.index)
        if not still:
            self._chunk_done(chunk, message=f"re-checked after {exc.code}: every profile is merged", ids=[])
            return
        present.difference_update(set(ids) - still)
        raise Deferred(
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
        with transaction.atomic(durable=True):
            current = locked_job(self.job, self.token)
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

    def _mark_merged(self, ids: list[str], now: datetime) -> None:
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
            )
            .exclude(pk=self.group.pk)
            .exclude(run__status=MatchRun.Status.SUPERSEDED),  # those read as superseded (their rows follow)
            status=GroupStatus.STALE,
            reason=f"A member was merged into {self.main} (merge job {self.job.pk}).",
        )
