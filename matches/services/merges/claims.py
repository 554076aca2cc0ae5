"""Claims on merge jobs: a due job is taken under a row lock with a claim token, and every later write checks the
token, so a worker that lost its claim (presumed dead, taken over) stops before another call."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from matches.models import Approval, MergeJob, OpsSwitch
from matches.services.merges.errors import ClaimLost

JobStatus = MergeJob.Status
WAITING_APPROVAL = (Approval.Status.PENDING, Approval.Status.SENT_BACK)
# The transaction-level advisory lock that serialises claims across workers ("MDMC"), and how many due jobs one claim
# looks through for one that touches no profile of a job in flight.
CLAIM_LOCK_KEY = 0x4D44_4D43
CLAIM_SCAN = 50


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def merges_paused_all() -> bool:
    return OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.MATCHDESK["MERGE_STALE_SECONDS"])


def _due_q(now: datetime) -> Q:
    """Scheduled and due, or running under a worker whose heartbeat stopped (it died mid-job)."""
    return Q(status=JobStatus.SCHEDULED, not_before__lte=now) | Q(
        status=JobStatus.RUNNING, heartbeat_at__lt=_stale_before()
    )


def merge_jobs_due() -> QuerySet[MergeJob]:
    """Due jobs of domains whose merges are not paused (empty when all merges are paused)."""
    if merges_paused_all():
        return MergeJob.objects.none()
    return (
        MergeJob.objects.filter(_due_q(timezone.now()))
        .exclude(decision__group__run__domain__merges_paused=True)
        # Four-eyes, belt and braces: whatever its status says, a job whose approval is not given never runs.
        .exclude(decision__approval__status__in=WAITING_APPROVAL)
        .order_by("not_before", "id")
    )


def _in_flight_profiles() -> dict[int, set[str]]:
    """Per domain, the profiles that running jobs (heartbeat fresh) name in their MergeProfiles calls."""
    busy: dict[int, set[str]] = {}
    running = MergeJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__gte=_stale_before()).values_list(
        "decision__group__run__domain_id", "decision__main_profile_id", "decision__merged_profile_ids"
    )
    for domain_id, main, merged in running:
        busy.setdefault(domain_id, set()).update([main, *merged])
    return busy


def _free_of(candidates: QuerySet[MergeJob], busy: dict[int, set[str]]) -> QuerySet[MergeJob]:
    """The candidates that name no profile a running job names (looking through the first CLAIM_SCAN)."""
    if not busy:
        return candidates
    rows = candidates.values_list(
        "pk", "decision__group__run__domain_id", "decision__main_profile_id", "decision__merged_profile_ids"
    )[:CLAIM_SCAN]
    free = [pk for pk, domain_id, main, merged in rows if not {main, *merged} & busy.get(domain_id, set())]
    return candidates.filter(pk__in=free)


def merge_job_claim(*, worker_id: str, job_id: int | None = None) -> tuple[MergeJob, str] | None:
    """Take one due job (or the given one, if due) so no other worker can: (job, claim token), or None."""
    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    with transaction.atomic(durable=True):
        # Claims are serialised, so a claim sees every job claimed before it as running: two jobs that touch the same
        # profile are never in flight at once (docs/architecture.md, "Overlapping groups").
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK_KEY])
        candidates = merge_jobs_due()
        if job_id is not None:
            candidates = candidates.filter(pk=job_id)
        candidates = _free_of(candidates, _in_flight_profiles())
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


def locked_job(job: MergeJob, token: str) -> MergeJob:
    current = MergeJob.objects.select_for_update().get(pk=job.pk)
    if current.status != JobStatus.RUNNING or current.worker != token:
        raise ClaimLost(f"merge job {job.pk} is now {current.status} under {current.worker or 'no worker'}")
    return current


def heartbeat(job: MergeJob, token: str, **values: Any) -> None:
    """Save progress in its own transaction, refusing if the claim was lost. Durable: progress that only lived
    in an outer transaction would be lost with it, and a rerun would send the same chunk again."""
    with transaction.atomic(durable=True):
        current = locked_job(job, token)
        values["heartbeat_at"] = timezone.now()
        for name, value in values.items():
            setattr(current, name, value)
            setattr(job, name, value)
        current.save(update_fields=list(values))


def release_claim(job: MergeJob, token: str) -> None:
    """Give a claimed job back, unchanged, to the next sweep."""
    MergeJob.objects.filter(pk=job.pk, worker=token, status=JobStatus.RUNNING).update(
        status=JobStatus.SCHEDULED, worker=""
    )
