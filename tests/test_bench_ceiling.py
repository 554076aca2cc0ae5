"""The arithmetic of bench/ceiling.py: the limit any method meets at a small budget (docs/thresholds.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.calibration import World, emulator_world
from bench.ceiling import ceiling, fewest_to_break, missed_all


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
