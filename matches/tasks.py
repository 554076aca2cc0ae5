"""Celery tasks: thin wrappers that take ids, fetch, and call services (docs/architecture.md, "Hand-offs").

Only services/enqueue.py queues these tasks (beat's PeriodicTasks name them); a task that works in slices may queue
its own next slice. Tasks never call AWS: the services do.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from celery.signals import before_task_publish
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from matches.services.backoff import AwsRetriesExhausted

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


# Merges (docs/architecture.md, "Merges") ----------------------------------------------------------------------
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


# Pulls and hydration (docs/architecture.md, "Pulls") ----------------------------------------------------------
# pull_matches_task uses acks_late: the pull is resumable and exactly-once by construction (checkpoint, advisory lock,
# ON CONFLICT), so running it again after a worker died mid-pull continues the run rather than duplicating anything;
# with reject_on_worker_lost the message comes back when the worker process is killed.

log = logging.getLogger(__name__)

PULL_TIME_LIMIT = 3 * 3600
HYDRATE_GROUPS_PER_TASK = 2000


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=PULL_TIME_LIMIT,
    soft_time_limit=PULL_TIME_LIMIT - 300,
    # Only a lost database connection is retried here: AWS throttling and 5xx are retried page by page inside the
    # pull, and other AWS errors fail the run with their message.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def pull_matches_task(domain_id: int, job_id: str = "") -> dict:
    from matches.models import Domain
    from matches.services.pulls import PullAlreadyRunning, PullFailed, pull_domain, pull_queued_clear

    pull_queued_clear(domain_id=domain_id)
    domain = Domain.objects.filter(pk=domain_id).first()
    if domain is None:
        log.warning("pull_matches_task: domain %s no longer exists", domain_id)
        return {"status": "missing"}
    try:
        result = pull_domain(domain=domain, job_id=job_id)
    except PullAlreadyRunning as exc:
        log.info("%s", exc)
        return {"status": "already_running"}
    except PullFailed as exc:
        log.error("%s", exc)
        return {"status": "failed", "run_id": exc.run_id, "error": str(exc)}
    log.info("%s", result.message)
    return {"status": result.status, "run_id": result.run_id, "groups_stored": result.groups_stored}


@shared_task(time_limit=600, soft_time_limit=540)
def poll_identity_resolution_jobs(domain_id: int | None = None) -> list[int]:
    """Queue a pull for each enabled domain whose newest finished identity-resolution job is newer than its last
    completed run. Returns the ids of the domains queued."""
    from matches.services.pulls import pulls_poll

    return pulls_poll(domain_id=domain_id)


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100, expires=60)
def sweep_handoffs_task() -> str:
    """The hand-off sweep (beat, every 30 s): pending bulk jobs and requested pulls whose message was lost."""
    from matches.services.ops import handoffs_sweep

    return handoffs_sweep().line()


@shared_task(
    ignore_result=True,
    time_limit=PULL_TIME_LIMIT,
    soft_time_limit=PULL_TIME_LIMIT - 300,
    acks_late=True,  # idempotent: every step re-reads its checkpoint under lock
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def finish_completion_task(domain_id: int) -> str:
    """Finish a completion a worker left half-way (queued by the hand-off sweep); a pull holding the domain does it."""
    from matches.models import Domain
    from matches.services.pulls import completion_finish

    domain = Domain.objects.filter(pk=domain_id).first()
    if domain is None:
        return "missing"
    return "finished" if completion_finish(domain=domain) else "a pull holds the domain"


@shared_task(
    time_limit=1800,
    soft_time_limit=1700,
    # AWS kept throttling or failing through every in-call retry: try the slice again later.
    autoretry_for=(AwsRetriesExhausted,),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def hydrate_profiles_task(domain_id: int) -> dict:
    """Hydrate a slice of the domain's latest run, busiest queue first; queue the next slice while any remain."""
    from matches.models import Domain
    from matches.services.profiles import groups_hydrate

    domain = Domain.objects.filter(pk=domain_id).first()
    run = domain.latest_completed_run() if domain else None
    if run is None:
        return {"groups": 0}
    result = groups_hydrate(run=run, limit=HYDRATE_GROUPS_PER_TASK)
    if result.remaining:
        hydrate_profiles_task.delay(domain_id)
    return {"groups": result.groups, "remaining": result.remaining}


@shared_task(ignore_result=True, time_limit=1800, soft_time_limit=1700, expires=300)
def drift_sweep_task() -> list[int]:
    """Drift between weekly runs (beat, every 5 minutes): each domain's newest completed run without one gets it."""
    from matches.services.drift import drifts_compute_missing

    return drifts_compute_missing()


# Notifications (docs/architecture.md, "Notifications") -----------------------------------------------------------
# acks_late: an attempt is claimed in the database (a conditional UPDATE with a lease), so a message delivered twice
# sends once; a worker killed mid-send leaves the lease to expire and the hand-off sweep queues the delivery again.


@shared_task(bind=True, ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100, max_retries=50)
def deliver_notification_task(self, delivery_pk: int) -> str:
    from matches.services.notifications.deliver import DeliveryRetry, delivery_attempt

    try:
        return delivery_attempt(delivery_pk=delivery_pk)
    except DeliveryRetry as exc:
        # The delivery row counts the attempts and gives up after NOTIFY_MAX_ATTEMPTS; max_retries is a cap above it.
        raise self.retry(countdown=exc.countdown, exc=exc) from exc


@shared_task(
    bind=True,
    acks_late=True,  # exactly once by construction: the object's claim, its advisory lock and its checkpoint
    reject_on_worker_lost=True,
    time_limit=PULL_TIME_LIMIT,
    soft_time_limit=PULL_TIME_LIMIT - 300,
    # A lost database connection (or a deadlock between two objects' repeats), or S3 throttling/5xx through every
    # in-call retry: the object is read again from its checkpoint later.
    autoretry_for=(OperationalError, InterfaceError, AwsRetriesExhausted),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
)
def s3_object_task(self, object_id: int) -> str:
    """Read one object of a job's S3 export into its run (services/pulls/s3.py); the last one completes the run.
    An object another connection still holds (a worker killed a moment ago, not yet seen gone by Postgres, or a
    duplicate message while one reads it) is tried again shortly: a live holder makes the retry a no-op."""
    from matches.services.pulls.s3 import export_object_ingest

    outcome = export_object_ingest(object_id=object_id)
    if outcome == "held":
        raise self.retry(countdown=15)
    return outcome


# Retention (docs/scaling.md, "Partitioning by run") ---------------------------------------------------------------


@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60, expires=3600)
def run_retention_task() -> str:
    """Daily (beat): archive the undecided groups of runs past MATCHDESK_RUN_RETENTION_DAYS; idempotent, resumable."""
    from matches.services.retention import retention_apply

    return retention_apply().line()


# Review deadlines (docs/architecture.md, "Notifications") ----------------------------------------------------------


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=540, expires=600)
def overdue_sweep_task() -> str:
    """Beat, every 15 minutes: tell assignees and admins of the groups newly past their domain's review deadline."""
    from matches.services.overdue import overdue_notices_send

    return overdue_notices_send().line()
