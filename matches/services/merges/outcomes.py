"""How an attempt of a merge job ends: succeeded, failed, deferred (back to scheduled after a backoff) or sent back to
review. Each outcome is one durable transaction that also moves the group, the groups linked to the decision by
carry-over, and writes the audit event.

Only AWS's own refusals fail a job. Throttling, an unclear answer, and an infrastructure error (Redis, the database,
the broker) defer it with backoff; the in-flight marker stays, so the next attempt re-checks before any call."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from enum import StrEnum
from typing import Any

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from matches import aws
from matches.models import Decision, Domain, MatchGroup, MergeJob, Profile
from matches.observability import counters
from matches.services import notifications
from matches.services.audit import audit_log
from matches.services.groups import group_set_status, linked_groups_follow
from matches.services.merges.claims import heartbeat, locked_job
from matches.services.merges.errors import ClaimLost

log = logging.getLogger(__name__)

JobStatus = MergeJob.Status
GroupStatus = MatchGroup.Status
_LINKED_MERGED = "Merged after a decision in an earlier run."

# Infrastructure, not AWS: the rate limiter's Redis, Postgres, the Celery broker. None of them says anything about
# the merge itself, so they defer the job like throttling does.
INFRA_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    InterfaceError,
    kombu.exceptions.OperationalError,
)


class Outcome(StrEnum):
    """How an attempt ended (what the task returns and RunSummary counts)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEFERRED = "deferred"
    SENT_BACK = "sent_back"
    LOST = "lost"  # another worker took the job over
    SKIPPED = "skipped"  # not claimable: not due, paused, or already taken

    __repr__ = str.__repr__  # a task's return value reads 'deferred' in the worker log, as before


class Deferred(Exception):
    """Back to scheduled after `delay` seconds; the in-flight marker stays, so the next attempt re-checks first."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class Failed(Exception):
    """The job cannot go on; the message is the reason shown on the Merges page."""


class SentBack(Exception):
    """The steward must decide again (a chosen field source is gone); nothing was merged."""


class JobOutcomes:
    """A claimed job's ways to end an attempt, each one transaction with its audit event; the steps live in
    execute.py (JobExecution)."""

    def __init__(self, job: MergeJob, token: str) -> None:
        self.job = job
        self.token = token
        self.decision = Decision.objects.select_related("group__run__domain", "actor").get(pk=job.decision_id)
        self.group = self.decision.group
        self.domain: Domain = self.group.run.domain
        self.main = self.decision.main_profile_id

    def _run(self) -> None:
        raise NotImplementedError

    def run(self) -> Outcome:
        """Run the steps to one outcome: 'succeeded', 'failed', 'deferred' or 'sent_back' (ClaimLost propagates)."""
        outcome = self._attempt()
        counters.count(counters.MERGE_OUTCOMES, self.domain.name, outcome.value)  # after its transaction committed
        return outcome

    def _attempt(self) -> Outcome:
        try:
            self._run()
        except INFRA_ERRORS as exc:
            return self._defer_for_infrastructure(exc)
        except Deferred as exc:
            self._defer(exc)
            return Outcome.DEFERRED
        except SentBack as exc:
            self._send_back(str(exc))
            return Outcome.SENT_BACK
        except Failed as exc:
            self._fail(str(exc))
            return Outcome.FAILED
        except (ClaimLost, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug must leave the job visible, never silently running
            log.exception("merge job %s crashed", self.job.pk)
            self._fail(f"Internal error while merging ({type(exc).__name__}: {exc}); see the worker log.")
            return Outcome.FAILED
        self._succeed()
        return Outcome.SUCCEEDED

    def _message(self, **entry: Any) -> dict[str, Any]:
        return {"at": timezone.now().isoformat(timespec="milliseconds"), "attempt": self.job.attempts, **entry}

    def _record(self, **entry: Any) -> None:
        self._heartbeat(aws_messages=[*self.job.aws_messages, self._message(**entry)])

    def _heartbeat(self, **values: Any) -> None:
        heartbeat(self.job, self.token, **values)

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
        current = locked_job(self.job, self.token)
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
        with transaction.atomic(durable=True):
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
        with transaction.atomic(durable=True):
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
            notifications.notify(
                kind=notifications.Kind.MERGE_FAILED,
                users=[*notifications.audience(notifications.Kind.MERGE_FAILED), self.decision.actor],
                domain=self.domain,
                context={
                    "summary": f"A merge in {self.domain.name} failed (group {self.group.match_id})",
                    "url": reverse("group", args=[self.group.pk]),
                    "merge_job_id": job.pk,
                    "group_id": self.group.pk,
                    "reason": reason,
                },
            )

    def _send_back(self, reason: str) -> None:
        with transaction.atomic(durable=True):
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

    def _defer(self, exc: Deferred) -> None:
        with transaction.atomic(durable=True):
            current = locked_job(self.job, self.token)
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

    def _defer_for_infrastructure(self, exc: BaseException) -> Outcome:
        """Redis, Postgres or the broker failed mid-attempt. Whatever was sent stays marked in flight, so deferring
        is safe at any step: the next attempt re-checks at AWS before it sends anything."""
        reason = (
            f"Infrastructure error, not an AWS answer ({type(exc).__name__}: {exc}); "
            "the job waits and re-checks the profiles before any further call."
        )
        log.warning("merge job %s deferred: %s", self.job.pk, reason)
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # a dead database connection is reopened on the next query
        try:
            self._defer(Deferred(reason, self._backoff()))
        except INFRA_ERRORS:
            # Nothing can be written: the job stays running until its heartbeat goes stale, when the sweep takes it
            # over and re-checks first, as after a dead worker.
            log.exception("merge job %s: could not record the deferral", self.job.pk)
            raise
        return Outcome.DEFERRED

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
