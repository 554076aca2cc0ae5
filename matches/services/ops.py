"""Operations: pulls on request, global switches, quarantine acknowledgements, worker and beat heartbeats."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from matches.models import Domain, Heartbeat, MatchRun, QuarantinedMatch
from matches.services import enqueue
from matches.services.audit import audit_log

PULL_TASK = "matches.tasks.pull_matches_task"


class PullRefused(Exception):
    pass


def pull_request(*, domain: Domain, actor) -> None:
    """Ask a worker to pull the domain's latest matches now (refused while one is running)."""
    with transaction.atomic():
        running = MatchRun.objects.filter(domain=domain, status=MatchRun.Status.RUNNING).first()
        if running is not None:
            started = f"{running.started_at:%Y-%m-%d %H:%M} UTC"
            raise PullRefused(f"A pull of {domain.name} is already running (run {running.pk}, started {started}).")
        if not domain.enabled:
            raise PullRefused(f"{domain.name} is disabled: enable it before pulling.")
        audit_log(
            actor=actor,
            action="pull.requested",
            object_type="domain",
            object_id=domain.pk,
            domain=domain,
            details={"name": domain.name},
        )
        enqueue.pull(domain_id=domain.pk)


def quarantine_acknowledge(*, actor, item: QuarantinedMatch) -> bool:
    """Mark a quarantined item as seen by an admin; False if someone already had."""
    with transaction.atomic():
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


def heartbeat_record(*, name: str, kind: str, at: datetime, details: dict | None = None) -> None:
    """Record a sign of life (not audited: it is not a change anyone made, and it comes every few seconds)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"kind": kind, "last_seen": at, "details": details or {}})
