"""Per-domain schedules in django-celery-beat: poll ListIdentityResolutionJobs every 15 minutes, and a weekly pull as
the fallback should polling miss a job."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from matches.models import Domain

POLL_MINUTES = 15
POLL_TASK = "matches.tasks.poll_identity_resolution_jobs"
PULL_TASK = "matches.tasks.pull_matches_task"


def schedule_names(domain: Domain) -> tuple[str, str]:
    return f"matchdesk:{domain.pk}:poll-jobs", f"matchdesk:{domain.pk}:weekly-pull"


def schedules_ensure(*, domain: Domain) -> tuple[PeriodicTask, PeriodicTask]:
    """Create or refresh the domain's poll and weekly pull; they run only while the domain is enabled."""
    poll_name, pull_name = schedule_names(domain)
    with transaction.atomic():
        every, _ = IntervalSchedule.objects.get_or_create(every=POLL_MINUTES, period=IntervalSchedule.MINUTES)
        # Sunday morning UTC, minutes spread by domain so that many domains do not pull at the same instant.
        weekly, _ = CrontabSchedule.objects.get_or_create(
            minute=str((domain.pk * 7) % 60),
            hour="6",
            day_of_week="0",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        poll, _ = PeriodicTask.objects.update_or_create(
            name=poll_name,
            defaults={
                "task": POLL_TASK,
                "interval": every,
                "crontab": None,
                "kwargs": json.dumps({"domain_id": domain.pk}),
                "enabled": domain.enabled,
                "description": f"Poll identity-resolution jobs of {domain.name}",
            },
        )
        pull, _ = PeriodicTask.objects.update_or_create(
            name=pull_name,
            defaults={
                "task": PULL_TASK,
                "crontab": weekly,
                "interval": None,
                "args": json.dumps([domain.pk]),
                "enabled": domain.enabled,
                "description": f"Weekly fallback pull of {domain.name}",
            },
        )
    return poll, pull
