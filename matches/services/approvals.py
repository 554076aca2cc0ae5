"""Four-eyes approval (docs/architecture.md, "Four-eyes approval"): per domain, some merges, splits and bulk jobs wait
for a second person before they may run. An Approval is a record of its own, never a Decision: approving one only
lets the merge job's undo window start (or the bulk job run); sending one back leaves the job waiting, and the group
as the first steward decided it, until its steward or an admin undoes the decision. Each change is one durable
transaction with its audit event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from matches.models import Approval, BulkJob, Decision, MatchGroup, MergeJob
from matches.services import enqueue, notifications
from matches.services.audit import audit_log

# Audit actions of this flow.
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_APPROVED = "approval.approved"
APPROVAL_SENT_BACK = "approval.sent_back"
APPROVAL_WITHDRAWN = "approval.withdrawn"

REASON_MAX = 2000


class ApprovalRefused(Exception):
    """The approval or send-back cannot be taken; the message says why."""


def _details(approval: Approval, **extra: Any) -> dict[str, Any]:
    """What an approval event records: both people, both times, the rule, and what it concerns."""
    details: dict[str, Any] = {
        "approval_id": approval.pk,
        "rule": approval.rule,
        "status": approval.status,
        "requested_by": approval.requested_by.get_username(),
        "requested_at": approval.requested_at.isoformat(),
        "decided_by": approval.decided_by.get_username() if approval.decided_by else None,
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "reason": approval.reason,
    }
    if approval.decision_id is not None:
        decision = approval.decision
        assert decision is not None
        details.update(
            decision_id=decision.pk,
            action=decision.action,
            group_id=decision.group_id,
            match_id=decision.group.match_id,
            profile_ids=decision.group.profile_ids,
            main_profile_id=decision.main_profile_id,
        )
    else:
        details.update(bulk_job_id=approval.bulk_job_id)
    return {**details, **extra}


def _audit(approval: Approval, action: str, actor: User, **extra: Any) -> None:
    if approval.decision_id is not None:
        object_type, object_id = "group", approval.decision.group_id  # type: ignore[union-attr]
    else:
        object_type, object_id = "bulk_job", approval.bulk_job_id
    audit_log(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        domain=approval.domain,
        details=_details(approval, **extra),
    )


def approval_request_within(*, decision: Decision, rule: str, actor: User) -> Approval:
    """Ask for a second person on a merge or split just decided (inside the decision's transaction); its job waits."""
    if not connection.in_atomic_block:
        raise RuntimeError("approval_request_within must run inside the decision's transaction")
    approval = Approval.objects.create(
        domain=decision.group.run.domain, decision=decision, rule=rule, requested_by=actor
    )
    _audit(approval, APPROVAL_REQUESTED, actor)
    what = decision.get_action_display().lower()
    _tell_approvers(approval, f"A {what} in {approval.domain.name} awaits your approval")
    return approval


def bulk_approval_request_within(*, job: BulkJob, rule: str, actor: User) -> Approval:
    """Ask for a second admin on a bulk job just created (inside its transaction); it waits without running."""
    if not connection.in_atomic_block:
        raise RuntimeError("bulk_approval_request_within must run inside the bulk job's transaction")
    approval = Approval.objects.create(domain=job.domain, bulk_job=job, rule=rule, requested_by=actor)
    _audit(approval, APPROVAL_REQUESTED, actor, queue=job.queue, total=job.total)
    _tell_approvers(approval, f"A bulk job of {job.total:,} groups in {job.domain.name} awaits your approval")
    return approval


def _tell_approvers(approval: Approval, summary: str) -> None:
    """Those who may approve it hear of it (their notification choices permitting)."""
    notifications.notify(
        kind=notifications.Kind.APPROVAL_AWAITING,
        users=notifications.approvers_of(
            domain=approval.domain, requested_by=approval.requested_by, bulk=approval.bulk_job_id is not None
        ),
        domain=approval.domain,
        context={
            "summary": summary,
            "url": reverse("approvals"),
            "approval_id": approval.pk,
            "rule": approval.rule,
            "requested_by": approval.requested_by.get_username(),
        },
    )


def _locked(approval: Approval, actor: User) -> Approval:
    """The approval under its row lock, taken in the order an undo takes its locks (group, job, approval)."""
    subject = Approval.objects.select_related("decision").get(pk=approval.pk)
    if subject.decision is not None:
        MatchGroup.objects.select_for_update().filter(pk=subject.decision.group_id).first()
        MergeJob.objects.select_for_update().filter(decision_id=subject.decision.pk).first()
    current = (
        Approval.objects.select_for_update(of=("self",))
        .select_related("domain", "requested_by", "decision__group", "bulk_job")
        .get(pk=approval.pk)
    )
    refusal = current.refusal_for(actor)
    if refusal:
        raise ApprovalRefused(refusal)
    return current


def approval_approve(*, approval: Approval, actor: User, note: str = "") -> Approval:
    """A second person approves: the merge job's undo window starts now (or the bulk job is handed to a worker)."""
    with transaction.atomic(durable=True):
        approval = _locked(approval, actor)
        now = timezone.now()
        approval.status = Approval.Status.APPROVED
        approval.decided_by = actor
        approval.decided_at = now
        approval.reason = note.strip()[:REASON_MAX]
        approval.save(update_fields=["status", "decided_by", "decided_at", "reason"])
        extra: dict[str, Any] = {}
        if approval.decision_id is not None:
            job = MergeJob.objects.select_for_update().get(decision_id=approval.decision_id)
            if job.status != MergeJob.Status.AWAITING_APPROVAL:
                raise ApprovalRefused(f"The merge is {job.get_status_display()} now; there is nothing to approve.")
            job.status = MergeJob.Status.SCHEDULED
            job.not_before = now + timedelta(seconds=approval.domain.undo_window_seconds)
            job.save(update_fields=["status", "not_before"])
            extra = {"merge_job_id": job.pk, "not_before": job.not_before.isoformat()}
            enqueue.merge_job(job_id=job.pk, eta=job.not_before)
        else:
            assert approval.bulk_job_id is not None  # exactly one subject (a database check)
            bulk_job = BulkJob.objects.select_for_update().get(pk=approval.bulk_job_id)
            if bulk_job.status != BulkJob.Status.AWAITING:
                raise ApprovalRefused(f"The bulk job is {bulk_job.get_status_display()} now; nothing to approve.")
            bulk_job.status = BulkJob.Status.PENDING
            bulk_job.save(update_fields=["status"])
            enqueue.bulk_job(job_id=bulk_job.pk)  # the hand-off sweep queues it again if the message is lost
        _audit(approval, APPROVAL_APPROVED, actor, **extra)
    return approval


def approval_send_back(*, approval: Approval, actor: User, reason: str) -> Approval:
    """A second person disagrees, with a reason: nothing runs; the decision's steward or an admin may undo it."""
    reason = reason.strip()
    if not reason:
        raise ApprovalRefused("Say why you send it back.")
    with transaction.atomic(durable=True):
        approval = _locked(approval, actor)
        approval.status = Approval.Status.SENT_BACK
        approval.decided_by = actor
        approval.decided_at = timezone.now()
        approval.reason = reason[:REASON_MAX]
        approval.save(update_fields=["status", "decided_by", "decided_at", "reason"])
        if approval.bulk_job_id is not None:
            BulkJob.objects.filter(pk=approval.bulk_job_id, status=BulkJob.Status.AWAITING).update(
                status=BulkJob.Status.FAILED,
                error=f"Sent back by {actor.get_username()}: {approval.reason}",
                finished_at=approval.decided_at,
            )
        _audit(approval, APPROVAL_SENT_BACK, actor)
    return approval


def approval_withdraw_within(*, decision: Decision, actor: User) -> None:
    """The decision was undone while its approval was pending (inside the undo's transaction)."""
    approval = Approval.objects.select_for_update().filter(decision=decision, status=Approval.Status.PENDING).first()
    if approval is None:
        return
    approval.status = Approval.Status.WITHDRAWN
    approval.save(update_fields=["status"])
    _audit(approval, APPROVAL_WITHDRAWN, actor)
