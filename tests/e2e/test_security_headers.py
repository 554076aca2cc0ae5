"""The Content-Security-Policy in real Chromium: every page of the site loads and runs (htmx, keys.js, the thresholds
script, and keys.js's stand-ins for inline handlers and style attributes) without one violation."""

from __future__ import annotations

import pytest

from tests.e2e.site_pages import site_pages
from tests.site_world import site_data

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _tab(browser, live_server, user, violations: list[str]):
    from tests.conftest import PASSWORD

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("console", lambda m: "Content Security Policy" in m.text and violations.append(f"{tab.url}: {m.text}"))
    if user is not None:
        tab.goto(f"{live_server.url}/login/")
        tab.fill("input[name=username]", user.get_username())
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{live_server.url}/")
    return context, tab


def test_no_page_violates_the_content_security_policy(browser, live_server, steward, auditor, admin):
    users = {"anonymous": None, "steward": steward, "auditor": auditor, "admin": admin}
    pages = site_pages(data=site_data(steward=steward, admin=admin), users=users)
    violations: list[str] = []
    tabs = {}
    try:
        for site_page in pages:
            if site_page.role not in tabs:
                tabs[site_page.role] = _tab(browser, live_server, users[site_page.role], violations)
            tab = tabs[site_page.role][1]
            tab.goto(f"{live_server.url}{site_page.path}")
            tab.wait_for_load_state("networkidle")
            assert tab.evaluate("typeof htmx") == "object", site_page.path  # the scripts ran
    finally:
        for context, _ in tabs.values():
            context.close()
    assert len(pages) >= 15
    assert violations == []


def test_select_all_auto_submit_and_widths_work_under_the_policy(browser, live_server, steward, admin):
    site_data(steward=steward, admin=admin)
    violations: list[str] = []
    context, tab = _tab(browser, live_server, admin, violations)
    try:
        tab.goto(f"{live_server.url}/admin/domains/demo/bulk/reject/")
        boxes = tab.locator("#bulk-groups tbody input[name=group]:not(:disabled)")
        assert boxes.count() >= 1
        tab.get_by_label("Select all shown").check()
        assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))

        from matches.models import BulkJob

        tab.goto(f"{live_server.url}/admin/bulk/{BulkJob.objects.get().pk}/")
        bar = tab.locator(".progress span").first
        assert bar.evaluate("el => el.style.width").endswith("%")  # data-width, applied through the CSSOM

        tab.goto(f"{live_server.url}/admin/domains/demo/thresholds/")
        with tab.expect_navigation():
            tab.select_option("select[name=target]", "0.99")
        assert "target=0.99" in tab.url
    finally:
        context.close()
    assert violations == []
