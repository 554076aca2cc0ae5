"""Departures from the smooth curve per score stratum (matches/estimates/departure.py): pure, no database."""

from __future__ import annotations

import random

import numpy as np

from matches import estimates as es
from matches.estimates.departure import STRATUM, departed, ordered

DRAWS = 400
BIN_SCORE = (np.arange(es.BINS) + 0.5) / 1000


def curve_log_odds(middle: float = 0.55, steepness: float = 30.0) -> np.ndarray:
    """Every draw the same logistic curve in the score: the departures alone vary."""
    return np.tile(steepness * (BIN_SCORE - middle), (DRAWS, 1))


def decisions_like(chance: np.ndarray, per_stratum: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`per_stratum` decisions in each 0.05 stratum, spread over its bins, outcomes drawn from `chance`."""
    n = np.zeros(es.BINS)
    for stratum in range(20):
        bins = rng.choice(np.nonzero(STRATUM == stratum)[0], per_stratum)
        np.add.at(n, bins, 1)
    return n, rng.binomial(n.astype(int), chance).astype(float)


def stratum_mean(p: np.ndarray, stratum: int) -> float:
    return float(p[:, STRATUM == stratum].mean())


def test_decisions_that_follow_the_curve_leave_it_nearly_as_it_is():
    rng = np.random.default_rng(1)
    eta = curve_log_odds()
    n, k = decisions_like(1 / (1 + np.exp(-eta[0])), 20, rng)
    p = departed(eta, n, k, rng)
    curve = 1 / (1 + np.exp(-eta))
    # Strata near the middle, where a departure would move a share most: within a few points of the curve, and the
    # draws barely spread beyond what the curve itself says (every curve draw here is the same).
    for stratum in (9, 10, 11, 12):
        assert abs(stratum_mean(p, stratum) - stratum_mean(curve, stratum)) < 0.04, stratum
        assert float(p[:, STRATUM == stratum].std(axis=0).mean()) < 0.08, stratum


def test_a_stratum_whose_decisions_disagree_moves_towards_them_and_widens():
    rng = np.random.default_rng(2)
    eta = curve_log_odds()
    truth = 1 / (1 + np.exp(-eta[0]))
    truth[STRATUM == 9] = 0.35  # a shoulder at 0.45-0.50: the curve says 5-18%
    n, k = decisions_like(truth, 20, rng)
    n[STRATUM == 9] = 0
    k[STRATUM == 9] = 0
    n[470], k[470] = 40, 14
    p = departed(eta, n, k, rng)
    curve = 1 / (1 + np.exp(-eta))
    assert stratum_mean(curve, 9) < 0.15
    assert 0.2 < stratum_mean(p, 9) < 0.45
    # Every draw of the curve is the same here: the spread across draws is the departure's own uncertainty.
    assert float(p[:, STRATUM == 9].std(axis=0).mean()) > 0.03
    # And far from the shoulder the curve stays where its agreeing decisions hold it.
    assert abs(stratum_mean(p, 15) - stratum_mean(curve, 15)) < 0.04


def test_few_decisions_in_a_stratum_move_it_less_than_many():
    eta = curve_log_odds()
    moved = []
    for count in (5, 80):
        rng = np.random.default_rng(3)
        n, k = decisions_like(1 / (1 + np.exp(-eta[0])), 10, rng)
        n[STRATUM == 9], k[STRATUM == 9] = 0, 0
        n[470], k[470] = count, round(0.3 * count)
        moved.append(stratum_mean(departed(eta, n, k, rng), 9))
    assert moved[0] < moved[1]


def test_order_is_restored_the_way_unfavourable_to_each_side():
    p = np.array([[0.1, 0.3, 0.2, 0.6, 0.5, 0.9]])
    reject = ordered(p, merge=False)  # the hurt is p: never lower than any bin below
    merge = ordered(p, merge=True)  # the hurt is 1 - p: p never higher than any bin above
    assert reject.tolist() == [[0.1, 0.3, 0.3, 0.6, 0.6, 0.9]]
    assert merge.tolist() == [[0.1, 0.2, 0.2, 0.5, 0.5, 0.9]]
    assert (np.diff(reject) >= 0).all() and (np.diff(merge) >= 0).all()
    assert (reject >= p).all() and (merge <= p).all()


def shoulder_world(seed: int) -> tuple[random.Random, list[float], list[bool]]:
    """3,000 groups, duplicates logistic in the score but for a shoulder: at 0.40-0.50 a flat 35%, more than any
    S-curve through the rest allows."""
    rng = random.Random(seed)
    scores, truth = [], []
    for _ in range(3000):
        s = rng.random()
        chance = 0.35 if 0.40 <= s < 0.50 else 1 / (1 + np.exp(-(s - 0.6) * 20))
        scores.append(s)
        truth.append(rng.random() < chance)
    return rng, scores, truth


def test_a_shoulder_below_the_middle_does_not_make_the_reject_suggestion_unsafe():
    """End to end, 20 runs of 400 decisions at random: the curve alone (no departures) suggested a reject line with
    more than 5% real duplicates below it in 3 of them, and its bound missed the real share there; with the
    departures, none."""
    unsafe = missed = 0
    for seed in range(20):
        rng, scores, truth = shoulder_world(seed)
        hist = [0] * es.BINS
        for s in scores:
            hist[es.score_bin(s)] += 1
        labels = [es.Label(scores[i], truth[i], truth[i]) for i in rng.sample(range(len(scores)), 400)]
        est = es.Estimates(hist, labels)
        line = est.suggest_reject_below(0.05)
        if line is None:
            continue
        below = [t for s, t in zip(scores, truth, strict=True) if es.score_bin(s) < line]
        real = sum(below) / len(below)
        unsafe += real > 0.05
        missed += est.missed_duplicates(line).upper < real
    assert unsafe <= 1 and missed <= 1, (unsafe, missed)
