"""The steward workflow in real Chromium: a merge that needs a second person (steward A approves, steward B approves
it from the awaiting list, the job then runs at the emulator), and an overlapping group refused with a link to the
first."""

from __future__ import annotations

import pytest

from matches.models import Approval, MatchGroup, MergeJob
from matches.services.decisions import group_merge_approve
from matches.services.merges import merge_jobs_run_due
from tests.factories import MatchGroupFactory, MatchRunFactory, ProfileFactory
from tests.merging import make_group, merge_calls, new_ids, person

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("merge_role_groups")]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """No Celery worker here: the hand-off is dropped and the test runs the merge sweep itself."""
    monkeypatch.setattr("matches.services.enqueue.merge_job", lambda *, job_id, eta=None: None)


def test_a_merge_needing_a_second_person_is_approved_from_the_awaiting_list_then_runs(
    browser, page, live_server, browser_login, screenshot, merge_ctl, merge_domain, steward, steward2
):
    merge_domain.approval_size_above = 2
    merge_domain.save()
    group = make_group(merge_ctl, merge_domain, 3, score=0.97)

    browser_login(page, steward)
    page.goto(f"{live_server.url}/groups/{group.pk}/?queue=merge")
    page.get_by_role("button", name="Approve merge").click()
    page.wait_for_selector("text=awaiting approval by a second person")
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    assert "Awaiting approval by a second person (groups of more than 2 profiles)" in page.inner_text("#group-approval")
    page.click("nav.mainnav >> text=Awaiting approval")
    approval = Approval.objects.get(decision__group=group)
    row = page.locator(f"#approval-{approval.pk}")
    assert "you asked for it" in row.inner_text()
    assert row.get_by_role("button", name="Approve").count() == 0
    assert MergeJob.objects.get(decision=approval.decision).status == "awaiting_approval"
    assert merge_jobs_run_due().total == 0  # nothing runs while it waits

    other = browser.new_context(viewport={"width": 1400, "height": 900})
    second = other.new_page()
    second.set_default_timeout(10_000)
    browser_login(second, steward2)
    second.goto(f"{live_server.url}/approvals/")
    row = second.locator(f"#approval-{approval.pk}")
    assert "groups of more than 2 profiles" in row.inner_text() and "steward" in row.inner_text()
    screenshot(second, "approvals-awaiting")
    row.get_by_role("button", name="Approve").click()
    second.wait_for_selector("text=its undo window starts now")
    assert second.locator(f"#approvals-awaiting #approval-{approval.pk}").count() == 0

    summary = merge_jobs_run_due()  # the sweep: the undo window is 0 s here
    assert len(summary.succeeded) == 1
    assert len(merge_calls(merge_ctl, merge_domain)) == 1
    second.goto(f"{live_server.url}/groups/{group.pk}/")
    text = second.inner_text("#group-panel")
    assert "Approved by steward2" in text and "asked by steward" in text
    assert MatchGroup.objects.get(pk=group.pk).status == MatchGroup.Status.MERGED
    other.close()


def test_an_overlapping_group_is_refused_with_a_link_to_the_first(
    page, live_server, browser_login, screenshot, merge_ctl, merge_domain, steward, steward2
):
    x, y, z = new_ids(3)
    merge_ctl.add_profiles(merge_domain.name, [person(pid, i) for i, pid in enumerate([x, y, z])])
    for i, pid in enumerate([x, y, z]):
        ProfileFactory(domain=merge_domain, profile_id=pid, attributes=person(pid, i))
    run = MatchRunFactory(domain=merge_domain)
    first = MatchGroupFactory(run=run, profile_ids=sorted([x, y]), confidence_score=0.9)
    second = MatchGroupFactory(run=run, profile_ids=sorted([y, z]), confidence_score=0.9)
    group_merge_approve(group=first, actor=steward, main_profile_id=x)

    browser_login(page, steward2)
    page.goto(f"{live_server.url}/groups/{second.pk}/?queue=review")
    assert first.match_id in page.inner_text("#group-overlaps")
    page.check(f"input[name=main][value='{z}']")
    page.get_by_role("button", name="Approve merge").click()
    page.wait_for_selector(f"text=is also in group {first.match_id}")
    screenshot(page, "overlap-refused")
    assert MatchGroup.objects.get(pk=second.pk).status == MatchGroup.Status.OPEN
    page.click("#group-overlaps a.overlap-link")
    page.wait_for_url(f"{live_server.url}/groups/{first.pk}/")
    assert "approved" in page.inner_text("#group-panel").lower()
