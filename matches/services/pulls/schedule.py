"""Deciding when to pull: the job poll (a finished identity-resolution job newer than the last run, or a running run
whose worker stopped beating) and the sweep of requested pulls that no worker started ("Pull now" whose message was
lost). Both queue through the one door (services/enqueue.py); a cache marker keeps one queued pull per domain
(docs/architecture.md, "Hand-offs").
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.cache import cache
from django.utils import timezone

from matches import aws
from matches.models import Domain, MatchRun
from matches.services import enqueue

log = logging.getLogger(__name__)

RESULT_STATUSES = ("COMPLETED", "PARTIAL_SUCCESS")
# A running run whose heartbeat is older than this is presumed orphaned: the job poll queues a pull to resume it.
STALE_HEARTBEAT_SECONDS = 600
# How long a queued pull keeps others from being queued for the same domain (the pull task clears it when it starts).
QUEUED_PULL_TTL = 30 * 60
# A "Pull now" that no pull has served after this long is queued again by the sweep.
REQUESTED_PULL_GRACE_SECONDS = 30


def queued_key(domain_id: int) -> str:
    return f"pull-queued:{domain_id}"


def pull_queued_clear(*, domain_id: int) -> None:
    """A pull of the domain is starting: another may be queued again."""
    cache.delete(queued_key(domain_id))


def _queue_once(domain: Domain, *, job_id: str, marker: str) -> bool:
    """Queue a pull of the domain unless one is queued already; a message the broker refused frees the marker."""
    if not cache.add(queued_key(domain.pk), marker, QUEUED_PULL_TTL):
        return False
    domain_id = domain.pk
    enqueue.pull(domain_id=domain_id, job_id=job_id, on_failure=lambda: pull_queued_clear(domain_id=domain_id))
    return True


def newest_job_with_results(domain: Domain) -> dict[str, Any] | None:
    """The domain's newest identity-resolution job that produced matches, or None."""
    jobs = [j for j in aws.list_identity_resolution_jobs(domain) if j.get("Status") in RESULT_STATUSES]
    return max(jobs, key=_job_time, default=None)


def _job_time(job: dict[str, Any]) -> datetime:
    return cast(datetime, job.get("JobEndTime") or job.get("JobStartTime"))


def pull_needed(*, domain: Domain, job: dict[str, Any] | None, now: datetime | None = None) -> bool:
    """A finished job newer than the last completed run, or a running run whose worker stopped beating."""
    now = now or timezone.now()
    running = MatchRun.objects.filter(domain=domain, status=MatchRun.Status.RUNNING).first()
    if running is not None:
        beat = running.heartbeat_at or running.started_at
        return beat < now - timedelta(seconds=STALE_HEARTBEAT_SECONDS)
    if job is None:
        return False
    latest = domain.latest_completed_run()
    if latest is None:
        return True
    if latest.job_id and latest.job_id == job["JobId"]:
        return False
    ended = job.get("JobEndTime") or job.get("JobStartTime")
    # A pull that started after the job ended served that job's results (or newer): GetMatches shows the latest.
    return ended is None or ended > latest.started_at


def pulls_poll(*, domain_id: int | None = None) -> list[int]:
    """Queue a pull for each enabled domain that needs one (see `pull_needed`); the ids of the domains queued."""
    domains = Domain.objects.filter(enabled=True)
    if domain_id is not None:
        domains = domains.filter(pk=domain_id)
    queued = []
    for domain in domains:
        try:
            job = newest_job_with_results(domain)
        except aws.MatchdeskAwsError as exc:
            log.warning("poll %s: %s", domain.name, exc)
            continue
        if not pull_needed(domain=domain, job=job):
            continue
        job_id = job["JobId"] if job else ""
        if _queue_once(domain, job_id=job_id, marker=job_id or "resume"):
            queued.append(domain.pk)
    return queued


def pulls_start_requested(*, now: datetime | None = None) -> list[int]:
    """Queue again each "Pull now" that no pull has started within the grace period; the ids of the domains queued.

    Exactly-once stays with the pull: two queued pulls of one domain meet at its advisory lock, and a pull that finds
    the generation already stored only records `pull.unchanged`.
    """
    now = now or timezone.now()
    waiting = (
        Domain.objects.filter(enabled=True, pull_requested_at__lt=now - timedelta(seconds=REQUESTED_PULL_GRACE_SECONDS))
        .exclude(runs__status=MatchRun.Status.RUNNING)
        .order_by("pull_requested_at", "pk")
    )
    return [domain.pk for domain in waiting if _queue_once(domain, job_id="", marker="requested")]


# A completion whose worker has not moved its checkpoint for this long is presumed orphaned: the sweep queues it.
UNFINISHED_COMPLETION_GRACE_SECONDS = 60


def completion_queued_key(domain_id: int) -> str:
    return f"completion-queued:{domain_id}"


def completions_start_unfinished(*, now: datetime | None = None) -> list[int]:
    """Queue the finish of each completion a worker left half-way (a run still carrying over, or a superseded run
    whose open rows are not all rewritten yet); the ids of the domains queued. Exactly-once stays with the
    checkpoints and the domain's pull lock (services/pulls/carry_over.py)."""
    now = now or timezone.now()
    since = now - timedelta(seconds=UNFINISHED_COMPLETION_GRACE_SECONDS)
    carrying = MatchRun.objects.filter(status=MatchRun.Status.CARRYING_OVER, heartbeat_at__lt=since)
    rewriting = MatchRun.objects.filter(
        status=MatchRun.Status.SUPERSEDED, groups_superseded_at__isnull=True, superseded_at__lt=since
    )
    domain_ids = sorted({*carrying.values_list("domain_id", flat=True), *rewriting.values_list("domain_id", flat=True)})
    queued = []
    for domain_id in domain_ids:
        if cache.add(completion_queued_key(domain_id), "queued", UNFINISHED_COMPLETION_GRACE_SECONDS):
            enqueue.completion(domain_id=domain_id)
            queued.append(domain_id)
    return queued
