"""Calibration samples and what "next" serves (services/calibration.py, services/work.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache

from matches import estimates as es
from matches.models import AuditEvent, CalibrationItem, CalibrationSample, MatchGroup
from matches.selectors import estimates as estimate_reads
from matches.selectors.admin import qa_sampled_group_ids
from matches.services import calibration, work
from matches.services.decisions import group_claim, group_merge_approve, group_reject
from matches.services.qa import qa_sample_draw
from tests.admin_helpers import realistic_scores, run_with_scores

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def run_groups(domain):
    return run_with_scores(domain, realistic_scores(300, seed=4))


def items(sample: CalibrationSample) -> list[MatchGroup]:
    return list(MatchGroup.objects.filter(calibration_items__sample=sample).order_by("pk"))


def next_for(actor, run, domain, queue="review", exclude=()):
    return work.next_group_claim(actor=actor, run=run, policy=domain.policy(), queue=queue, exclude=list(exclude))


def test_a_sample_draws_its_first_round_across_the_range_and_is_audited(admin, domain, run_groups):
    run, groups = run_groups
    sample = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=60, seed=3)
    drawn = items(sample)
    assert sample.drawn == len(drawn) == 30 and sample.run == run
    strata = {es.score_bin(g.confidence_score) // es.STRATUM_MILLI for g in drawn}
    populated = {es.score_bin(g.confidence_score) // es.STRATUM_MILLI for g in groups}
    assert len(strata) >= min(len(populated), 30) - 1  # at least one from (nearly) every populated stratum
    event = AuditEvent.objects.get(action="calibration_sample.drawn")
    assert event.details["budget"] == 60 and event.details["seed"] == 3 and event.details["size"] == 30
    assert sum(d for _, _, d in event.details["strata"]) == 30


def test_the_same_seed_draws_the_same_groups(admin, domain, run_groups):
    a = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=40, seed=9)
    b = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=40, seed=9)
    c = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=40, seed=10)
    assert [g.pk for g in items(a)] == [g.pk for g in items(b)] != [g.pk for g in items(c)]


@pytest.mark.parametrize("budget", [0, -3, "many", 6000])
def test_a_budget_out_of_range_is_refused(admin, domain, run_groups, budget):
    with pytest.raises(calibration.SampleRefused):
        calibration.calibration_sample_draw(actor=admin, domain=domain, budget=budget)
    assert not CalibrationSample.objects.exists()


def test_no_completed_run_no_sample(admin, domain):
    with pytest.raises(calibration.SampleRefused, match="no completed pull"):
        calibration.calibration_sample_draw(actor=admin, domain=domain, budget=10)


def test_next_serves_the_sample_first_in_any_queue(admin, steward, domain, run_groups):
    run, _ = run_groups
    sample = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=20, seed=1)
    drawn = {g.pk for g in items(sample)}
    for queue in ("merge", "review", "reject"):
        group, source = next_for(steward, run, domain, queue, exclude=[])
        assert source in ("sample", "own") and group.pk in drawn
    assert estimate_reads.is_in_calibration_sample(group)
    # Bulk decisions leave sample groups to people.
    assert qa_sampled_group_ids(drawn) == drawn


def test_the_own_claim_comes_before_the_sample(admin, steward, domain, run_groups):
    run, groups = run_groups
    calibration.calibration_sample_draw(actor=admin, domain=domain, budget=20, seed=1)
    mine = next(g for g in groups if not g.calibration_items.exists())
    assert group_claim(group=mine, actor=steward)
    group, source = next_for(steward, run, domain)
    assert (group.pk, source) == (mine.pk, "own")
    # Another steward's claim is not served to this one.
    other, _ = next_for(admin, run, domain)
    assert other.pk != mine.pk


def test_qa_sample_groups_come_before_the_queue(admin, steward, domain, run_groups):
    run, _ = run_groups
    sample = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.05"), seed=2)
    group, source = next_for(steward, run, domain, "review")
    assert source == "sample" and group.qa_items.filter(sample=sample).exists()


def test_without_samples_next_is_the_queue_in_its_order(steward, domain, run_groups):
    run, groups = run_groups
    group, source = next_for(steward, run, domain, "review")
    review = [g for g in groups if 0.6 <= g.confidence_score < 0.95]
    assert source == "queue" and group.confidence_score == max(g.confidence_score for g in review)


def decide_all(sample, steward):
    for g in items(sample):
        g.refresh_from_db()
        if g.status == MatchGroup.Status.OPEN:
            if g.confidence_score >= 0.7:
                group_merge_approve(group=g, actor=steward, main_profile_id=g.profile_ids[0])
            else:
                group_reject(group=g, actor=steward)


def test_the_second_round_is_drawn_with_the_first_rounds_evidence_then_the_sample_closes(
    admin, steward, domain, run_groups
):
    run, _ = run_groups
    sample = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=30, seed=5)
    decide_all(sample, steward)
    group, source = next_for(steward, run, domain)
    sample.refresh_from_db()
    assert source == "sample" and sample.drawn == 30
    assert CalibrationItem.objects.filter(sample=sample, round=2).count() == 15
    assert AuditEvent.objects.filter(action="calibration_sample.round_drawn").count() == 1
    decide_all(sample, steward)
    group, source = next_for(steward, run, domain)
    sample.refresh_from_db()
    assert source == "queue" and sample.closed_at is not None
    closed = AuditEvent.objects.get(action="calibration_sample.closed")
    assert closed.details == {"reason": "spent", "drawn": 30}
    # Its decisions are the estimates' evidence (30 of them, from this run).
    result = estimate_reads.run_estimates(domain=domain)
    assert result.in_run == 30 and result.earlier == 0


def test_stopping_a_sample_returns_its_groups_to_their_queues(admin, steward, domain, run_groups):
    run, _ = run_groups
    sample = calibration.calibration_sample_draw(actor=admin, domain=domain, budget=20, seed=1)
    calibration.calibration_sample_close(sample=sample, actor=admin)
    calibration.calibration_sample_close(sample=sample, actor=admin)  # twice: one event
    assert AuditEvent.objects.filter(action="calibration_sample.closed").count() == 1
    assert not any(estimate_reads.is_in_calibration_sample(g) for g in items(sample))
    _, source = next_for(steward, run, domain)
    assert source == "queue"
