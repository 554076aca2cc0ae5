"""Pages of assignment and reviewer quality, by role (enforced on the server): "My work", the admin's assignments and
known answers, the blind judgement page, disagreements, and the overdue and quality figures on home and reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from matches.models import Assignment, Domain, Judgement, KnownAnswer, MatchGroup
from matches.services import assignments, quality
from matches.services.decisions import group_merge_approve, group_reject
from tests.admin_helpers import run_with_scores
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_celery_handoff(monkeypatch):
    monkeypatch.setattr(
        "matches.services.enqueue.merge_job", lambda *, job_id, eta=None: transaction.on_commit(lambda: None)
    )


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(domain, admin, steward, steward2):
    """A run; steward2 merged the 0.873 group (its members held as profiles) and an admin marked it a known answer;
    the domain serves a known answer on every second press."""
    run, groups = run_with_scores(domain, [0.873, 0.81, 0.79, 0.7])
    known_group = groups[0]
    for i, pid in enumerate(known_group.profile_ids):
        ProfileFactory(domain=domain, profile_id=pid, attributes={"FirstName": "Zed", "LastName": f"Quill{i}"})
    group_merge_approve(group=known_group, actor=steward2, main_profile_id=known_group.profile_ids[0])
    known = quality.known_answer_mark(actor=admin, group=known_group)
    quality.quality_rates_set(actor=admin, domain=domain, known_answer_rate="0.5", second_review_rate="0")
    return run, groups, known


PAGES = [
    ("my-work", ()),
    ("admin-assignments", ("demo",)),
    ("admin-known-answers", ("demo",)),
    ("quality-disagreements", ()),
]
EXPECTED = {
    # page: (steward, auditor, admin)
    "my-work": (200, 403, 200),
    "admin-assignments": (403, 403, 200),
    "admin-known-answers": (403, 403, 200),
    "quality-disagreements": (403, 200, 200),
}


@pytest.mark.parametrize("name, args", PAGES)
def test_each_page_answers_each_role_as_the_rules_say(domain, steward, auditor, admin, name, args):
    got = tuple(_as(user).get(reverse(name, args=args)).status_code for user in (steward, auditor, admin))
    assert got == EXPECTED[name]
    anonymous = Client().get(reverse(name, args=args))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


@pytest.mark.parametrize(
    "name, args, data",
    [
        ("admin-assignment-add", ("demo",), {"queue": "review", "count": "2"}),
        ("admin-review-deadline", ("demo",), {"days": "7"}),
        ("admin-known-answer-add", ("demo",), {"group": "1"}),
        ("admin-quality-rates", ("demo",), {"known_answer_rate": "0.1", "second_review_rate": "0.1"}),
    ],
)
def test_a_steward_or_auditor_cannot_change_the_admin_settings(domain, steward, auditor, name, args, data):
    for user in (steward, auditor):
        assert _as(user).post(reverse(name, args=args), data).status_code == 403
    domain.refresh_from_db()
    assert domain.review_deadline_days is None and domain.known_answer_rate == 0
    assert not Assignment.objects.exists() and not KnownAnswer.objects.exists()


def test_an_admin_assigns_work_and_the_steward_sees_it_in_my_work(domain, admin, steward):
    run_with_scores(domain, [0.9, 0.8, 0.7])
    client = _as(admin)
    response = client.post(
        reverse("admin-assignment-add", args=["demo"]),
        {"assignee": steward.pk, "queue": "review", "count": "2", "score_min": "0.75"},
    )
    assert response.status_code == 302
    made = Assignment.objects.get()
    assert made.assignee == steward and made.count == 2
    assert f'id="assignment-{made.pk}"' in client.get(reverse("admin-assignments", args=["demo"])).content.decode()
    html = _as(steward).get(reverse("my-work")).content.decode()
    assert "0 of 2 done" in html and "Start: next assigned group" in html
    # A form error is a 400 with the reason, never a 5xx.
    bad = client.post(
        reverse("admin-assignment-add", args=["demo"]),
        {"assignee": steward.pk, "queue": "review", "count": "2", "score_min": "0.9", "score_max": "0.1"},
    )
    assert bad.status_code == 400 and "must not be below" in bad.content.decode()


def test_open_groups_show_their_age_and_the_home_page_counts_the_overdue(domain, admin, steward):
    _, (old, fresh) = run_with_scores(domain, [0.8, 0.7])
    MatchGroup.objects.filter(pk=old.pk).update(first_seen_at=timezone.now() - timedelta(days=9))
    assert _as(admin).post(reverse("admin-review-deadline", args=["demo"]), {"days": "7"}).status_code == 302
    assert Domain.objects.get(pk=domain.pk).review_deadline_days == 7
    home = _as(steward).get(reverse("home")).content.decode()
    assert 'title="Open groups older than 7 days">1</span>' in home
    queue = _as(steward).get(reverse("queue", args=["demo", "review"])).content.decode()
    assert "9 d" in queue and queue.count(">overdue<") == 1
    page = _as(steward).get(reverse("group", args=[old.pk])).content.decode()
    assert "9 d old" in page and ">overdue<" in page
    reports = _as(admin).get(reverse("audit-reports")).content.decode()
    assert 'id="overdue-table"' in reports and '<td class="num">7 d</td><td class="num">1</td>' in reports


def test_next_serves_a_known_answer_blind_and_the_answer_changes_nothing(world, domain, steward, admin):
    run, groups, known = world
    client = _as(steward)
    group_reject(group=groups[3], actor=steward)  # one answered item: the next press is due a known answer
    response = client.post(reverse("queue-next", args=["demo", "review"]))
    item = Judgement.objects.get(actor=steward)
    assert response["Location"] == reverse("judgement", args=[item.pk]) + "?queue=review"
    html = client.get(response["Location"]).content.decode()
    # Blind: the members as decided, but no score, queue, decision or decider.
    assert "Quill0" in html and "Quill1" in html
    assert "0.873" not in html and "steward2" not in html and "merge queue" not in html
    assert _as(admin).get(reverse("judgement", args=[item.pk])).status_code == 404  # only the steward served
    answered = client.post(reverse("judgement-answer", args=[item.pk]), {"action": "reject", "queue": "review"})
    assert answered.status_code == 302
    item.refresh_from_db()
    assert item.agrees is False and item.resolution == Judgement.Resolution.OPEN
    assert MatchGroup.objects.get(pk=known.group_id).status == MatchGroup.Status.APPROVED
    # The disagreement is on the admin's list; an auditor reads it but cannot settle it.
    listing = _as(admin).get(reverse("quality-disagreements")).content.decode()
    assert f'id="judgement-{item.pk}"' in listing and "Undo merge" in listing
    auditor_view = _as(world_auditor(domain)).get(reverse("quality-disagreements")).content.decode()
    assert "An admin settles this." in auditor_view
    assert _as(steward).post(reverse("judgement-resolve", args=[item.pk]), {"take_back": "0"}).status_code == 403
    kept = _as(admin).post(reverse("judgement-resolve", args=[item.pk]), {"take_back": "0", "note": "steward wrong"})
    assert kept.status_code == 302
    item.refresh_from_db()
    assert item.resolution == Judgement.Resolution.KEPT
    reports = _as(admin).get(reverse("audit-reports")).content.decode()
    assert 'id="quality-steward"' in reports and "0/1 = 0% (95% 0–79%)" in reports


def world_auditor(domain):
    from matches import roles
    from tests.factories import UserFactory

    return UserFactory(username="auditor-q", roles=[roles.AUDITOR])


def test_a_bad_answer_or_resolution_is_refused_calmly(world, steward, admin):
    run, groups, known = world
    item = quality._serve(steward, Judgement.Kind.KNOWN_ANSWER, known.decision, known)
    client = _as(steward)
    for data in ({"action": "maybe"}, {"action": "split", "keep": ["nope"]}, {}):
        response = client.post(reverse("judgement-answer", args=[item.pk]), data)
        assert response.status_code == 302 and response["Location"] == reverse("judgement", args=[item.pk])
    item.refresh_from_db()
    assert item.answered_at is None
    assert _as(admin).post(reverse("judgement-resolve", args=[item.pk]), {"take_back": "x"}).status_code == 302
    assert _as(admin).post(reverse("judgement-answer", args=[item.pk]), {"action": "merge"}).status_code == 404


def test_an_admin_marks_a_known_answer_and_sets_the_rates(domain, admin, steward):
    _, (group, other) = run_with_scores(domain, [0.9, 0.8])
    group_reject(group=group, actor=steward)
    client = _as(admin)
    assert client.post(reverse("admin-known-answer-add", args=["demo"]), {"group": group.pk}).status_code == 302
    assert KnownAnswer.objects.get().group == group
    refused = client.post(reverse("admin-known-answer-add", args=["demo"]), {"group": other.pk})
    assert refused.status_code == 400 and "Only a decided group" in refused.content.decode()
    missing = client.post(reverse("admin-known-answer-add", args=["demo"]), {"group": 10**12})
    assert missing.status_code == 400 and "No group with that number" in missing.content.decode()
    rates = {"known_answer_rate": "0.05", "second_review_rate": "0.1"}
    assert client.post(reverse("admin-quality-rates", args=["demo"]), rates).status_code == 302
    domain.refresh_from_db()
    assert str(domain.known_answer_rate) == "0.050" and str(domain.second_review_rate) == "0.100"
    too_high = client.post(reverse("admin-quality-rates", args=["demo"]), {**rates, "known_answer_rate": "0.9"})
    assert too_high.status_code == 400
    page = client.get(reverse("admin-known-answers", args=["demo"])).content.decode()
    assert f'id="known-{KnownAnswer.objects.get().pk}"' in page
    known = KnownAnswer.objects.get()
    assert client.post(reverse("admin-known-answer-retire", args=[known.pk])).status_code == 302
    assert KnownAnswer.objects.get().retired_at is not None


def test_withdrawing_an_assignment_is_for_admins(domain, admin, steward):
    run_with_scores(domain, [0.9, 0.8])
    made = assignments.assignment_create(actor=admin, domain=domain, assignee=steward, queue="review", count=1)
    assert _as(steward).post(reverse("admin-assignment-close", args=[made.pk])).status_code == 403
    assert _as(admin).post(reverse("admin-assignment-close", args=[made.pk])).status_code == 302
    made.refresh_from_db()
    assert made.closed_at is not None


def test_after_a_decision_with_htmx_a_due_known_answer_opens_its_own_page(world, steward):
    run, groups, known = world
    client = _as(steward)
    group = groups[3]
    assert client.post(reverse("group-claim", args=[group.pk])).status_code == 302
    response = client.post(
        reverse("group-decide", args=[group.pk]), {"action": "reject", "queue": "review"}, HTTP_HX_REQUEST="true"
    )
    item = Judgement.objects.get(actor=steward)
    assert response["HX-Redirect"] == reverse("judgement", args=[item.pk]) + "?queue=review"
    assert MatchGroup.objects.get(pk=group.pk).status == MatchGroup.Status.REJECTED


def test_an_admin_marks_a_known_answer_from_the_decided_groups_page(domain, admin, steward):
    _, (group, _other) = run_with_scores(domain, [0.9, 0.8])
    group_reject(group=group, actor=steward)
    assert "Mark as known answer" not in _as(steward).get(reverse("group", args=[group.pk])).content.decode()
    page = _as(admin).get(reverse("group", args=[group.pk])).content.decode()
    assert "Mark as known answer" in page and reverse("admin-known-answer-add", args=["demo"]) in page
    assert _as(admin).post(reverse("admin-known-answer-add", args=["demo"]), {"group": group.pk}).status_code == 302
    assert KnownAnswer.objects.get().decision.action == "reject"
