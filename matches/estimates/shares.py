"""Shares for every merge line and every reject line of one run, with their bounds (see __init__ for the method)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from matches.estimates.curve import Curve, anchored, check, side_sum, sigmoid
from matches.estimates.departure import departed, ordered
from matches.estimates.model import (
    BINS,
    DEFAULT_MERGE_TARGET,
    DEFAULT_REJECT_TARGET,
    ONE_SIDED,
    REPLICATES,
    SLOTS,
    SMALL_BIN,
    TWO_SIDED,
    Histogram,
    Label,
    LineEstimate,
    Share,
    _Blocks,
    _line,
    _quantiles,
    histogram_array,
    score_bin,
)


class Estimates:
    """Shares for every merge line and every reject line of one run, computed once; `at()` and the suggestions read
    them. Lines are in thousandths: merge_min m puts bins >= m in the merge queue, reject_below r bins < r in the
    reject queue."""

    def __init__(
        self,
        histogram: Histogram,
        labels: Iterable[Label],
        *,
        replicates: int = REPLICATES,
        seed: int = 0,
        smooth: bool = True,
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
        self.merge_blocks = _Blocks.fit(n_bin, one_bin, self.population)
        self.reject_blocks = _Blocks.fit(n_bin, dup_bin, self.population)
        rng = np.random.default_rng(seed)
        # The model-free sides (isotonic blocks), and the sides the page and the suggestions read: the curve where it
        # passes its check, the model-free side elsewhere (see curve.py).
        self.merge_free = self._side(self.merge_blocks, run_n - run_one, rng, replicates, merge=True)
        self.reject_free = self._side(self.reject_blocks, run_dup, rng, replicates, merge=False)
        # Per outcome: the curve's fit, its draws' chances, those with their departures, and their 95% band per bin.
        self._chances: dict[bytes, tuple[Curve, np.ndarray, np.ndarray, list[np.ndarray]]] = {}
        if smooth:
            self.merge_side = self._curve_side(
                n_bin, one_bin, run_n - run_one, self.merge_free, rng, replicates, merge=True
            )
            self.reject_side = self._curve_side(n_bin, dup_bin, run_dup, self.reject_free, rng, replicates, merge=False)
        else:
            self.merge_side, self.reject_side = self.merge_free, self.reject_free
        del self._chances  # not kept: each side holds what it needs
        suffix = np.cumsum(self.population[::-1])[::-1]
        self.merge_groups = suffix.astype(int)  # groups with bin >= m
        self.reject_groups = np.concatenate([[0.0], np.cumsum(self.population)[:-1]]).astype(int)  # bin < r

    def _slots(self, merge: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bins holding few undecided groups (the emptiest first, up to SLOTS groups in all) get every group drawn
        one by one; their groups, in the side's order (merge: from the top down), are the "slots". Returns the slots'
        bins, per line how many slots lie on its side, and the undecided groups of the other bins."""
        u = self.unknown
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
        return slot_bins, slot_pos, np.where(is_small, 0.0, u)

    def _finite(self, hurt: np.ndarray, known: np.ndarray, merge: bool, rng: np.random.Generator) -> np.ndarray:
        """Replicates x lines: the share that hurts on this side in one possible run, from `hurt` (replicates x bins,
        the chance per undecided group) and the decided groups' `known` counts per bin.

        A bin holding few undecided groups has its count drawn whole (binomial: a queue of 40 undecided groups with a
        0.3% chance each has one wrong merge 11% of the time, and a bound below one group would not hold); the bins
        holding many add up to a normal count, drawn with one z per replicate. Every line sums the same draws, so
        neighbouring lines agree."""
        slot_bins, slot_pos, u_large = self._slots(merge)
        replicates = hurt.shape[0]
        total = np.zeros((replicates, BINS))
        if len(slot_bins):
            hit = rng.random((replicates, len(slot_bins))) < hurt[:, slot_bins]
            running = np.zeros((replicates, len(slot_bins) + 1))
            np.cumsum(hit, axis=1, out=running[:, 1:])
            total += running[:, slot_pos]
        if u_large.any():
            z = rng.standard_normal((replicates, 1))
            total += side_sum(hurt * u_large, merge)
            total += z * np.sqrt(np.maximum(side_sum(hurt * (1 - hurt) * u_large, merge), 0.0))
        known_sum = side_sum(known, merge)
        np.clip(total + known_sum, known_sum, side_sum(known + self.unknown, merge), out=total)
        groups = side_sum(self.population, merge)
        total /= np.where(groups > 0, groups, 1.0)
        return total

    def _side(
        self, blocks: _Blocks, known: np.ndarray, rng: np.random.Generator, replicates: int, merge: bool
    ) -> dict[str, np.ndarray]:
        """The model-free side. Per line: estimate, one-sided upper bound, two-sided interval of the share (merge: of
        groups not one person at or above the line; reject: of duplicates below it)."""
        p = blocks.draws(rng, replicates)  # replicates x columns (0, blocks..., 1)
        u = self.unknown
        # Merge side: the outcome that hurts is "not one person", worst with the lowest p the order allows; reject
        # side: "duplicate", worst with the highest.
        worst_idx, best_idx = (blocks.lo_idx, blocks.hi_idx) if merge else (blocks.hi_idx, blocks.lo_idx)
        hurt = 1 - p if merge else p
        groups = side_sum(self.population, merge)
        denom = np.where(groups > 0, groups, 1.0)
        worst = self._finite(hurt[:, worst_idx], known, merge, rng)
        best = self._finite(hurt[:, best_idx], known, merge, rng)
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
            "estimate": side_sum(known + u * mid, merge) / denom,
            "upper": upper,
            "low": low,
            "high": high,
            "plain": side_sum(known + u * plain_hurt, merge) / denom,
            "curve": np.zeros(BINS, dtype=bool),
            # Per column (0, blocks..., 1): the range of p the draws allow, for the calibration draw.
            "p_low": np.quantile(p, TWO_SIDED[0], axis=0),
            "p_high": np.quantile(p, TWO_SIDED[1], axis=0),
        }

    def _curve_side(
        self,
        n_bin: np.ndarray,
        k_bin: np.ndarray,
        known: np.ndarray,
        free: dict[str, np.ndarray],
        rng: np.random.Generator,
        replicates: int,
        merge: bool,
    ) -> dict[str, np.ndarray]:
        """The curve's side where it passes its check, the model-free side (`free`) elsewhere; "curve" says where."""
        key = k_bin.tobytes()
        if key not in self._chances:  # without splits both outcomes are the same: one fit
            curve = Curve.fit(n_bin, k_bin, self.population, rng, replicates)
            eta = curve.log_odds()
            # The curve as fitted (for its check), and with each stratum's departure where its decisions say the
            # curve is off there (departure.py: what the shares use).
            chance = departed(eta, n_bin, k_bin, rng)
            self._chances[key] = curve, sigmoid(eta), chance, _quantiles(chance, TWO_SIDED)
        curve, plain, chance, band = self._chances[key]
        p = ordered(chance, merge)  # in order, the way unfavourable to this side
        hurt = 1 - p if merge else p
        hurt_bin = n_bin - k_bin if merge else k_bin
        # The check asks whether the S-shape itself describes this side (a plateau of look-alikes at the top does
        # not fit one); the departures mend smaller misfits and would hide that.
        trusted = (
            check(1 - plain if merge else plain, n_bin, hurt_bin, rng, merge)
            & anchored(curve.centre, n_bin, self.population, merge)
            & (n_bin.sum() > 0)
        )
        if not trusted.any():
            out = dict(free)
            out["curve"] = trusted
            return out
        shares = self._finite(hurt, known, merge, rng)
        upper, high, low = _quantiles(shares, (ONE_SIDED, TWO_SIDED[1], TWO_SIDED[0]))
        groups = side_sum(self.population, merge)
        denom = np.where(groups > 0, groups, 1.0)
        estimate = side_sum(known + self.unknown * hurt.mean(axis=0), merge) / denom
        out = dict(free)
        for name, value in (("estimate", estimate), ("upper", upper), ("low", low), ("high", high)):
            out[name] = np.where(trusted, value, free[name])
        out["plain"] = np.where(trusted, estimate, free["plain"])
        out["curve"] = trusted
        # Per bin: the range of p the draws allow, for the calibration draw.
        out["curve_low"], out["curve_high"] = band
        # Draws x bins: the chance of the outcome, for the calibration draw (design.py). Each side now holds its own
        # (ordered its way); in single precision the two take what the one shared array took before in a cached
        # Estimates, and the design needs no more.
        out["p"] = p.astype(np.float32)
        return out

    # Reading ----------------------------------------------------------------------------------------------------

    def wrong_merges(self, merge_min: int) -> Share:
        m = _line(merge_min)
        return self._share(self.merge_side, m, int(self.merge_groups[m]))

    def missed_duplicates(self, reject_below: int) -> Share:
        r = _line(reject_below)
        return self._share(self.reject_side, r, int(self.reject_groups[r]))

    def _share(self, side: dict[str, np.ndarray], line: int, groups: int) -> Share:
        if groups == 0:
            return Share(0.0, 0.0, 0.0, 0.0, groups)
        return Share(
            float(side["estimate"][line]),
            float(side["upper"][line]),
            float(side["low"][line]),
            float(side["high"][line]),
            groups,
            "curve" if side["curve"][line] else "model-free",
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
        ok = (self.merge_side["upper"] <= target + 1e-12) & (self.merge_groups > 0)
        hits = np.nonzero(ok)[0]
        if not len(hits):
            return None
        # The same queue with the line at its lowest group: "merge >= 0.000" would say more than the evidence.
        return int(np.nonzero(self.population[hits[0] :])[0][0] + hits[0])

    def suggest_reject_below(self, target: float = DEFAULT_REJECT_TARGET) -> int | None:
        """The highest reject line (thousandths) with a non-empty queue whose 95% upper bound is within the target."""
        ok = (self.reject_side["upper"] <= target + 1e-12) & (self.reject_groups > 0)
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
        data, groups = (
            (self.merge_side, self.merge_groups) if side == "merge" else (self.reject_side, self.reject_groups)
        )
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
                    "curve": bool(data["curve"][line]),
                }
            )
        return out
