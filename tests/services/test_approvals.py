"""Four-eyes approval (matches/services/approvals.py): merges that need a second person wait, never due, until a
second steward approves; only then does the undo window start."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from matches import roles
from matches.models import Approval, AuditEvent, BulkJob, Decision, MatchGroup, MergeJob
from matches.services import approvals, bulk
from matches.services.decisions import decision_undo, group_merge_approve, group_split
from matches.services.merges import merge_jobs_run_due
from tests.admin_helpers import bulk_evidence, run_with_scores
from tests.factories import UserFactory
from tests.merging import make_group, merge_calls

JobStatus = MergeJob.Status


@pytest.fixture
def admin2(db):
    return UserFactory(username="admin2", roles=[roles.ADMIN])


def _approve(group: MatchGroup, actor) -> Decision:
    return group_merge_approve(group=group, actor=actor, main_profile_id=group.profile_ids[0])


def test_the_domain_rules_say_which_merges_need_a_second_person(domain):
    assert domain.approval_rule(size=9, score=0.1, split=True) == ""
    domain.approval_size_above = 3
    assert domain.approval_rule(size=4, score=0.99, split=False) == "groups of more than 3 profiles"
    assert domain.approval_rule(size=3, score=0.99, split=False) == ""
    domain.approval_score_below = Decimal("0.900")
    assert domain.approval_rule(size=2, score=0.85, split=False) == "scores below 0.900"
    assert domain.approval_rule(size=2, score=None, split=False) == ""  # a group without a score
    domain.approval_splits = True
    assert domain.approval_rule(size=2, score=0.99, split=True) == "every split needs a second person"
    assert domain.bulk_approval_rule() == ""
    domain.approval_bulk = True
    assert domain.bulk_approval_rule() == "every bulk job needs a second admin"
    domain.approval_all = True
    assert domain.approval_rule(size=2, score=0.99, split=False) == "every merge needs a second person"


def test_a_merge_needing_a_second_person_waits_and_its_undo_window_starts_on_approval(
    domain, steward, steward2, celery_queue, django_capture_on_commit_callbacks
):
    domain.approval_size_above = 2
    domain.undo_window_seconds = 120
    domain.save()
    _, (group,) = run_with_scores(domain, [0.97], size=3)
    with django_capture_on_commit_callbacks(execute=True):
        decision = _approve(group, steward)
    job = MergeJob.objects.get(decision=decision)
    approval = Approval.objects.get(decision=decision)
    assert job.status == JobStatus.AWAITING_APPROVAL
    assert (approval.status, approval.rule, approval.requested_by) == (
        "pending",
        "groups of more than 2 profiles",
        steward,
    )
    assert celery_queue("matches.tasks.execute_merge_job") == []  # nothing handed to a worker yet

    with pytest.raises(approvals.ApprovalRefused, match="second person"):
        approvals.approval_approve(approval=approval, actor=steward)

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        approvals.approval_approve(approval=approval, actor=steward2)
    job.refresh_from_db()
    approval.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED
    assert job.not_before >= before + timedelta(seconds=120)  # the undo window starts now, not at the decision
    assert (approval.status, approval.decided_by) == ("approved", steward2)
    assert len(celery_queue("matches.tasks.execute_merge_job")) == 1

    requested = AuditEvent.objects.get(action=approvals.APPROVAL_REQUESTED)
    approved = AuditEvent.objects.get(action=approvals.APPROVAL_APPROVED)
    assert requested.actor == steward and approved.actor == steward2
    assert approved.details["requested_by"] == "steward" and approved.details["decided_by"] == "steward2"
    assert approved.details["rule"] == "groups of more than 2 profiles"
    assert approved.details["requested_at"] and approved.details["decided_at"]
    decision_event = AuditEvent.objects.get(action="decision.merge")
    assert decision_event.details["approval_rule"] == "groups of more than 2 profiles"


def test_the_database_refuses_the_same_person_twice(domain, steward):
    domain.approval_all = True
    domain.save()
    _, (group,) = run_with_scores(domain, [0.97])
    approval = Approval.objects.get(decision=_approve(group, steward))
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(decided_by=steward)


def test_an_auditor_cannot_approve_and_a_bulk_job_needs_an_admin(domain, steward, steward2, auditor):
    domain.approval_all = True
    domain.save()
    _, (group,) = run_with_scores(domain, [0.97])
    approval = Approval.objects.get(decision=_approve(group, steward))
    with pytest.raises(approvals.ApprovalRefused, match="role"):
        approvals.approval_approve(approval=approval, actor=auditor)
    assert Approval.objects.get(pk=approval.pk).status == "pending"


def test_sent_back_needs_a_reason_leaves_the_job_waiting_and_the_steward_may_undo(domain, steward, steward2, admin):
    domain.approval_splits = True
    domain.save()
    _, (group,) = run_with_scores(domain, [0.8], size=3)
    ids = group.profile_ids
    decision = group_split(group=group, actor=steward, keep_profile_ids=ids[:2], main_profile_id=ids[0])
    approval = Approval.objects.get(decision=decision)
    assert approval.rule == "every split needs a second person"
    with pytest.raises(approvals.ApprovalRefused, match="why"):
        approvals.approval_send_back(approval=approval, actor=steward2, reason="  ")
    approvals.approval_send_back(approval=approval, actor=steward2, reason="the third is the same person")
    approval.refresh_from_db()
    assert (approval.status, approval.reason, approval.decided_by) == (
        "sent_back",
        "the third is the same person",
        steward2,
    )
    # Not a decision: the group is still as the first steward decided it, the job still waits.
    assert MatchGroup.objects.get(pk=group.pk).status == MatchGroup.Status.SPLIT
    assert MergeJob.objects.get(decision=decision).status == JobStatus.AWAITING_APPROVAL
    assert not Decision.objects.filter(group=group).exclude(pk=decision.pk).exists()
    with pytest.raises(approvals.ApprovalRefused, match="sent back"):
        approvals.approval_approve(approval=approval, actor=admin)
    decision_undo(decision=decision, actor=admin, reason="agreed with the send-back")
    assert MatchGroup.objects.get(pk=group.pk).status == MatchGroup.Status.OPEN
    assert MergeJob.objects.get(decision=decision).status == JobStatus.CANCELLED


def test_undo_while_awaiting_withdraws_the_approval(domain, steward, steward2):
    domain.approval_all = True
    domain.save()
    _, (group,) = run_with_scores(domain, [0.97])
    decision = _approve(group, steward)
    decision_undo(decision=decision, actor=steward)
    approval = Approval.objects.get(decision=decision)
    assert approval.status == "withdrawn"
    assert AuditEvent.objects.filter(action=approvals.APPROVAL_WITHDRAWN, actor=steward).exists()
    with pytest.raises(approvals.ApprovalRefused, match="withdrawn"):
        approvals.approval_approve(approval=approval, actor=steward2)


def test_a_job_awaiting_approval_never_reaches_merge_profiles(merge_ctl, merge_domain, steward, steward2):
    merge_domain.approval_all = True
    merge_domain.save()
    group = make_group(merge_ctl, merge_domain, 2)
    decision = _approve(group, steward)
    job = MergeJob.objects.get(decision=decision)
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now() - timedelta(hours=1))

    assert merge_jobs_run_due().total == 0
    # Even a status forced to scheduled does not run while the approval is pending.
    MergeJob.objects.filter(pk=job.pk).update(status=JobStatus.SCHEDULED)
    assert merge_jobs_run_due().total == 0
    assert merge_calls(merge_ctl, merge_domain) == []

    MergeJob.objects.filter(pk=job.pk).update(status=JobStatus.AWAITING_APPROVAL)
    approvals.approval_approve(approval=Approval.objects.get(decision=decision), actor=steward2)
    summary = merge_jobs_run_due()  # undo window 0: due at once
    assert summary.succeeded == [job.pk]
    assert len(merge_calls(merge_ctl, merge_domain)) == 1


def test_a_bulk_job_waits_for_a_second_admin_then_runs_without_per_group_approvals(
    domain, admin, admin2, steward, celery_queue, django_capture_on_commit_callbacks
):
    domain.approval_bulk = True
    domain.approval_size_above = 1  # every group would need one on its own
    domain.save()
    run, _ = run_with_scores(domain, [0.97, 0.98, 0.99])
    bulk_evidence(run, steward, queues=["merge"])
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=domain.policy().pk)
    assert job.status == BulkJob.Status.AWAITING
    assert bulk.bulk_job_execute(job_id=job.pk) is None  # not claimable while awaiting
    approval = Approval.objects.get(bulk_job=job)
    with pytest.raises(approvals.ApprovalRefused, match="second person"):
        approvals.approval_approve(approval=approval, actor=admin)
    with pytest.raises(approvals.ApprovalRefused, match="second admin"):
        approvals.approval_approve(approval=approval, actor=steward)
    with django_capture_on_commit_callbacks(execute=True):
        approvals.approval_approve(approval=approval, actor=admin2)
    assert celery_queue("matches.tasks.bulk_job_task") == [[job.pk]]
    done = bulk.bulk_job_execute(job_id=job.pk)
    assert (done.status, done.done) == ("done", 3)
    assert not Approval.objects.filter(decision__isnull=False).exists()
    assert set(MergeJob.objects.values_list("status", flat=True)) == {JobStatus.SCHEDULED}


def test_a_bulk_job_sent_back_never_runs(domain, admin, admin2):
    domain.approval_bulk = True
    domain.save()
    run, _ = run_with_scores(domain, [0.2, 0.3])
    bulk_evidence(run, admin, queues=["reject"])
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk)
    approvals.approval_send_back(approval=Approval.objects.get(bulk_job=job), actor=admin2, reason="sample first")
    job.refresh_from_db()
    assert job.status == BulkJob.Status.FAILED and "sample first" in job.error
    assert bulk.bulk_job_execute(job_id=job.pk) is None
    assert not Decision.objects.filter(bulk=True).exists()


def test_a_merge_awaiting_approval_carries_over_and_its_linked_group_follows_the_job(
    merge_ctl, merge_domain, steward, steward2
):
    from tests.services.test_merges_linked import linked_copy

    merge_domain.approval_all = True
    merge_domain.save()
    group = make_group(merge_ctl, merge_domain, 2)
    decision = _approve(group, steward)
    newer = linked_copy(group)  # a newer run holds the same set: it comes back approved, linked to the decision
    assert newer.linked_decision_id == decision.pk
    approvals.approval_approve(approval=Approval.objects.get(decision=decision), actor=steward2)
    assert len(merge_jobs_run_due().succeeded) == 1
    newer.refresh_from_db()
    assert newer.status == MatchGroup.Status.MERGED
