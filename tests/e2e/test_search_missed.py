"""The profile the engine missed, in real Chromium: on a group page the steward searches AWS (the emulator) by email
from the keyboard, sees the candidate side by side with the group's profiles, adds it (a manual group replaces the
AWS group), decides the manual group with m, and its merge runs once at the emulator."""

from __future__ import annotations

import pytest

from matches.models import MatchGroup
from matches.services.merges import merge_jobs_run_due
from tests.factories import MatchGroupFactory, MatchRunFactory, ProfileFactory
from tests.merging import merge_calls, new_ids, person

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("merge_role_groups")]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """No Celery worker here: the hand-off is dropped and the test runs the merge sweep itself."""
    monkeypatch.setattr("matches.services.enqueue.merge_job", lambda *, job_id, eta=None: None)


def test_search_see_side_by_side_add_and_decide(
    page, live_server, browser_login, screenshot, merge_ctl, merge_domain, steward
):
    a, b, c = new_ids(3)
    merge_ctl.add_profiles(merge_domain.name, [person(pid, i) for i, pid in enumerate([a, b, c])])
    for i, pid in enumerate([a, b]):
        ProfileFactory(domain=merge_domain, profile_id=pid, attributes=person(pid, i))
    group = MatchGroupFactory(run=MatchRunFactory(domain=merge_domain), profile_ids=[a, b], confidence_score=0.8)

    browser_login(page, steward)
    page.goto(f"{live_server.url}/groups/{group.pk}/?queue=review")
    page.keyboard.press("f")  # focuses the search value (keys.js)
    assert page.evaluate("document.activeElement.name") == "value"
    page.select_option("select[name=key]", "_email")
    page.keyboard.type("p2@example.com")
    page.keyboard.press("Enter")
    page.wait_for_selector("#search-results table.search-compare")
    headers = page.locator("#search-results thead tr").first.locator("th.col")
    assert headers.count() == 3  # the two members, then the candidate, side by side
    assert "candidate" in headers.nth(2).inner_text() and "First2 Last2" in headers.nth(2).inner_text()
    assert "in this group" in headers.nth(0).inner_text()
    assert page.url.endswith("?queue=review")  # htmx swapped the panel in place
    screenshot(page, "search-candidate-side-by-side")

    page.get_by_role("button", name=f"Add profile {c} to this group").click()
    page.wait_for_selector("#manual-tag")
    manual = MatchGroup.objects.get(source="manual")
    assert manual.profile_ids == sorted([a, b, c]) and manual.replaces_id == group.pk
    assert "Added: manual group" in page.inner_text("body")
    assert "whose own set stays as AWS gave it" in page.inner_text("#group-replaces")

    page.keyboard.press("m")
    page.wait_for_selector("text=Merge approved")
    assert MatchGroup.objects.get(pk=manual.pk).status == MatchGroup.Status.APPROVED
    assert MatchGroup.objects.get(pk=group.pk).status == MatchGroup.Status.REPLACED

    assert len(merge_jobs_run_due().succeeded) == 1
    assert merge_jobs_run_due().total == 0
    calls = merge_calls(merge_ctl, merge_domain)
    assert len(calls) == 1 and len(calls[0]["params"]["ProfileIdsToBeMerged"]) == 2
    assert MatchGroup.objects.get(pk=manual.pk).status == MatchGroup.Status.MERGED
