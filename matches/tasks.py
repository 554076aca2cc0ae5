"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

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
