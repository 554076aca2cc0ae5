"""A group of a later run that carry-over linked to a pending merge follows that merge's job
(matches.services.groups.linked_groups_follow, called from merges.py and decisions.decision_undo)."""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.utils import timezone

from matches.models import AuditEvent, MatchGroup, MatchRun, MergeJob, RunScoreBin
from matches.services.decisions import DecisionRefused, decision_undo, group_reject
from matches.services.groups import bins_add
from matches.services.merges import merge_job_retry, merge_jobs_run_due
from matches.services.pulls import carry_over
from tests.factories import MatchGroupFactory, MatchRunFactory
from tests.merging import approve, make_group, merge_calls

Status = MatchGroup.Status
JobStatus = MergeJob.Status


def open_count(run: MatchRun) -> int:
    return RunScoreBin.objects.filter(run=run).aggregate(n=Sum("open"))["n"] or 0


def linked_copy(group: MatchGroup, *, score: float = 0.7) -> MatchGroup:
    """The same profile set in a newer run, linked by the pull's own carry-over."""
    run = MatchRunFactory(domain=group.run.domain)
    newer = MatchGroupFactory(run=run, profile_ids=group.profile_ids, confidence_score=score)
    bins_add(run=run, scores=[score])
    assert open_count(run) == 1
    carry_over(run=run)
    newer.refresh_from_db()
    assert newer.status == Status.APPROVED and newer.linked_decision_id is not None
    assert open_count(run) == 0
    return newer


def test_a_linked_group_becomes_merged_when_the_job_succeeds(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    newer = linked_copy(group)
    assert newer.linked_decision_id == job.decision_id

    assert merge_jobs_run_due().succeeded == [job.pk]

    newer.refresh_from_db()
    assert newer.status == Status.MERGED and newer.status_reason == "Merged after a decision in an earlier run."
    assert open_count(newer.run) == 0
    assert AuditEvent.objects.get(action="merge.succeeded").details["linked_groups"] == 1


def test_a_linked_group_fails_with_the_jobs_reason_and_a_retry_takes_it_along(merge_ctl, merge_domain, steward, admin):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    newer = linked_copy(group)
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 400, "message": "Nope"}])

    assert merge_jobs_run_due().failed == [job.pk]

    job.refresh_from_db()
    newer.refresh_from_db()
    assert "Nope" in job.last_error
    assert newer.status == Status.FAILED and newer.status_reason == job.last_error
    assert open_count(newer.run) == 0
    with pytest.raises(DecisionRefused, match="failed"):  # not decidable on its own: it waits on the job
        group_reject(group=newer, actor=steward)

    merge_job_retry(job=job, actor=admin)
    newer.refresh_from_db()
    assert newer.status == Status.APPROVED and "Nope" in newer.status_reason
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    assert merge_jobs_run_due().succeeded == [job.pk]
    newer.refresh_from_db()
    assert newer.status == Status.MERGED


def test_a_linked_group_returns_to_its_queue_when_the_job_is_sent_back(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    main, source = group.profile_ids[0], group.profile_ids[2]
    job = approve(group, steward, main=main, field_sources={"FirstName": source})
    newer = linked_copy(group)
    merge_ctl.delete_profile(merge_domain.name, source)

    assert merge_jobs_run_due().sent_back == [job.pk]

    job.refresh_from_db()
    newer.refresh_from_db()
    assert newer.status == Status.OPEN and newer.status_reason == job.last_error
    assert open_count(newer.run) == 1
    assert AuditEvent.objects.get(action="merge.sent_back").details["linked_groups"] == 1


def test_undo_reopens_the_linked_group_and_a_replaced_run_keeps_its_copy_superseded(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now() + timezone.timedelta(seconds=60))
    older = linked_copy(group, score=0.6)
    MatchRun.objects.filter(pk=older.run_id).update(status=MatchRun.Status.SUPERSEDED)
    newer = linked_copy(group, score=0.7)
    unrelated = make_group(merge_ctl, merge_domain, 2)
    other_job = approve(unrelated, steward, main=unrelated.profile_ids[0])
    bystander = linked_copy(unrelated)

    decision_undo(decision=job.decision, actor=steward, reason="wrong person")

    newer.refresh_from_db()
    older.refresh_from_db()
    bystander.refresh_from_db()
    assert newer.status == Status.OPEN and "undone" in newer.status_reason
    assert open_count(newer.run) == 1
    assert older.status == Status.SUPERSEDED and open_count(older.run) == 0
    assert bystander.status == Status.APPROVED  # linked to another decision: untouched
    assert AuditEvent.objects.get(action="decision.undo").details["linked_groups"] == 2
    assert merge_jobs_run_due().succeeded == [other_job.pk]
    assert len(merge_calls(merge_ctl, merge_domain)) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("merge_role_groups")
def test_carry_over_holds_the_pending_job_so_it_cannot_finish_unseen(merge_ctl, merge_domain, steward):
    """Were the job to finish between the pull reading its status and committing the `approved` link, the group
    would wait forever; carry-over locks the job first, so the executor's finish waits for it."""
    import threading

    from django.db import DatabaseError, connection, transaction

    group = make_group(merge_ctl, merge_domain, 2)
    job = approve(group, steward, main=group.profile_ids[0])
    run = MatchRunFactory(domain=merge_domain)
    newer = MatchGroupFactory(run=run, profile_ids=group.profile_ids, confidence_score=0.7)
    bins_add(run=run, scores=[0.7])
    inside, release, errors = threading.Event(), threading.Event(), []

    def pull() -> None:
        try:
            with transaction.atomic():
                carry_over(run=run)
                inside.set()
                release.wait(10)
        except Exception as exc:  # reported to the test below
            errors.append(exc)
        finally:
            inside.set()
            connection.close()

    thread = threading.Thread(target=pull)
    thread.start()
    try:
        assert inside.wait(10)
        with pytest.raises(DatabaseError), transaction.atomic():
            MergeJob.objects.select_for_update(nowait=True).get(pk=job.pk)
    finally:
        release.set()
        thread.join()
    assert not errors
    assert merge_jobs_run_due().succeeded == [job.pk]
    newer.refresh_from_db()
    assert newer.status == Status.MERGED
