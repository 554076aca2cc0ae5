"""Bulk gated by evidence, in real Chromium (issue 13): without evidence the page says why and offers nothing; with it,
the confirmation shows the estimate the selector computes, and the job runs."""

import pytest

from matches.models import BulkJob

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_confirmation_shows_the_estimate_and_bulk_waits_for_evidence(
    page, live_server, browser_login, screenshot, admin, steward
):
    from matches.selectors.bulk import bulk_evidence as evidence_of
    from tests.admin_helpers import bulk_evidence, bulk_run
    from tests.factories import DomainFactory

    domain = DomainFactory(name="acme-retail")
    run = bulk_run(domain, [0.96 + i * 0.0005 for i in range(60)] + [0.8, 0.3])
    browser_login(page, admin)
    url = f"{live_server.url}/admin/domains/acme-retail/bulk/merge/"

    page.goto(url)
    page.wait_for_selector("#bulk-not-offered")
    assert page.locator("button[value=all]").count() == 0
    advice = page.locator("#bulk-not-offered").inner_text()
    assert "Bulk is not offered" in advice and "more groups in 0.95–1.00" in advice
    page.locator("#bulk-not-offered a").click()
    page.wait_for_url(f"{live_server.url}/admin/domains/acme-retail/thresholds/#calibration")

    bulk_evidence(run, steward, queues=["merge"])
    page.goto(url)
    page.click("button[value=all]")
    page.wait_for_selector("#bulk-confirm")
    ev = evidence_of(domain=domain, queue="merge")
    assert ev.allowed
    evidence = page.locator("#bulk-evidence")
    assert evidence.locator("#ev-estimate").inner_text() == f"{ev.share.estimate * 100:.2f}%"
    assert evidence.locator("#ev-interval").inner_text() == f"{ev.share.low * 100:.2f}%–{ev.share.high * 100:.2f}%"
    assert evidence.locator("#ev-upper").inner_text() == f"{ev.share.upper * 100:.2f}%"
    assert evidence.locator("#ev-decisions").inner_text().startswith(f"{ev.decisions} (")
    assert evidence.locator("#ev-runs").inner_text() == f"run {run.pk}"
    assert "within the target of 1.00%" in page.locator("#confirm-evidence").inner_text()
    screenshot(page, "admin_bulk_evidence")
    page.click("#bulk-confirm button[type=submit]")
    page.wait_for_selector("#bulk-progress .tag.status-done")
    assert BulkJob.objects.get().done == 60
