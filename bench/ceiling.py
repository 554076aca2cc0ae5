"""What no method can do at a small budget: the limit behind "within 10 points of the truth's lines" (issue 12).

A run W fixes every group's score; its truth says which are one person. The lines chosen knowing the truth leave a
review share R; suppose a method, from `budget` decisions, suggests lines leaving at most R + `slack` in review in
at least half the repetitions (the median, as `bench calibration` reports it), while its bounds stay safe. On W that
needs a merge line at or below t_max (the highest line that, with the truth's reject line, stays within R + slack)
and a reject line at or above r_min (the same from the other side).

Now change the truth, not the scores: W_m turns f_m of the one-person groups at or above t_max, chosen at random,
into groups that are not (the fewest that make every merge line at or below t_max exceed the target); W_r turns
f_r of the groups below r_min without a duplicate into duplicates. A method that decided none of the changed groups
saw exactly what it would have seen on W, so it suggests what it would have suggested there: an unsafe line. Having
decided a of the pool's P groups, it missed all f changed ones with the hypergeometric chance
h(a) = C(P - f, a) / C(P, a), whatever it chose (the changed ones are a random subset). Splitting the budget between
the two pools at best, the chance of being fooled is at least S = min over a of h_m(a) + h_r(budget - a).

So with u the method's own chance of an unsafe line on W: P(unsafe on W_m) + P(unsafe on W_r) >= (0.5 - u) * S.
Allowing 10% unsafe on each side (the simulation tests' promise), (0.5 - u) * S <= 0.2, hence u >= 0.5 - 0.2 / S:
where S is near 2/3 a method within 10 points must already be unsafe about 20% of the time on W, the whole allowance
of both sides. Pure arithmetic on the world's truth; no estimator involved.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from bench.calibration import World
from matches.estimates.model import pava


@dataclass(frozen=True)
class Ceiling:
    t_max: int  # highest merge line within the slack (score bin)
    r_min: int  # lowest reject line within the slack
    merge_pool: int
    merge_changed: int  # f_m: one-person groups at or above t_max to turn (more than the pool: cannot be broken)
    reject_pool: int
    reject_changed: int  # f_r
    fooled: float  # S
    unsafe_at_least: float  # the lower bound on u: 0.5 - 0.2 / S (0 if negative)


def missed_all(pool: int, changed: int, drawn: int) -> float:
    """The chance that `drawn` distinct groups out of `pool` include none of `changed` chosen at random."""
    if changed <= 0:
        return 1.0
    if drawn > pool - changed:
        return 0.0
    chance = 1.0
    for i in range(drawn):
        chance *= (pool - changed - i) / (pool - i)
    return chance


def fewest_to_break(bad: np.ndarray, size: np.ndarray, target: float) -> int:
    """The fewest extra bad groups that put every line's share (bad + f) / size above the target."""
    need = np.floor(target * size - bad).astype(int) + 1
    return int(max(need.max(initial=0), 1))


def ceiling(
    world: World, budget: int, merge_target: float = 0.01, reject_target: float = 0.05, slack: float = 0.10
) -> Ceiling | None:
    """The limit for this world and budget, or None when the truth itself suggests no pair of lines."""
    merge, reject = world.truth_lines(merge_target, reject_target)
    if merge is None or reject is None:
        return None
    allowed = world.review_share(merge, reject) + slack + 1e-12
    t_max = max(m for m in range(merge, 1001) if world.review_share(m, reject) <= allowed)
    r_min = min(r for r in range(0, reject + 1) if world.review_share(merge, r) <= allowed)
    # Merge side: every line from the truth's up to t_max must fail (lines below the truth's already do).
    lines = np.arange(merge, t_max + 1)
    above = world.bins[None, :] >= lines[:, None]
    wrong = (above & ~world.one[None, :]).sum(axis=1)
    f_m = fewest_to_break(wrong, above.sum(axis=1), merge_target)
    pool_m = int(((world.bins >= t_max) & world.one).sum())
    # Reject side: every line from r_min up to the truth's.
    lines = np.arange(r_min, reject + 1)
    below = world.bins[None, :] < lines[:, None]
    dups = (below & world.dup[None, :]).sum(axis=1)
    f_r = fewest_to_break(dups, below.sum(axis=1), reject_target)
    pool_r = int(((world.bins < r_min) & ~world.dup).sum())
    fooled = min(missed_all(pool_m, f_m, a) + missed_all(pool_r, f_r, budget - a) for a in range(budget + 1))
    floor = max(0.0, 0.5 - 0.2 / fooled) if fooled > 0 else 0.0
    return Ceiling(t_max, r_min, pool_m, f_m, pool_r, f_r, fooled, floor)


# The tail the decisions cannot rule out (the middle budgets) -------------------------------------------------------
#
# Where the argument above excludes nothing, this asks whether the decisions could vouch for a line within 10 points
# (t_max) at all, given only what the app assumes: a chance of "not one person" falling along a logistic curve. Place
# the curve's middle at the run's own 50% point (the isotonic fit of its truth: knowledge no sample has, given to the
# method for free) and make the curve as gentle as it can be while the run still stays within the target at t_max if
# the undecided groups there follow it (the decided ones as they are): the breaking fade, with its steepness per unit
# of score. Any gentler fade puts t_max over the target. The decisions above the middle (those between the middle and
# the line speak to the steepness most) test that steepness against steeper ones (likelihood ratio, one-sided). Where
# the p-value is 5% or more, the decisions cannot rule out a fade a little gentler: a 95% bound that vouched for t_max
# would be assuming it away, and the gap at that budget is what the decisions do not say. Where it is under 5%, the
# decisions did hold the evidence (with the middle known), and the gap is the method's.


@dataclass(frozen=True)
class Fade:
    middle: float  # the run's 50% point: the lowest score where the isotonic fit of "one person" reaches one half
    slope: float  # median over draws: the breaking fade's steepness per unit of score (inf: no gentle fade breaks)
    likely: float  # median over draws: one-sided p-value of the breaking fade against steeper ones, from the draw's
    # decisions above the middle (likelihood ratio)


def isotonic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The non-decreasing fit of y on x closest in squared error (the estimator's own pava), at each point."""
    order = np.argsort(x, kind="stable")
    fit = np.empty(len(x))
    for value, _, first, last in pava(y[order].astype(float).tolist(), [1.0] * len(x)):
        fit[order[first : last + 1]] = value
    return fit


def slope_p_value(scores: np.ndarray, wrong: np.ndarray, middle: float, slope: float) -> float:
    """One-sided p-value of "the fade is this gentle" against steeper fades, from decisions at `scores` (wrong: not
    one person) on the logistic with the middle fixed: the likelihood-ratio test, half the chi-square(1) tail."""

    def loglik(k: float) -> float:
        z = k * (scores - middle)  # log-odds of one person
        return float(-np.logaddexp(0, np.where(wrong, z, -z)).sum())

    grid = np.geomspace(1.0, 1000.0, 400)
    lls = np.array([loglik(k) for k in grid])
    best = int(lls.argmax())
    deviance = max(0.0, 2 * (lls[best] - loglik(slope)))
    tail = 0.5 * math.erfc(math.sqrt(deviance / 2))
    return tail if grid[best] > slope else 1.0 - tail


def breaking_slope(middle: float, known_wrong: int, undecided: np.ndarray, size: int, target: float) -> float:
    """The steepest logistic fade (per unit of score, middle fixed) whose expected share at the line, the known wrong
    merges plus its chance summed over the undecided scores, still reaches the target; inf when none from 1 up does."""

    def share(slope: float) -> float:
        return (known_wrong + float((1.0 / (1.0 + np.exp(slope * (undecided - middle)))).sum())) / size

    low, high = 1.0, 1000.0
    if share(low) < target:
        return float("inf")
    if share(high) >= target:
        return high
    for _ in range(50):  # on log scale: share falls as the slope rises
        mid = float(np.sqrt(low * high))
        low, high = (mid, high) if share(mid) >= target else (low, mid)
    return low


def fade(world: World, budget: int, repetitions: int, line: int, target: float = 0.01, seed: int = 0) -> Fade:
    """The breaking fade at a merge line (Ceiling.t_max) for the app's calibration draws of `budget` decisions."""
    from bench.calibration import decide

    scores = np.array(world.scores)
    half = isotonic(scores, world.one) >= 0.5
    middle = float(scores[half].min()) if half.any() else 1.0
    side = world.bins >= line
    slopes, likely = [], []
    for rep in range(repetitions):
        decided = np.zeros(world.size, dtype=bool)
        decided[decide(world, "calibration", budget, random.Random(seed + rep))] = True
        wrong_seen = int((side & decided & ~world.one).sum())
        slope = breaking_slope(middle, wrong_seen, scores[side & ~decided], int(side.sum()), target)
        slopes.append(slope)
        # Every decision above the middle speaks to the steepness, those between the middle and the line most.
        upper = decided & (scores >= middle)
        likely.append(slope_p_value(scores[upper], ~world.one[upper], middle, slope) if np.isfinite(slope) else 0.0)
    return Fade(middle, float(np.median(slopes)), float(np.median(likely)))
