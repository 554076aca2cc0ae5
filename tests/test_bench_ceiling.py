"""The arithmetic of bench/ceiling.py: the limit any method meets at a small budget (docs/thresholds.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.calibration import World, emulator_world
from bench.ceiling import breaking_slope, ceiling, fade, fewest_to_break, isotonic, missed_all, slope_p_value


@pytest.mark.parametrize("pool, changed", [(6, 2), (7, 3), (5, 1)])
def test_the_chance_of_missing_every_changed_group_is_the_hypergeometric_count(pool, changed):
    bad = set(range(changed))
    for drawn in range(pool + 1):
        draws = list(itertools.combinations(range(pool), drawn))
        share = sum(not bad & set(d) for d in draws) / len(draws)
        assert missed_all(pool, changed, drawn) == pytest.approx(share)
    assert missed_all(10, 0, 5) == 1.0 and missed_all(3, 5, 0) == 0.0  # nothing to miss; a pool too small to break


def test_the_fewest_bad_groups_that_break_every_line():
    # Lines holding 100 and 300 groups with 0 and 2 bad: 1% allows 1 and 3, so 2 more break the first, 2 the second.
    assert fewest_to_break(np.array([0, 2]), np.array([100, 300]), 0.01) == 2
    assert fewest_to_break(np.array([1]), np.array([100]), 0.01) == 1


def _with_changed(world: World, one: np.ndarray | None = None, dup: np.ndarray | None = None) -> World:
    return World(world.bins, world.one if one is None else one, world.dup if dup is None else dup)


@pytest.fixture(scope="module")
def world():
    """A run like a record-linkage benchmark's (225 groups), where both lines have room to move."""
    return emulator_world(seed=1, customers=600, scenario="linkage")


def test_the_changed_worlds_make_every_line_within_the_slack_unsafe_and_no_fewer_would(world):
    limit = ceiling(world, 50)
    assert limit is not None
    merge, reject = world.truth_lines(0.01, 0.05)
    allowed = world.review_share(merge, reject) + 0.10
    assert world.review_share(limit.t_max, reject) <= allowed < world.review_share(limit.t_max + 1, reject)
    assert world.review_share(merge, limit.r_min) <= allowed < world.review_share(merge, limit.r_min - 1)
    rng = np.random.default_rng(0)
    pool_m = np.nonzero((world.bins >= limit.t_max) & world.one)[0]
    pool_r = np.nonzero((world.bins < limit.r_min) & ~world.dup)[0]
    assert (len(pool_m), len(pool_r)) == (limit.merge_pool, limit.reject_pool)
    for f, broken in ((limit.merge_changed, True), (limit.merge_changed - 1, False)):
        one = world.one.copy()
        one[rng.choice(pool_m, f, replace=False)] = False
        shares = [_with_changed(world, one=one).wrong_share(m) for m in range(merge, limit.t_max + 1)]
        assert (min(shares) > 0.01) is broken
    for f, broken in ((limit.reject_changed, True), (limit.reject_changed - 1, False)):
        dup = world.dup.copy()
        dup[rng.choice(pool_r, f, replace=False)] = True
        shares = [_with_changed(world, dup=dup).missed_share(r) for r in range(limit.r_min, reject + 1)]
        assert (min(shares) > 0.05) is broken


def test_the_bound_follows_from_the_best_split_of_the_budget(world):
    small, large = ceiling(world, 20), ceiling(world, 400)
    assert small is not None and large is not None
    best = min(
        missed_all(small.merge_pool, small.merge_changed, a)
        + missed_all(small.reject_pool, small.reject_changed, 20 - a)
        for a in range(21)
    )
    assert small.fooled == pytest.approx(best)
    assert small.unsafe_at_least == pytest.approx(max(0.0, 0.5 - 0.2 / best))
    assert large.fooled < small.fooled  # more decisions, less chance of missing every changed group
    assert math.isclose(ceiling(world, 0).fooled, 2.0)  # nothing decided: fooled on both sides


def test_the_isotonic_fit_pools_adjacent_violators():
    x = np.array([0.5, 0.1, 0.2, 0.3, 0.4, 0.6])
    y = np.array([0, 1, 0, 1, 1, 1])  # in score order: 1, 0, 1, 1, 0, 1
    fit = isotonic(x, y)
    # (1, 0) pool to 0.5; (1, 1, 0) then pool to 2/3; the last stays 1.
    assert fit[np.argsort(x)] == pytest.approx([0.5, 0.5, 2 / 3, 2 / 3, 2 / 3, 1.0])


def test_the_breaking_fade_is_the_steepest_that_still_reaches_the_target():
    undecided = np.linspace(0.6, 1.0, 200)
    slope = breaking_slope(0.5, 0, undecided, 400, 0.01)

    def share(k):
        return (1 / (1 + np.exp(k * (undecided - 0.5)))).sum() / 400

    assert share(slope) >= 0.01 > share(slope * 1.01)
    assert breaking_slope(0.5, 0, np.array([]), 400, 0.01) == float("inf")  # nothing undecided, nothing wrong
    assert breaking_slope(0.5, 5, undecided, 400, 0.01) == 1000.0  # the known wrong merges alone exceed it


def test_decisions_from_a_steep_curve_rule_a_gentle_one_out_and_keep_their_own():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.5, 1.0, 400)
    wrong = rng.random(400) < 1 / (1 + np.exp(30 * (scores - 0.55)))
    assert slope_p_value(scores, wrong, 0.55, 8.0) < 0.001
    assert slope_p_value(scores, wrong, 0.55, 30.0) > 0.05
    assert slope_p_value(scores, wrong, 0.55, 200.0) > 0.5  # steeper than the decisions say: nothing to rule out


def test_a_near_census_rules_the_breaking_fade_out_and_a_small_sample_does_not(world):
    limit = ceiling(world, 50)
    small, census = fade(world, 50, 11, limit.t_max), fade(world, 200, 5, limit.t_max)
    assert small.likely >= 0.05 > census.likely
    assert 0.4 < small.middle < 0.7
