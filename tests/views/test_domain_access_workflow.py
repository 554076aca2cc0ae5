"""Per-domain access (issue 17, item 2) on the workflow pages: assignments, "My work", known answers, the blind
judgement page (known answer and second review), reviewer quality in the reports, and disagreements. By role ×
domain, as tests/views/test_domain_access.py does for the other pages: a steward or auditor limited to "alpha" sees
nothing of "beta" on each page and gets 404 (or 403, where their role has no business) on beta's objects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from matches.models import Assignment, Judgement, KnownAnswer, MatchGroup
from matches.services import assignments, quality, users
from matches.services.decisions import group_reject
from tests.admin_helpers import run_with_scores
from tests.factories import DomainFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def limit(admin, user, *names: str) -> None:
    users.user_set_domains(actor=admin, user=user, all_domains=False, domain_names=list(names))


@pytest.fixture
def world(db, admin, steward, steward2, auditor):
    """Two domains alike. In each: steward2 rejected two groups, `steward` one; an admin marked the first a known
    answer, gave `steward` the open group left (an assignment) and a 7-day deadline it is past; `steward` was served
    the known answer (answered against it: a disagreement) and a second review of the other (waiting). All before
    any limit."""
    out = {}
    for name in ("alpha", "beta"):
        domain = DomainFactory(name=name)
        run, groups = run_with_scores(domain, [0.873, 0.81, 0.79, 0.7])
        for g in groups:
            for i, pid in enumerate(g.profile_ids):
                ProfileFactory(domain=domain, profile_id=pid, attributes={"FirstName": f"{name}x", "LastName": str(i)})
        group_reject(group=groups[0], actor=steward2, reason=f"people of {name} apart")
        group_reject(group=groups[1], actor=steward2, reason=f"also apart in {name}")
        group_reject(group=groups[3], actor=steward)  # one answered item: the next press is due a known answer
        known = quality.known_answer_mark(actor=admin, group=groups[0], note=f"known in {name}")
        made = assignments.assignment_create(
            actor=admin, domain=domain, assignee=steward, queue="review", count=2, note=f"work in {name}"
        )
        MatchGroup.objects.filter(pk=groups[2].pk).update(first_seen_at=timezone.now() - timedelta(days=9))
        assignments.review_deadline_set(actor=admin, domain=domain, days=7)
        quality.quality_rates_set(actor=admin, domain=domain, known_answer_rate="0.5", second_review_rate="0")
        domain.refresh_from_db()
        run.domain = domain
        served_known = quality.judgement_serve(actor=steward, run=run)
        assert served_known is not None and served_known.kind == Judgement.Kind.KNOWN_ANSWER
        quality.judgement_answer(judgement=served_known, actor=steward, answer="merge", reason=f"same in {name}")
        quality.quality_rates_set(actor=admin, domain=domain, known_answer_rate="0", second_review_rate="1")
        domain.refresh_from_db()
        run.domain = domain
        second = quality.judgement_serve(actor=steward, run=run)
        assert second is not None and second.kind == Judgement.Kind.SECOND_REVIEW
        out[name] = {
            "domain": domain,
            "groups": groups,
            "known": known,
            "assignment": made,
            "disagreement": Judgement.objects.get(pk=served_known.pk),
            "second": second,
        }
    return out


# "My work" and the blind judgement page (the steward's) -------------------------------------------------------------


def test_my_work_lists_only_the_assignments_of_the_visible_domains(login, admin, steward, world):
    client = login(steward)
    both = client.get(reverse("my-work")).content.decode()
    assert "work in alpha" in both and "work in beta" in both  # unlimited: the assignments of both
    limit(admin, steward, "alpha")
    html = login(steward).get(reverse("my-work")).content.decode()
    assert "work in alpha" in html and "work in beta" not in html
    assert reverse("group", args=[world["beta"]["groups"][2].pk]) not in html
    assert "beta" not in html


@pytest.mark.parametrize("item", ["second", "disagreement"])
def test_a_judgement_of_the_other_domain_is_a_404_for_the_steward_it_was_served_to(login, admin, steward, world, item):
    limit(admin, steward, "alpha")
    client = login(steward)
    assert client.get(reverse("judgement", args=[world["alpha"][item].pk])).status_code == 200
    assert client.get(reverse("judgement", args=[world["beta"][item].pk])).status_code == 404


def test_a_limited_steward_cannot_answer_the_second_review_of_the_other_domain(login, admin, steward, world):
    limit(admin, steward, "alpha")
    beta = world["beta"]["second"]
    response = login(steward).post(reverse("judgement-answer", args=[beta.pk]), {"action": "reject"})
    assert response.status_code == 404
    beta.refresh_from_db()
    assert beta.answered_at is None and beta.answer == ""


def test_next_in_the_visible_domain_serves_nothing_of_the_other(login, admin, steward, world):
    limit(admin, steward, "alpha")
    client = login(steward)
    # The steward's assigned group of alpha comes first, then their pending judgement of alpha; never beta's.
    first = client.post(reverse("queue-next", args=["alpha", "review"]))["Location"]
    assert first.startswith(reverse("group", args=[world["alpha"]["groups"][2].pk]))
    group_reject(group=world["alpha"]["groups"][2], actor=steward)
    then = client.post(reverse("queue-next", args=["alpha", "review"]))["Location"]
    assert then.startswith(reverse("judgement", args=[world["alpha"]["second"].pk]))
    assert client.post(reverse("queue-next", args=["beta", "review"])).status_code == 404


def test_an_admin_cannot_assign_a_domain_to_a_steward_limited_away_from_it(admin, steward, world):
    limit(admin, steward, "alpha")
    assignee = User.objects.get(pk=steward.pk)  # as the assignment form loads it
    before = Assignment.objects.filter(domain=world["beta"]["domain"]).count()
    with pytest.raises(assignments.AssignmentRefused, match="no access to beta"):
        assignments.assignment_create(
            actor=admin, domain=world["beta"]["domain"], assignee=assignee, queue="review", count=1
        )
    assert Assignment.objects.filter(domain=world["beta"]["domain"]).count() == before


# Disagreements and reviewer quality (the auditor's and the admin's) --------------------------------------------------


def test_disagreements_show_only_the_visible_domain_and_a_filter_on_the_other_is_a_404(login, admin, auditor, world):
    limit(admin, auditor, "alpha")
    client = login(auditor)
    html = client.get(reverse("quality-disagreements")).content.decode()
    assert f'id="judgement-{world["alpha"]["disagreement"].pk}"' in html
    assert f'id="judgement-{world["beta"]["disagreement"].pk}"' not in html and "beta" not in html
    assert client.get(reverse("quality-disagreements"), {"domain": "beta"}).status_code == 404
    assert client.get(reverse("quality-disagreements"), {"domain": "alpha"}).status_code == 200
    # The admin is never limited: both.
    every = login(admin).get(reverse("quality-disagreements")).content.decode()
    assert all(f'id="judgement-{world[n]["disagreement"].pk}"' in every for n in ("alpha", "beta"))


def test_reviewer_quality_and_overdue_in_the_reports_count_only_the_visible_domain(login, admin, auditor, world):
    limit(admin, auditor, "alpha")
    reports = login(auditor).get(reverse("audit-reports")).content.decode()
    # One known answer judged (and missed) in alpha: 0/1, not 0/2 as both domains would make it.
    assert 'id="quality-steward"' in reports and "0/1 = 0%" in reports and "0/2" not in reports
    assert 'id="overdue-table"' in reports and "beta" not in reports
    every = login(admin).get(reverse("audit-reports")).content.decode()
    assert "0/2 = 0%" in every and "beta" in every


@pytest.mark.parametrize("persona", ["steward", "auditor"])
def test_the_admin_pages_of_either_domain_stay_closed_to_a_limited_steward_or_auditor(
    request, login, admin, world, persona
):
    user = request.getfixturevalue(persona)
    limit(admin, user, "alpha")
    client = login(user)
    for name in ("alpha", "beta"):
        w = world[name]
        for page in ("admin-assignments", "admin-known-answers"):
            assert client.get(reverse(page, args=[name])).status_code == 403
        assert client.post(reverse("admin-assignment-close", args=[w["assignment"].pk])).status_code == 403
        assert client.post(reverse("admin-known-answer-retire", args=[w["known"].pk])).status_code == 403
        assert (
            client.post(reverse("judgement-resolve", args=[w["disagreement"].pk]), {"take_back": "0"}).status_code
            == 403
        )
    assert Assignment.objects.filter(closed_at__isnull=True).count() == 2
    assert KnownAnswer.objects.filter(retired_at__isnull=True).count() == 2
    assert Judgement.objects.filter(resolution=Judgement.Resolution.OPEN).count() == 2


def test_the_admin_pages_show_each_domain_to_an_admin(login, admin, world):
    client = login(admin)
    for name in ("alpha", "beta"):
        assert f"work in {name}" in client.get(reverse("admin-assignments", args=[name])).content.decode()
        assert f"known in {name}" in client.get(reverse("admin-known-answers", args=[name])).content.decode()
