"""Reviewer quality in real Chromium: a steward pressing "next" gets a known answer, blind (no score, no earlier
decision), judges it with the keyboard; the disagreement appears on the admin's list, who takes the merge back while
it has not run. Nothing reaches MergeProfiles."""

from __future__ import annotations

import pytest

from matches.models import Decision, Judgement, MatchGroup, MergeJob
from matches.services import quality
from matches.services.decisions import group_merge_approve, group_reject
from tests.admin_helpers import run_with_scores
from tests.e2e.test_steward_loop import _wait_until
from tests.factories import ProfileFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("merge_role_groups")]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """No Celery worker here: a merge job's hand-off is dropped (nothing may run anyway)."""
    monkeypatch.setattr("matches.services.enqueue.merge_job", lambda *, job_id, eta=None: None)


@pytest.fixture
def known_world(domain, admin, steward, steward2):
    domain.undo_window_seconds = 3600
    domain.save()
    run, groups = run_with_scores(domain, [0.873, 0.81, 0.79, 0.7])
    known_group = groups[0]
    for i, pid in enumerate(known_group.profile_ids):
        ProfileFactory(domain=domain, profile_id=pid, attributes={"FirstName": "Zed", "LastName": f"Quill{i}"})
    decision = group_merge_approve(group=known_group, actor=steward2, main_profile_id=known_group.profile_ids[0])
    quality.known_answer_mark(actor=admin, group=known_group)
    quality.quality_rates_set(actor=admin, domain=domain, known_answer_rate="0.5", second_review_rate="0")
    group_reject(group=groups[3], actor=steward)  # one answered item: this steward's next press is due a known answer
    return known_group, decision


def test_a_steward_gets_a_known_answer_blind_judges_it_and_the_admin_takes_the_merge_back(
    browser, page, live_server, browser_login, screenshot, known_world, steward, admin
):
    known_group, decision = known_world
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/review/")
    page.keyboard.press("n")  # "Start reviewing": what "next" serves
    page.wait_for_selector("#judgement-panel")
    panel = page.inner_text("#judgement-panel")
    assert "Quality check · blind" in panel and "Quill0" in panel and "Quill1" in panel
    assert "0.873" not in page.content() and "steward2" not in page.content()
    screenshot(page, "judgement-blind")
    page.keyboard.press("r")  # focuses the reason; Enter answers "not a match"
    page.keyboard.type("different middle names")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Answer recorded. It changes nothing by itself.")
    # "next" went on to the queue's next group, claimed; leaving it releases the claim (the pagehide beacon), so no
    # request is still in flight when the test ends.
    next_group = MatchGroup.objects.get(claimed_by=steward)
    page.wait_for_selector(f'#group-panel[data-group="{next_group.pk}"]')
    page.get_by_role("link", name="Back to queue").click()
    page.wait_for_url("**/d/demo/queue/review/")
    assert _wait_until(lambda: not MatchGroup.objects.filter(claimed_by=steward).exists())
    item = Judgement.objects.get(actor=steward)
    assert (item.answer, item.agrees, item.reason) == ("reject", False, "different middle names")
    assert MatchGroup.objects.get(pk=known_group.pk).status == MatchGroup.Status.APPROVED
    assert MergeJob.objects.get(decision=decision).status == MergeJob.Status.SCHEDULED

    other = browser.new_context(viewport={"width": 1400, "height": 900})
    second = other.new_page()
    second.set_default_timeout(10_000)
    browser_login(second, admin)
    second.click("nav.mainnav >> text=Disagreements")
    row = second.locator(f"#disagreements-open #judgement-{item.pk}")
    text = row.inner_text()
    assert "merge by steward2" in text and "reject by steward" in text and "different middle names" in text
    screenshot(second, "disagreements")
    row.get_by_role("button", name="Undo merge").click()
    second.wait_for_selector("text=taken back: the group is open again")
    assert second.locator(f"#disagreements-open #judgement-{item.pk}").count() == 0
    assert second.locator(f"#disagreements-settled #judgement-{item.pk}").count() == 1
    assert MergeJob.objects.get(decision=decision).status == MergeJob.Status.CANCELLED
    assert MatchGroup.objects.get(pk=known_group.pk).status == MatchGroup.Status.OPEN
    assert Decision.objects.filter(reverts=decision, actor=admin).exists()
    other.close()
