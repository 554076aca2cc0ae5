"""The calibration sample: how many groups to draw per score stratum, which ones, and where more would help."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from matches.estimates.design import curve_design, reachable_line
from matches.estimates.model import (
    BINS,
    DEFAULT_MERGE_TARGET,
    DEFAULT_REJECT_TARGET,
    STRATUM_MILLI,
    Histogram,
    histogram_array,
)
from matches.estimates.shares import Estimates

VERIFY = 0.5  # on a side the design serves, the share of a round its lines' needs may take (allocate, step 2)
DESIGN = True  # later rounds placed by the curve's design where the curve is in use (design.py)

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
    if estimates is None or estimates.population[lo:hi].sum() == 0:
        return 0.5
    spread = 0.1
    for blocks, free, side in (
        (estimates.merge_blocks, estimates.merge_free, estimates.merge_side),
        (estimates.reject_blocks, estimates.reject_free, estimates.reject_side),
    ):
        if "curve_low" in side and side["curve"][lo:hi].any():
            # Where the smooth curve is used: the range of p its draws allow over the stratum.
            a = float(side["curve_low"][lo:hi].min())
            b = float(side["curve_high"][lo:hi].max())
        else:
            # From the lowest p the order allows at the stratum's bottom bin to the highest at its top bin.
            a = float(free["p_low"][blocks.lo_idx[lo]])
            b = float(free["p_high"][blocks.hi_idx[hi - 1]])
        p = min(max(0.5, a), b)
        spread = max(spread, math.sqrt(p * (1 - p)))
    return spread


def allocate(
    histogram: Histogram,
    budget: int,
    *,
    estimates: Estimates | None = None,
    available: Histogram | None = None,
    already: Histogram | None = None,
    width: int = STRATUM_MILLI,
    floor: int = 1,
    merge_target: float = DEFAULT_MERGE_TARGET,
    reject_target: float = DEFAULT_REJECT_TARGET,
    use_needs: bool = True,
    design: bool | None = None,
) -> list[Stratum]:
    """How many groups to draw per score stratum for a calibration sample of `budget` decisions.

    1. `floor` per populated stratum first, so that no range is left without evidence.
    2. With estimates and `use_needs`: where a line could go further than the evidence allows yet (see `needs`),
       the decisions that would take it there, spread over that queue by population; the line that frees more
       review work per decision first. On a side step 3 serves, at most VERIFY of what is left.
    3. On a side whose smooth curve is in use at the line it could reach (`design`, default DESIGN): one decision at
       a time where it shrinks the uncertainty of that queue's share most (design.py), each counted before the next
       is placed.
    4. The rest by Neyman allocation: a stratum's share follows (groups in it) x (how unsure its outcome is), counting
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
    designed: set[str] = set()
    if (DESIGN if design is None else design) and estimates is not None and estimates.decisions:
        sides = _design_sides(estimates, merge_target, reject_target)
        designed = {"merge" if merge else "reject" for _, _, merge in sides}
    if use_needs and estimates is not None and estimates.decisions:
        # On a side the curve's design serves, its needs take at most VERIFY of what is left: decisions spread over
        # the queue by population, which let the curve's check see a tail that is too optimistic.
        verify_left = int(VERIFY * left)
        for need in needs(estimates, merge_target, reject_target):
            if need.side in designed:
                want = min(need.more, left, verify_left)
                verify_left -= want
            else:
                want = min(need.more, left)
            region = np.zeros(BINS)
            region[need.lo : need.hi] = pop[need.lo : need.hi]
            shares = [float(region[lo:hi].sum()) for lo, hi in edges]
            for i, extra in enumerate(_largest_remainder(shares, want)):
                extra = min(extra, n_avail[i] - draw[i])
                draw[i] += extra
                left -= extra
    if designed and left > 0:
        room = [n_avail[i] - draw[i] for i in range(len(edges))]
        unknown = np.minimum(estimates.unknown, avail)  # type: ignore[union-attr]
        for i, extra in enumerate(curve_design(sides, unknown, avail, edges, room, left)):
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


def _design_sides(
    estimates: Estimates, merge_target: float, reject_target: float
) -> list[tuple[np.ndarray, int, bool]]:
    """The sides whose curve is in use at the line the estimate could reach: (draws of the chance that hurts, line,
    merge?)."""
    out = []
    for side, groups, target, merge in (
        (estimates.merge_side, estimates.merge_groups, merge_target, True),
        (estimates.reject_side, estimates.reject_groups, reject_target, False),
    ):
        if "p" not in side:
            continue
        line = reachable_line(side["estimate"], groups, target, merge)
        if line is not None and side["curve"][line]:
            out.append((1 - side["p"] if merge else side["p"], line, merge))
    return out


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

    def within(n: int) -> bool:
        upper = rate + Z_ONE_SIDED * math.sqrt(rate * (1 - rate) / n) + JEFFREYS_ZERO / n
        return (groups - n) / groups * upper <= target

    lo, hi = max(decided, 1), groups
    if within(lo):
        return lo
    while hi - lo > 1:  # within() only gets easier with more decisions
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if within(mid) else (mid, hi)
    return hi


def _side_needs(estimates: Estimates, side: str, target: float, current: int | None, step: int = 5) -> Need | None:
    """The line that frees the most review work per decision still needed, among those where the plain fit is within
    half the target (the rest of the target is room for the bound)."""
    merge = side == "merge"
    plain = (estimates.merge_side if merge else estimates.reject_side)["plain"]
    groups_at = estimates.merge_groups if merge else estimates.reject_groups
    labelled = estimates.labels_per_bin
    decided_bins = estimates.population - estimates.unknown
    now = int(groups_at[current]) if current is not None else 0
    best = None
    for line in range(0, BINS, step):
        groups = int(groups_at[line])
        if not groups or plain[line] > target / 2 or groups <= now:
            continue
        region = slice(line, BINS) if merge else slice(0, line)
        have = int(labelled[region].sum())
        more = _decisions_needed(groups, int(decided_bins[region].sum()), float(plain[line]), target) - have
        if more <= 0:
            continue
        payoff = (groups - now) / more
        if best is None or payoff > best[0]:
            best = (payoff, line, groups, more)
    if best is None:
        return None
    _, line, groups, more = best
    lo, hi = (line, BINS) if merge else (0, line)
    return Need(side, line, current, lo, hi, more, groups - now)


def needs(
    estimates: Estimates, merge_target: float = DEFAULT_MERGE_TARGET, reject_target: float = DEFAULT_REJECT_TARGET
) -> list[Need]:
    """Per side, the line the evidence could reach and about how many more decisions from that queue it would take,
    best payoff (groups out of review per decision) first. A side whose suggestion reaches as far needs nothing."""
    out = [
        _side_needs(estimates, "merge", merge_target, estimates.suggest_merge_min(merge_target)),
        _side_needs(estimates, "reject", reject_target, estimates.suggest_reject_below(reject_target)),
    ]
    return sorted((n for n in out if n is not None), key=lambda n: -n.freed / n.more)


def draw_sample(candidates: Mapping[int, Sequence[int]], strata: Sequence[Stratum], seed: int) -> list[int]:
    """Group ids per stratum: `candidates` maps a bin to the ids that may be drawn there; the same inputs and seed give
    the same sample, whatever order the ids came in."""

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
    """Where more decisions would tighten the estimates most: the range where the next `more` would go, and per line
    that could move, how many decisions from which queue would let it (`needs`)."""

    more: int
    lo: int
    hi: int
    strata: list[Stratum]
    needs: list[Need]

    @property
    def label(self) -> str:
        return f"{self.lo / 1000:.2f}–{min(self.hi, 1000) / 1000:.2f}"


def advice(
    estimates: Estimates,
    *,
    step: int = 50,
    available: Histogram | None = None,
    width: int = STRATUM_MILLI,
    merge_target: float = DEFAULT_MERGE_TARGET,
    reject_target: float = DEFAULT_REJECT_TARGET,
) -> Advice | None:
    """The next `step` decisions placed as a calibration round would place them (the curve's design where it is in
    use, else by uncertainty and population, given the decisions already made), the narrowest range of strata
    holding most (at least half) of them, and the lines' needs."""
    strata = allocate(
        estimates.population,
        step,
        estimates=estimates,
        available=available,
        already=estimates.labels_per_bin,
        width=width,
        floor=1,
        use_needs=False,
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
    assert best is not None  # total > 0: some stratum draws
    i, j = best
    return Advice(total, strata[i].lo, strata[j].hi, strata, needs(estimates, merge_target, reject_target))
