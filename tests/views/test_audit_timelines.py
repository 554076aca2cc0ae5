"""Group and profile timelines across runs."""

import pytest
from django.urls import reverse

from matches.models import AuditEvent, MatchGroup, Profile
from matches.selectors.timelines import group_timeline, profile_timeline
from matches.services.decisions import comment_add, group_reject
from tests.audit_scenarios import IDS, cache_profiles, carry_over, run_with_groups

P, Q, R = sorted(IDS[:3])


@pytest.fixture
def two_runs(domain, steward, steward2):
    _, (first, unrelated) = run_with_groups(domain, [([P, Q], 0.7), ([IDS[5], IDS[6]], 0.7)])
    cache_profiles(domain, [P, Q, R])
    comment_add(group=first, actor=steward, body="both named Lee, different birthdays")
    rejected = group_reject(group=first, actor=steward, reason="different birthdays")
    group_reject(group=unrelated, actor=steward2, reason="unrelated")
    carried = carry_over(first, rejected)
    _, (other_set,) = run_with_groups(domain, [([P, R], 0.9)], run=carried.run)
    return {"first": first, "carried": carried, "rejected": rejected, "other_set": other_set}


def test_group_timeline_includes_the_same_profile_set_in_earlier_runs(two_runs, steward2):
    carried = two_runs["carried"]
    timeline = group_timeline(carried)
    assert [g.pk for g in timeline.groups] == [two_runs["first"].pk, carried.pk]
    decisions = [e.decision for e in timeline.entries if e.decision]
    assert decisions == [two_runs["rejected"]]
    assert all(e.earlier_run for e in timeline.entries)
    events = [e.event.action for e in timeline.entries if e.event]
    assert events == ["comment.added"]  # the decision's own event is shown as the decision
    assert (
        decisions[0].audit_seq
        == AuditEvent.objects.get(action="decision.reject", object_id=str(two_runs["first"].pk)).seq
    )


def test_earlier_group_timeline_points_to_the_later_run_but_leaves_it_out(two_runs, steward2):
    from matches.services.decisions import group_reopen

    group_reopen(group=two_runs["carried"], actor=steward2, reason="new evidence")
    timeline = group_timeline(two_runs["first"])
    assert [g.pk for g in timeline.later_groups] == [two_runs["carried"].pk]
    assert [e.decision.action for e in timeline.entries if e.decision] == ["reject"]
    later = group_timeline(MatchGroup.objects.get(pk=two_runs["carried"].pk))
    assert [(e.decision.action, e.earlier_run) for e in later.entries if e.decision] == [
        ("reopen", False),
        ("reject", True),
    ]


def test_group_history_page_renders_the_timeline(login, steward, outsider, two_runs, django_assert_max_num_queries):
    url = reverse("group-history", args=[two_runs["carried"].pk])
    client = login(steward)
    with django_assert_max_num_queries(15):
        body = client.get(url).content.decode()
    assert "and the same profiles in 1 earlier run" in body
    assert "different birthdays" in body and "run " + str(two_runs["first"].run_id) in body
    assert login(outsider).get(url).status_code == 403


def test_profile_timeline_lists_every_group_and_decision_across_runs(domain, two_runs):
    Profile.objects.filter(domain=domain, profile_id=Q).update(merged_into=P)
    timeline = profile_timeline(domain=domain, profile_id=P)
    assert {g.pk for g in timeline.groups} == {two_runs["first"].pk, two_runs["carried"].pk, two_runs["other_set"].pk}
    assert [d.pk for d in timeline.decisions] == [two_runs["rejected"].pk]
    assert timeline.profile.attributes["FirstName"] == "Ann0"
    q_timeline = profile_timeline(domain=domain, profile_id=Q)
    assert q_timeline.profile.merged_into == P
    assert two_runs["other_set"] not in q_timeline.groups


def test_profile_page_shows_groups_decisions_and_merged_into(
    login, auditor, domain, two_runs, django_assert_max_num_queries
):
    Profile.objects.filter(domain=domain, profile_id=Q).update(merged_into=P)
    client = login(auditor)
    with django_assert_max_num_queries(15):
        body = client.get(reverse("profile-timeline", args=["demo", Q])).content.decode()
    assert f'Merged into <a class="mono" href="/profiles/demo/{P}/">{P}</a>' in body
    assert "different birthdays" in body
    assert two_runs["carried"].match_id in body
    assert login(auditor).get(reverse("profile-timeline", args=["demo", "NOTANID"])).status_code == 404


def test_the_group_page_can_include_the_timeline_with_one_tag(rf, steward, two_runs):
    from django.template import engines

    template = engines["django"].from_string("{% load audit_tags %}{% group_timeline group %}")
    html = template.render({"group": two_runs["carried"], "can_view_audit": False})
    assert f'id="group-timeline-{two_runs["carried"].pk}"' in html
    assert "different birthdays" in html
    assert "/profiles/" not in html  # profile pages are for auditors and admins
