"""The calibration sample's later rounds where the smooth curve is in use (matches/estimates/design.py): decisions go
where they shrink the uncertainty of the share at the lines most."""

from __future__ import annotations

import random
import statistics

import numpy as np

from bench import calibration as sim
from matches import estimates as es
from matches.estimates.design import curve_design, reachable_line


def _edges():
    return es.strata_edges()


def _one_unknown(seed: int) -> np.ndarray:
    """400 draws of the chance that hurts: one unknown a per draw, chance a at 0.10-0.15 and a / 10 from 0.50 up."""
    a = np.random.default_rng(seed).uniform(0.0, 1.0, 400)
    hurt = np.full((400, es.BINS), 0.01)
    hurt[:, 100:150] = a[:, None]
    hurt[:, 500:] = a[:, None] / 10
    return hurt


def test_decisions_go_to_the_stratum_that_says_most_about_the_queue_even_outside_it():
    # A decision at 0.10-0.15 tells about a ten times better than one inside the queue (0.50 up), whose coin tosses
    # are nearly all heads.
    hurt = _one_unknown(seed=3)
    unknown = np.zeros(es.BINS)
    unknown[500:] = 2
    unknown[100:150] = 1
    avail = unknown.copy()
    room = [int(avail[lo:hi].sum()) for lo, hi in _edges()]
    extra = curve_design([(hurt, 500, True)], unknown, avail, _edges(), room, 10)
    assert sum(extra) == 10
    assert extra[2] == 10, extra


def test_the_design_stops_at_what_a_stratum_can_give_and_spends_the_rest_elsewhere():
    hurt = _one_unknown(seed=4)
    unknown = np.zeros(es.BINS)
    unknown[500:] = 2
    avail = unknown.copy()
    avail[100:103] = 1  # three groups left to draw at 0.10-0.15
    room = [int(avail[lo:hi].sum()) for lo, hi in _edges()]
    extra = curve_design([(hurt, 500, True)], unknown, avail, _edges(), room, 10)
    assert extra[2] == 3
    assert sum(extra) == 10
    assert all(e <= r for e, r in zip(extra, room, strict=True))
    assert sum(extra[10:]) == 7  # the queue itself, where its own coin tosses still leave the count


def test_the_reachable_line_is_the_furthest_within_half_the_target():
    estimate = np.linspace(0.2, 0.0, es.BINS)  # merge side: falls as the line rises
    groups = np.arange(es.BINS)[::-1]
    line = reachable_line(estimate, groups, 0.01, merge=True)
    assert line is not None and estimate[line] <= 0.005 < estimate[line - 1]
    assert reachable_line(np.full(es.BINS, 0.5), groups, 0.01, merge=True) is None


def test_without_the_curve_the_draw_is_the_needs_based_one():
    rng = random.Random(4)
    scores = [rng.uniform(0.6, 1.0) for _ in range(3000)] + [rng.uniform(0.0, 0.4) for _ in range(1000)]
    labels = [es.Label.merged(s) for s in rng.sample(scores[:3000], 60)]
    hist = [0] * es.BINS
    for s in scores:
        hist[es.score_bin(s)] += 1
    est = es.Estimates(hist, labels, smooth=False)
    assert es.allocate(hist, 100, estimates=est, design=True) == es.allocate(hist, 100, estimates=est, design=False)


def _second_round_bound(world, design: bool, seed: int) -> float:
    """The 95% bound on wrong merges at the truth's merge line after a two-round sample of 120 decisions."""
    rng = random.Random(seed)
    first = sim.calibration_draw(world, 60, rng)
    est = sim._estimate(world, first)
    hist = world.histogram()
    available = hist.copy()
    for i in first:
        available[world.bins[i]] -= 1
    strata = es.allocate(hist, 60, estimates=est, available=available, design=design)
    taken = set(first)
    candidates: dict[int, list[int]] = {}
    for i in range(world.size):
        if i not in taken:
            candidates.setdefault(int(world.bins[i]), []).append(i)
    second = es.draw_sample(candidates, strata, seed=rng.randrange(2**31))
    line, _ = world.truth_lines(0.01, 0.05)
    return sim._estimate(world, first + second, seed=seed).wrong_merges(line).upper


def test_the_design_tightens_the_bound_at_the_line_more_than_the_needs_do():
    world = sim.emulator_world(seed=1, customers=600, scenario="linkage")
    designed = [_second_round_bound(world, True, seed) for seed in range(16)]
    needs = [_second_round_bound(world, False, seed) for seed in range(16)]
    assert statistics.median(designed) < statistics.median(needs), (designed, needs)
