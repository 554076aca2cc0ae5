"""The Merges page in real Chromium: countdown, undo through htmx, failed jobs with their reasons."""

from __future__ import annotations

import pytest
from django.utils import timezone

from matches.models import MatchGroup, MergeJob
from matches.services.groups import groups_set_status
from tests.factories import DomainFactory
from tests.views.test_merges import fail, scheduled_job

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("merge_role_groups")]


def test_merges_page_shows_each_stage_and_undo_works_in_place(page, live_server, browser_login, screenshot, steward):
    domain = DomainFactory(name="acme-retail", merge_rate_per_second=5)
    DomainFactory(name="acme-wholesale", merges_paused=True)
    waiting = scheduled_job(domain, steward, 1, seconds=95)
    running = scheduled_job(domain, steward, 2, seconds=-30)
    MergeJob.objects.filter(pk=running.pk).update(
        status="running",
        attempts=1,
        chunks_done=1,
        plan=[["a"] * 20, ["b"] * 20, ["c"] * 4],
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    done = scheduled_job(domain, steward, 3, seconds=-300)
    MergeJob.objects.filter(pk=done.pk).update(
        status="succeeded",
        attempts=1,
        chunks_done=1,
        plan=[["x"] * 2],
        finished_at=timezone.now(),
        aws_messages=[
            {
                "at": timezone.now().isoformat(),
                "attempt": 1,
                "operation": "MergeProfiles",
                "chunk": 0,
                "ids": ["x", "y"],
                "ok": True,
                "message": "Merged 2 profiles into 7f3a…",
            }
        ],
    )
    groups_set_status(queryset=MatchGroup.objects.filter(pk=done.decision.group_id), status="merged")
    fail(
        scheduled_job(domain, steward, 4, seconds=-600),
        "The main profile 0a1b2c3d4e5f60718293a4b5c6d7e8f9 no longer exists at AWS (merged or deleted since the "
        "decision); nothing was merged.",
    )

    browser_login(page, steward)
    page.click("nav.mainnav >> text=Merges")
    assert page.locator("h1").inner_text() == "Merges"
    row = page.locator(f"#job-{waiting.pk}")
    assert "merges in 1 m" in row.inner_text()
    assert "chunk 2 of 3" in page.locator(f"#job-{running.pk}").inner_text()
    assert "no longer exists at AWS" in page.locator("table.merges").inner_text()
    screenshot(page, "merges")

    row.get_by_role("button", name="Undo").click()
    page.wait_for_selector(f"#job-{waiting.pk}.job-cancelled")
    assert "back in its queue" in page.locator(f"#job-{waiting.pk}").inner_text()
    waiting.refresh_from_db()
    assert waiting.status == "cancelled"
    screenshot(page, "merges-after-undo")


def test_merges_page_fits_1024_px_and_paused_reads_paused(page, live_server, browser_login, screenshot, steward):
    from tests.views.test_merges import MatchGroup as Group

    domain = DomainFactory(name="acme-retail-north-america", merges_paused=True)
    jobs = [scheduled_job(domain, steward, n, seconds=-30 if n % 2 else 300) for n in range(4)]
    Group.objects.filter(pk=jobs[0].decision.group_id).update(
        display_names="Maximiliana Wolfeschlegelsteinhausen · M. Wolfeschlegelsteinhausen-Bergerdorff · Max W."
    )
    fail(jobs[3], "The main profile 0a1b2c3d4e5f60718293a4b5c6d7e8f9 no longer exists at AWS; nothing was merged. " * 2)
    page.set_viewport_size({"width": 1024, "height": 800})
    browser_login(page, steward)
    page.goto(f"{live_server.url}/merges/")
    assert "Maximiliana" in page.locator(f"#job-{jobs[0].pk}").inner_text()
    assert "paused" in page.locator(f"#job-{jobs[1].pk}").inner_text()
    assert "due now" not in page.locator("table.merges").inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    screenshot(page, "merges-1024")
    assert overflow <= 0
