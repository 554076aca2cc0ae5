"""The search panel, the domain search page, adding a profile and forming a manual group: by role, over HTTP, with
the emulator behind the services (matches/views/search.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from matches.models import AuditEvent, MatchGroup, MatchRun, Profile
from matches.services import decisions
from tests.factories import MatchGroupFactory, MatchRunFactory, ProfileFactory
from tests.merging import new_ids, person


@pytest.fixture
def world(merge_ctl, merge_domain):
    a, b, c, d = ids = new_ids(4)
    # c and d share a phone number (one household) and belong to no group.
    people = [{**person(pid, i), **({"PhoneNumber": "+12065550142"} if i > 1 else {})} for i, pid in enumerate(ids)]
    merge_ctl.add_profiles(merge_domain.name, people)
    merge_ctl.set_matches(merge_domain.name, [{"MatchId": "aws-1", "ProfileIds": [a, b], "ConfidenceScore": 0.9}])
    run = MatchRunFactory(domain=merge_domain)
    for i, pid in enumerate([a, b]):
        ProfileFactory(domain=merge_domain, profile_id=pid, attributes=person(pid, i))
    group = MatchGroupFactory(run=run, profile_ids=[a, b], confidence_score=0.9)
    return {"domain": merge_domain, "group": group, "ids": ids}


def group_search_url(group, **params):
    from urllib.parse import urlencode

    return reverse("group-search", args=[group.pk]) + ("?" + urlencode(params) if params else "")


def test_the_group_page_offers_the_search_to_a_steward_only(login, world, steward, auditor):
    page = reverse("group", args=[world["group"].pk])
    html = login(steward).get(page).content.decode()
    assert 'id="search-results"' in html and group_search_url(world["group"]) in html
    html = login(auditor).get(page).content.decode()
    assert "search-results" not in html


@pytest.mark.parametrize("who", ["auditor", "outsider"])
def test_search_and_writes_are_refused_without_the_decide_role(login, world, who, request):
    user = request.getfixturevalue(who)
    client = login(user)
    group, domain = world["group"], world["domain"]
    c, d = world["ids"][2:]
    assert client.get(group_search_url(group, key="_email", value="p2@example.com")).status_code == 403
    assert client.get(reverse("domain-search", args=[domain.name])).status_code == 403
    assert client.post(reverse("group-add-profile", args=[group.pk]), {"profile_id": c}).status_code == 403
    response = client.post(reverse("manual-group-create", args=[domain.name]), {"profile_ids": [c, d]})
    assert response.status_code == 403
    assert MatchGroup.objects.filter(source="manual").count() == 0


def test_htmx_search_answers_the_candidates_beside_the_group(login, world, steward):
    group = world["group"]
    a, b, c = world["ids"][:3]
    response = login(steward).get(
        group_search_url(group, key="_email", value="p2@example.com"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="search-results",
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="search-results"')
    # Side by side: the two members, then the candidate, each column with its id; one Add button, for c.
    assert html.index(a[:10]) < html.index(b[:10]) < html.index(c[:10])
    assert html.count('class="small add-profile"') == 1 and f'data-profile="{c}"' in html
    assert "First2" in html and "<html" not in html


def test_plain_search_is_a_whole_page_and_similar_profiles_work(login, world, steward):
    group = world["group"]
    client = login(steward)
    html = client.get(group_search_url(group, key="_email", value="p3@example.com")).content.decode()
    assert "<html" in html and "Find a profile for group" in html and world["ids"][3][:10] in html
    similar = client.get(group_search_url(group, similar="1"), HTTP_HX_REQUEST="true").content.decode()
    assert "aws-1" in similar and "0.900" in similar


@pytest.mark.parametrize(
    "params, message",
    [
        ({"key": "_nickname", "value": "x"}, "Select a valid choice"),
        ({"key": "_email", "value": "   "}, "This field is required"),
        ({"key": "_email", "value": "x" * 256}, "at most 255 characters"),
        ({"key": "_profileId", "value": "not-an-id"}, "32 lowercase hex"),
    ],
)
def test_bad_search_input_is_a_form_error_not_a_call(login, world, steward, merge_ctl, params, message):
    merge_ctl.clear_calls()
    response = login(steward).get(group_search_url(world["group"], **params))
    assert response.status_code == 200 and message in response.content.decode()
    assert merge_ctl.calls(operation="SearchProfiles") == []


def test_adding_a_profile_opens_the_new_manual_group(login, world, steward):
    group = world["group"]
    c = world["ids"][2]
    client = login(steward)
    response = client.post(reverse("group-add-profile", args=[group.pk]), {"profile_id": c})
    new = MatchGroup.objects.get(source="manual")
    assert response.status_code == 302 and response["Location"].startswith(reverse("group", args=[new.pk]))
    html = client.get(response["Location"]).content.decode()
    assert "manual group · no score" in html and "Added: manual group" in html
    assert "whose own set stays as AWS gave it" in html
    old = client.get(reverse("group", args=[group.pk])).content.decode()
    assert 'id="group-replaced"' in old and reverse("group", args=[new.pk]) in old
    # A bad id is refused with a message, never a server error.
    response = client.post(reverse("group-add-profile", args=[new.pk]), {"profile_id": "zz"}, follow=True)
    assert "32 lowercase hex" in response.content.decode()


def test_manual_group_from_the_domain_search_page(login, world, steward):
    domain = world["domain"]
    a, b, c, d = world["ids"]
    client = login(steward)
    html = client.get(reverse("domain-search", args=[domain.name]), {"key": "_phone", "value": "(206) 555-0142"})
    html = html.content.decode()
    assert html.count('name="profile_ids"') == 2 and c in html and d in html
    one = client.get(reverse("domain-search", args=[domain.name]), {"key": "_profileId", "value": c}).content.decode()
    assert 'name="profile_ids"' not in one  # one free profile makes no group
    url = reverse("manual-group-create", args=[domain.name])
    too_many = client.post(url, {"profile_ids": new_ids(21)}, follow=True).content.decode()
    assert "at most 20 profiles" in too_many
    held = client.post(url, {"profile_ids": [a, c]}, follow=True).content.decode()
    assert "is in open group" in held
    response = client.post(url, {"profile_ids": [c, d], "reason": "same household"})
    group = MatchGroup.objects.get(source="manual")
    assert response.status_code == 302 and group.profile_ids == sorted([c, d])
    assert AuditEvent.objects.get(action="group.manual_created").actor.username == "steward"
    # Listed above the review queue's scored groups.
    queue = client.get(reverse("queue", args=[domain.name, "review"])).content.decode()
    assert 'id="manual-groups"' in queue and reverse("group", args=[group.pk]) in queue


def test_a_reopened_by_change_group_names_the_fields(login, domain, steward):
    from matches.services.rematch import group_reopen_on_change

    run = MatchRunFactory(domain=domain)
    ids = new_ids(2)
    for i, pid in enumerate(ids):
        ProfileFactory(domain=domain, profile_id=pid, attributes=person(pid, i))
    first = MatchGroupFactory(run=MatchRunFactory(domain=domain), profile_ids=ids)
    rejection = decisions.group_reject(group=first, actor=steward)
    MatchRun.objects.filter(pk=first.run_id).update(status="superseded")
    carried = MatchGroupFactory(run=run, profile_ids=ids, status="carried_over", linked_decision=rejection)
    group_reopen_on_change(group=carried, rejection=rejection, changed={ids[0]: ["email addresses"]})
    html = login(steward).get(reverse("group", args=[carried.pk])).content.decode()
    assert 'id="group-changed"' in html and "email addresses" in html and "matchdesk-system" in html
    assert Profile.objects.filter(profile_id=ids[0]).exists()


def _tab_counts(html: str) -> dict[str, int]:
    import re

    return {q: int(n) for q, n in re.findall(r'id="count-(merge|review|reject)">(\d+)<', html)}


def test_an_open_manual_group_counts_in_the_review_tab_where_the_queue_lists_it(login, world, steward):
    from matches.selectors.counts import queue_counts
    from matches.services.groups import bins_add
    from matches.services.search import manual_group_create

    domain, group = world["domain"], world["group"]
    bins_add(run=group.run, scores=[0.9])  # the AWS group's score in the histogram, as a pull leaves it
    client = login(steward)
    queue = reverse("queue", args=[domain.name, "review"])
    before = _tab_counts(client.get(queue).content.decode())
    c, d = world["ids"][2:]
    manual = manual_group_create(domain=domain, actor=steward, profile_ids=[c, d])
    html = client.get(queue).content.decode()
    assert 'id="manual-groups"' in html and reverse("group", args=[manual.pk]) in html
    after = _tab_counts(html)
    assert after == {**before, "review": before["review"] + 1}
    # The same count on the home page and in the counts every reader shares (API, metrics).
    counts = queue_counts(run=group.run, policy=domain.policy())
    assert (counts.merge, counts.review, counts.reject) == (after["merge"], after["review"], after["reject"])
    home = client.get(reverse("home")).content.decode()
    assert f'<a href="{queue}">{after["review"]}</a>' in home
    # Decided, it leaves the queue and the count.
    decisions.group_reject(group=manual, actor=steward, reason="not one person")
    assert _tab_counts(client.get(queue).content.decode()) == before
