"""The admin moves thresholds in real Chromium and sees the counts and the chart follow; screenshots for review."""

import math

import pytest
from playwright.sync_api import expect

from matches.models import MatchGroup, MatchRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _open_counts(run, merge_min: float, reject_below: float) -> dict:
    open_ = MatchGroup.objects.filter(run=run, status="open")
    return {
        "merge": open_.filter(confidence_score__gte=merge_min).count(),
        "review": open_.filter(confidence_score__gte=reject_below, confidence_score__lt=merge_min).count(),
        "reject": open_.filter(confidence_score__lt=reject_below).count(),
    }


def _shown(page) -> dict:
    return {q: int(page.locator(f'[data-q="after-{q}"]').inner_text()) for q in ("merge", "review", "reject")}


@pytest.fixture
def thresholds_data(admin, steward):
    from decimal import Decimal

    from matches.services.qa import qa_sample_draw
    from tests.admin_helpers import bulk_run, decide_directly, realistic_scores
    from tests.factories import DomainFactory

    domain = DomainFactory(name="acme-retail")
    run = bulk_run(domain, realistic_scores(6000, seed=3))
    groups = list(MatchGroup.objects.filter(run=run).order_by("?")[:2500])
    decide_directly(groups, steward, merged_share=lambda s: 1 / (1 + math.exp(-(s - 0.72) * 40)))
    qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.02"), seed=20240601)
    return domain, run


def test_admin_moves_thresholds_and_sees_counts_and_chart_change(
    page, live_server, browser_login, screenshot, admin, thresholds_data
):
    domain, run = thresholds_data
    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/domains/{domain.name}/thresholds/")
    assert _shown(page) == _open_counts(run, 0.95, 0.6)
    merge_line_x = page.locator("svg.histogram line.line-merge").get_attribute("x1")

    # Type a new merge threshold: the preview follows without a page load.
    page.fill("#merge_min", "0.9")
    expected = _open_counts(run, 0.9, 0.6)
    # A locator expectation, not wait_for_function: the Content-Security-Policy refuses the eval the latter needs.
    expect(page.locator('[data-q="after-merge"]')).to_have_text(str(expected["merge"]))
    assert _shown(page) == expected
    assert page.locator("svg.histogram line.line-merge").get_attribute("x1") != merge_line_x
    assert page.locator("[data-q=before-merge]").inner_text() == str(_open_counts(run, 0.95, 0.6)["merge"])

    # Drag the reject slider with the mouse to about a third of its track.
    slider = page.locator('input[type=range][data-sync="reject_below"]')
    box = slider.bounding_box()
    reject_line_x = page.locator("svg.histogram line.line-reject").get_attribute("x1")
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.33, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    dragged = float(page.input_value("#reject_below"))
    assert 0.25 < dragged < 0.4
    expected = _open_counts(run, 0.9, dragged)
    expect(page.locator('[data-q="after-reject"]')).to_have_text(str(expected["reject"]))
    assert _shown(page) == expected
    assert page.locator("svg.histogram line.line-reject").get_attribute("x1") != reject_line_x
    assert f"reject &lt; {dragged:.3f}" in page.locator("#preview svg.histogram").inner_html()

    # An invalid pair is explained, and nothing was saved.
    page.fill("#merge_min", "0.2")
    page.wait_for_selector("#preview .error")
    assert "cannot be higher than merge from" in page.locator("#preview .error").inner_text()
    page.fill("#merge_min", "0.9")
    expect(page.locator("#preview .error")).to_have_count(0)
    # Each estimate says which method gave it, and the page says why in words.
    method = page.locator("#estimate-method").inner_text()
    assert "smooth curve" in method or "model-free bound" in method
    assert page.locator('[data-e="proposed-merge"]').inner_text().rstrip().endswith(("smooth curve", "model-free"))
    screenshot(page, "thresholds")

    # Saving writes the policy in force.
    page.fill("input[name=note]", "QA sample agreed")
    page.click("button.primary:has-text('Save thresholds')")
    page.wait_for_selector(".msg-success")
    policy = domain.policy()
    assert (float(policy.merge_min), float(policy.reject_below)) == (0.9, dragged)


def test_a_running_pull_shows_live_progress(page, live_server, browser_login, screenshot, admin):
    from datetime import timedelta

    from django.utils import timezone

    from matches.models import QuarantinedMatch
    from tests.factories import DomainFactory, MatchRunFactory

    domain = DomainFactory(name="acme-retail")
    done = MatchRunFactory(domain=domain, status=MatchRun.Status.COMPLETED, pages=412, groups_seen=41187,
                           groups_stored=41180, potential_matches=41187, quarantined=7,
                           finished_at=timezone.now())  # fmt: skip
    MatchRunFactory(domain=DomainFactory(name="emea-loyalty"), status=MatchRun.Status.FAILED,
                    error="GetMatches on domain 'emea-loyalty' (eu-west-1) failed: AccessDeniedException: User is "
                    "not authorized to perform: profile:GetMatches. Check that the credentials or the domain's role "
                    "allow this Customer Profiles action on this domain and region.",
                    finished_at=timezone.now())  # fmt: skip
    run = MatchRunFactory(domain=domain, status=MatchRun.Status.RUNNING, potential_matches=52000, pages=131,
                          groups_seen=13100, groups_stored=13094, generated_at=timezone.now())  # fmt: skip
    # Runs started a while ago (started_at is set on insert).
    MatchRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=95))
    MatchRun.objects.filter(pk=done.pk).update(started_at=done.finished_at - timedelta(seconds=431))
    QuarantinedMatch.objects.create(
        run=done, raw={"MatchId": "m-1", "ProfileIds": ["not-hex", "<b>x</b>"], "ConfidenceScore": 0.93},
        raw_hash="a", reason="profile id 'not-hex' does not match [a-f0-9]{32}", page=17,
    )  # fmt: skip
    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/runs/")
    row = page.locator(f"#run-{run.pk}")
    assert "13100 of 52000 groups" in row.inner_text()
    # The worker checkpoints another page: the page shows it within a refresh or two.
    MatchRun.objects.filter(pk=run.pk).update(pages=180, groups_seen=18000)
    expect(page.locator(f"#run-{run.pk}")).to_contain_text("18000 of 52000 groups", timeout=8000)
    assert "35%" in page.locator(f"#run-{run.pk}").inner_text()
    screenshot(page, "pull_progress")
    # The finished run's quarantine, escaped.
    page.goto(f"{live_server.url}/admin/runs/{done.pk}/")
    assert '"<b>x</b>"' in page.locator("pre.raw").inner_text()
    page.click("#quarantine button:has-text('Acknowledge')")
    page.wait_for_selector("#quarantine td:has-text('admin')")
    screenshot(page, "admin_run")
