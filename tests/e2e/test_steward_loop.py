"""Issue 13's steward's-loop bugs, in real Chromium: what the keys and links do is what they say."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.utils import timezone

from matches.models import Decision, MatchGroup
from matches.services.groups import bins_add
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_celery_handoff(monkeypatch):
    monkeypatch.setattr(
        "matches.services.enqueue.merge_job", lambda *, job_id, eta=None: transaction.on_commit(lambda: None)
    )


def make_group(run, score: float, base: int) -> MatchGroup:
    ids = sorted(hex_id(base + i) for i in range(2))
    for i, pid in enumerate(ids):
        ProfileFactory(
            domain=run.domain,
            profile_id=pid,
            attributes={"ProfileId": pid, "FirstName": ["Ann", "Bob"][i], "LastName": "Lee"},
            fetched_at=timezone.now(),
        )
    group = MatchGroupFactory(run=run, profile_ids=ids, confidence_score=score)
    bins_add(run=run, scores=[score])
    return group


def test_a_decision_after_the_session_ended_leads_to_login_and_back_to_the_group(
    page, live_server, browser_login, steward
):
    from tests.conftest import PASSWORD

    run = MatchRunFactory(domain=DomainFactory(name="demo"))
    group = make_group(run, 0.8, 1000)
    browser_login(page, steward)
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    page.wait_for_selector(f'#group-panel[data-group="{group.pk}"]')
    page.keyboard.press("r")
    page.keyboard.type("different people")
    page.context.clear_cookies(name="sessionid")  # the session ends elsewhere (the CSRF cookie stays)
    page.keyboard.press("Enter")

    page.wait_for_url("**/login/?next=*")
    assert "Your session ended, so nothing was decided or saved." in page.locator("body").inner_text()
    assert page.locator("form input[name=password]").count() == 1  # a whole login page, not one inside a panel
    page.fill("input[name=username]", "steward")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/groups/{group.pk}/")
    page.wait_for_selector(f'#group-panel[data-group="{group.pk}"]')
    assert not Decision.objects.exists()
    group.refresh_from_db()
    assert group.status == MatchGroup.Status.OPEN


def test_the_audit_log_links_a_merge_jobs_rows_to_its_group(page, live_server, browser_login, steward, auditor):
    from matches.models import MergeJob
    from matches.services import audit
    from matches.services.decisions import group_merge_approve

    run = MatchRunFactory(domain=DomainFactory(name="demo"))
    groups = [make_group(run, 0.99, 1000 + 10 * i) for i in range(4)]
    decision = group_merge_approve(group=groups[3], actor=steward, main_profile_id=groups[3].profile_ids[0])
    job = MergeJob.objects.get(decision=decision)
    assert job.pk != groups[3].pk  # the bug showed the job's id as a group id
    with transaction.atomic():
        audit.audit_log(
            actor=None,
            action="merge.succeeded",
            object_type="merge_job",
            object_id=job.pk,
            domain=run.domain,
            details={"group_id": groups[3].pk, "decision_id": decision.pk},
        )
    browser_login(page, auditor)
    page.goto(f"{live_server.url}/audit/?action=merge.")
    row = page.locator("tr", has_text="merge.succeeded")
    row.get_by_role("link", name=f"group {groups[3].pk}").click()
    page.wait_for_url(f"**/groups/{groups[3].pk}/")
    page.go_back()
    page.locator("tr", has_text="merge.succeeded").get_by_role("link", name="history").click()
    page.wait_for_url(f"**/groups/{groups[3].pk}/history/")


def _wait_until(check, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_u_undoes_this_groups_own_decision_only(page, live_server, browser_login, steward):
    run = MatchRunFactory(domain=DomainFactory(name="demo", undo_window_seconds=600))
    a, b = make_group(run, 0.9, 1000), make_group(run, 0.85, 2000)
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/review/")
    page.keyboard.press("n")
    page.wait_for_selector(f'#group-panel[data-group="{a.pk}"]')
    page.keyboard.press("m")
    page.wait_for_selector(f'#group-panel[data-group="{b.pk}"]')
    assert page.locator("[data-key=u]").count() == 0  # B has nothing to undo; A's approval is a link, not on u
    page.keyboard.press("m")
    page.wait_for_selector("#group-panel.empty-queue")

    page.goto(f"{live_server.url}/groups/{a.pk}/")
    assert page.locator("[data-key=u]").count() == 1  # at most one Undo on a page, and it is A's
    page.keyboard.press("u")
    page.wait_for_selector(f'#group-panel[data-group="{a.pk}"]')
    assert _wait_until(lambda: MatchGroup.objects.get(pk=a.pk).status == MatchGroup.Status.OPEN)
    assert MatchGroup.objects.get(pk=b.pk).status == MatchGroup.Status.APPROVED
    assert Decision.objects.filter(group=b, action="undo").count() == 0


def test_a_key_pressed_before_htmx_settles_the_new_panel_still_decides_through_htmx(
    page, live_server, browser_login, steward
):
    """htmx binds a swapped-in panel only after its settle delay; a steward pressing m at once used to post the new
    panel's form natively and land on the queue page instead of the next group (a flaky CI run caught it)."""
    run = MatchRunFactory(domain=DomainFactory(name="demo"))
    a, b, c = make_group(run, 0.9, 1000), make_group(run, 0.85, 2000), make_group(run, 0.8, 3000)
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/review/")
    page.keyboard.press("n")
    page.wait_for_selector(f'#group-panel[data-group="{a.pk}"]')
    page.evaluate("htmx.config.defaultSettleDelay = 3000")  # widen the window a fast steward hits by chance
    page.keyboard.press("m")
    page.wait_for_selector(f'#group-panel[data-group="{b.pk}"]')
    page.keyboard.press("m")  # inside the settle window of b's panel
    page.wait_for_selector(f'#group-panel[data-group="{c.pk}"]')
    assert page.evaluate("htmx.config.defaultSettleDelay") == 3000  # still the same page: no native navigation
    assert MatchGroup.objects.get(pk=b.pk).status == MatchGroup.Status.APPROVED


def test_browsing_claims_nothing_next_claims_and_leaving_releases(browser, live_server, steward, steward2):
    from tests.conftest import PASSWORD

    run = MatchRunFactory(domain=DomainFactory(name="demo"))
    first, second = make_group(run, 0.9, 1000), make_group(run, 0.85, 2000)

    def tab_for(user):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        tab.goto(f"{live_server.url}/login/")
        tab.fill("input[name=username]", user.get_username())
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{live_server.url}/")
        return context, tab

    def holder(group):
        group.refresh_from_db()
        return group.claimed_by_id

    ctx1, one = tab_for(steward)
    ctx2, two = tab_for(steward2)
    try:
        # Browsing: the first steward opens the first group from the queue; nobody holds it.
        one.goto(f"{live_server.url}/d/demo/queue/review/")
        one.locator(f"#group-{first.pk} a").first.click()
        one.wait_for_selector(f'#group-panel[data-group="{first.pk}"]')
        assert holder(first) is None
        # So a colleague's "next" gets it, and holds it.
        two.goto(f"{live_server.url}/d/demo/queue/review/")
        two.keyboard.press("n")
        two.wait_for_selector(f'#group-panel[data-group="{first.pk}"]')
        assert holder(first) == steward2.pk
        # Leaving by the page's own link releases it (the pagehide beacon).
        two.get_by_role("link", name="Back to queue").click()
        two.wait_for_url("**/d/demo/queue/review/")
        assert _wait_until(lambda: holder(first) is None)
        # Closing the tab releases too.
        two.keyboard.press("n")
        two.wait_for_selector(f'#group-panel[data-group="{first.pk}"]')
        assert holder(first) == steward2.pk
        two.close(run_before_unload=True)
        assert _wait_until(lambda: holder(first) is None)
        assert holder(second) is None
    finally:
        ctx1.close()
        ctx2.close()


def test_pull_now_shows_progress_and_lists_a_failed_and_a_nothing_new_pull(
    page, live_server, browser_login, admin, monkeypatch
):
    import threading

    from matches import aws, tasks
    from matches.models import AuditEvent, Domain, MatchRun

    def work(domain_id):
        try:
            tasks.pull_matches_task(domain_id)
        finally:
            connection.close()

    def worker_soon(*, domain_id, job_id="", on_failure=None):
        # A worker picks the message up a moment after the request commits.
        transaction.on_commit(lambda: threading.Timer(1.0, work, args=[domain_id]).start())

    monkeypatch.setattr("matches.services.enqueue.pull", worker_soon)
    bad = Domain.objects.create(name="bad-region", region="<b>eu</b>")  # saved before regions were checked
    done = MatchRunFactory(domain=DomainFactory(name="demo"))
    real = aws.get_matches

    def get_matches(domain, **kw):  # demo's results have not changed since its last run
        return {"MatchGenerationDate": done.generated_at} if domain.name == "demo" else real(domain, **kw)

    monkeypatch.setattr(aws, "get_matches", get_matches)

    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/runs/")
    page.locator("#pull-domains tr", has_text="bad-region").get_by_role("button", name="Pull now").click()
    page.locator(f"#pending-{bad.pk}").wait_for()  # the request shows at once, waiting for a worker
    failed = page.locator("#pull-outcomes tr", has_text="failed")
    failed.wait_for(timeout=15_000)  # no reload: the table polls while a pull waits or runs
    assert "not a region where boto3 knows Customer Profiles" in failed.inner_text()
    assert page.locator(f"#pending-{bad.pk}").count() == 0
    assert MatchRun.objects.get(domain=bad).status == MatchRun.Status.FAILED

    page.locator("#pull-domains tr", has_text="demo").get_by_role("button", name="Pull now").click()
    page.locator("#pull-outcomes tr", has_text="nothing new").wait_for(timeout=15_000)
    assert AuditEvent.objects.filter(action="pull.failed", domain="bad-region").count() == 1
    assert AuditEvent.objects.filter(action="pull.unchanged", domain="demo").count() == 1


def test_the_group_table_does_not_move_when_a_message_appears(page, live_server, browser_login, steward):
    run = MatchRunFactory(domain=DomainFactory(name="demo", undo_window_seconds=600))
    a, b = make_group(run, 0.9, 1000), make_group(run, 0.85, 2000)
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/review/")
    page.keyboard.press("n")
    page.wait_for_selector(f'#group-panel[data-group="{a.pk}"]')
    before = page.locator("#group-panel table").first.bounding_box()["y"]
    page.keyboard.press("m")  # B comes with "Merge approved" and the reminder of A's approval
    page.wait_for_selector(f'#group-panel[data-group="{b.pk}"]')
    assert page.locator(".panel-messages").get_by_text("Merge approved").is_visible()
    assert page.locator("#group-panel table").first.bounding_box()["y"] == before
