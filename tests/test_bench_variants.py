"""The measured alternatives of bench/variants.py change what they say they change, and only inside their block."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bench import calibration as cb
from bench import variants
from matches.estimates import curve as cv
from matches.estimates import design, sampling
from matches.estimates.model import BINS


@pytest.fixture(scope="module")
def world() -> cb.World:
    return cb.emulator_world(seed=1, customers=600, scenario="linkage")


def test_aim_moves_the_merge_sides_design_line_to_where_the_estimate_meets_the_target_and_is_undone_after():
    estimate = np.linspace(0.04, 0.0, BINS)  # falls as the line rises
    groups = np.ones(BINS)
    half = design.reachable_line(estimate, groups, 0.01, merge=True)
    with variants.variant("aim"):
        aimed = sampling.reachable_line(estimate, groups, 0.01, merge=True)
        reject = sampling.reachable_line(estimate, groups, 0.01, merge=False)
    assert aimed is not None and half is not None
    assert estimate[aimed] <= 0.01 < estimate[aimed - 1]
    assert aimed < half
    assert reject == design.reachable_line(estimate, groups, 0.01, merge=False)  # the reject side as it was
    assert sampling.reachable_line is design.reachable_line


def test_one_slope_gives_every_draw_one_steepness_on_both_sides(world):
    rng = np.random.default_rng(3)
    decided = cb.decide(world, "calibration", 100, random.Random(3))
    n_bin = np.bincount(world.bins[decided], minlength=BINS).astype(float)
    k_bin = np.bincount(world.bins[decided], weights=world.one[decided], minlength=BINS)
    population = world.histogram()
    original = cv._log_posterior
    with variants.variant("one-slope"):
        fitted = cv.Curve.fit(n_bin, k_bin, population, rng, 2000)
    free = cv.Curve.fit(n_bin, k_bin, population, np.random.default_rng(3), 2000)
    # Draws are spread within their grid cell: one cell's width apart at most, on each link's own grid.
    steps = np.array([np.log(link.slopes[1] / link.slopes[0]) for link in cv.LINKS])
    assert (np.abs(np.log(fitted.low / fitted.high)) <= steps[fitted.link] + 1e-9).all()
    assert (np.abs(np.log(free.low / free.high)) > 3 * steps[free.link]).any()  # the app's curve has pairs
    assert cv._log_posterior is original


def test_flat_gives_every_slope_the_same_prior_mass_and_flat_high_only_the_slope_above_the_middle(world):
    population = world.histogram()
    cauchy = cv.slope_prior(population, cv.LINKS[0])
    assert np.ptp(cauchy) > 1  # the app's prior prefers some slopes
    with variants.variant("flat"):
        flat = cv.slope_prior(population, cv.LINKS[0])
    assert np.allclose(flat, flat[0]) and np.isclose(np.exp(flat).sum(), 1)
    assert np.allclose(cv.slope_prior(population, cv.LINKS[0]), cauchy)  # undone after the block
    # With no decision the posterior is the prior: above the middle flat in the two-slope half, below it not.
    none = np.zeros(0)
    with variants.variant("flat-high"):
        grid = cv._log_posterior(cv.LINKS[0], none, none, none, population)[0]
    mass = np.exp(grid)  # below the middle x above it
    above = mass[0, 1:]  # the slope below held at the first, the one above varying (off the single-slope diagonal)
    below = mass[1:, 0]  # and the other way round
    assert np.allclose(above / above[0], 1)
    assert np.ptp(np.log(below)) > 1


def test_transition_draws_its_second_round_from_the_transition_scores_only(world):
    with variants.variant("transition"):
        decided = cb.decide(world, "calibration", 100, random.Random(5))
    first = cb.calibration_draw(world, 50, random.Random(5))
    assert decided[:50] == first
    later = world.bins[decided[50:]]
    in_range = (world.bins >= 450) & (world.bins < 700)
    pool = int(in_range.sum() - in_range[first].sum())
    assert len(later) == min(50, pool) > 0 and ((later >= 450) & (later < 700)).all()
    assert len(set(decided)) == len(decided)
    assert cb.calibration_rounds is not variants.transition_rounds


def test_flat_high_overlap_draws_a_fifth_of_its_second_round_between_the_lines_the_first_could_reach(world):
    rng = random.Random(9)
    first = cb.calibration_draw(world, 50, random.Random(9))
    est = cb._estimate(world, first)
    merge = design.reachable_line(est.merge_side["estimate"], est.merge_groups, 0.01, True)
    reject = design.reachable_line(est.reject_side["estimate"], est.reject_groups, 0.05, False)
    with variants.variant("flat-high-overlap"):
        assert cv._log_posterior is variants.flat_high_posterior
        decided = cb.decide(world, "calibration", 100, rng)
    assert decided[:50] == first and len(set(decided)) == 100
    middle = world.bins[decided[50:60]]
    assert ((middle >= (reject or 0)) & (middle < merge)).all()
    assert cb.calibration_rounds is not variants.overlap_rounds


def test_the_profile_bound_is_the_true_share_when_every_group_is_decided_and_nothing_without_decisions(world):
    population = world.histogram()
    n_bin = population.copy()
    one = np.bincount(world.bins, weights=world.one, minlength=BINS)
    bound = variants.profile_bounds(population, n_bin, one, merge=True)
    for line in (300, 500, 556, 650, 900):
        assert bound[line] == pytest.approx(world.wrong_share(line), abs=1e-12)
    assert (variants.profile_bounds(population, np.zeros(BINS), np.zeros(BINS), merge=True) == 1).all()


def test_the_profile_bound_is_never_below_what_the_decisions_already_show(world):
    decided = cb.decide(world, "calibration", 100, random.Random(7))
    population = world.histogram()
    n_bin = np.bincount(world.bins[decided], minlength=BINS).astype(float)
    dup = np.bincount(world.bins[decided], weights=world.dup[decided], minlength=BINS)
    bound = variants.profile_bounds(population, n_bin, dup, merge=False)
    seen = cv.side_sum(dup, False) / np.maximum(cv.side_sum(population, False), 1)
    assert (bound >= seen - 1e-12).all()
    m, r = variants.profile_lines(world, decided, 0.01, 0.05)
    assert m is None or r is None or r <= m
