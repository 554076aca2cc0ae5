"""Reads of the steward workflow: the awaiting-approval list, a group's approval, the pending merges a group overlaps,
and what a split did (docs/architecture.md, "Four-eyes approval", "Overlapping groups")."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from matches.models import Approval, Decision, MatchGroup, MergeJob

LIST_LIMIT = 200


def _approvals() -> QuerySet[Approval]:
    return Approval.objects.select_related(
        "domain", "requested_by", "decided_by", "decision__group__run", "decision__merge_job", "bulk_job"
    )


def approvals_awaiting(*, domain: str = "", domain_ids: frozenset[int] | None = None) -> list[Approval]:
    """Pending approvals, oldest first (the awaiting-approval list); of `domain_ids` only, when given."""
    qs = _approvals().filter(status=Approval.Status.PENDING)
    if domain_ids is not None:
        qs = qs.filter(domain_id__in=domain_ids)
    if domain:
        qs = qs.filter(domain__name=domain)
    return list(qs.order_by("requested_at", "id")[:LIST_LIMIT])


def approvals_sent_back(
    *, domain: str = "", limit: int = 50, domain_ids: frozenset[int] | None = None
) -> list[Approval]:
    """Sent back and not yet resolved: the decision's merge job still waits (an admin or the steward undoes it)."""
    qs = _approvals().filter(
        status=Approval.Status.SENT_BACK, decision__merge_job__status=MergeJob.Status.AWAITING_APPROVAL
    )
    if domain_ids is not None:
        qs = qs.filter(domain_id__in=domain_ids)
    if domain:
        qs = qs.filter(domain__name=domain)
    return list(qs.order_by("-decided_at", "-id")[:limit])


def approvals_awaiting_count() -> int:
    return Approval.objects.filter(status=Approval.Status.PENDING).count()


def decision_approval(decision: Decision | None) -> Approval | None:
    """The approval a decision needed, if any."""
    if decision is None:
        return None
    try:
        return decision.approval  # loaded with the group's decisions (review.group_decisions)
    except Approval.DoesNotExist:
        return None


def pending_merges_touching(
    *, domain_id: int, profile_ids: set[str], exclude_group_id: int | None = None
) -> list[Decision]:
    """Decisions of the domain whose merge job has not finished (awaiting approval, scheduled or running) and whose
    MergeProfiles calls name one of `profile_ids`, newest first (the group's GIN index finds the candidates)."""
    jobs = (
        MergeJob.objects.filter(
            status__in=MergeJob.ACTIVE,
            decision__group__run__domain_id=domain_id,
            decision__group__profile_ids__overlap=sorted(profile_ids),
        )
        .select_related("decision__group__run", "decision__actor")
        .order_by("-decision__created_at")
    )
    if exclude_group_id is not None:
        jobs = jobs.exclude(decision__group_id=exclude_group_id)
    return [job.decision for job in jobs if job.decision.touched_profile_ids() & profile_ids]


def group_overlaps(group: MatchGroup) -> list[Decision]:
    """For an open group: the pending merges of other groups that share one of its profiles."""
    # No candidate in the group's own statement (review.group_page_queryset): nothing to filter here.
    if group.status != MatchGroup.Status.OPEN or getattr(group, "page_overlap_candidates", None) is False:
        return []
    return pending_merges_touching(
        domain_id=group.run.domain_id, profile_ids=set(group.profile_ids), exclude_group_id=group.pk
    )


@dataclass(frozen=True)
class SplitOutcome:
    """What a split did: the part merged into the main profile and the part kept apart."""

    decision: Decision
    status: str  # the merge job's status
    main_profile_id: str
    merged: list[str]  # merged into the main profile (without those already gone at AWS)
    gone: list[str]  # chosen to merge but no longer at AWS when the merge ran
    kept_apart: list[str]


def split_outcome(group: MatchGroup, latest: Decision | None) -> SplitOutcome | None:
    """For a split group: its latest split decision, the job's status and the two parts."""
    if group.status != MatchGroup.Status.SPLIT or latest is None or latest.action != Decision.Action.SPLIT:
        return None
    job = getattr(latest, "merge_job", None)
    gone = sorted(set(job.gone_profile_ids)) if job is not None else []
    return SplitOutcome(
        decision=latest,
        status=job.status if job is not None else "",
        main_profile_id=latest.main_profile_id,
        merged=[pid for pid in latest.merged_profile_ids if pid not in gone],
        gone=gone,
        kept_apart=list(latest.excluded_profile_ids),
    )
