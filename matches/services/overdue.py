"""The overdue sweep (docs/architecture.md, "Notifications"): a beat task that finds open groups past their domain's
review deadline that nobody was told of yet, marks them told (`OverdueNotice`, one row per profile set) and notifies,
in one transaction: each steward holding some of them in an open assignment (`reviews_overdue(users=[assignee])`,
how many of theirs) and the domain's admins (`users=None`, how many in all). Each person hears of an overdue
profile set once: a second sweep finds nothing new and sends nothing; a set carried over into a later run keeps its
notice. Choices, roles and domain access apply as for every notification (services/notifications)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from matches.models import AssignmentItem, Domain, MatchGroup, OverdueNotice
from matches.selectors.assignments import overdue_cutoff
from matches.services.audit import audit_log
from matches.services.notifications import reviews_overdue

NOTIFIED = "domain.overdue_notified"


@dataclass
class OverdueSweep:
    told: dict[str, int] = field(default_factory=dict)  # domain name → profile sets newly told of

    def line(self) -> str:
        return ", ".join(f"{name}: {n}" for name, n in self.told.items()) or "nothing newly overdue"


def overdue_notices_send(*, now: datetime | None = None) -> OverdueSweep:
    """Every domain with a review deadline: tell of its newly overdue groups (idempotent)."""
    now = now or timezone.now()
    sweep = OverdueSweep()
    for domain in Domain.objects.filter(review_deadline_days__isnull=False).order_by("pk"):
        told = _domain_sweep(domain=domain, now=now)
        if told:
            sweep.told[domain.name] = told
    return sweep


def _domain_sweep(*, domain: Domain, now: datetime) -> int:
    with transaction.atomic(durable=True):
        # The domain's row lock serialises two sweeps (beat's and a slow one): the second sees the first's notices.
        locked = Domain.objects.select_for_update().get(pk=domain.pk)
        cutoff = overdue_cutoff(locked, now)
        run = locked.latest_completed_run()
        if cutoff is None or run is None:
            return 0
        told = OverdueNotice.objects.filter(domain=locked).values("profile_set_key")
        fresh = list(
            MatchGroup.objects.filter(run=run, status=MatchGroup.Status.OPEN, first_seen_at__lt=cutoff)
            .exclude(profile_set_key__in=told)
            .order_by("first_seen_at", "id")
            .values_list("pk", "profile_set_key", "first_seen_at")
        )
        if not fresh:
            return 0
        OverdueNotice.objects.bulk_create(
            [
                OverdueNotice(
                    domain=locked, profile_set_key=key, group_id_told=pk, run_id_told=run.pk, first_seen_at=seen
                )
                for pk, key, seen in fresh
            ],
            batch_size=2000,
        )
        keys = [key for _, key, _ in fresh]
        days = locked.review_deadline_days
        per_assignee = dict(
            AssignmentItem.objects.filter(
                assignment__domain=locked, assignment__closed_at__isnull=True, profile_set_key__in=keys
            )
            .values_list("assignment__assignee")
            .annotate(n=Count("profile_set_key", distinct=True))
            .values_list("assignment__assignee", "n")
        )
        assignees = list(User.objects.filter(pk__in=per_assignee).order_by("pk"))
        for user in assignees:
            n = per_assignee[user.pk]
            reviews_overdue(
                users=[user],
                domain=locked,
                summary=f"{_groups(n)} assigned to you in {locked.name} passed the {days}-day review deadline",
                url=reverse("my-work"),
                groups=n,
                deadline_days=days,
                run_id=run.pk,
            )
        reviews_overdue(
            users=None,
            domain=locked,
            summary=f"{_groups(len(fresh))} in {locked.name} passed the {days}-day review deadline",
            url=reverse("queue", args=[locked.name, "review"]),
            groups=len(fresh),
            deadline_days=days,
            run_id=run.pk,
        )
        audit_log(
            action=NOTIFIED,
            object_type="domain",
            object_id=locked.pk,
            domain=locked,
            details={
                "run_id": run.pk,
                "deadline_days": days,
                "groups": len(fresh),
                "assignees": {u.get_username(): per_assignee[u.pk] for u in assignees},
            },
        )
    return len(fresh)


def _groups(n: int) -> str:
    return "1 open group" if n == 1 else f"{n} open groups"
