"""Hand-offs to Celery with the broker unreachable: the change commits, the page answers, and a sweep starts the work
later (services/enqueue.py, the hand-off sweep in services/ops.py, the merge sweep in services/merges.py)."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from matches import tasks
from matches.models import AuditEvent, BulkJob, Decision, Domain, MatchGroup, MatchRun
from matches.services import bulk
from matches.services.merges import merge_job_retry, merge_jobs_run_due
from matches.services.ops import bulk_requeued_key, handoffs_sweep, pull_request
from reviewapp.celery import app
from tests.admin_helpers import bulk_evidence, run_with_scores
from tests.emulator_fixtures import match
from tests.merging import approve, make_group, merge_calls

PULL_TASK = "matches.tasks.pull_matches_task"
BULK_TASK = "matches.tasks.bulk_job_task"

pytestmark = pytest.mark.usefixtures("fast_retries")


def _use_broker(url: str) -> None:
    app.conf.broker_url = url
    # The app keeps its connection and producer pools: drop them so the next message connects to `url`.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker():
    """`with broker.unreachable():` Celery's broker is a closed port while Redis itself (the cache) stays up."""
    saved = app.conf.broker_url

    class Broker:
        @contextmanager
        def unreachable(self):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            _use_broker(f"redis://127.0.0.1:{port}/0")
            try:
                yield
            finally:
                _use_broker(saved)

    yield Broker()
    _use_broker(saved)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` what the block queues on commit is sent at its end, as after a real commit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def later(seconds: int = 31):
    return timezone.now() + timedelta(seconds=seconds)


def test_pull_now_with_the_broker_down_commits_and_the_sweep_queues_it_later(
    emulated_domain, admin, broker, committed, celery_queue
):
    domain = emulated_domain(items=[match(1), match(2)])
    cache.delete(f"pull-queued:{domain.pk}")

    with broker.unreachable(), committed():
        pull_request(domain=domain, actor=admin)  # returns normally

    assert AuditEvent.objects.filter(action="pull.requested", domain=domain.name).count() == 1
    domain.refresh_from_db()
    assert domain.pull_requested_at is not None
    assert celery_queue(PULL_TASK) == []  # the message was lost
    with committed():
        assert handoffs_sweep().pull_domain_ids == []  # within the grace period the first message may still arrive
        assert handoffs_sweep(now=later()).pull_domain_ids == [domain.pk]
        assert handoffs_sweep(now=later()).pull_domain_ids == []  # queued once, not at every sweep
    assert celery_queue(PULL_TASK) == [[domain.pk]]

    assert tasks.pull_matches_task(domain.pk)["status"] == "completed"  # what the worker does with it

    domain.refresh_from_db()
    assert domain.pull_requested_at is None
    assert MatchRun.objects.get(domain=domain).groups_stored == 2
    with committed():
        assert handoffs_sweep(now=later()).pull_domain_ids == []  # served: never queued again


def test_pull_now_page_answers_with_the_broker_down(emulated_domain, admin, login, broker, committed, celery_queue):
    domain = emulated_domain(items=[match(1)], name="offline")
    client = login(admin)

    with broker.unreachable(), committed():
        response = client.post("/admin/domains/offline/pull/")

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="pull.requested", domain=domain.name).count() == 1
    assert Domain.objects.get(pk=domain.pk).pull_requested_at is not None


def test_a_sweep_that_meets_the_broker_down_tries_again_at_the_next_sweep(emulated_domain, admin, broker, committed):
    domain = emulated_domain(items=[match(1)])
    cache.delete(f"pull-queued:{domain.pk}")
    Domain.objects.filter(pk=domain.pk).update(pull_requested_at=later(-60))

    with broker.unreachable(), committed():
        assert handoffs_sweep().pull_domain_ids == [domain.pk]  # tried; the broker refused it
    with committed():
        assert handoffs_sweep().pull_domain_ids == [domain.pk]  # the refused message did not block the next try


def test_requested_pulls_of_disabled_domains_or_with_a_pull_running_are_left_alone(emulated_domain, committed):
    off, busy = emulated_domain(items=[match(1)]), emulated_domain(items=[match(1)])
    Domain.objects.filter(pk=off.pk).update(enabled=False, pull_requested_at=later(-60))
    Domain.objects.filter(pk=busy.pk).update(pull_requested_at=later(-60))
    MatchRun.objects.create(domain=busy, status=MatchRun.Status.RUNNING, heartbeat_at=timezone.now())
    cache.delete_many([f"pull-queued:{off.pk}", f"pull-queued:{busy.pk}"])

    with committed():
        assert handoffs_sweep().pull_domain_ids == []


def test_a_bulk_start_with_the_broker_down_commits_and_the_sweep_starts_it(
    domain, admin, monkeypatch, broker, committed, celery_queue
):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 20)  # the worker path with fewer groups
    run, _ = run_with_scores(domain, [0.2 + i * 0.0001 for i in range(23)])
    bulk_evidence(run, admin, queues=["reject"])

    with broker.unreachable(), committed():
        job = bulk.bulk_job_create(actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk)

    assert job.status == BulkJob.Status.PENDING and celery_queue(BULK_TASK) == []
    cache.delete(bulk_requeued_key(job.pk))  # ids restart with each test database; the cache outlives it
    assert AuditEvent.objects.filter(action="bulk.started", object_id=str(job.pk)).exists()
    with committed():
        assert handoffs_sweep().bulk_job_ids == []  # a worker normally takes it within a second or two
        assert handoffs_sweep(now=later()).bulk_job_ids == [job.pk]
        assert handoffs_sweep(now=later()).bulk_job_ids == []  # queued once
    assert celery_queue(BULK_TASK) == [[job.pk]]

    tasks.bulk_job_task(job.pk)  # what the worker does with it
    tasks.bulk_job_task(job.pk)  # a second message for the same job: its claim refuses to run it twice

    job.refresh_from_db()
    assert (job.status, job.done) == (BulkJob.Status.DONE, 23)
    assert Decision.objects.filter(bulk=True).count() == 23
    with committed():
        assert handoffs_sweep(now=later()).bulk_job_ids == []


def test_a_merge_retry_with_the_broker_down_commits_and_the_merge_sweep_runs_it(
    merge_ctl, merge_domain, steward, admin, broker, committed, celery_queue
):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 400, "message": "Nope"}])
    assert merge_jobs_run_due().failed == [job.pk]

    with broker.unreachable(), committed():
        merge_job_retry(job=job, actor=admin)  # returns normally

    group.refresh_from_db()
    assert group.status == MatchGroup.Status.APPROVED
    assert AuditEvent.objects.filter(action="merge.retried", actor=admin).count() == 1
    assert celery_queue("matches.tasks.execute_merge_job") == []
    assert merge_jobs_run_due().succeeded == [job.pk]  # the 10 s merge sweep
    assert [c["status"] for c in merge_calls(merge_ctl, merge_domain)] == [400, 200]


def test_a_decision_with_the_broker_down_commits_and_the_merge_sweep_runs_it(
    merge_ctl, merge_domain, steward, broker, committed
):
    group = make_group(merge_ctl, merge_domain, 2)

    with broker.unreachable(), committed():
        job = approve(group, steward, main=group.profile_ids[0])

    assert Decision.objects.filter(group=group, action=Decision.Action.MERGE).exists()
    assert merge_jobs_run_due().succeeded == [job.pk]


def test_the_hand_off_sweep_is_a_periodic_task_beat_runs_every_30_seconds(db, committed):
    sweep = PeriodicTask.objects.get(name="matchdesk: start lost hand-offs")
    assert (sweep.task, sweep.interval.every, sweep.interval.period, sweep.enabled) == (
        tasks.sweep_handoffs_task.name,
        30,
        "seconds",
        True,
    )
    with committed():
        assert tasks.sweep_handoffs_task() == "queued again: bulk jobs none, pulls of domains none"
