"""Tasks: the pull in a real Celery worker; the job poll and hydration slices queue real messages in Redis."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from matches import tasks
from matches.models import AuditEvent, MatchGroup, MatchRun
from matches.services.domains import domain_save
from matches.services.pulls import pull_domain
from matches.services.schedules import schedule_names
from tests.emulator_fixtures import match, pid

pytestmark = pytest.mark.usefixtures("fast_retries")


def drain(queue: str) -> list[tuple[str, list, dict]]:
    """Take every message off a Celery queue in Redis: (task name, args, kwargs)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    out = []
    while (raw := client.rpop(queue)) is not None:
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args, kwargs))
    return out


@pytest.fixture
def default_queue():
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    drain(queue)
    yield queue
    drain(queue)


@pytest.fixture
def poll(django_capture_on_commit_callbacks):
    """The job poll task, as beat runs it: outside a transaction, so what it queues leaves at once."""

    def _poll(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return tasks.poll_identity_resolution_jobs(**kwargs)

    return _poll


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_pull_task_runs_in_a_real_worker_and_hydration_follows(emu, emulated_domain, celery_worker):
    domain = emulated_domain(items=[match(i, base=i * 2) for i in range(120)])
    emu.add_profiles(domain.name, [{"ProfileId": pid(n), "FirstName": f"P{n}", "LastName": "Lee"} for n in range(240)])

    tasks.pull_matches_task.delay(domain.pk)

    deadline = time.monotonic() + 60
    while not MatchRun.objects.filter(domain=domain, status="completed").exists():
        assert time.monotonic() < deadline, celery_worker.log()[-3000:]
        time.sleep(0.2)
    run = MatchRun.objects.get(domain=domain)
    assert (run.groups_stored, MatchGroup.objects.filter(run=run).count()) == (120, 120)
    # The completed pull queued hydration on commit; the same worker runs it.
    while MatchGroup.objects.filter(run=run, display_names="").exists():
        assert time.monotonic() < deadline, celery_worker.log()[-3000:]
        time.sleep(0.2)
    group = MatchGroup.objects.get(run=run, match_id="m000007")
    assert group.display_names == " · ".join(f"P{n} Lee" for n in sorted([14, 15], key=pid))


def test_poll_queues_a_pull_only_for_a_job_newer_than_the_last_run(emu, emulated_domain, default_queue, poll):
    domain = emulated_domain(items=[match(1)])
    cache.delete(f"pull-queued:{domain.pk}")
    job_id = _newest_job(emu, domain.name)

    assert poll(domain_id=domain.pk) == [domain.pk]
    assert drain(default_queue) == [("matches.tasks.pull_matches_task", [domain.pk], {"job_id": job_id})]
    # Queued already: a second poll within the window does not queue it twice.
    assert poll(domain_id=domain.pk) == []

    cache.delete(f"pull-queued:{domain.pk}")
    pull_domain(domain=domain, job_id=job_id)
    drain(default_queue)
    assert poll(domain_id=domain.pk) == []

    emu.run_job(domain.name, status="FAILED")
    assert poll(domain_id=domain.pk) == []

    # Job times are whole seconds: a job that ends after the last pull started.
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    emu.set_matches(domain.name, [match(2)], generation=later, job_status="PARTIAL_SUCCESS")
    newer = _newest_job(emu, domain.name)
    assert poll(domain_id=domain.pk) == [domain.pk]
    assert drain(default_queue) == [("matches.tasks.pull_matches_task", [domain.pk], {"job_id": newer})]


def test_poll_skips_disabled_domains_and_survives_aws_errors(emu, emulated_domain, default_queue, poll):
    off = emulated_domain(items=[match(1)])
    off.enabled = False
    off.save()
    broken = emulated_domain(items=[match(1)])
    broken.name = "not-in-the-emulator"
    broken.save()

    assert poll() == []
    assert drain(default_queue) == []


def test_a_pull_started_after_the_job_ended_counts_as_having_it(emu, emulated_domain, default_queue, poll):
    domain = emulated_domain(items=[match(1)])
    pull_domain(domain=domain)  # pulled by hand: the run has no job id
    drain(default_queue)
    cache.delete(f"pull-queued:{domain.pk}")

    assert poll(domain_id=domain.pk) == []


def test_poll_queues_a_resume_for_a_running_run_whose_worker_stopped_beating(emulated_domain, default_queue, poll):
    domain = emulated_domain(items=[match(1)])
    run = MatchRun.objects.create(domain=domain, status="running", heartbeat_at=timezone.now())
    cache.delete(f"pull-queued:{domain.pk}")

    assert poll(domain_id=domain.pk) == []  # alive: leave it alone

    MatchRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert poll(domain_id=domain.pk) == [domain.pk]
    assert drain(default_queue)[0][:2] == ("matches.tasks.pull_matches_task", [domain.pk])


def test_hydration_task_works_in_slices_and_queues_the_next(emu, emulated_domain, default_queue, monkeypatch):
    monkeypatch.setattr(tasks, "HYDRATE_GROUPS_PER_TASK", 2)
    domain = emulated_domain(items=[match(i) for i in range(3)])
    pull_domain(domain=domain)
    drain(default_queue)

    assert tasks.hydrate_profiles_task(domain.pk) == {"groups": 2, "remaining": True}
    assert drain(default_queue) == [("matches.tasks.hydrate_profiles_task", [domain.pk], {})]
    assert tasks.hydrate_profiles_task(domain.pk) == {"groups": 1, "remaining": False}
    assert drain(default_queue) == []


def test_the_pull_task_reports_a_failure_without_raising(emu, emulated_domain):
    domain = emulated_domain(items=[match(1)])
    emu.set_faults(access_denied=True, operations=["GetMatches"])

    outcome = tasks.pull_matches_task(domain.pk)

    assert outcome["status"] == "failed" and "AccessDeniedException" in outcome["error"]
    assert AuditEvent.objects.filter(action="pull.failed", domain=domain.name).exists()


def test_a_new_domain_gets_its_poll_and_weekly_pull_which_follow_enabled(admin):
    domain, _ = domain_save(actor=admin, name="scheduled")
    poll_name, pull_name = schedule_names(domain)
    poll, pull = PeriodicTask.objects.get(name=poll_name), PeriodicTask.objects.get(name=pull_name)
    assert (poll.task, poll.interval.every, poll.interval.period) == (
        "matches.tasks.poll_identity_resolution_jobs",
        15,
        "minutes",
    )
    assert json.loads(poll.kwargs) == {"domain_id": domain.pk} and poll.enabled
    assert (pull.task, json.loads(pull.args), pull.crontab.day_of_week) == (
        "matches.tasks.pull_matches_task",
        [domain.pk],
        "0",
    )

    domain_save(actor=admin, name="scheduled", enabled=False)

    assert not PeriodicTask.objects.filter(name__in=[poll_name, pull_name], enabled=True).exists()


def _newest_job(emu, name: str) -> str:
    from emulator.testing import boto_client

    jobs = boto_client(emu.url).list_identity_resolution_jobs(DomainName=name)["IdentityResolutionJobsList"]
    return jobs[0]["JobId"]
