"""Which decisions count for the estimates, and how (matches/selectors/estimates.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from matches.models import MatchGroup, MatchRun
from matches.selectors import estimates as estimate_reads
from matches.services.decisions import decision_undo, group_merge_approve, group_reject, group_split
from tests.admin_helpers import run_with_scores
from tests.factories import MatchGroupFactory, hex_id

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


def merge(group, actor):
    return group_merge_approve(group=group, actor=actor, main_profile_id=group.profile_ids[0])


def test_merge_split_and_reject_become_labels_and_bulk_or_undone_ones_do_not(steward, domain):
    run, groups = run_with_scores(domain, [0.97, 0.9, 0.4, 0.99, 0.98])
    merge(groups[0], steward)
    three = MatchGroupFactory(run=run, confidence_score=0.85, profile_ids=sorted(hex_id(900 + i) for i in range(3)))
    group_split(
        group=three, actor=steward, keep_profile_ids=three.profile_ids[:2], main_profile_id=three.profile_ids[0]
    )
    group_reject(group=groups[2], actor=steward)
    group_merge_approve(group=groups[3], actor=steward, main_profile_id=groups[3].profile_ids[0], bulk=True)
    undone = merge(groups[4], steward)
    decision_undo(decision=undone, actor=steward)
    labels = sorted(estimate_reads.run_labels(run), key=lambda label: label.score)
    assert [(lb.score, lb.one_person, lb.duplicate, lb.in_run) for lb in labels] == [
        (0.4, False, False, True),
        (0.85, False, True, True),
        (0.97, True, True, True),
    ]


def test_earlier_runs_count_only_when_included_with_their_decision_time_score(steward, domain):
    # Decided while their run was current; a newer pull then replaced it (a superseded run refuses decisions).
    old, old_groups = run_with_scores(domain, [0.91, 0.3])
    merge(old_groups[0], steward)
    group_reject(group=old_groups[1], actor=steward)
    MatchRun.objects.filter(pk=old.pk).update(status=MatchRun.Status.SUPERSEDED)
    run, groups = run_with_scores(domain, [0.95, 0.5])
    merge(groups[0], steward)
    alone = estimate_reads.run_estimates(domain=domain)
    assert (alone.in_run, alone.earlier, alone.runs_used) == (1, 0, [run.pk])
    both = estimate_reads.run_estimates(domain=domain, include=[old.pk, 999_999])
    assert (both.in_run, both.earlier, both.runs_used) == (1, 2, [run.pk, old.pk])
    earlier = sorted(lb.score for lb in estimate_reads.run_labels(run, [old.pk]) if not lb.in_run)
    assert earlier == [0.3, 0.91]
    assert [r.pk for r in estimate_reads.earlier_runs(domain, run)] == [old.pk]


def test_a_carried_over_group_is_known_through_its_earlier_decision(steward, domain):
    old, (rejected,) = run_with_scores(domain, [0.55])
    decision = group_reject(group=rejected, actor=steward)
    MatchRun.objects.filter(pk=old.pk).update(status=MatchRun.Status.SUPERSEDED)
    run, (carried,) = run_with_scores(domain, [0.56])
    MatchGroup.objects.filter(pk=carried.pk).update(status=MatchGroup.Status.CARRIED_OVER, linked_decision=decision)
    (label,) = estimate_reads.run_labels(run)
    assert (label.score, label.duplicate, label.in_run) == (0.56, False, True)


def test_the_policy_line_reads_like_the_issue_asks(steward, domain):
    run, groups = run_with_scores(domain, [0.96 + i / 1000 for i in range(30)] + [0.2] * 10)
    for g in groups[:30]:
        merge(g, steward)
    line = estimate_reads.policy_line(domain=domain)
    assert line.decisions == 30
    assert line.merge_text.startswith("merge queue: est. ") and "wrong, 95% ≤ " in line.merge_text
    assert line.source_text == "from 30 decisions"
    # Every merge-queue group decided and right: exactly no wrong merge.
    assert line.merge_estimate == 0.0 and line.merge_upper == 0.0
    # No decision below 0.60: the reject queue's bound is wide open.
    assert line.reject_upper > 0.5


def test_the_policy_line_claims_no_estimate_before_any_decision(domain):
    run_with_scores(domain, [0.96, 0.7, 0.2])
    line = estimate_reads.policy_line(domain=domain)
    assert line.decisions == 0 and line.merge_estimate > 0  # the prior's middle, not evidence
    assert line.merge_text == "merge queue: share of wrong merges not known yet"
    assert line.reject_text == "reject queue: share of real duplicates not known yet"
    assert line.source_text == "no decisions in this run yet"


def test_tradeoff_chart_draws_both_curves_and_the_lines(steward, domain):
    run, groups = run_with_scores(domain, [i / 100 for i in range(100)])
    for g in groups[::3]:
        (merge if g.confidence_score >= 0.5 else lambda g, a: group_reject(group=g, actor=a))(g, steward)
    result = estimate_reads.run_estimates(domain=domain)
    chart = estimate_reads.tradeoff_chart(result, "0.900", "0.300")
    assert chart["merge"]["estimate"].count(",") > 50 and chart["reject"]["band"].count(",") > 50
    assert [line["queue"] for line in chart["lines"]] == ["merge", "reject"]
    xs = [float(p.split(",")[0]) for p in chart["merge"]["estimate"].split()]
    assert min(xs) >= chart["lines"][1]["x"] - 1e-9  # the merge curve lives right of the reject line


def test_tradeoff_chart_draws_no_expected_share_before_any_decision(domain):
    run_with_scores(domain, [i / 100 for i in range(100)])
    result = estimate_reads.run_estimates(domain=domain)
    chart = estimate_reads.tradeoff_chart(result, "0.900", "0.300")
    assert not chart["known"]
    assert chart["merge"]["estimate"] == chart["merge"]["upper"] == ""
    assert chart["reject"]["estimate"] == chart["reject"]["upper"] == ""
    # The bands still say how little is known: from the chart's floor to its top at every line drawn.
    top_y, floor_y = chart["plot"]["y"], chart["plot"]["bottom"]
    ys = {float(p.split(",")[1]) for p in chart["merge"]["band"].split()}
    assert ys == {top_y, floor_y}
    assert chart["review_merge"]  # the workload is exact and always drawn
