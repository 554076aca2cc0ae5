"""The overdue sweep (services/overdue.py, beat's `overdue_sweep_task`): open groups past their domain's review
deadline are told of once, to the steward they are assigned to and to the admins who see the domain, through the
notification outbox to a real SMTP listener and a real webhook receiver; a second sweep sends nothing new."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from matches import roles
from matches.models import AuditEvent, MatchGroup, MatchRun, NotificationDelivery, NotificationPreference, OverdueNotice
from matches.services import assignments, users
from matches.services.notifications.config import webhook_create
from matches.services.notifications.deliver import delivery_attempt
from matches.services.overdue import overdue_notices_send
from matches.services.pulls.carry_over import carry_over
from matches.services.pulls.store import first_seen_of
from matches.tasks import overdue_sweep_task
from tests.admin_helpers import run_with_scores
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    return {
        "st": UserFactory(username="st", email="st@example.com", roles=[roles.STEWARD]),
        "st2": UserFactory(username="st2", email="st2@example.com", roles=[roles.STEWARD]),
        "ad": UserFactory(username="ad", email="ad@example.com", roles=[roles.ADMIN]),
        "ad2": UserFactory(username="ad2", email="ad2@example.com", roles=[roles.ADMIN]),
    }


def age(groups, days: int) -> None:
    MatchGroup.objects.filter(pk__in=[g.pk for g in groups]).update(first_seen_at=timezone.now() - timedelta(days=days))


def deliver_all(kind: str) -> list[NotificationDelivery]:
    rows = list(NotificationDelivery.objects.filter(kind=kind, status="pending").order_by("pk"))
    for row in rows:
        assert delivery_attempt(delivery_pk=row.pk) == "delivered"
    return rows


def overdue_world(domain, team, *, old: int = 3, young: int = 2):
    """A completed review run: `old` groups ten days old, `young` fresh ones; st is assigned the two best."""
    run, groups = run_with_scores(domain, [round(0.94 - 0.01 * i, 3) for i in range(old + young)])
    age(groups[:old], 10)
    made = assignments.assignment_create(actor=team["ad"], domain=domain, assignee=team["st"], queue="review", count=2)
    assert {i.group_id for i in made.items.all()} == {g.pk for g in groups[:2]}
    assignments.review_deadline_set(actor=team["ad"], domain=domain, days=7)
    return run, groups


def test_the_sweep_is_a_periodic_task_beat_runs():
    task = PeriodicTask.objects.get(task="matches.tasks.overdue_sweep_task")
    assert task.enabled and task.interval.every == 900 and task.interval.period == "seconds"


def test_overdue_groups_are_told_once_to_their_assignee_and_the_admins(domain, team, smtp_inbox, webhook_receiver):
    webhook_create(actor=team["ad"], name="ops", url=webhook_receiver.url, domain=None, kinds=["overdue"])
    run, groups = overdue_world(domain, team)
    NotificationDelivery.objects.all().delete()  # the assignment's own "assigned" mail is another test's subject

    assert overdue_sweep_task() == f"{domain.name}: 3"
    rows = deliver_all("overdue")
    received = smtp_inbox.wait_for(3)
    subjects = {rcpt: m.message["Subject"] for m in received for rcpt in m.rcpt_tos}
    late = "passed the 7-day review deadline"
    assert subjects == {
        "st@example.com": f"[Matchdesk] 2 open groups assigned to you in {domain.name} {late}",
        "ad@example.com": f"[Matchdesk] 3 open groups in {domain.name} {late}",
        "ad2@example.com": f"[Matchdesk] 3 open groups in {domain.name} {late}",
    }
    assert "st2@example.com" not in subjects  # nothing of theirs is overdue and stewards are not the audience
    hits = webhook_receiver.wait_for(2)
    bodies = sorted((json.loads(h.body) for h in hits), key=lambda b: b["data"]["groups"])
    assert [(b["kind"], b["data"]["groups"], b.get("users")) for b in bodies] == [
        ("overdue", 2, ["st"]),
        ("overdue", 3, None),
    ]
    assert bodies[0]["url"].endswith("/my-work/")
    assert len(rows) == 5  # three emails and two webhook calls

    told = set(OverdueNotice.objects.filter(domain=domain).values_list("group_id_told", flat=True))
    assert told == {g.pk for g in groups[:3]}
    event = AuditEvent.objects.get(action="domain.overdue_notified")
    assert event.actor is None and event.details["groups"] == 3 and event.details["assignees"] == {"st": 2}

    # A second sweep finds nothing new and sends nothing.
    assert overdue_notices_send().told == {}
    assert NotificationDelivery.objects.filter(kind="overdue").count() == 5
    assert AuditEvent.objects.filter(action="domain.overdue_notified").count() == 1

    # A young group passing the deadline later is told of alone; the three told of stay told.
    age(groups[3:4], 8)
    assert overdue_notices_send().told == {domain.name: 1}
    fresh = NotificationDelivery.objects.filter(kind="overdue", status="pending", channel="email")
    assert sorted(fresh.values_list("address", flat=True)) == ["ad2@example.com", "ad@example.com"]
    assert fresh.first().subject == f"[Matchdesk] 1 open group in {domain.name} passed the 7-day review deadline"


def test_a_profile_set_carried_into_a_new_run_is_not_told_of_again(domain, team):
    first, groups = overdue_world(domain, team, old=1, young=0)
    assert overdue_notices_send().told == {domain.name: 1}
    MatchRun.objects.filter(pk=first.pk).update(status=MatchRun.Status.SUPERSEDED)
    run2 = MatchRunFactory(domain=domain, status=MatchRun.Status.COMPLETED)
    # Stored as a pull stores it: with its profile set's earliest time in an earlier run.
    (seen,) = first_seen_of(run=run2, keys=[groups[0].profile_set_key]).values()
    again = MatchGroupFactory(run=run2, profile_ids=groups[0].profile_ids, confidence_score=0.9, first_seen_at=seen)
    carry_over(run=run2)
    again.refresh_from_db()
    assert again.status == MatchGroup.Status.OPEN and again.is_overdue(timezone.now())
    before = NotificationDelivery.objects.filter(kind="overdue").count()
    assert overdue_notices_send().told == {}
    assert NotificationDelivery.objects.filter(kind="overdue").count() == before


def test_decided_groups_domains_without_deadline_and_choices_are_respected(domain, team, smtp_inbox):
    run, groups = overdue_world(domain, team, old=4, young=0)
    # st2 holds the third group, then is limited to another domain: they no longer hear of this one.
    assignments.assignment_create(actor=team["ad"], domain=domain, assignee=team["st2"], queue="review", count=1)
    groups[3].status = MatchGroup.Status.REJECTED
    groups[3].save(update_fields=["status"])
    other = DomainFactory(name="nodeadline")
    _, others = run_with_scores(other, [0.9])
    age(others, 30)
    users.user_set_domains(actor=team["ad"], user=team["st2"], all_domains=False, domain_names=["nodeadline"])
    NotificationPreference.objects.create(user=team["ad2"], kind="overdue", email=False)
    NotificationDelivery.objects.all().delete()

    assert overdue_notices_send().told == {domain.name: 3}  # the rejected one is not overdue
    emails = NotificationDelivery.objects.filter(kind="overdue", channel="email")
    assert sorted(emails.values_list("address", "subject")) == [
        ("ad@example.com", f"[Matchdesk] 3 open groups in {domain.name} passed the 7-day review deadline"),
        (
            "st@example.com",
            f"[Matchdesk] 2 open groups assigned to you in {domain.name} passed the 7-day review deadline",
        ),
    ]
    assert not OverdueNotice.objects.filter(domain=other).exists()
    assert set(OverdueNotice.objects.values_list("group_id_told", flat=True)) == {g.pk for g in groups[:3]}


def test_work_assigned_mails_the_assignee(domain, team, smtp_inbox):
    run_with_scores(domain, [0.9, 0.8])
    assignments.assignment_create(actor=team["ad"], domain=domain, assignee=team["st"], queue="review", count=5)
    deliver_all("assigned")
    (got,) = smtp_inbox.wait_for(1)
    assert got.rcpt_tos == ["st@example.com"]
    assert got.message["Subject"] == f"[Matchdesk] 2 review groups of {domain.name} assigned to you"
