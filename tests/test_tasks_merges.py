"""Merge tasks with a real Celery worker: the eta task runs the job when the undo window ends, an undone job makes
no call, and the periodic sweep catches a job its eta task skipped."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from django_celery_beat.models import PeriodicTask

from matches.models import MergeJob
from matches.services.decisions import decision_undo, group_merge_approve
from matches.services.domains import domain_set_merges_paused
from matches.tasks import run_due_merges_task
from tests.merging import make_group, merge_calls

JobStatus = MergeJob.Status


def wait_for(predicate, timeout: float = 40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_sweep_is_scheduled_every_ten_seconds(db):
    task = PeriodicTask.objects.get(task="matches.tasks.run_due_merges_task")
    assert task.enabled and task.interval.every == 10 and task.interval.period == "seconds"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("merge_role_groups")
def test_worker_merges_when_the_undo_window_ends_and_not_after_an_undo(merge_ctl, merge_domain, steward, celery_worker):
    merge_domain.undo_window_seconds = 3
    merge_domain.save()
    kept = make_group(merge_ctl, merge_domain, 3)
    undone = make_group(merge_ctl, merge_domain, 3)

    decision = group_merge_approve(group=kept, actor=steward, main_profile_id=kept.profile_ids[0])
    job = MergeJob.objects.get(decision=decision)
    regret = group_merge_approve(group=undone, actor=steward, main_profile_id=undone.profile_ids[0])
    decision_undo(decision=regret, actor=steward, reason="not the same person")

    assert wait_for(lambda: MergeJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED), celery_worker.log()
    time.sleep(1.0)  # the undone job's eta task fired at the same time
    calls = merge_calls(merge_ctl, merge_domain)
    assert [c["params"]["MainProfileId"] for c in calls] == [kept.profile_ids[0]]
    assert datetime.fromtimestamp(calls[0]["at"], tz=job.not_before.tzinfo) >= job.not_before
    assert MergeJob.objects.get(decision=regret).status == JobStatus.CANCELLED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("merge_role_groups")
def test_the_sweep_runs_a_job_its_eta_task_skipped_while_paused(merge_ctl, merge_domain, steward, admin, celery_worker):
    merge_domain.undo_window_seconds = 1
    merge_domain.save()
    domain_set_merges_paused(actor=admin, domain=merge_domain, paused=True)
    group = make_group(merge_ctl, merge_domain, 2)
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    job = MergeJob.objects.get(decision=decision)
    assert wait_for(lambda: "'skipped'" in celery_worker.log()), celery_worker.log()  # the eta task found it paused
    time.sleep(1.0)
    assert merge_calls(merge_ctl, merge_domain) == []
    assert MergeJob.objects.get(pk=job.pk).status == JobStatus.SCHEDULED

    domain_set_merges_paused(actor=admin, domain=merge_domain, paused=False)
    run_due_merges_task.delay()
    assert wait_for(lambda: MergeJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED), celery_worker.log()
    assert len(merge_calls(merge_ctl, merge_domain)) == 1
