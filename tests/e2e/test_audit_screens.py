"""The audit pages in real Chromium, with screenshots of the log, the reports and a profile timeline."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from matches import roles
from matches.models import Profile
from matches.services.audit import audit_log_atomic
from matches.services.decisions import comment_add, decision_undo, group_merge_approve, group_reject, group_reopen
from matches.services.erasure import profile_snapshots_erase
from tests.audit_scenarios import carry_over_many, run_with_groups
from tests.factories import UserFactory, at_time, hex_id

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 9, 7, 9, tzinfo=UTC)  # a Monday


@pytest.fixture
def busy_history(domain, steward, steward2, admin, monkeypatch):
    # Approved merges queue a Celery job on commit; the executor is not part of these pages.
    monkeypatch.setattr("matches.services.enqueue.merge_job", lambda *, job_id, eta=None: None)
    rng = random.Random(7)
    stewards = [steward, steward2, UserFactory(username="mkhan", roles=[roles.STEWARD])]
    ids = [hex_id(900 + i) for i in range(160)]
    specs = [(ids[2 * i : 2 * i + 2], round(rng.uniform(0.35, 1.0), 3)) for i in range(80)]
    run, groups = run_with_groups(domain, specs)
    names = ["Ana Ruiz", "Li Wei", "Sam Ortega", "Priya Nair", "Tom Berg", "Ines Costa", "Yuki Sato", "Omar Haddad"]
    for n, pid in enumerate(ids):
        first, last = names[n % len(names)].split()
        Profile.objects.create(
            domain=domain,
            profile_id=pid,
            attributes={
                "ProfileId": pid,
                "FirstName": first,
                "LastName": last,
                "EmailAddress": f"{first.lower()}@example.com",
            },
        )
    rejected = []
    for i, group in enumerate(groups[:70]):
        when = START + timedelta(days=i // 2, hours=i % 7)
        who = stewards[i % 3]
        with at_time(when):
            policy = domain.policy()
            bucket = policy.bucket(group.confidence_score)
            follow = rng.random() < 0.8
            if (bucket == "merge" and follow) or (bucket == "review" and rng.random() < 0.5):
                decision = group_merge_approve(group=group, actor=who, main_profile_id=group.profile_ids[0])
                if rng.random() < 0.12:
                    decision_undo(decision=decision, actor=who, reason="picked the wrong main profile")
            else:
                if i % 9 == 0:
                    comment_add(group=group, actor=who, body="Same surname, different dates of birth")
                rejected.append(
                    group_reject(
                        group=group, actor=who, reason=rng.choice(["", "different people", "household, not a person"])
                    )
                )
    with at_time(START + timedelta(days=36)):
        group_reopen(group=rejected[1].group, actor=admin, reason="new evidence from the call centre")
        audit_log_atomic(
            actor=admin,
            action="threshold.changed",
            object_type="domain",
            object_id=domain.pk,
            domain=domain,
            details={"merge_min": "0.950", "reject_below": "0.600"},
        )
    carried = carry_over_many(rejected[2:6])
    with at_time(START + timedelta(days=37, hours=3)):
        profile_snapshots_erase(
            actor=admin, domain=domain, profile_id=rejected[0].group.profile_ids[0], reason="DSR-2031"
        )
    return {"rejected": rejected, "carried": carried}


def test_auditor_filters_the_log_and_reads_the_reports(
    page, live_server, browser_login, screenshot, auditor, busy_history
):
    browser_login(page, auditor)
    page.click("text=Audit log")
    page.wait_for_selector("#events table")
    assert page.locator("#events tbody tr").count() == 50
    page.click("text=Verify chain")
    assert "Audit chain intact" in page.locator(".messages").inner_text()
    assert "chain intact" in page.locator("#chain-status").inner_text()
    screenshot(page, "audit")
    page.fill("input[name=action]", "decision.reject")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url("**action=decision.reject**")  # htmx swapped the events and pushed the URL
    expect(page.locator("#events tbody tr").first.locator(".action")).to_have_text("decision.reject")
    assert "action=decision.reject" in page.locator("#export-events").get_attribute("href")
    actions = set(page.locator("#events .action").all_inner_texts())
    assert actions == {"decision.reject"}
    page.locator("#events tbody tr").first.locator("summary").click()
    assert '"bucket":' in page.locator("#events pre.json").first.inner_text()
    page.goto(f"{live_server.url}/audit/reports/")
    assert page.locator("svg.chart rect").count() > 5
    screenshot(page, "reports")
    erased = busy_history["rejected"][0].group.profile_ids[0]
    page.goto(f"{live_server.url}/profiles/demo/{erased}/")
    assert "Personal data erased" in page.locator(".erasure").inner_text()
    screenshot(page, "profile_timeline")


def test_steward_reopens_from_the_carried_over_tab(page, live_server, browser_login, screenshot, steward, busy_history):
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/carried/")
    rows = page.locator("table tbody tr[data-row]")
    assert rows.count() == 4
    screenshot(page, "carried_over")
    first = busy_history["carried"][0]
    page.locator(f"#group-{first.pk} input[name=reason]").fill("customer called")
    page.locator(f"#group-{first.pk} button").click()
    assert "open again" in page.locator(".messages").inner_text()
    assert page.locator("table tbody tr[data-row]").count() == 3
    page.goto(f"{live_server.url}/groups/{first.pk}/history/")
    screenshot(page, "group_history")
    assert "customer called" in page.locator(".timeline").inner_text()
