"""Issue 13's steward's-loop bugs, in real Chromium: what the keys and links do is what they say."""

from __future__ import annotations

import pytest
from django.db import transaction
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
