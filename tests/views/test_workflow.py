"""The steward workflow pages: the awaiting-approval list (roles on the server), a group's approval and overlaps,
and what a split did."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from matches.models import Approval, MatchGroup, MergeJob
from matches.services.decisions import group_merge_approve, group_split
from tests.admin_helpers import bulk_evidence, run_with_scores
from tests.factories import MatchGroupFactory, MatchRunFactory
from tests.merging import new_ids

JobStatus = MergeJob.Status


@pytest.fixture(autouse=True)
def no_celery_handoff(monkeypatch):
    monkeypatch.setattr(
        "matches.services.enqueue.merge_job", lambda *, job_id, eta=None: transaction.on_commit(lambda: None)
    )


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def awaiting(domain, steward):
    domain.approval_all = True
    domain.save()
    _, (group,) = run_with_scores(domain, [0.97])
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    return Approval.objects.get(decision=decision)


def test_the_first_steward_sees_the_approval_but_cannot_approve_it(awaiting, steward):
    page = _as(steward).get(reverse("approvals"))
    html = page.content.decode()
    assert page.status_code == 200 and "A second person must approve this: you asked for it." in html
    assert reverse("approval-approve", args=[awaiting.pk]) not in html
    # The server refuses it too, whatever the page shows.
    _as(steward).post(reverse("approval-approve", args=[awaiting.pk]))
    assert Approval.objects.get(pk=awaiting.pk).status == "pending"


def test_a_second_steward_approves_from_the_list_and_the_group_page_says_who(awaiting, steward2):
    client = _as(steward2)
    html = client.get(reverse("approvals")).content.decode()
    assert reverse("approval-approve", args=[awaiting.pk]) in html and "every merge needs a second person" in html
    response = client.post(reverse("approval-approve", args=[awaiting.pk]))
    assert response.status_code == 302
    assert MergeJob.objects.get(decision=awaiting.decision).status == JobStatus.SCHEDULED
    group_page = client.get(reverse("group", args=[awaiting.decision.group_id])).content.decode()
    assert "Approved by steward2" in group_page and "asked by steward" in group_page


def test_an_auditor_cannot_approve_or_send_back(awaiting, auditor):
    client = _as(auditor)
    assert client.get(reverse("approvals")).status_code == 200
    assert client.post(reverse("approval-approve", args=[awaiting.pk])).status_code == 403
    assert client.post(reverse("approval-send-back", args=[awaiting.pk]), {"reason": "no"}).status_code == 403
    assert Approval.objects.get(pk=awaiting.pk).status == "pending"


def test_send_back_shows_on_the_list_and_the_group(awaiting, steward2):
    client = _as(steward2)
    client.post(reverse("approval-send-back", args=[awaiting.pk]), {"reason": "different birthdays"})
    html = client.get(reverse("approvals")).content.decode()
    assert "different birthdays" in html
    group_page = client.get(reverse("group", args=[awaiting.decision.group_id])).content.decode()
    assert "Sent back by steward2" in group_page


def test_a_refused_overlap_links_to_the_other_group(domain, steward, steward2):
    x, y, z = new_ids(3)
    run = MatchRunFactory(domain=domain)
    first = MatchGroupFactory(run=run, profile_ids=sorted([x, y]), confidence_score=0.9)
    second = MatchGroupFactory(run=run, profile_ids=sorted([y, z]), confidence_score=0.9)
    group_merge_approve(group=first, actor=steward, main_profile_id=x)
    client = _as(steward2)
    response = client.post(reverse("group-decide", args=[second.pk]), {"action": "merge", "main": z}, follow=True)
    html = response.content.decode()
    assert f"group {first.match_id}" in html
    assert f'href="{reverse("group", args=[first.pk])}" class="overlap-link"' in html
    assert MatchGroup.objects.get(pk=second.pk).status == MatchGroup.Status.OPEN


def test_a_split_that_merged_shows_the_merged_part_and_the_part_kept_apart(domain, steward):
    _, (group,) = run_with_scores(domain, [0.8], size=3)
    ids = group.profile_ids
    decision = group_split(group=group, actor=steward, keep_profile_ids=ids[:2], main_profile_id=ids[0])
    MergeJob.objects.filter(decision=decision).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    html = _as(steward).get(reverse("group", args=[group.pk])).content.decode()
    assert "What the split did" in html
    merged = html.split('id="split-merged"')[1].split("</dd>")[0]
    kept = html.split('id="split-kept-apart"')[1].split("</dd>")[0]
    assert ids[1] in merged and ids[2] not in merged
    assert ids[2] in kept and ids[1] not in kept
    assert f"Merged into {ids[0]}" in html


def test_the_reports_and_the_audit_history_show_both_people_both_times_and_the_rule(awaiting, steward2, admin):
    from matches.services import approvals

    approvals.approval_approve(approval=awaiting, actor=steward2)
    awaiting.refresh_from_db()
    client = _as(admin)
    report = client.get(reverse("audit-reports")).content.decode()
    row = report.split(f'id="approval-report-{awaiting.pk}"')[1].split("</tr>")[0]
    assert "every merge needs a second person" in row
    assert ">steward<" in row and ">steward2<" in row
    assert timezone.localtime(awaiting.requested_at).strftime("%Y-%m-%d %H:%M:%S") in row
    assert timezone.localtime(awaiting.decided_at).strftime("%Y-%m-%d %H:%M:%S") in row
    by_rule = report.split('id="approvals-by-rule"')[1].split("</table>")[0]
    assert '<td>every merge needs a second person</td><td class="num">1</td><td class="num">1</td>' in by_rule
    history = client.get(reverse("group-history", args=[awaiting.decision.group_id])).content.decode()
    assert "answered by steward2" in history and "asked by steward" in history


def test_an_admin_sets_the_four_eyes_rules_on_the_domain_page_and_the_change_is_audited(domain, admin):
    from matches.models import AuditEvent

    client = _as(admin)
    form = {
        "region": "us-east-1",
        "undo_window_seconds": 60,
        "merge_rate_per_second": 2,
        "enabled": "on",
        "approval_size_above": 5,
        "approval_score_below": "0.900",
        "approval_splits": "on",
    }
    response = client.post(reverse("admin-domain-edit", args=[domain.name]), form)
    assert response.status_code == 302
    domain.refresh_from_db()
    assert (domain.approval_size_above, str(domain.approval_score_below), domain.approval_splits) == (5, "0.900", True)
    assert not domain.approval_bulk and not domain.approval_all
    changes = AuditEvent.objects.filter(action="domain.updated").latest("seq").details["changes"]
    assert changes["approval_size_above"] == ["None", "5"] and changes["approval_splits"] == ["False", "True"]


def test_a_bulk_job_awaiting_a_second_admin_says_so_on_its_page(domain, admin):
    from matches.services import bulk

    domain.approval_bulk = True
    domain.save()
    run, _ = run_with_scores(domain, [0.2])
    bulk_evidence(run, admin, queues=["reject"])
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk)
    html = _as(admin).get(reverse("admin-bulk-job", args=[job.pk])).content.decode()
    assert 'id="bulk-awaiting"' in html and "every bulk job needs a second admin" in html


def test_the_merges_page_shows_a_job_awaiting_approval_as_such(awaiting, steward):
    html = _as(steward).get(reverse("merges")).content.decode()
    job = MergeJob.objects.get(decision=awaiting.decision)
    badge = html.split(f'id="merge-countdown-{job.pk}"')[1].split("</span>")[0]
    assert "awaiting approval" in badge and "undone" not in badge
