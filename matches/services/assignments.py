"""Assignment and age (docs/architecture.md, "Assignment and age"): an admin gives a steward `count` open groups of
one queue and score range; the steward's "next" serves them first (services/work.py), and "My work" lists them. An
assignment is not a claim: nobody is kept out of the groups, there is no lease, and a profile set carried over into
a later run stays assigned (items follow `profile_set_key`). Also the domain's review deadline. Every change is one
durable transaction with its audit event."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from matches import roles
from matches.access import can_see_domain
from matches.models import Assignment, AssignmentItem, Domain, MatchGroup
from matches.selectors.assignments import open_assigned_keys
from matches.services.audit import audit_log
from matches.services.notifications import work_assigned

COUNT_MAX = 1000
ASSIGNED = "assignment.created"
CLOSED = "assignment.closed"
DEADLINE_SET = "domain.review_deadline_set"


class AssignmentRefused(ValueError):
    """The assignment cannot be made or changed; the message says why."""


def _require_admin(actor: User) -> None:
    if not actor.is_active or not actor.has_perm(roles.ADMINISTER):
        raise AssignmentRefused("Only an admin assigns work.")


def assignment_create(
    *,
    actor: User,
    domain: Domain,
    assignee: User,
    queue: str,
    count: int,
    score_min: Decimal | None = None,
    score_max: Decimal | None = None,
    note: str = "",
) -> Assignment:
    """Assign up to `count` open groups of the queue (in its order; oldest profile sets first within a score) that no
    open assignment holds yet, of the domain's latest completed run."""
    _require_admin(actor)
    if not assignee.is_active or not assignee.has_perm(roles.DECIDE):
        raise AssignmentRefused(f"{assignee.get_username()} cannot decide groups: assign work to a steward.")
    if not can_see_domain(assignee, domain.pk):
        raise AssignmentRefused(f"{assignee.get_username()} has no access to {domain.name}.")
    if queue not in Assignment.Queue.values:
        raise AssignmentRefused("Choose the merge, review or reject queue.")
    if not 1 <= count <= COUNT_MAX:
        raise AssignmentRefused(f"Assign between 1 and {COUNT_MAX} groups.")
    for bound in (score_min, score_max):
        if bound is not None and not Decimal(0) <= bound <= Decimal(1):
            raise AssignmentRefused("Scores run from 0 to 1.")
    if score_min is not None and score_max is not None and score_min > score_max:
        raise AssignmentRefused("The lowest score must not be above the highest.")
    if len(note) > 200:
        raise AssignmentRefused("A note is at most 200 characters.")
    run = domain.latest_completed_run()
    policy = domain.policy()
    if run is None or policy is None:
        raise AssignmentRefused("This domain has no completed pull yet: nothing to assign.")
    with transaction.atomic(durable=True):
        qs = MatchGroup.objects.filter(policy.score_q(queue), run=run, status=MatchGroup.Status.OPEN).exclude(
            profile_set_key__in=open_assigned_keys(domain=domain)
        )
        if score_min is not None:
            qs = qs.filter(confidence_score__gte=float(score_min))
        if score_max is not None:
            qs = qs.filter(confidence_score__lte=float(score_max))
        desc = queue != Assignment.Queue.REJECT
        order = ("-confidence_score", "first_seen_at", "id") if desc else ("confidence_score", "first_seen_at", "id")
        groups = list(qs.order_by(*order).values_list("pk", "profile_set_key")[:count])
        if not groups:
            raise AssignmentRefused("No open group of that queue and score range is left to assign.")
        assignment = Assignment.objects.create(
            domain=domain,
            run=run,
            assignee=assignee,
            queue=queue,
            score_min=score_min,
            score_max=score_max,
            count=len(groups),
            note=note,
            created_by=actor,
        )
        AssignmentItem.objects.bulk_create(
            AssignmentItem(assignment=assignment, group_id=pk, profile_set_key=key) for pk, key in groups
        )
        audit_log(
            actor=actor,
            action=ASSIGNED,
            object_type="assignment",
            object_id=assignment.pk,
            domain=domain,
            details={
                "assignee": assignee.get_username(),
                "queue": queue,
                "score_min": str(score_min) if score_min is not None else None,
                "score_max": str(score_max) if score_max is not None else None,
                "asked": count,
                "assigned": len(groups),
                "run_id": run.pk,
                "group_ids": [pk for pk, _ in groups],
            },
        )
        work_assigned(
            users=[assignee],
            domain=domain,
            summary=f"{len(groups)} {queue} group{'s' if len(groups) != 1 else ''} of {domain.name} assigned to you",
            url=reverse("my-work"),
            assignment_id=assignment.pk,
            groups=len(groups),
            assigned_by=actor.get_username(),
        )
    return assignment


def assignment_close(*, actor: User, assignment: Assignment) -> Assignment:
    """Withdraw an assignment: its groups go back to everyone's "next"."""
    _require_admin(actor)
    with transaction.atomic(durable=True):
        locked = Assignment.objects.select_for_update().select_related("assignee", "domain").get(pk=assignment.pk)
        if locked.closed_at is not None:
            raise AssignmentRefused("This assignment is already withdrawn.")
        locked.closed_at, locked.closed_by = timezone.now(), actor
        locked.save(update_fields=["closed_at", "closed_by"])
        audit_log(
            actor=actor,
            action=CLOSED,
            object_type="assignment",
            object_id=locked.pk,
            domain=locked.domain,
            details={"assignee": locked.assignee.get_username(), "queue": locked.queue},
        )
    return locked


def review_deadline_set(*, actor: User, domain: Domain, days: int | None) -> Domain:
    """The domain's review deadline in days (None: no deadline); overdue counts follow it."""
    _require_admin(actor)
    if days is not None and not 1 <= days <= 365:
        raise AssignmentRefused("A review deadline is between 1 and 365 days (or blank for none).")
    with transaction.atomic(durable=True):
        locked = Domain.objects.select_for_update().get(pk=domain.pk)
        before = locked.review_deadline_days
        locked.review_deadline_days = days
        locked.save(update_fields=["review_deadline_days", "updated_at"])
        audit_log(
            actor=actor,
            action=DEADLINE_SET,
            object_type="domain",
            object_id=locked.pk,
            domain=locked,
            details={"before": before, "after": days},
        )
    return locked
