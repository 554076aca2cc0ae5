"""Bulk decisions on the merge or reject queue: each group gets its own Decision marked bulk (never evidence for
thresholds). Groups a steward holds, groups already decided and groups reserved for QA review are skipped and counted.
Large batches run in a worker, in chunks, saving progress and a cursor after each chunk."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from matches.models import Approval, BulkJob, Domain, MatchGroup, Queue
from matches.selectors.admin import qa_sampled_group_ids, queue_groups
from matches.selectors.bulk import bulk_evidence
from matches.services import approvals, enqueue
from matches.services.audit import audit_log
from matches.services.decisions import (
    DecisionRefused,
    OverlapsPendingMerge,
    default_main_profile,
    group_merge_approve_within,
    group_reject_within,
)

BULK_TASK = "matches.tasks.bulk_job_task"
INLINE_LIMIT = 200
CHUNK = 100
ACTION_FOR_QUEUE: dict[str, BulkJob.Action] = {Queue.MERGE: BulkJob.Action.MERGE, Queue.REJECT: BulkJob.Action.REJECT}


class BulkRefused(Exception):
    """The bulk decision cannot start; the message says why."""


def bulk_job_create(
    *, actor: User, domain: Domain, queue: str, policy_id: int, group_ids: list[int] | None = None
) -> BulkJob:
    """Record a bulk decision on the selected groups (or, with none given, every open group in the queue)."""
    if queue not in ACTION_FOR_QUEUE:
        raise BulkRefused(f"Bulk decisions apply to the merge or the reject queue, not '{queue}'.")
    run = domain.latest_completed_run()
    if run is None:
        raise BulkRefused("This domain has no completed pull yet.")
    with transaction.atomic(durable=True):
        Domain.objects.select_for_update().filter(pk=domain.pk).first()
        policy = domain.policy()
        if policy.pk != int(policy_id):
            raise BulkRefused("The thresholds changed since you confirmed: the queue is different now. Look again.")
        # Evidence first (docs/thresholds.md, "Bulk decisions"): the queue's upper bound within the domain's target.
        evidence = bulk_evidence(domain=domain, queue=queue, policy=policy, run=run)
        if not evidence.allowed:
            raise BulkRefused(evidence.refusal)
        lo, below = policy.score_range(queue)
        in_queue = queue_groups(run=run, policy=policy, queue=queue)
        if group_ids:
            wanted = sorted({int(pk) for pk in group_ids})
            total = len(wanted)
        else:
            wanted = []
            total = in_queue.count()
        if not total:
            raise BulkRefused(f"Nothing to do: the {queue} queue has no open group.")
        job = BulkJob.objects.create(
            domain=domain,
            run=run,
            queue=queue,
            action=ACTION_FOR_QUEUE[queue],
            threshold_policy=policy,
            score_min=lo,
            score_below=below,
            group_ids=wanted,
            total=total,
            created_by=actor,
        )
        audit_log(
            actor=actor,
            action="bulk.started",
            object_type="bulk_job",
            object_id=job.pk,
            domain=domain,
            details={
                "queue": queue,
                "action": job.action,
                "total": total,
                "selected": bool(wanted),
                "threshold_policy_id": policy.pk,
                "run_id": run.pk,
                "evidence": evidence.summary(),
            },
        )
        rule = domain.bulk_approval_rule()
        if rule:
            # Four-eyes: the job waits, not claimable, until a second admin approves it as a whole.
            BulkJob.objects.filter(pk=job.pk).update(status=BulkJob.Status.AWAITING)
            job.status = BulkJob.Status.AWAITING
            approvals.bulk_approval_request_within(job=job, rule=rule, actor=actor)
        elif total > INLINE_LIMIT:
            enqueue.bulk_job(job_id=job.pk)
    return job


def _next_chunk(job: BulkJob, size: int) -> list[MatchGroup]:
    qs = MatchGroup.objects.filter(run_id=job.run_id, pk__gt=job.cursor).select_related("run__domain", "claimed_by")
    if job.group_ids:
        qs = qs.filter(pk__in=job.group_ids)
    else:
        # Still inside the queue as it was when the job was confirmed; groups decided meanwhile drop out.
        qs = qs.filter(
            status=MatchGroup.Status.OPEN, confidence_score__gte=job.score_min, confidence_score__lt=job.score_below
        )
    return list(qs.order_by("pk")[:size])


def _skip_reason(group: MatchGroup, job: BulkJob, actor: User, sampled: set[int], now: datetime) -> str | None:
    if group.read_status() == MatchGroup.Status.SUPERSEDED:
        return "superseded by a newer pull"
    if group.status != MatchGroup.Status.OPEN:
        return "already decided"
    if group.confidence_score is None or not job.covers(group.confidence_score):
        return "not in the queue"
    if group.held_by_other(actor, now):
        return "claimed by a steward"
    if group.pk in sampled:
        return "in a QA sample"
    return None


def _decide(job: BulkJob, group: MatchGroup, actor: User, *, preapproved: bool) -> None:
    """One group, its own durable transaction (its own Decision and audit event). A job a second admin approved as
    a whole needs no approval per group; otherwise the domain's per-group rules still apply."""
    with transaction.atomic(durable=True):
        if job.action == BulkJob.Action.MERGE:
            group_merge_approve_within(
                group=group,
                actor=actor,
                main_profile_id=default_main_profile(group),
                reason=f"bulk job {job.pk}",
                bulk=True,
                preapproved=preapproved,
            )
        else:
            group_reject_within(group=group, actor=actor, reason=f"bulk job {job.pk}", bulk=True)


def bulk_job_claim(*, job_id: int) -> bool:
    """Take a pending job for running; False when it is already running or finished."""
    return bool(BulkJob.objects.filter(pk=job_id, status=BulkJob.Status.PENDING).update(status=BulkJob.Status.RUNNING))


def bulk_job_stale(*, job: BulkJob, evidence: bool = True) -> str:
    """Why the job may no longer run ("" when it may): the policy it was created under is no longer in force, or
    (with `evidence`) the queue's evidence no longer holds, as when a second admin approves it later or decisions
    were taken back meanwhile. A job over a run a newer pull replaced runs on: its groups are skipped one by one."""
    policy = job.domain.policy()
    if policy.pk != job.threshold_policy_id:
        return (
            f"Stopped: the thresholds changed since this job was created (now merge ≥ {policy.merge_min}, "
            f"reject < {policy.reject_below}); its queue is not the queue any more. Look again and start a new job."
        )
    if evidence:
        found = bulk_evidence(domain=job.domain, queue=job.queue, policy=policy)
        if found.run_id == job.run_id and not found.allowed:
            return f"Stopped: the evidence no longer holds. {found.refusal}"
    return ""


def bulk_job_run(*, job: BulkJob, chunk_size: int = CHUNK) -> BulkJob:
    """Decide the job's groups chunk by chunk; each group is its own transaction (its own Decision and audit event).
    The policy and the evidence are checked again first, and the policy before each chunk."""
    actor = job.created_by
    preapproved = Approval.objects.filter(bulk_job=job, status=Approval.Status.APPROVED).exists()
    first = True
    while True:
        stale = bulk_job_stale(job=job, evidence=first)
        first = False
        if stale:
            return bulk_job_finish(job=job, error=stale)
        chunk = _next_chunk(job, chunk_size)
        if not chunk:
            break
        sampled = qa_sampled_group_ids(g.pk for g in chunk)
        done, skipped = 0, Counter[str]()
        now = timezone.now()
        for group in chunk:
            reason = _skip_reason(group, job, actor, sampled, now)
            if reason is None:
                try:
                    _decide(job, group, actor, preapproved=preapproved)
                    done += 1
                    continue
                except OverlapsPendingMerge:
                    reason = "shares a profile with a pending merge"
                except DecisionRefused:
                    reason = "refused (decided or claimed meanwhile)"
            skipped[reason] += 1
        job.cursor = chunk[-1].pk
        reasons = Counter(job.skip_reasons) + skipped
        BulkJob.objects.filter(pk=job.pk).update(
            cursor=job.cursor, done=F("done") + done, skipped=F("skipped") + sum(skipped.values()), skip_reasons=reasons
        )
        job.refresh_from_db()
    return bulk_job_finish(job=job)


def bulk_job_finish(*, job: BulkJob, error: str = "") -> BulkJob:
    """Close the job; groups that left the queue before their turn count as skipped."""
    with transaction.atomic(durable=True):
        job = BulkJob.objects.select_for_update().get(pk=job.pk)
        missing = job.total - job.done - job.skipped
        if missing > 0 and not error:
            job.skipped += missing
            job.skip_reasons = dict(Counter(job.skip_reasons) + Counter({"decided meanwhile": missing}))
        job.status = BulkJob.Status.FAILED if error else BulkJob.Status.DONE
        job.error = error
        job.finished_at = timezone.now()
        job.save()
        audit_log(
            actor=job.created_by,
            action="bulk.failed" if error else "bulk.finished",
            object_type="bulk_job",
            object_id=job.pk,
            domain=job.domain,
            details={
                "queue": job.queue,
                "action": job.action,
                "total": job.total,
                "done": job.done,
                "skipped": job.skipped,
                "skip_reasons": job.skip_reasons,
                "error": error,
            },
        )
    return job


def bulk_job_execute(*, job_id: int) -> BulkJob | None:
    """Claim and run a job (what the worker task and small inline batches call)."""
    if not bulk_job_claim(job_id=job_id):
        return None
    job = BulkJob.objects.select_related("domain", "created_by").get(pk=job_id)
    try:
        return bulk_job_run(job=job)
    except Exception as exc:
        bulk_job_finish(job=job, error=f"{type(exc).__name__}: {exc}")
        raise
