"""How many merges would be wrong, and how many real duplicates would be rejected, for a pair of thresholds.

Pure: numbers in, numbers out, no database. Inputs are the run's score histogram (groups per 0.001 bin, the same
bins as RunScoreBin) and labelled decisions (a score and what a person found). docs/thresholds.md explains the method
to an admin; in short:

1. **The model.** Each group has a chance p(s) of being one person, depending only on its score s, and p never goes
   down as the score goes up. Decisions are a sample of groups chosen by score (a queue's order, a QA sample, a
   calibration sample): whatever way they were chosen, given the score the truth of a decided group tells the same
   as any other at that score, so no decision needs a weight; what the sampling changes is *where* we have evidence.
2. **The fit.** Decisions are counted per bin and fitted with a weighted isotonic regression (pool adjacent
   violators), so a band with two decisions borrows strength from its neighbours where the data allow it.
3. **Uncertainty.** Each pooled block gets a Beta(k + 1/2, n - k + 1/2) posterior (Jeffreys: a block of 40
   unanimous decisions still leaves room for a few wrong ones). A replicate draws every block, restores the order
   (pool adjacent violators again) and computes the shares; 400 replicates give the intervals.
4. **No evidence is not clean.** Between two blocks p can be anything between their values; below the lowest
   decision anything from 0, above the highest anything up to 1. An upper bound takes the side of that range that
   hurts: merges are judged with the lower value, rejects with the higher one. A merge queue reaching below every
   decision therefore has a large bound, and so does a reject queue reaching above every decision.
5. **The run is finite.** A decided group of this run is known, not estimated: only the undecided groups of each
   bin are predicted (their expected count plus the binomial spread of the actual count), so the interval is for the
   run's real share, and it shrinks to nothing when every group is decided.

A *wrong merge* is a group whose profiles are not all one person (a split counts against the merge side); a *real
duplicate* is a group with at least two profiles of one person (merge or split). Shares are over every group of the
run on that side of the line; the review workload is an exact count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np

BINS = 1001  # floor(score * 1000): 0..1000, 1.000 in a bin of its own
REPLICATES = 400
PRIOR = 0.5  # Jeffreys: Beta(1/2, 1/2) per pooled block
DEFAULT_MERGE_TARGET = 0.01  # wrong merges among the merge queue
DEFAULT_REJECT_TARGET = 0.05  # real duplicates among the reject queue
ONE_SIDED = 0.95
TWO_SIDED = (0.025, 0.975)
STRATUM_MILLI = 50  # calibration strata: 0.05 wide
SMALL_BIN = 50  # bins with at most this many undecided groups have them drawn one by one (whole counts) ...
SLOTS = 4000  # ... up to this many groups in all (the emptiest bins first); the rest by the normal approximation


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
    """A share of one queue: point estimate, one-sided 95% upper bound, two-sided 95% interval, out of `groups`."""

    estimate: float
    upper: float
    low: float
    high: float
    groups: int

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


def histogram_array(histogram: Mapping[int, int] | Sequence[int]) -> np.ndarray:
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
    def fit(cls, n_bin: np.ndarray, k_bin: np.ndarray) -> _Blocks:
        labelled = np.nonzero(n_bin > 0)[0]
        blocks = (
            pava((k_bin[labelled] / n_bin[labelled]).tolist(), n_bin[labelled].tolist(), pool_ties=True)
            if len(labelled)
            else []
        )
        nb = len(blocks)
        n = np.array([sum(n_bin[labelled[a : b + 1]]) for _, _, a, b in blocks], dtype=float)
        k = np.array([sum(k_bin[labelled[a : b + 1]]) for _, _, a, b in blocks], dtype=float)
        first = np.array([labelled[a] for _, _, a, _ in blocks], dtype=int)
        last = np.array([labelled[b] for _, _, _, b in blocks], dtype=int)
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


class Estimates:
    """Shares for every merge line and every reject line of one run, computed once; `at()` and the suggestions read
    them. Lines are in thousandths: merge_min m puts bins >= m in the merge queue, reject_below r bins < r in the
    reject queue."""

    def __init__(
        self,
        histogram: Mapping[int, int] | Sequence[int],
        labels: Iterable[Label],
        *,
        replicates: int = REPLICATES,
        seed: int = 0,
    ) -> None:
        labels = list(labels)
        self.population = histogram_array(histogram)
        self.total = int(self.population.sum())
        self.decisions = len(labels)
        n_bin = np.zeros(BINS)
        one_bin = np.zeros(BINS)
        dup_bin = np.zeros(BINS)
        run_n = np.zeros(BINS)
        run_one = np.zeros(BINS)
        run_dup = np.zeros(BINS)
        for label in labels:
            b = score_bin(label.score)
            n_bin[b] += 1
            one_bin[b] += label.one_person
            dup_bin[b] += label.duplicate
            if label.in_run:
                run_n[b] += 1
                run_one[b] += label.one_person
                run_dup[b] += label.duplicate
        # Decided groups beyond the histogram's count (a stale histogram) are simply known; never a negative count.
        run_n = np.minimum(run_n, self.population)
        run_one = np.minimum(run_one, run_n)
        run_dup = np.minimum(run_dup, run_n)
        self.labels_per_bin = n_bin
        self.unknown = self.population - run_n
        self.merge_blocks = _Blocks.fit(n_bin, one_bin)
        self.reject_blocks = _Blocks.fit(n_bin, dup_bin)
        rng = np.random.default_rng(seed)
        self._merge = self._side(self.merge_blocks, run_n - run_one, rng, replicates, merge=True)
        self._reject = self._side(self.reject_blocks, run_dup, rng, replicates, merge=False)
        suffix = np.cumsum(self.population[::-1])[::-1]
        self.merge_groups = suffix.astype(int)  # groups with bin >= m
        self.reject_groups = np.concatenate([[0.0], np.cumsum(self.population)[:-1]]).astype(int)  # bin < r

    def _side(
        self, blocks: _Blocks, known: np.ndarray, rng: np.random.Generator, replicates: int, merge: bool
    ) -> dict[str, np.ndarray]:
        """Per line: estimate, one-sided upper bound, two-sided interval of the share (merge: of groups not one
        person at or above the line; reject: of duplicates below it)."""
        p = blocks.draws(rng, replicates)  # replicates x columns (0, blocks..., 1)
        u = self.unknown

        def side_sum(x: np.ndarray) -> np.ndarray:
            """Per line, the sum over the bins on this side: at or above it (merge), below it (reject)."""
            if merge:
                return np.cumsum(x[..., ::-1], axis=-1)[..., ::-1]
            out = np.zeros_like(x)
            out[..., 1:] = np.cumsum(x, axis=-1)[..., :-1]
            return out

        # Merge side: the outcome that hurts is "not one person", worst with the lowest p the order allows; reject
        # side: "duplicate", worst with the highest.
        worst_idx, best_idx = (blocks.lo_idx, blocks.hi_idx) if merge else (blocks.hi_idx, blocks.lo_idx)
        hurt = 1 - p if merge else p
        known_sum, all_sum = side_sum(known), side_sum(known + u)
        groups = side_sum(self.population)
        denom = np.where(groups > 0, groups, 1.0)
        # Bins holding few undecided groups (the emptiest first, up to SLOTS groups in all) get every group drawn
        # one by one; their groups, in the side's order (merge: from the top down), are the "slots".
        candidates = np.nonzero((u > 0) & (u <= SMALL_BIN))[0]
        candidates = candidates[np.argsort(u[candidates], kind="stable")]
        small = np.sort(candidates[np.cumsum(u[candidates]) <= SLOTS])
        if merge:
            small = small[::-1]
        slot_bins = np.repeat(small, u[small].astype(np.int64))
        if merge:
            slot_pos = np.searchsorted(-slot_bins, -np.arange(BINS), side="right")  # slots in bins >= line
        else:
            slot_pos = np.searchsorted(slot_bins, np.arange(BINS), side="left")  # slots in bins < line
        is_small = np.zeros(BINS, dtype=bool)
        is_small[small] = True
        u_large = np.where(is_small, 0.0, u)
        z = rng.standard_normal((replicates, 1))
        cols = p.shape[1]

        def by_column(idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
            """columns x lines: the side sum of `weights` over the bins whose p is column c."""
            m = np.zeros((cols, BINS))
            m[idx, np.arange(BINS)] = weights
            return side_sum(m)

        def shares(idx: np.ndarray) -> np.ndarray:
            # One replicate is one possible run. A bin holding few undecided groups has its count drawn whole
            # (binomial: a queue of 40 undecided groups with a 0.3% chance each has one wrong merge 11% of the time,
            # and a bound below one group would not hold); the bins holding many add up to a normal count, drawn
            # with one z per replicate. Every line sums the same draws, so neighbouring lines agree.
            total = np.zeros((replicates, BINS))
            if len(slot_bins):
                hit = rng.random((replicates, len(slot_bins))) < hurt[:, idx[slot_bins]]
                running = np.zeros((replicates, len(slot_bins) + 1))
                np.cumsum(hit, axis=1, out=running[:, 1:])
                total += running[:, slot_pos]
            if u_large.any():
                w = by_column(idx, u_large)
                total += np.einsum("rc,cl->rl", hurt, w)
                total += z * np.sqrt(np.maximum(np.einsum("rc,cl->rl", hurt * (1 - hurt), w), 0.0))
            total += known_sum
            np.clip(total, known_sum, all_sum, out=total)
            total /= denom
            return total

        worst, best = shares(worst_idx), shares(best_idx)
        # Point estimate: the posterior mean, between two blocks on the straight line joining them.
        mean_p = p.mean(axis=0)
        lo_p, hi_p = mean_p[blocks.lo_idx], mean_p[blocks.hi_idx]
        mid_p = lo_p + blocks.t * (hi_p - lo_p)
        mid = (1 - mid_p) if merge else mid_p
        upper, high = _quantiles(worst, (ONE_SIDED, TWO_SIDED[1]))
        (low,) = _quantiles(best, (TWO_SIDED[0],))
        # The plain fit (no prior): what the decisions say if the next ones are like them (for `needs`).
        plain = np.concatenate([[0.0], blocks.k / np.maximum(blocks.n, 1), [1.0]])
        plain_p = plain[blocks.lo_idx] + blocks.t * (plain[blocks.hi_idx] - plain[blocks.lo_idx])
        plain_hurt = (1 - plain_p) if merge else plain_p
        return {
            "estimate": side_sum(known + u * mid) / denom,
            "upper": upper,
            "low": low,
            "high": high,
            "plain": side_sum(known + u * plain_hurt) / denom,
        }

    # Reading ----------------------------------------------------------------------------------------------------

    def wrong_merges(self, merge_min: int) -> Share:
        m = _line(merge_min)
        return self._share(self._merge, m, int(self.merge_groups[m]))

    def missed_duplicates(self, reject_below: int) -> Share:
        r = _line(reject_below)
        return self._share(self._reject, r, int(self.reject_groups[r]))

    def _share(self, side: dict[str, np.ndarray], line: int, groups: int) -> Share:
        if groups == 0:
            return Share(0.0, 0.0, 0.0, 0.0, groups)
        return Share(
            float(side["estimate"][line]),
            float(side["upper"][line]),
            float(side["low"][line]),
            float(side["high"][line]),
            groups,
        )

    def at(self, merge_min: int, reject_below: int) -> LineEstimate:
        """Estimates for one pair of lines (thousandths, reject_below <= merge_min)."""
        m, r = _line(merge_min), _line(reject_below)
        if r > m:
            raise ValueError("reject_below must not be above merge_min")
        merge = int(self.merge_groups[m])
        reject = int(self.reject_groups[r])
        return LineEstimate(
            merge_min=m,
            reject_below=r,
            wrong_merges=self.wrong_merges(m),
            missed_duplicates=self.missed_duplicates(r),
            merge=merge,
            review=self.total - merge - reject,
            reject=reject,
            decisions=self.decisions,
        )

    def suggest_merge_min(self, target: float = DEFAULT_MERGE_TARGET) -> int | None:
        """The lowest merge line (thousandths) with a non-empty queue whose 95% upper bound is within the target."""
        ok = (self._merge["upper"] <= target + 1e-12) & (self.merge_groups > 0)
        hits = np.nonzero(ok)[0]
        if not len(hits):
            return None
        # The same queue with the line at its lowest group: "merge >= 0.000" would say more than the evidence.
        return int(np.nonzero(self.population[hits[0] :])[0][0] + hits[0])

    def suggest_reject_below(self, target: float = DEFAULT_REJECT_TARGET) -> int | None:
        """The highest reject line (thousandths) with a non-empty queue whose 95% upper bound is within the target."""
        ok = (self._reject["upper"] <= target + 1e-12) & (self.reject_groups > 0)
        hits = np.nonzero(ok)[0]
        if not len(hits):
            return None
        # The same queue with the line just above its highest group.
        return int(np.nonzero(self.population[: hits[-1]])[0][-1] + 1)

    def suggest(
        self, merge_target: float = DEFAULT_MERGE_TARGET, reject_target: float = DEFAULT_REJECT_TARGET
    ) -> tuple[int | None, int | None]:
        """Both suggestions; a reject line above the merge line is brought down to it (the queues never overlap)."""
        m, r = self.suggest_merge_min(merge_target), self.suggest_reject_below(reject_target)
        if m is not None and r is not None and r > m:
            r = m
        return m, r

    def curve(self, side: str, step: int = 5) -> list[dict]:
        """Every `step` thousandths: the line, groups on that side, estimate, upper bound and interval (the chart)."""
        data, groups = (self._merge, self.merge_groups) if side == "merge" else (self._reject, self.reject_groups)
        out = []
        for line in range(0, BINS, step):
            out.append(
                {
                    "line": line,
                    "groups": int(groups[line]),
                    "estimate": float(data["estimate"][line]),
                    "upper": float(data["upper"][line]),
                    "low": float(data["low"][line]),
                    "high": float(data["high"][line]),
                }
            )
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


# The calibration sample ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stratum:
    lo: int  # first bin, inclusive
    hi: int  # last bin, exclusive (the top stratum also holds bin 1000)
    population: int  # groups of the run in it
    available: int  # groups that may still be drawn (undecided)
    draw: int  # how many to draw

    @property
    def label(self) -> str:
        return f"{self.lo / 1000:.2f}–{min(self.hi, 1000) / 1000:.2f}"


def strata_edges(width: int = STRATUM_MILLI) -> list[tuple[int, int]]:
    edges = [(lo, lo + width) for lo in range(0, 1000, width)]
    lo, _ = edges[-1]
    edges[-1] = (lo, BINS)  # 1.000 joins the top stratum
    return edges


def _spread(estimates: Estimates | None, lo: int, hi: int) -> float:
    """How unsure the outcome of a group in bins [lo, hi) is: sqrt(p(1 - p)) at the p in the stratum's plausible
    range closest to 1/2 (no evidence: 1/2), never below 0.1 so that clean-looking strata are still checked."""
    if estimates is None:
        return 0.5
    pop = estimates.population[lo:hi]
    if pop.sum() == 0:
        return 0.5
    plausible = []
    for side in (estimates.merge_blocks, estimates.reject_blocks):
        # The stratum's p range under the order: from the lowest value allowed at its bottom bin to the highest at its
        # top bin, using the blocks' posterior 2.5% / 97.5% points.
        n, k = side.n, side.k
        if len(n):
            lows = np.concatenate([[0.0], _beta_q(k + PRIOR, n - k + PRIOR, 0.025), [1.0]])
            highs = np.concatenate([[0.0], _beta_q(k + PRIOR, n - k + PRIOR, 0.975), [1.0]])
        else:
            lows, highs = np.array([0.0, 1.0]), np.array([0.0, 1.0])
        plausible.append((float(lows[side.lo_idx[lo]]), float(highs[side.hi_idx[hi - 1]])))
    spread = 0.1
    for a, b in plausible:
        p = min(max(0.5, a), b)
        spread = max(spread, math.sqrt(p * (1 - p)))
    return spread


def _beta_q(a: np.ndarray, b: np.ndarray, q: float, draws: int = 2000) -> np.ndarray:
    """Beta quantiles by simulation (fixed seed: the same inputs give the same allocation)."""
    rng = np.random.default_rng(12345)
    return np.quantile(rng.beta(a, b, size=(draws, len(a))), q, axis=0)


def allocate(
    histogram: Mapping[int, int] | Sequence[int],
    budget: int,
    *,
    estimates: Estimates | None = None,
    available: Mapping[int, int] | Sequence[int] | None = None,
    already: Mapping[int, int] | Sequence[int] | None = None,
    width: int = STRATUM_MILLI,
    floor: int = 1,
    merge_target: float = DEFAULT_MERGE_TARGET,
    reject_target: float = DEFAULT_REJECT_TARGET,
) -> list[Stratum]:
    """How many groups to draw per score stratum for a calibration sample of `budget` decisions.

    1. `floor` per populated stratum first, so that no range is left without evidence.
    2. With estimates: where a line could go further than the evidence allows yet (see `needs`), the decisions that
       would take it there, spread over that queue by population; the line that frees more review work per decision
       first.
    3. The rest by Neyman allocation: a stratum's share follows (groups in it) x (how unsure its outcome is), counting
       the decisions it already has. Without estimates every outcome is as unsure, so this follows the population.
    `available` (per bin) caps a stratum at the groups that can still be drawn (default: the histogram)."""
    if budget < 0:
        raise ValueError("The budget must not be negative")
    pop = histogram_array(histogram)
    avail = histogram_array(available) if available is not None else pop
    have = histogram_array(already) if already is not None else np.zeros(BINS)
    edges = strata_edges(width)
    n_pop = [int(pop[lo:hi].sum()) for lo, hi in edges]
    n_avail = [int(min(avail[lo:hi].sum(), pop[lo:hi].sum())) for lo, hi in edges]
    n_have = [int(have[lo:hi].sum()) for lo, hi in edges]
    weight = [n_pop[i] * _spread(estimates, lo, hi) for i, (lo, hi) in enumerate(edges)]
    draw = [0] * len(edges)
    left = min(budget, sum(n_avail))
    # The floor first, from the most populated strata down (a budget smaller than the strata cannot give one each).
    for i in sorted(range(len(edges)), key=lambda i: -n_pop[i]):
        want = min(max(floor - n_have[i], 0), n_avail[i], left)
        draw[i] += want
        left -= want
    if estimates is not None and estimates.decisions:
        for need in needs(estimates, merge_target, reject_target):
            region = np.zeros(BINS)
            region[need.lo : need.hi] = pop[need.lo : need.hi]
            shares = [float(region[lo:hi].sum()) for lo, hi in edges]
            want = min(need.more, left)
            for i, extra in enumerate(_largest_remainder(shares, want)):
                extra = min(extra, n_avail[i] - draw[i])
                draw[i] += extra
                left -= extra
    # Then one at a time to the stratum whose variance term weight² / n falls most (Neyman, in whole decisions).
    while left > 0:
        best, gain = None, -1.0
        for i in range(len(edges)):
            if draw[i] >= n_avail[i] or not weight[i]:
                continue
            n = n_have[i] + draw[i]
            g = weight[i] ** 2 / ((n + 1) * (n + 2))
            if g > gain:
                best, gain = i, g
        if best is None:
            break
        draw[best] += 1
        left -= 1
    return [Stratum(lo, hi, n_pop[i], n_avail[i], draw[i]) for i, (lo, hi) in enumerate(edges)]


def _largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """`total` split in whole numbers in proportion to `weights`."""
    mass = sum(weights)
    if total <= 0 or mass <= 0:
        return [0] * len(weights)
    exact = [w * total / mass for w in weights]
    out = [math.floor(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: out[i] - exact[i])[: total - sum(out)]:
        out[i] += 1
    return out


@dataclass(frozen=True)
class Need:
    """A line the point estimates say could go further than the upper bound allows yet, and about how many more
    decisions from that queue would let the bound follow."""

    side: str  # "merge" or "reject"
    line: int  # where the point estimate is within half the target
    current: int | None  # the suggestion today
    lo: int  # bins of the queue at that line: [lo, hi)
    hi: int
    more: int
    freed: int  # groups that would leave review compared with today's suggestion

    @property
    def label(self) -> str:
        return f"{self.lo / 1000:.2f}–{min(self.hi, 1000) / 1000:.2f}"


Z_ONE_SIDED = 1.645
JEFFREYS_ZERO = 1.92  # the Jeffreys 95% upper bound of a rate with no event in n decisions is about 1.92 / n


def _decisions_needed(groups: int, decided: int, rate: float, target: float) -> int:
    """Fewest decisions from a queue of `groups` (`decided` of them known) for the upper bound of its share to fall
    within `target` if the share is about `rate`: (undecided / groups) x (rate + z sd + 1.92 / n) <= target."""
    for n in range(max(decided, 1), groups + 1):
        upper = rate + Z_ONE_SIDED * math.sqrt(rate * (1 - rate) / n) + JEFFREYS_ZERO / n
        if (groups - n) / groups * upper <= target:
            return n
    return groups


def needs(
    estimates: Estimates, merge_target: float = DEFAULT_MERGE_TARGET, reject_target: float = DEFAULT_REJECT_TARGET
) -> list[Need]:
    """Per side, where the evidence points and what it would take, best payoff (groups out of review per decision)
    first. A side whose suggestion already reaches where the point estimate points needs nothing."""
    out = []
    est_m = estimates._merge["plain"]
    ok = np.nonzero((est_m <= merge_target / 2) & (estimates.merge_groups > 0))[0]
    current = estimates.suggest_merge_min(merge_target)
    if len(ok):
        m = int(np.nonzero(estimates.population[ok[0] :])[0][0] + ok[0])
        if current is None or current > m:
            groups = int(estimates.merge_groups[m])
            have = int(estimates.labels_per_bin[m:].sum())
            decided = int((estimates.population - estimates.unknown)[m:].sum())
            more = max(0, _decisions_needed(groups, decided, float(est_m[m]), merge_target) - have)
            freed = groups - (int(estimates.merge_groups[current]) if current is not None else 0)
            if more:
                out.append(Need("merge", m, current, m, BINS, more, freed))
    est_r = estimates._reject["plain"]
    ok = np.nonzero((est_r <= reject_target / 2) & (estimates.reject_groups > 0))[0]
    current = estimates.suggest_reject_below(reject_target)
    if len(ok):
        r = int(np.nonzero(estimates.population[: ok[-1]])[0][-1] + 1)
        if current is None or current < r:
            groups = int(estimates.reject_groups[r])
            have = int(estimates.labels_per_bin[:r].sum())
            decided = int((estimates.population - estimates.unknown)[:r].sum())
            more = max(0, _decisions_needed(groups, decided, float(est_r[r]), reject_target) - have)
            freed = groups - (int(estimates.reject_groups[current]) if current is not None else 0)
            if more:
                out.append(Need("reject", r, current, 0, r, more, freed))
    return sorted(out, key=lambda n: -n.freed / n.more)


def draw_sample(candidates: Mapping[int, Sequence[int]], strata: Sequence[Stratum], seed: int) -> list[int]:
    """Group ids per stratum: `candidates` maps a bin to the ids that may be drawn there; the same inputs and seed give
    the same sample, whatever order the ids came in."""
    import random

    rng = random.Random(seed)
    chosen: list[int] = []
    for s in strata:
        if not s.draw:
            continue
        pool = sorted(i for b in range(s.lo, min(s.hi, BINS)) for i in candidates.get(b, ()))
        chosen.extend(rng.sample(pool, min(s.draw, len(pool))))
    return sorted(chosen)


@dataclass(frozen=True)
class Advice:
    """Where more decisions would tighten the estimates most: a range and how many."""

    more: int
    lo: int
    hi: int
    strata: list[Stratum]

    @property
    def label(self) -> str:
        return f"{self.lo / 1000:.2f}–{min(self.hi, 1000) / 1000:.2f}"


def advice(
    estimates: Estimates,
    *,
    step: int = 50,
    available: Mapping[int, int] | Sequence[int] | None = None,
    width: int = STRATUM_MILLI,
) -> Advice | None:
    """The next `step` decisions as the calibration draw would place them, given the decisions already made, and the
    narrowest range of strata holding most (at least half) of them."""
    strata = allocate(
        estimates.population,
        step,
        estimates=estimates,
        available=available,
        already=estimates.labels_per_bin,
        width=width,
        floor=1,
    )
    total = sum(s.draw for s in strata)
    if not total:
        return None
    best = None
    for i in range(len(strata)):
        acc = 0
        for j in range(i, len(strata)):
            acc += strata[j].draw
            if acc * 2 >= total:
                if best is None or (j - i) < (best[1] - best[0]):
                    best = (i, j)
                break
    i, j = best
    return Advice(total, strata[i].lo, strata[j].hi, strata)


def _quantiles(x: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Per column, the order statistics at these levels (nearest rank, rounded outwards from the middle): one
    partition for all of them, cheaper than np.quantile."""
    n = x.shape[0]
    ranks = [min(n - 1, math.ceil(q * n) - 1) if q >= 0.5 else max(0, math.floor(q * n)) for q in qs]
    part = np.partition(x, sorted(set(ranks)), axis=0)
    return [part[r] for r in ranks]
