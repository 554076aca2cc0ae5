"""Operations: pulls on request, the hand-off sweep, quarantine acknowledgements, worker and beat heartbeats."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from matches.models import BulkJob, Domain, Heartbeat, MatchRun, QuarantinedMatch
from matches.services import enqueue
from matches.services.audit import audit_log
from matches.services.notifications.deliver import deliveries_requeue_lost
from matches.services.pulls import completions_start_unfinished, pulls_start_requested

# A bulk job still pending after this long lost its message (a worker takes one within a second or two).
PENDING_BULK_GRACE_SECONDS = 30
# How long a re-queued bulk job is left to a worker before the sweep queues it once more.
REQUEUED_BULK_TTL = 10 * 60


class PullRefused(Exception):
    pass


def pull_request(*, domain: Domain, actor: User) -> None:
    """Ask a worker to pull the domain's latest matches now (refused while one is running)."""
    with transaction.atomic(durable=True):
        running = MatchRun.objects.filter(domain=domain, status=MatchRun.Status.RUNNING).first()
        if running is not None:
            started = f"{running.started_at:%Y-%m-%d %H:%M} UTC"
            raise PullRefused(f"A pull of {domain.name} is already running (run {running.pk}, started {started}).")
        if not domain.enabled:
            raise PullRefused(f"{domain.name} is disabled: enable it before pulling.")
        # Durable: if the message below is lost, the hand-off sweep finds the request here (cleared when a pull starts).
        Domain.objects.filter(pk=domain.pk).update(pull_requested_at=timezone.now())
        audit_log(
            actor=actor,
            action="pull.requested",
            object_type="domain",
            object_id=domain.pk,
            domain=domain,
            details={"name": domain.name},
        )
        enqueue.pull(domain_id=domain.pk)


def bulk_requeued_key(job_id: int) -> str:
    return f"bulk-requeued:{job_id}"


def bulk_jobs_start_pending(*, now: datetime | None = None) -> list[int]:
    """Queue again each bulk job still pending after the grace period; the ids queued.

    Exactly-once stays with the job: `bulk_job_claim` moves it from pending to running in one conditional UPDATE, so of
    two messages for one job only the first runs it."""
    now = now or timezone.now()
    stuck = BulkJob.objects.filter(
        status=BulkJob.Status.PENDING, created_at__lt=now - timedelta(seconds=PENDING_BULK_GRACE_SECONDS)
    ).order_by("pk")
    queued = []
    for job_id in stuck.values_list("pk", flat=True):
        key = bulk_requeued_key(job_id)
        if cache.add(key, "requeued", REQUEUED_BULK_TTL):
            enqueue.bulk_job(job_id=job_id, on_failure=partial(cache.delete, key))
            queued.append(job_id)
    return queued


@dataclass
class SweepResult:
    bulk_job_ids: list[int] = field(default_factory=list)
    pull_domain_ids: list[int] = field(default_factory=list)
    completion_domain_ids: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)

    def line(self) -> str:
        bulk, pulls = self.bulk_job_ids or "none", self.pull_domain_ids or "none"
        line = f"queued again: bulk jobs {bulk}, pulls of domains {pulls}"
        line += f", completions of domains {self.completion_domain_ids}" if self.completion_domain_ids else ""
        return line + (f", notification deliveries {self.delivery_ids}" if self.delivery_ids else "")


def handoffs_sweep(*, now: datetime | None = None) -> SweepResult:
    """The backstop of every hand-off without its own (docs/architecture.md, "Hand-offs"): pending bulk jobs and
    requested pulls that no worker started, completions a worker left half-way, and notification deliveries whose
    message was lost are queued again. Merge jobs have
    their own sweep (run_due_merges)."""
    now = now or timezone.now()
    return SweepResult(
        bulk_job_ids=bulk_jobs_start_pending(now=now),
        pull_domain_ids=pulls_start_requested(now=now),
        completion_domain_ids=completions_start_unfinished(now=now),
        delivery_ids=deliveries_requeue_lost(now=now),
    )


def quarantine_acknowledge(*, actor: User, item: QuarantinedMatch) -> bool:
    """Mark a quarantined item as seen by an admin; False if someone already had."""
    with transaction.atomic(durable=True):
        got = QuarantinedMatch.objects.filter(pk=item.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=actor, acknowledged_at=timezone.now()
        )
        if got:
            run = item.run
            audit_log(
                actor=actor,
                action="quarantine.acknowledged",
                object_type="quarantined_match",
                object_id=item.pk,
                domain=run.domain,
                details={"run_id": run.pk, "reason": item.reason, "raw_hash": item.raw_hash},
            )
        return bool(got)


def heartbeat_record(*, name: str, kind: str, at: datetime, details: dict[str, Any] | None = None) -> None:
    """Record a sign of life (not audited: it is not a change anyone made, and it comes every few seconds)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"kind": kind, "last_seen": at, "details": details or {}})
