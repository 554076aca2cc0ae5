"""A walk through the admin pages in real Chromium, with screenshots for review."""

from decimal import Decimal

import pytest

from matches.models import Decision, Domain, QASampleItem

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_adds_a_domain_and_tests_the_connection(page, live_server, browser_login, screenshot, admin):
    from emulator.testing import EmulatorControl, EmulatorThread

    with EmulatorThread() as emu:
        EmulatorControl(emu.url).create_domain(
            "acme-retail", customers=5, auto_merging={"Enabled": True, "MinAllowedConfidenceScoreForMerging": 0.97}
        )
        browser_login(page, admin)
        page.goto(f"{live_server.url}/admin/domains/")
        page.fill("input[name=name]", "acme retail")
        page.click("button:has-text('Add domain')")
        assert "AWS's pattern" in page.locator(".field.has-error .error").inner_text()
        page.fill("input[name=name]", "acme-retail")
        page.fill("input[name=endpoint_url]", emu.url)
        page.fill("input[name=undo_window_seconds]", "0")
        page.click("button:has-text('Add domain')")
        page.wait_for_selector(".msg-success")
        assert Domain.objects.get(name="acme-retail").undo_window_seconds == 0
        page.click("button:has-text('Test connection')")
        page.wait_for_selector("#connection .facts")
        text = page.locator("#connection").inner_text()
        assert "matching on" in text and "Saturday at 00:00 UTC" in text
        assert "AWS merges profiles itself when a match scores at least 0.97" in text
        screenshot(page, "admin_domain")
        page.goto(f"{live_server.url}/admin/domains/")
        screenshot(page, "admin_domains")


def test_the_domain_page_warns_of_aws_auto_merging_the_evidence_does_not_support(
    page, live_server, browser_login, screenshot, admin
):
    from emulator.testing import EmulatorControl, EmulatorThread

    with EmulatorThread() as emu:
        auto = {
            "Enabled": True,
            "MinAllowedConfidenceScoreForMerging": 0.6,
            "Consolidation": {"MatchingAttributesList": [["EmailAddress"]]},
            "ConflictResolution": {"ConflictResolvingModel": "RECENCY"},
        }
        EmulatorControl(emu.url).create_domain("acme-am", seed=2, customers=60, auto_merging=auto)
        from tests.admin_helpers import run_with_scores

        run_with_scores(Domain.objects.create(name="acme-am", endpoint_url=emu.url), [0.7, 0.8, 0.9])
        browser_login(page, admin)
        page.goto(f"{live_server.url}/admin/domains/acme-am/")
        # The card loads by itself after the page (GetDomain must not hold the page up).
        page.wait_for_selector("#auto-merging .facts")
        card = page.locator("#auto-merging")
        assert "on from 0.600" in card.inner_text()
        assert "support no auto-merge line" in card.locator(".warning").inner_text()
        page.fill("#am-score", "0.9")
        page.keyboard.press("Enter")
        page.wait_for_selector("#auto-merging .preview")
        assert "AWS would merge" in page.locator("#auto-merging .preview").inner_text()
        assert page.url.endswith("/admin/domains/acme-am/")  # swapped in place
        screenshot(page, "admin_domain_auto_merging")


def test_admin_bulk_rejects_after_confirming(page, live_server, browser_login, screenshot, admin, steward):
    from matches.services.qa import qa_sample_draw
    from tests.admin_helpers import bulk_evidence, bulk_run
    from tests.factories import DomainFactory

    domain = DomainFactory(name="acme-retail")
    run = bulk_run(domain, [0.05 + i * 0.003 for i in range(150)] + [0.8, 0.97])
    bulk_evidence(run, steward, queues=["reject"])  # bulk is offered only on evidence (docs/thresholds.md)
    qa_sample_draw(actor=admin, domain=domain, queue="reject", rate=Decimal("0.05"), seed=11)
    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/domains/acme-retail/bulk/reject/")
    assert "No QA sample of this queue has been checked" in page.locator("#qa-status").inner_text()
    rows = page.locator("#bulk-groups tbody input[name=group]:not([disabled])")
    for i in range(3):
        rows.nth(i).check()
    screenshot(page, "admin_bulk")
    page.click("button[value=all]")
    total = run.groups.filter(confidence_score__lt=0.6, status="open").count()
    assert f"Confirm: reject {total} groups" in page.locator("#bulk-confirm h2").inner_text()
    page.click("#bulk-confirm button[type=submit]")
    page.wait_for_selector("#bulk-progress .tag.status-done")
    sampled = QASampleItem.objects.count()  # reserved for blind review: skipped
    assert sampled == 8  # 5% of 150, rounded up
    assert f"{total - sampled} decided, {sampled} skipped" in page.locator("#bulk-progress").inner_text()
    assert Decision.objects.filter(bulk=True, action="reject").count() == total - sampled
    screenshot(page, "admin_bulk_job")


def test_operations_and_users_pages(page, live_server, browser_login, screenshot, admin, steward, auditor):
    from datetime import timedelta

    from django.utils import timezone

    from matches.services.ops import heartbeat_record
    from tests.factories import DomainFactory

    DomainFactory(name="acme-retail")
    DomainFactory(name="emea-loyalty")
    heartbeat_record(name="worker:celery@web-1", kind="worker", at=timezone.now() - timedelta(seconds=12))
    heartbeat_record(name="beat", kind="beat", at=timezone.now() - timedelta(minutes=7), details={"lag_seconds": 0.4})
    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/operations/")
    page.click("#domain-pauses tr:has-text('emea-loyalty') button:has-text('Pause')")
    page.wait_for_selector(".msg-success")
    assert Domain.objects.get(name="emea-loyalty").merges_paused
    assert "stale" in page.locator("#heartbeats tr:has-text('beat')").inner_text()
    screenshot(page, "admin_operations")

    page.goto(f"{live_server.url}/admin/users/")
    row = page.locator(f"#user-{admin.pk}")
    row.locator("input[value=Admin]").uncheck()
    row.locator("button:has-text('Save roles')").click()
    page.wait_for_selector(".msg-error")
    assert "This is the last admin" in page.locator(".msg-error").inner_text()
    page.fill("#add-user input[name=username]", "carol")
    page.fill("#add-user input[name=password]", "a long enough pass")
    page.check("#add-user input[value=Steward]")
    page.click("button:has-text('Create user')")
    page.wait_for_selector("#users tr:has-text('carol')")
    screenshot(page, "admin_users")


def test_the_domain_page_charts_run_over_run_drift_and_flags_the_jump(
    page, live_server, browser_login, screenshot, admin
):
    from matches.services.drift import run_drift_compute
    from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, hex_id

    domain = DomainFactory(name="shop", endpoint_url="http://127.0.0.1:9")
    runs = []
    for week, (start, count, score) in enumerate([(0, 60, 0.8), (3, 62, 0.8), (6, 61, 0.81), (40, 70, 0.7)]):
        run = MatchRunFactory(domain=domain)
        for i in range(start, start + count):
            MatchGroupFactory(run=run, profile_ids=sorted([hex_id(2 * i), hex_id(2 * i + 1)]), confidence_score=score)
        runs.append(run)
        if week:
            run_drift_compute(run=run)
    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/domains/shop/")
    page.wait_for_selector("#drift svg.drift-chart")
    assert page.locator("#drift g.run-bar").count() == 3
    assert page.locator("#drift g.run-bar.flagged").count() == 1
    assert f"Run {runs[-1].pk}:" in page.locator("#drift .warning").first.inner_text()
    page.locator("#drift").scroll_into_view_if_needed()
    screenshot(page, "admin_domain_drift")
