"""Reads behind assignment and age (docs/architecture.md, "Assignment and age"): the groups assigned to a steward,
their "My work" list, and overdue counts against a domain's review deadline (MatchGroup.first_seen_at, index
`group_age`: a count of a run's open groups first seen before the deadline is an index range scan)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from matches.models import Assignment, AssignmentItem, Domain, MatchGroup, MatchRun


def open_assigned_keys(
    *, domain: Domain, exclude_assignee: User | None = None, assignee: User | None = None
) -> QuerySet[AssignmentItem, Any]:
    """The profile sets of the domain's open assignments (a subquery), of one assignee or of everyone else."""
    qs = AssignmentItem.objects.filter(assignment__domain=domain, assignment__closed_at__isnull=True)
    if assignee is not None:
        qs = qs.filter(assignment__assignee=assignee)
    if exclude_assignee is not None:
        qs = qs.exclude(assignment__assignee=exclude_assignee)
    return qs.values("profile_set_key")


def assigned_q(*, actor: User, domain: Domain) -> Q:
    """The groups assigned to `actor` in the domain's open assignments, as a filter (any run: items follow the
    profile set)."""
    return Q(profile_set_key__in=open_assigned_keys(domain=domain, assignee=actor))


def assigned_to_others_ids(*, run: MatchRun, actor: User) -> list[int]:
    """Open groups of the run that an open assignment gives someone else: other stewards' "next" passes over them
    (anyone may still open and decide one: an assignment is not a claim)."""
    keys = open_assigned_keys(domain=run.domain, exclude_assignee=actor)
    return list(
        MatchGroup.objects.filter(run=run, status=MatchGroup.Status.OPEN, profile_set_key__in=keys).values_list(
            "pk", flat=True
        )
    )


def overdue_cutoff(domain: Domain, now: datetime | None = None) -> datetime | None:
    """Groups first seen before this are overdue (None: the domain has no deadline)."""
    if domain.review_deadline_days is None:
        return None
    return (now or timezone.now()) - timedelta(days=domain.review_deadline_days)


def overdue_count(*, domain: Domain, run: MatchRun | None, now: datetime | None = None) -> int | None:
    """Open groups of the run past the domain's review deadline (None: no deadline or no run)."""
    cutoff = overdue_cutoff(domain, now)
    if cutoff is None or run is None:
        return None
    return MatchGroup.objects.filter(run=run, status=MatchGroup.Status.OPEN, first_seen_at__lt=cutoff).count()


@dataclass
class WorkItem:
    group: MatchGroup  # the profile set's group in the domain's current run, else the one assigned
    age_days: int
    overdue: bool


@dataclass
class WorkList:
    assignment: Assignment
    items: list[WorkItem] = field(default_factory=list)

    @property
    def open(self) -> int:
        return sum(1 for i in self.items if i.group.status == MatchGroup.Status.OPEN)

    @property
    def done(self) -> int:
        return len(self.items) - self.open

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.overdue)


def _work_list(assignment: Assignment, now: datetime) -> WorkList:
    """An assignment with its groups as they stand now: a profile set carried over into a later run shows its
    group there."""
    items = list(assignment.items.select_related("group__run__domain").order_by("id"))
    run = assignment.domain.latest_completed_run()
    current: dict[str, MatchGroup] = {}
    if run is not None and run.pk != assignment.run_id:
        current = {
            g.profile_set_key: g
            for g in MatchGroup.objects.filter(
                run=run, profile_set_key__in=[i.profile_set_key for i in items]
            ).select_related("run__domain")
        }
    work = WorkList(assignment)
    for item in items:
        group = current.get(item.profile_set_key, item.group).as_read()
        work.items.append(WorkItem(group, group.age_days(now), group.is_overdue(now)))
    return work


def my_work(*, actor: User, domain_ids: frozenset[int] | None = None) -> list[WorkList]:
    """The steward's open assignments, newest first; of `domain_ids` only when given (the steward's access:
    access.limited_domain_ids; an assignment made before their access was narrowed stays out of sight)."""
    now = timezone.now()
    qs = Assignment.objects.filter(assignee=actor, closed_at__isnull=True).select_related("domain", "created_by")
    if domain_ids is not None:
        qs = qs.filter(domain_id__in=domain_ids)
    return [_work_list(a, now) for a in qs.order_by("-created_at")[:50]]


def domain_assignments(*, domain: Domain) -> list[WorkList]:
    """The domain's open assignments with their progress (the admin page)."""
    now = timezone.now()
    qs = Assignment.objects.filter(domain=domain, closed_at__isnull=True).select_related(
        "assignee", "created_by", "domain"
    )
    return [_work_list(a, now) for a in qs.order_by("-created_at")[:100]]
