"""The pieces of the estimate: score bins, labels, shares, the isotonic fit and its blocks (see __init__)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np

BINS = 1001  # floor(score * 1000): 0..1000, 1.000 in a bin of its own
Histogram = Mapping[int, int] | Sequence[int] | np.ndarray  # groups per bin: bin -> count, or a list of BINS
REPLICATES = 400
PRIOR = 0.5  # Jeffreys: Beta(1/2, 1/2) per pooled block
DEFAULT_MERGE_TARGET = 0.01  # wrong merges among the merge queue
DEFAULT_REJECT_TARGET = 0.05  # real duplicates among the reject queue
ONE_SIDED = 0.95
TWO_SIDED = (0.025, 0.975)
STRATUM_MILLI = 50  # calibration strata: 0.05 wide
SMALL_BIN = 50  # bins with at most this many undecided groups have them drawn one by one (whole counts) ...
SLOTS = 4000  # ... up to this many groups in all (the emptiest bins first); the rest by the normal approximation


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes out of n; (0, 1) when there is no data (a QA sample's agreement)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # k == 0 and k == n give exactly 0 and 1 in exact arithmetic; floating point lands a hair off.
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return lower, upper


def score_bin(score: float) -> int:
    """floor(score * 1000) on the score's shortest decimal form, as RunScoreBin bins it (0.15 -> 150)."""
    b = int((Decimal(repr(float(score))) * 1000).to_integral_value(rounding=ROUND_FLOOR))
    return min(max(b, 0), BINS - 1)


@dataclass(frozen=True)
class Label:
    """One group's latest counting decision: its score then, whether its profiles are all one person, whether at
    least two are (a split is a duplicate but not a right merge), and whether it is one of this run's groups."""

    score: float
    one_person: bool
    duplicate: bool
    in_run: bool = True

    @classmethod
    def merged(cls, score: float, in_run: bool = True) -> Label:
        return cls(score, True, True, in_run)

    @classmethod
    def split(cls, score: float, in_run: bool = True) -> Label:
        return cls(score, False, True, in_run)

    @classmethod
    def rejected(cls, score: float, in_run: bool = True) -> Label:
        return cls(score, False, False, in_run)


@dataclass(frozen=True)
class Share:
    """A share of one queue: point estimate, one-sided 95% upper bound, two-sided 95% interval, out of `groups`, and
    which method gave them: "curve" (the smooth curve, where it passed its check) or "model-free"."""

    estimate: float
    upper: float
    low: float
    high: float
    groups: int
    method: str = "model-free"

    @property
    def smooth(self) -> bool:
        return self.method == "curve"

    def count(self, value: float) -> int:
        return round(value * self.groups)


@dataclass(frozen=True)
class LineEstimate:
    merge_min: int  # thousandths
    reject_below: int
    wrong_merges: Share
    missed_duplicates: Share
    merge: int
    review: int
    reject: int
    decisions: int

    @property
    def total(self) -> int:
        return self.merge + self.review + self.reject

    @property
    def review_share(self) -> float:
        return self.review / self.total if self.total else 0.0


def histogram_array(histogram: Histogram) -> np.ndarray:
    """Groups per bin as a float array of BINS; a mapping gives bin -> count."""
    out = np.zeros(BINS)
    items = histogram.items() if isinstance(histogram, Mapping) else enumerate(histogram)
    for b, n in items:
        if n:
            out[min(max(int(b), 0), BINS - 1)] += n
    return out


def pava(
    values: Sequence[float], weights: Sequence[float], *, pool_ties: bool = False
) -> list[tuple[float, float, int, int]]:
    """Weighted isotonic (non-decreasing) fit: blocks of (value, weight, first index, last index). With `pool_ties`,
    neighbours of equal value are pooled too (forty unanimous bins are one block of forty decisions, not forty)."""
    blocks: list[list[float]] = []  # value, weight, first, last
    for i, (v, w) in enumerate(zip(values, weights, strict=True)):
        blocks.append([float(v), float(w), i, i])
        while len(blocks) > 1 and (blocks[-2][0] > blocks[-1][0] or (pool_ties and blocks[-2][0] == blocks[-1][0])):
            v2, w2, _, last = blocks.pop()
            top = blocks[-1]
            total = top[1] + w2
            top[0] = (top[0] * top[1] + v2 * w2) / total if total else (top[0] + v2) / 2
            top[1] = total
            top[3] = last
    return [(v, w, int(a), int(b)) for v, w, a, b in blocks]


def _pava_rows(draws: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Isotonic projection of each row (rows already in order are left as they are)."""
    out = draws.copy()
    if draws.shape[1] < 2:
        return out
    bad = np.nonzero((np.diff(draws, axis=1) < 0).any(axis=1))[0]
    w = weights.tolist()
    for r in bad:
        for value, _, first, last in pava(draws[r].tolist(), w):
            out[r, first : last + 1] = value
    return out


def _effective(
    n_bin: np.ndarray, k_bin: np.ndarray, population: np.ndarray | None, lo: int, hi: int
) -> tuple[float, float]:
    """(decisions, positives) a block of bins [lo, hi] counts as: see _Blocks.fit."""
    n_all, k_all = float(n_bin[lo : hi + 1].sum()), float(k_bin[lo : hi + 1].sum())
    if population is None:
        return n_all, k_all
    weights, rates, labelled = [], [], []
    for s_lo in range(lo - lo % STRATUM_MILLI, hi + 1, STRATUM_MILLI):
        a, b = max(s_lo, lo), min(s_lo + STRATUM_MILLI - 1, hi)
        n_h = float(n_bin[a : b + 1].sum())
        if not n_h:
            continue
        groups = max(float(population[a : b + 1].sum()), n_h)  # decisions of earlier runs can outnumber groups
        weights.append(groups)
        rates.append(float(k_bin[a : b + 1].sum()) / n_h)
        labelled.append(n_h)
    total = sum(weights)
    rate = sum(w * r for w, r in zip(weights, rates, strict=True)) / total
    n_eff = total * total / sum(w * w / n_h for w, n_h in zip(weights, labelled, strict=True))
    n_eff = min(n_eff, n_all)
    return n_eff, rate * n_eff


@dataclass(frozen=True)
class _Blocks:
    """Pooled blocks of labelled bins for one outcome, and where every bin sits relative to them."""

    n: np.ndarray  # decisions per block
    k: np.ndarray  # positive outcomes per block
    first: np.ndarray  # first labelled bin of each block
    last: np.ndarray
    lo_idx: np.ndarray  # per bin: column of [0, blocks..., 1] giving the lowest p the order allows
    hi_idx: np.ndarray  # per bin: the highest
    t: np.ndarray  # per bin: position between the two (0 at lo, 1 at hi) for the point estimate

    @classmethod
    def fit(cls, n_bin: np.ndarray, k_bin: np.ndarray, population: np.ndarray | None = None) -> _Blocks:
        """Pool the labelled bins (isotonic), then give each block the evidence it really holds about its groups:
        where decisions within a block were drawn unevenly (the review queue worked from its top, a QA sample of
        one queue), its rate is the population-weighted mean of its 0.05 strata and its decisions count as the
        Kish effective number (sum of weights)² / (sum of squared weights), with weights groups / decisions per
        stratum. Proportional sampling leaves both as they are."""
        labelled = np.nonzero(n_bin > 0)[0]
        blocks = (
            pava((k_bin[labelled] / n_bin[labelled]).tolist(), n_bin[labelled].tolist(), pool_ties=True)
            if len(labelled)
            else []
        )
        nb = len(blocks)
        first = np.array([labelled[a] for _, _, a, _ in blocks], dtype=int)
        last = np.array([labelled[b] for _, _, _, b in blocks], dtype=int)
        n = np.zeros(nb)
        k = np.zeros(nb)
        for i in range(nb):
            n[i], k[i] = _effective(n_bin, k_bin, population, int(first[i]), int(last[i]))
        bins = np.arange(BINS)
        # Column 0 is p = 0, columns 1..nb the blocks, column nb + 1 is p = 1.
        # below = how many blocks start at or before the bin; inside when that block also ends at or after it.
        started = np.searchsorted(first, bins, side="right")  # blocks with first <= bin
        ended = np.searchsorted(last, bins, side="left")  # blocks with last < bin
        inside = started > ended
        lo_idx = np.where(inside, started, ended)  # the block holding it, or the last one below (0: none)
        hi_idx = np.where(inside, started, ended + 1)  # the block holding it, or the first one above (nb + 1: none)
        t = np.zeros(BINS)
        gap = ~inside & (ended >= 1) & (ended < nb)
        if gap.any():
            below_end = last[ended[gap] - 1]
            above_start = first[ended[gap]]
            t[gap] = (bins[gap] - below_end) / (above_start - below_end)
        # Point estimate beyond the outermost blocks: flat (the nearest block's value), not 0 or 1.
        t[~inside & (ended == 0)] = 1.0
        t[~inside & (ended == nb)] = 0.0
        if nb == 0:
            t[:] = 0.5
        return cls(n, k, first, last, lo_idx, hi_idx, t)

    def draws(self, rng: np.random.Generator, replicates: int) -> np.ndarray:
        """Replicates x (blocks + 2): column 0 is 0, the last is 1, the middle are ordered posterior draws."""
        nb = len(self.n)
        out = np.zeros((replicates, nb + 2))
        out[:, -1] = 1.0
        if nb:
            raw = rng.beta(self.k + PRIOR, self.n - self.k + PRIOR, size=(replicates, nb))
            out[:, 1:-1] = _pava_rows(raw, self.n)
        return out


def _line(milli: int | float | Decimal) -> int:
    """A line in thousandths (an int, or a Decimal/float score such as 0.950)."""
    if isinstance(milli, int):
        value = milli
    else:
        value = int((Decimal(str(milli)) * 1000).to_integral_value(rounding=ROUND_FLOOR))
    if not 0 <= value < BINS:
        raise ValueError(f"A line must be between 0 and 1000 thousandths, got {value}")
    return value


def _quantiles(x: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Per column, the order statistics at these levels (nearest rank, rounded outwards from the middle): one
    partition for all of them, cheaper than np.quantile."""
    n = x.shape[0]
    ranks = [min(n - 1, math.ceil(q * n) - 1) if q >= 0.5 else max(0, math.floor(q * n)) for q in qs]
    part = np.partition(x, sorted(set(ranks)), axis=0)
    return [part[r] for r in ranks]
