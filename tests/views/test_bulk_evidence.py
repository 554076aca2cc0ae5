"""Bulk gated by evidence (issue 13; docs/thresholds.md, "Bulk decisions"): bulk on a queue is offered, and a job
created, only while that queue's 95% upper bound is within the domain's target; the figures sit beside the
confirmation, and a job checks its policy and evidence again when it runs."""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from matches.models import Approval, AuditEvent, BulkJob, Decision, QASampleItem
from matches.selectors.bulk import bulk_evidence as evidence_of
from matches.services import approvals, bulk
from matches.services.decisions import group_merge_approve
from matches.services.qa import qa_sample_draw
from matches.services.thresholds import threshold_set
from tests.admin_helpers import bulk_evidence, decide_directly, run_with_scores
from tests.factories import UserFactory

MERGE = reverse("admin-bulk", args=["demo", "merge"])
REJECT = reverse("admin-bulk", args=["demo", "reject"])
MERGE_OPEN = [0.96 + i * 0.001 for i in range(30)]


def _text(response) -> str:
    """The page's text: tags out, entities decoded, spaces collapsed."""
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode())))


def _offered(page: str) -> bool:
    return 'name="scope" value="all"' in page


@pytest.fixture
def merge_queue(domain):
    run, groups = run_with_scores(domain, [*MERGE_OPEN, 0.7, 0.3])
    return run, groups


def test_without_evidence_bulk_is_not_offered_and_a_post_is_refused(login, admin, domain, merge_queue):
    client = login(admin)
    page = client.get(MERGE)
    assert page.status_code == 200
    text = _text(page)
    assert not _offered(page.content.decode())
    assert 'id="bulk-not-offered"' in page.content.decode()
    ev = evidence_of(domain=domain, queue="merge")
    assert not ev.allowed and ev.decisions == 0 and ev.more
    assert f"Decide about {ev.more} more groups in 0.95–1.00" in text and "calibration sample" in text
    assert f'href="{reverse("admin-thresholds", args=["demo"])}#calibration"' in page.content.decode()
    policy_id = domain.policy().pk
    for step in ("confirm", "run"):
        response = client.post(MERGE, {"step": step, "scope": "all", "policy_id": policy_id}, follow=True)
        assert response.status_code == 200
        assert "Bulk is not offered: the 95% upper bound on wrong merges" in _text(response)
        assert "Confirm:" not in _text(response)
    assert not BulkJob.objects.exists() and not Decision.objects.exists()
    with pytest.raises(bulk.BulkRefused, match="upper bound on wrong merges in the merge queue is 100.00%"):
        bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=policy_id)
    assert not BulkJob.objects.exists()


def test_a_one_group_qa_sample_is_not_enough(login, admin, steward, domain):
    run, groups = run_with_scores(domain, [0.95 + i * 0.0001 for i in range(100)])
    sample = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.01"), seed=5)
    assert sample.size == 1
    sampled = QASampleItem.objects.get().group
    group_merge_approve(group=sampled, actor=steward, main_profile_id=sampled.profile_ids[0])
    page = login(admin).get(MERGE)
    text = _text(page)
    assert "precision 1.000, 95% interval 0.207–1.000" in text  # the banner, as before
    assert not _offered(page.content.decode()) and "Bulk is not offered" in text
    ev = evidence_of(domain=domain, queue="merge")
    assert ev.decisions == ev.in_queue == 1 and ev.share.upper > ev.target
    with pytest.raises(bulk.BulkRefused, match="from 1 decision, 1 of them in 0.95–1.00"):
        bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=domain.policy().pk)


def test_with_enough_evidence_bulk_is_offered_with_the_selectors_figures_beside_the_confirmation(
    login, admin, steward, domain, merge_queue
):
    run, groups = merge_queue
    bulk_evidence(run, steward, queues=["merge"])
    client = login(admin)
    assert _offered(client.get(MERGE).content.decode())
    confirm = client.post(MERGE, {"step": "confirm", "scope": "all"})
    text = _text(confirm)
    assert f"Confirm: approve merges {len(MERGE_OPEN)} groups" in text
    ev = evidence_of(domain=domain, queue="merge")
    assert ev.allowed and ev.decisions == ev.in_queue == 200 and ev.runs_used == (run.pk,)
    shown = {
        key: re.search(rf'id="ev-{key}"[^>]*>(.*?)</dd>', confirm.content.decode(), re.S).group(1)
        for key in ("estimate", "interval", "upper", "target", "decisions", "runs")
    }
    assert shown["estimate"] == f"{ev.share.estimate * 100:.2f}%"
    assert html_lib.unescape(shown["interval"]) == f"{ev.share.low * 100:.2f}%–{ev.share.high * 100:.2f}%"
    assert shown["upper"] == f"<strong>{ev.share.upper * 100:.2f}%</strong>"
    assert html_lib.unescape(shown["target"]) == "≤ 1.00%"
    assert shown["decisions"].startswith("200 (200 in 0.95")
    assert shown["runs"] == f"run {run.pk}"
    assert "isotonic fit" in text and "one-sided 95% upper bound" in text
    assert f"95% upper bound {ev.upper_text} within the target of 1.00%, from 200 decisions" in text
    done = client.post(MERGE, {"step": "run", "scope": "all", "policy_id": domain.policy().pk})
    job = BulkJob.objects.get()
    assert done.status_code == 302 and (job.status, job.done) == ("done", len(MERGE_OPEN))
    started = AuditEvent.objects.get(action="bulk.started").details["evidence"]
    assert started["upper"] == ev.share.upper and started["decisions"] == 200 and started["target"] == 0.01


def test_each_queue_is_judged_on_its_own_measure(login, admin, steward, domain, merge_queue):
    run, _ = merge_queue
    bulk_evidence(run, steward, queues=["merge"])
    page = _text(login(admin).get(REJECT))
    assert "Evidence: real duplicates rejected in the reject queue" in page and "Bulk is not offered" in page
    with pytest.raises(bulk.BulkRefused, match="real duplicates rejected in the reject queue"):
        bulk.bulk_job_create(actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk)
    bulk_evidence(run, steward, queues=["reject"])
    assert _offered(login(admin).get(REJECT).content.decode())
    assert evidence_of(domain=domain, queue="reject").target == 0.05


def test_deciding_what_the_page_advises_makes_bulk_offered(login, admin, steward, domain):
    run, groups = run_with_scores(domain, [0.95 + i * 0.0002 for i in range(250)])
    ev = evidence_of(domain=domain, queue="merge")
    assert not ev.allowed and ev.more is not None and ev.more < len(groups)
    # Decide that many, spread over 0.95–1.00 as the page says, every one the same person.
    step = len(groups) / ev.more
    advised = [groups[int(i * step)] for i in range(ev.more)]
    decide_directly(advised, steward, merged_share=lambda s: 1.0)
    assert evidence_of(domain=domain, queue="merge").allowed
    assert _offered(login(admin).get(MERGE).content.decode())


@pytest.fixture
def admin2(db):
    from matches import roles

    return UserFactory(username="admin2", roles=[roles.ADMIN])


def _awaiting(domain, run, admin, steward) -> BulkJob:
    domain.approval_bulk = True
    domain.save()
    bulk_evidence(run, steward, queues=["merge"])
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=domain.policy().pk)
    assert job.status == BulkJob.Status.AWAITING
    return job


def test_a_job_approved_after_the_thresholds_changed_stops_without_deciding(
    domain, admin, admin2, steward, merge_queue
):
    run, _ = merge_queue
    job = _awaiting(domain, run, admin, steward)
    threshold_set(actor=admin, domain=domain, merge_min="0.970", reject_below="0.600")
    approvals.approval_approve(approval=Approval.objects.get(bulk_job=job), actor=admin2)
    done = bulk.bulk_job_execute(job_id=job.pk)
    assert done.status == BulkJob.Status.FAILED and done.done == 0
    assert "thresholds changed since this job was created (now merge ≥ 0.970" in done.error
    assert not Decision.objects.filter(bulk=True).exists()
    assert AuditEvent.objects.get(action="bulk.failed").details["error"] == done.error


def test_a_job_approved_after_the_evidence_weakened_stops_without_deciding(domain, admin, admin2, steward, merge_queue):
    run, _ = merge_queue
    job = _awaiting(domain, run, admin, steward)
    # Meanwhile stewards find wrong merges at the bottom of the merge queue: the bound leaves the target.
    bulk_evidence(run, steward, queues=["merge"], n=40, merged=False)
    assert not evidence_of(domain=domain, queue="merge").allowed
    approvals.approval_approve(approval=Approval.objects.get(bulk_job=job), actor=admin2)
    done = bulk.bulk_job_execute(job_id=job.pk)
    assert done.status == BulkJob.Status.FAILED and done.done == 0
    assert done.error.startswith("Stopped: the evidence no longer holds. Bulk is not offered")
    assert not Decision.objects.filter(bulk=True).exists()


def test_a_running_job_stops_at_the_next_chunk_when_the_thresholds_change(
    domain, admin, steward, merge_queue, monkeypatch
):
    run, _ = merge_queue
    bulk_evidence(run, steward, queues=["merge"])
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=domain.policy().pk)
    assert bulk.bulk_job_claim(job_id=job.pk)
    job.refresh_from_db()
    calls = {"n": 0}
    real = bulk._next_chunk

    def chunk_then_change(job_, size):
        chunk = real(job_, size)
        calls["n"] += 1
        if calls["n"] == 1:  # while the first chunk is decided, an admin moves the merge line
            threshold_set(actor=admin, domain=domain, merge_min="0.990", reject_below="0.600")
        return chunk

    monkeypatch.setattr(bulk, "_next_chunk", chunk_then_change)
    done = bulk.bulk_job_run(job=job, chunk_size=10)
    assert done.status == BulkJob.Status.FAILED and done.done == 10
    assert "thresholds changed" in done.error
    assert Decision.objects.filter(bulk=True).count() == 10
