"""The one door to Celery: the only module that imports matches.tasks (docs/architecture.md, "Hand-offs").

Every hand-off runs after the surrounding transaction commits and is robust: a broker that cannot be reached logs a
warning and never turns a committed change into an error. Each kind of work has a backstop that finds it again without
the message (the merge sweep, the pull and bulk sweeps, hydration on opening a group). Tests patch these functions.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction

log = logging.getLogger(__name__)


def _on_commit(send: Callable[[], object], what: str, on_failure: Callable[[], object] | None = None) -> None:
    def _send() -> None:
        try:
            send()
        except Exception:  # the backstop picks the work up; the change it follows is already committed
            log.warning("could not queue %s (the sweep will pick it up)", what, exc_info=True)
            if on_failure is not None:
                on_failure()

    transaction.on_commit(_send, robust=True)


def merge_job(*, job_id: int, eta: datetime | None = None) -> None:
    """Run a merge job when its undo window ends (or now); the 10 s merge sweep is the backstop."""
    from matches import tasks

    if eta is None:
        _on_commit(lambda: tasks.execute_merge_job.delay(job_id), f"merge job {job_id}")
    else:
        _on_commit(lambda: tasks.execute_merge_job.apply_async(args=(job_id,), eta=eta), f"merge job {job_id}")


def pull(*, domain_id: int, job_id: str = "", on_failure: Callable[[], object] | None = None) -> None:
    """Pull a domain's matches in a worker; a lost "Pull now" is queued again by the hand-off sweep, a lost poll by
    the next poll. `on_failure` runs when the broker refused the message (the poll frees its queued marker)."""
    from matches import tasks

    _on_commit(
        lambda: tasks.pull_matches_task.delay(domain_id, job_id=job_id), f"pull of domain {domain_id}", on_failure
    )


def hydration(*, domain_id: int) -> None:
    """Fetch a domain's new profiles in the background; opening a group also fetches them on demand."""
    from matches import tasks

    _on_commit(lambda: tasks.hydrate_profiles_task.delay(domain_id), f"hydration of domain {domain_id}")


def bulk_job(*, job_id: int, on_failure: Callable[[], object] | None = None) -> None:
    """Run a large bulk decision job in a worker; the hand-off sweep queues a job no worker took again."""
    from matches import tasks

    _on_commit(lambda: tasks.bulk_job_task.delay(job_id), f"bulk job {job_id}", on_failure)


def completion(*, domain_id: int) -> None:
    """Finish a completion a worker left half-way (carry-over, the old run's rows); the hand-off sweep is the
    backstop."""
    from matches import tasks

    _on_commit(lambda: tasks.finish_completion_task.delay(domain_id), f"completion of domain {domain_id}")


def notification(*, delivery_pk: int, on_failure: Callable[[], object] | None = None) -> None:
    """Send one notification delivery (email or webhook) in a worker; the hand-off sweep queues a lost one again."""
    from matches import tasks

    _on_commit(lambda: tasks.deliver_notification_task.delay(delivery_pk), f"delivery {delivery_pk}", on_failure)


def s3_objects(*, object_ids: list[int]) -> None:
    """Read each object of an S3 export in its own task, so several workers share one run (services/pulls/s3.py);
    the job poll resumes a run whose messages were lost (its heartbeat goes stale)."""
    from matches import tasks

    for object_id in object_ids:
        _on_commit(functools.partial(tasks.s3_object_task.delay, object_id), f"S3 export object {object_id}")
