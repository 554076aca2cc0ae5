"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from celery.signals import before_task_publish
from django.utils import timezone

# Admin: bulk decisions and heartbeats -------------------------------------------------------------------------------

HEARTBEAT_TASK = "matches.tasks.heartbeat"


@shared_task(name="matches.tasks.bulk_job_task", ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def bulk_job_task(job_id: int) -> None:
    from matches.services.bulk import bulk_job_execute

    bulk_job_execute(job_id=job_id)


@before_task_publish.connect
def _stamp_heartbeat(sender=None, body=None, **_kwargs) -> None:
    """Beat publishes the heartbeat task: stamp the moment it did, so the worker can tell beat's tick from its own."""
    if sender == HEARTBEAT_TASK and isinstance(body, tuple | list) and len(body) >= 2 and isinstance(body[1], dict):
        body[1].setdefault("sent_at", timezone.now().isoformat())


@shared_task(name=HEARTBEAT_TASK, bind=True, ignore_result=True, time_limit=30, soft_time_limit=25, expires=60)
def heartbeat(self, sent_at: str | None = None) -> None:
    from matches.models import Heartbeat
    from matches.services.ops import heartbeat_record

    now = timezone.now()
    worker = self.request.hostname or "worker"
    heartbeat_record(name=f"worker:{worker}", kind=Heartbeat.Kind.WORKER, at=now, details={"hostname": worker})
    if sent_at:
        sent = datetime.fromisoformat(sent_at)
        heartbeat_record(
            name="beat",
            kind=Heartbeat.Kind.BEAT,
            at=sent,
            details={
                "received_by": worker,
                "received_at": now.isoformat(),
                "lag_seconds": (now - sent).total_seconds(),
            },
        )


# Merges (DESIGN.md flow 4) ------------------------------------------------------------------------------------------
# No autoretry here, on purpose: MergeProfiles must never be retried blindly. The service defers a job itself
# (throttling, unknown outcome) and the periodic sweep picks it up again after a re-check; a worker that dies mid-job
# leaves a stale heartbeat that the sweep notices.


@shared_task(ignore_result=True)
def execute_merge_job(job_id: int) -> str:
    """Run one merge job when its undo window has ended (queued with eta=not_before by the decision)."""
    from matches.services.merges import merge_job_run

    return merge_job_run(job_id=job_id)


@shared_task(ignore_result=True)
def run_due_merges_task(limit: int = 50) -> str:
    """The periodic sweep (beat, every 10 s): due jobs whose eta task was lost, deferred jobs, jobs of dead workers."""
    from matches.services.merges import merge_jobs_run_due

    return merge_jobs_run_due(limit=limit).line()
