"""The smooth curve: how the chance of an outcome rises with the score, borrowed across the whole score range.

The model-free fit (isotonic blocks, model.py) assumes only that a higher score is not less likely to be a match. It
is safe, but it cannot say much about a queue of hundreds of undecided groups from a few dozen decisions: to bound a
share at 1% it needs about 300 unanimous decisions inside that queue. This module adds one assumption that lets a
decision at 0.62 say something about the groups at 0.80: **the chance rises along an S-shaped curve in the score**.

The curve. With x the score's position on a scale, the log-odds of the outcome is

    logit p(x) = b_low * (x - c)   below the middle c,      b_high * (x - c)   above it,

two logistic halves joined at the 50% point c, each with its own steepness (b_low, b_high > 0: never decreasing).
Two scales are allowed, with half the prior mass each (LINKS): x = logit(score) = ln(s / (1 - s)), where a single
logistic curve is the textbook calibration of a score (Platt scaling on the log-odds), and x = the score itself,
where the chance approaches 0 and 1 more slowly at the ends (a score whose top and bottom are not as sure as
their log-odds says). The second slope lets the rise be gentle on one side of the middle and abrupt on the other, as
it is when one kind of group is cut off at a score and the other is not. Four numbers (scale, middle, two slopes),
nothing fitted to any data set in advance; the posterior weighs the two scales by how well each explains the
decisions, and draws from both.

The priors (stated in docs/thresholds.md): the middle uniform on logit scale over [-4, 4] (scores 0.018-0.982);
each slope on [0.1, 100] per unit of logit(score) (from a chance rising over the whole score range to one rising
within 0.01 of score, finer than lines are set), or on [0.4, 1000] per unit of score, weighted half-Cauchy
(slope_prior); half the mass on one slope. The posterior is computed exactly on two grids (2 x 161 x 20 x 20
points); the two halves' likelihoods separate given c, so a grid costs two small arrays, not one large one.

**The check.** Where the curve and the decisions disagree, the curve is not used. For every line, the decisions on
the queue's side are counted (merge: groups not one person at or above the line; reject: duplicates below it) and
compared with what the fitted curve predicts for those same decisions (posterior predictive: each draw of the curve
simulates the decisions again). If the observed count is larger than all but 5% of the simulated counts at that line
at any line, the curve does not describe that side of the run, and the model-free bound is used for all of that
side's lines (look-alikes seen at 0.90-0.94 discredit the curve above 0.94 too, however clean the few decisions
there happen to be).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matches.estimates.model import BINS, STRATUM_MILLI

CENTRES = np.linspace(-4.0, 4.0, 161)  # logit(score) of the 50% point
SLOPES = np.geomspace(0.1, 100.0, 20)  # per unit of logit(score)
CHECK_LEVEL = 0.05  # a side whose observed count is beyond the 95th percentile of its predicted count fails the check
_EDGE = 0.0005
_S = np.clip((np.arange(BINS) + 0.5) / 1000, _EDGE, 1 - _EDGE)  # a bin's middle score (1.000: 0.9995)
X = np.log(_S / (1 - _S))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.minimum(-z, 700.0)))


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log(1 / (1 + e^-z)), stable at both ends: the same as -logaddexp(0, -z), in half the time."""
    return np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))


@dataclass(frozen=True)
class Link:
    """One scale the curve is S-shaped on: `x` per bin (the bin's position on that scale), the grid of middles (on
    that scale) and of slopes (per unit of it)."""

    x: np.ndarray
    centres: np.ndarray
    slopes: np.ndarray


# logit(score), and the score itself: the same 161 middles (the score link's are the same scores), slopes from a
# rise over the whole score range to one within 0.001 of score. Equal prior mass on each.
LINKS = (Link(X, CENTRES, SLOPES), Link(_S, sigmoid(CENTRES), np.geomspace(0.4, 1000.0, 20)))


@dataclass
class Curve:
    """The posterior of the curve for one outcome (one person, or duplicate), as draws of (link, c, b_low, b_high).
    `centre` is always the logit of the 50% score, whichever scale the draw's curve is S-shaped on."""

    centre: np.ndarray
    low: np.ndarray
    high: np.ndarray
    link: np.ndarray

    @classmethod
    def fit(
        cls, n_bin: np.ndarray, k_bin: np.ndarray, population: np.ndarray, rng: np.random.Generator, replicates: int
    ) -> Curve:
        """Grid posterior from decisions per bin (n) and how many had the outcome (k); `replicates` draws. The
        slopes' prior scale follows the spread of the run's scores (`population` per bin), see slope_prior."""
        # Decisions pooled in 0.005-wide bins (at their mean position): the likelihood barely changes, the grid
        # costs at most 201 columns.
        group = np.arange(BINS) // 5
        n = np.bincount(group, weights=n_bin)
        k = np.bincount(group, weights=k_bin)
        keep = n > 0
        grids = []
        for link in LINKS:
            x = np.bincount(group, weights=n_bin * link.x)[keep] / n[keep]
            grids.append(_log_posterior(link, n[keep], k[keep], x, population))
        flat = np.concatenate([g.ravel() for g in grids])
        w = np.exp(flat - flat.max())
        w /= w.sum()
        pick = rng.choice(w.size, size=replicates, p=w)
        which = (pick >= grids[0].size).astype(np.int64)
        centre, low, high = np.empty(replicates), np.empty(replicates), np.empty(replicates)
        for i, (link, grid) in enumerate(zip(LINKS, grids, strict=True)):
            mine = which == i
            ci, li, hi = np.unravel_index(pick[mine] - i * grids[0].size, grid.shape)
            # Spread each draw within its grid cell (on logit scale for the middle), so that the draws are not stuck
            # on the grid's points.
            size = int(mine.sum())
            step_c = CENTRES[1] - CENTRES[0]
            ratio = np.log(link.slopes[1] / link.slopes[0])
            centre[mine] = CENTRES[ci] + rng.uniform(-step_c / 2, step_c / 2, size)
            low[mine] = link.slopes[li] * np.exp(rng.uniform(-ratio / 2, ratio / 2, size))
            high[mine] = link.slopes[hi] * np.exp(rng.uniform(-ratio / 2, ratio / 2, size))
        return cls(centre, low, high, which)

    def log_odds(self) -> np.ndarray:
        """Draws x bins: the log-odds of the outcome at each bin, each draw on its own scale (not kept)."""
        on_score = (self.link == 1)[:, None]
        pivot = np.where(on_score[:, 0], sigmoid(self.centre), self.centre)
        d = np.where(on_score, _S[None, :], X[None, :]) - pivot[:, None]
        return np.where(d < 0, self.low[:, None], self.high[:, None]) * d


def log_likelihood(link: Link, n: np.ndarray, k: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Log likelihood on the link's grid, centres x b_low x b_high, of n decisions at positions x of which k had the
    outcome. The two halves' likelihoods separate given the middle."""
    # z[c, b, j] = b * (x_j - c); below[c, j] when decision bin j lies below the centre c.
    d = x[None, :] - link.centres[:, None]
    z = link.slopes[None, :, None] * d[:, None, :]
    log_p = _log_sigmoid(z)
    ll = n * log_p - (n - k) * z  # log(1 - p) = log(p) - z
    below = (d < 0)[:, None, :]
    ll_low = np.where(below, ll, 0.0).sum(axis=2)  # centres x slopes
    ll_high = np.where(below, 0.0, ll).sum(axis=2)
    return ll_low[:, :, None] + ll_high[:, None, :]


def _log_posterior(link: Link, n: np.ndarray, k: np.ndarray, x: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Log posterior mass (unnormalised) on the link's grid, centres x b_low x b_high (log_likelihood x prior)."""
    total = log_likelihood(link, n, k, x)
    # Prior: half the mass on one slope for both halves (a single S-curve), half spread over every pair; each
    # slope half-Cauchy (slope_prior). The prior sums to one per middle, so each link carries the same mass.
    log_prior = slope_prior(population, link)
    same = np.eye(len(link.slopes), dtype=bool)
    pair = log_prior[:, None] + log_prior[None, :]
    one = np.where(same, log_prior[:, None], -np.inf)
    return total + np.logaddexp(np.log(0.5) + pair, np.log(0.5) + one)[None]


def slope_prior(population: np.ndarray, link: Link = LINKS[0]) -> np.ndarray:
    """Log prior mass of each of the link's grid slopes: half-Cauchy with scale 2.5 per two standard deviations of
    the run's positions on that scale (Gelman, Jakulin, Pittau & Su 2008, the default weakly informative prior for
    logistic regression, made for exactly the case of a sample whose classes do not overlap: the steepest curve is
    then not preferred). On the log-spaced grid a point's mass is density x slope."""
    total = float(population.sum())
    if total > 0:
        mean = float((population * link.x).sum()) / total
        sd = float(np.sqrt((population * (link.x - mean) ** 2).sum() / total))
    else:
        sd = 0.0
    floor = 0.1 * SLOPES[0] / link.slopes[0]  # 0.1 of logit(score); the same share of the score link's range
    scale = 2.5 / (2 * max(sd, floor))
    log_mass = np.log(link.slopes) - np.log1p((link.slopes / scale) ** 2)
    return log_mass - np.logaddexp.reduce(log_mass)


def side_sum(x: np.ndarray, merge: bool) -> np.ndarray:
    """Per line, the sum over the bins on this side: at or above it (merge), below it (reject)."""
    if merge:
        return np.cumsum(x[..., ::-1], axis=-1)[..., ::-1]
    out = np.zeros_like(x)
    out[..., 1:] = np.cumsum(x, axis=-1)[..., :-1]
    return out


def check(
    hurt: np.ndarray, n_bin: np.ndarray, hurt_bin: np.ndarray, rng: np.random.Generator, merge: bool
) -> np.ndarray:
    """Per line: True where the curve agrees with the decisions on this side (the same answer for every line).

    `hurt` is draws x bins (the chance of the outcome that hurts this side), `hurt_bin` the decisions per bin that had
    it. Each draw simulates the decisions again; a line fails when fewer than CHECK_LEVEL of the simulated counts on
    its side reach the observed count."""
    labelled = np.nonzero(n_bin > 0)[0]
    if not len(labelled):
        return np.ones(BINS, dtype=bool)
    sim = np.zeros((hurt.shape[0], BINS))
    chance = np.clip(hurt[:, labelled], 0.0, 1.0)
    counts = n_bin[labelled].astype(np.int64)
    single = counts == 1  # most bins hold one decision: a uniform draw is cheaper than a binomial
    sim[:, labelled[single]] = rng.random((hurt.shape[0], int(single.sum()))) < chance[:, single]
    if (~single).any():
        sim[:, labelled[~single]] = rng.binomial(counts[~single], chance[:, ~single])
    simulated = side_sum(sim, merge)
    observed = side_sum(hurt_bin, merge)
    tail = (simulated >= observed[None, :] - 1e-9).mean(axis=0)
    fails = (tail < CHECK_LEVEL) & (observed > 0)
    # One curve describes the whole side: where it fails at any line, it is not used for that side at all (look-alikes
    # seen at 0.90-0.94 say the curve is wrong above 0.94 too, even if the few decisions there happen to be clean).
    return np.full(BINS, not fails.any())


def anchored(centre: np.ndarray, n_bin: np.ndarray, population: np.ndarray, merge: bool) -> np.ndarray:
    """Per line: True where every populated 0.05 stratum from the curve's middle (its posterior median) to the
    line, and every one beyond the line in its queue, holds a decision: the curve then interpolates between
    decisions over the range it speaks for, rather than reaching across a range nobody has looked at (QA samples of
    the outer queues only)."""
    mid_score = 1 / (1 + np.exp(-float(np.median(centre))))
    mid = min(max(int(mid_score * 1000), 0), BINS - 1)
    edges = list(range(0, 1000, STRATUM_MILLI))
    gap = np.zeros(BINS, dtype=bool)  # per bin: its stratum is populated and holds no decision
    for lo in edges:
        hi = min(lo + STRATUM_MILLI, BINS) if lo + STRATUM_MILLI < 1000 else BINS
        if population[lo:hi].sum() > 0 and n_bin[lo:hi].sum() == 0:
            gap[lo:hi] = True
    lines = np.arange(BINS)
    gaps_below = np.concatenate([[0], np.cumsum(gap)])  # gaps in bins < i
    first, last = np.minimum(lines, mid), np.maximum(lines, mid)
    if merge:  # from min(mid, line) to the top
        count = gaps_below[BINS] - gaps_below[first]
    else:  # from the bottom to max(mid, line)
        count = gaps_below[last + 1]
    return count == 0
