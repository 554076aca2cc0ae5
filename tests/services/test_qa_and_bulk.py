from decimal import Decimal

import pytest
from django.utils import timezone

from matches.models import AuditEvent, BulkJob, Decision, MatchGroup, QASampleItem
from matches.selectors.admin import evidence_pairs, is_in_qa_sample, qa_result, queue_groups
from matches.services import bulk
from matches.services.decisions import decision_undo, group_claim, group_merge_approve, group_reject
from matches.services.qa import SampleRefused, qa_sample_draw, sample_ids
from tests.admin_helpers import bulk_evidence, run_with_scores

MERGE_SCORES = [0.95 + i * 0.0001 for i in range(300)]


def test_a_sample_is_deterministic_given_its_seed(domain, admin):
    run, groups = run_with_scores(domain, MERGE_SCORES + [0.5, 0.1])
    a = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.02"), seed=42)
    b = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.02"), seed=42)
    c = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.02"), seed=43)
    ids = lambda s: sorted(s.items.values_list("group_id", flat=True))  # noqa: E731
    assert a.size == 6 and a.population == 300  # ceil(2% of 300)
    assert ids(a) == ids(b) != ids(c)
    in_queue = set(queue_groups(run=run, policy=domain.policy(), queue="merge").values_list("pk", flat=True))
    assert set(ids(a)) <= in_queue
    # The draw does not depend on the order the population comes in.
    population = [g.pk for g in groups[:300]]
    assert sample_ids(population, rate=Decimal("0.02"), seed=42) == sample_ids(
        population[::-1], rate=Decimal("0.02"), seed=42
    )
    event = AuditEvent.objects.filter(action="qa_sample.drawn").first()
    assert event.details["seed"] == 42 and event.details["size"] == 6


def test_sampling_an_empty_queue_is_refused(domain, admin):
    run_with_scores(domain, [0.7])
    with pytest.raises(SampleRefused, match="reject queue is empty"):
        qa_sample_draw(actor=admin, domain=domain, queue="reject", rate=Decimal("0.5"), seed=1)


def test_sampled_groups_are_flagged_for_blind_review_and_precision_counts_agreement(domain, admin, steward):
    run, groups = run_with_scores(domain, [0.96, 0.97, 0.98, 0.99, 0.995, 0.5])
    sample = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("1"), seed=7)
    assert sample.size == 5
    assert is_in_qa_sample(groups[0]) and not is_in_qa_sample(groups[5])
    group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    group_merge_approve(group=groups[1], actor=steward, main_profile_id=groups[1].profile_ids[0])
    group_reject(group=groups[2], actor=steward)
    undone = group_merge_approve(group=groups[3], actor=steward, main_profile_id=groups[3].profile_ids[0])
    decision_undo(decision=undone, actor=steward)  # taken back: not decided any more
    result = qa_result(sample)
    assert (result.decided, result.agreed, result.pending) == (3, 2, 2)
    assert result.precision == pytest.approx(2 / 3)
    assert result.lower == pytest.approx(0.207655, abs=1e-4)  # Wilson 2/3: 0.2077 - 0.9385
    assert result.upper == pytest.approx(0.938510, abs=1e-4)


def test_bulk_approval_writes_one_bulk_decision_per_group_and_none_is_evidence(domain, admin, steward):
    run, groups = run_with_scores(domain, [0.96, 0.97, 0.98, 0.99, 0.4])
    evidence = [(g.confidence_score, True) for g in bulk_evidence(run, steward, queues=["merge"])]
    # A steward's own decision on another group is evidence; it must stay so.
    group_reject(group=groups[4], actor=steward)
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=domain.policy().pk)
    assert job.total == 4
    job = bulk.bulk_job_execute(job_id=job.pk)
    assert (job.status, job.done, job.skipped) == ("done", 4, 0)
    decisions = Decision.objects.filter(group__in=groups[:4])
    assert decisions.count() == 4
    assert all(d.bulk and d.action == "merge" and d.actor == admin for d in decisions)
    assert sorted(d.group_id for d in decisions) == sorted(g.pk for g in groups[:4])
    assert set(MatchGroup.objects.filter(pk__in=[g.pk for g in groups[:4]]).values_list("status", flat=True)) == {
        "approved"
    }
    assert sorted(evidence_pairs(domain=domain)) == sorted([*evidence, (0.4, False)])
    assert AuditEvent.objects.filter(action="decision.merge", details__bulk=True).count() == 4
    assert AuditEvent.objects.filter(action="bulk.finished").get().details["done"] == 4


def test_bulk_reject_of_selected_groups_skips_claimed_decided_and_sampled_ones(domain, admin, steward, steward2):
    run, groups = run_with_scores(domain, [0.1, 0.2, 0.3, 0.4, 0.45, 0.5])
    bulk_evidence(run, steward, queues=["reject"])
    group_claim(group=groups[0], actor=steward)  # a steward is working on it
    group_reject(group=groups[1], actor=steward2)  # already decided
    qa_sample_draw(actor=admin, domain=domain, queue="reject", rate=Decimal("0.01"), seed=3)
    sampled = QASampleItem.objects.get().group_id
    selected = [g.pk for g in groups]
    job = bulk.bulk_job_create(
        actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk, group_ids=selected
    )
    job = bulk.bulk_job_execute(job_id=job.pk)
    assert job.total == 6 and job.done + job.skipped == 6
    expected_skips = {"claimed by a steward": 1, "already decided": 1}
    expected_skips["in a QA sample"] = 1 if sampled not in (groups[0].pk, groups[1].pk) else 0
    assert job.skip_reasons == {k: v for k, v in expected_skips.items() if v}
    bulk_rejected = set(Decision.objects.filter(bulk=True, action="reject").values_list("group_id", flat=True))
    assert bulk_rejected == set(selected) - {groups[0].pk, groups[1].pk, sampled}


def test_a_bulk_job_is_refused_when_the_thresholds_changed_since_confirmation(domain, admin):
    from matches.services.thresholds import threshold_set

    run_with_scores(domain, [0.99])
    confirmed = domain.policy().pk
    threshold_set(actor=admin, domain=domain, merge_min="0.999", reject_below="0.5")
    with pytest.raises(bulk.BulkRefused, match="thresholds changed"):
        bulk.bulk_job_create(actor=admin, domain=domain, queue="merge", policy_id=confirmed)
    assert not BulkJob.objects.exists()


def test_a_large_batch_runs_in_chunks_and_is_handed_to_a_worker(
    domain, admin, monkeypatch, celery_queue, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 20)  # the real limit is 200; the same path with fewer groups
    run, groups = run_with_scores(domain, [0.2 + i * 0.0001 for i in range(23)])
    bulk_evidence(run, admin, queues=["reject"])
    with django_capture_on_commit_callbacks(execute=True):
        job = bulk.bulk_job_create(actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk)
    assert job.total == 23 and job.status == "pending"
    assert celery_queue("matches.tasks.bulk_job_task") == [[job.pk]]
    # What the worker does, here in the test process: chunks of 100, a cursor, progress after each chunk.
    assert bulk.bulk_job_claim(job_id=job.pk)
    assert not bulk.bulk_job_claim(job_id=job.pk)  # a second worker does not run it twice
    job.refresh_from_db()
    job = bulk.bulk_job_run(job=job, chunk_size=10)
    assert (job.status, job.done, job.skipped, job.percent) == ("done", 23, 0, 100)
    assert job.cursor == max(g.pk for g in groups)
    assert Decision.objects.filter(bulk=True).count() == 23
    assert job.finished_at <= timezone.now()


def test_evidence_counts_the_latest_decision_and_undo_or_reopen_take_it_back(domain, admin, steward):
    from matches.services.decisions import group_reopen

    run, g = run_with_scores(domain, [0.91, 0.92, 0.93, 0.94, 0.95, 0.96])
    group_merge_approve(group=g[0], actor=steward, main_profile_id=g[0].profile_ids[0])  # merged
    group_reject(group=g[1], actor=steward)  # not merged
    undone = group_merge_approve(group=g[2], actor=steward, main_profile_id=g[2].profile_ids[0])
    decision_undo(decision=undone, actor=steward)  # taken back: no evidence
    group_reject(group=g[3], actor=steward)
    group_reopen(group=g[3], actor=steward)  # taken back: no evidence
    group_reject(group=g[4], actor=steward)
    group_reopen(group=g[4], actor=steward)
    group_merge_approve(group=g[4], actor=steward, main_profile_id=g[4].profile_ids[0])  # decided again: merged
    group_reject(group=g[5], actor=steward)
    group_reopen(group=g[5], actor=steward)
    group_reject(group=g[5], actor=admin, bulk=True)  # the latest decision is a bulk one: no evidence
    assert sorted(evidence_pairs(domain=domain)) == [(0.91, True), (0.92, False), (0.95, True)]
