"""Measured alternatives to the threshold method, none adopted (docs/thresholds.md, "Six more ways, measured").
The figures there were measured before the departures from the curve (departure.py); run today, each variant
changes the current method, departures included.

    python -m bench.variants --variant aim|one-slope|transition|profile [--repetitions 200] SEED:CUSTOMERS:BUDGET ...

Each variant changes one part of the method for the length of a `with` block and is measured the way
`python -m bench calibration` measures the app (the app's calibration draw labelled from the emulator's truth):

- `aim`: the calibration sample's later rounds are aimed (design.py) at the merge line where the estimate meets the
  target, instead of the line where it is within half of it;
- `one-slope`: the curve has one steepness on both sides of its middle (all the prior mass on b_low = b_high, instead
  of half of it);
- `flat`: no preference among steepnesses: log-uniform over the grid's slopes (the reference prior of a scale),
  instead of half-Cauchy;
- `flat-high`: log-uniform for the steepness above the middle only, half-Cauchy below it and for the single slope;
- `flat-high-overlap`: `flat-high`, and a fifth of the second round drawn at random between the lines the first
  round's estimates could reach (design.reachable_line on each side), the rest as the app draws it;
- `transition`: the second round drawn at random from the scores 0.45-0.70 only. It knows where the linkage runs'
  matches and non-matches overlap, which no sample knows: a ceiling for where decisions could go, not a method;
- `profile`: no prior at all: the bound at a line is the largest share any curve of the likelihood's one-sided 95%
  region (log-likelihood within 1.353 of the best) gives it, plus 1.645 standard deviations of the undecided groups'
  own coin tosses (a profile-likelihood bound, Venzon & Moolgavkar 1988).

SEED 0 is the synthetic run of tests/test_estimates_simulation.py (1,500 groups, logistic in the score).
"""

from __future__ import annotations

import argparse
import contextlib
import random
from collections.abc import Iterator

import numpy as np

from bench import calibration as cb
from matches.estimates import curve as cv
from matches.estimates import design, sampling
from matches.estimates.model import BINS

OVERLAP = 0.2  # flat-high-overlap: the share of the second round drawn between the lines the first could reach
TRANSITION = (450, 700)  # bins of the transition variant's second round
PROFILE_DROP = 1.353  # half the chi-square(1) 90% point: a one-sided 95% region for one share
PROFILE_Z = 1.645


@contextlib.contextmanager
def _patched(owner: object, name: str, value: object) -> Iterator[None]:
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def aimed_line(estimate: np.ndarray, groups: np.ndarray, target: float, merge: bool) -> int | None:
    """design.reachable_line with the merge side aimed where its estimate meets the whole target."""
    share = 1.0 if merge else 0.5
    ok = np.nonzero((estimate <= target * share) & (groups > 0))[0]
    if not len(ok):
        return None
    return int(ok[0] if merge else ok[-1])


def one_slope_posterior(
    link: cv.Link, n: np.ndarray, k: np.ndarray, x: np.ndarray, population: np.ndarray
) -> np.ndarray:
    """curve._log_posterior with all the prior mass on b_low = b_high (one half-Cauchy slope for both halves)."""
    total = cv.log_likelihood(link, n, k, x)
    same = np.eye(len(link.slopes), dtype=bool)
    return total + np.where(same, cv.slope_prior(population, link)[:, None], -np.inf)[None]


def flat_prior(population: np.ndarray, link: cv.Link = cv.LINKS[0]) -> np.ndarray:
    """curve.slope_prior made log-uniform: every grid slope the same mass, whatever the run."""
    return np.full(len(link.slopes), -np.log(len(link.slopes)))


def flat_high_posterior(
    link: cv.Link, n: np.ndarray, k: np.ndarray, x: np.ndarray, population: np.ndarray
) -> np.ndarray:
    """curve._log_posterior with the slope above the middle log-uniform in the two-slope half of the prior."""
    total = cv.log_likelihood(link, n, k, x)
    cauchy = cv.slope_prior(population, link)
    pair = cauchy[:, None] + flat_prior(population, link)[None, :]
    one = np.where(np.eye(len(link.slopes), dtype=bool), cauchy[:, None], -np.inf)
    return total + np.logaddexp(np.log(0.5) + pair, np.log(0.5) + one)[None]


def transition_rounds(world: cb.World, budget: int, rng: random.Random, rounds: int = 2) -> list[int]:
    """The app's first round, then the rest of the budget at random from the transition scores."""
    first = cb.calibration_draw(world, budget // 2, rng)
    taken = set(first)
    lo, hi = TRANSITION
    pool = [i for i in range(world.size) if i not in taken and lo <= world.bins[i] < hi]
    return first + rng.sample(pool, min(budget - len(first), len(pool)))


def overlap_rounds(world: cb.World, budget: int, rng: random.Random, rounds: int = 2) -> list[int]:
    """The app's first round; then OVERLAP of the rest at random between the lines its estimates could reach, and
    the remainder as the app's second round, placed with all of those decisions."""
    first = cb.calibration_draw(world, budget // 2, rng)
    est = cb._estimate(world, first)
    merge = design.reachable_line(est.merge_side["estimate"], est.merge_groups, 0.01, True)
    reject = design.reachable_line(est.reject_side["estimate"], est.reject_groups, 0.05, False)
    lo, hi = reject or 0, merge if merge is not None else BINS
    rest = budget - len(first)
    taken = set(first)
    pool = [i for i in range(world.size) if i not in taken and lo <= world.bins[i] < hi]
    middle = rng.sample(pool, min(round(OVERLAP * rest), len(pool)))
    return first + middle + cb.calibration_draw(world, rest - len(middle), rng, decided=first + middle)


# Per variant, the (module, name, replacement) it swaps in; `profile` swaps nothing: it is a different bound
# (profile_lines), not a change of the app's.
PATCHES: dict[str, list[tuple[object, str, object]]] = {
    "aim": [(sampling, "reachable_line", aimed_line)],
    "one-slope": [(cv, "_log_posterior", one_slope_posterior)],
    "flat": [(cv, "slope_prior", flat_prior)],
    "flat-high": [(cv, "_log_posterior", flat_high_posterior)],
    "flat-high-overlap": [(cv, "_log_posterior", flat_high_posterior), (cb, "calibration_rounds", overlap_rounds)],
    "transition": [(cb, "calibration_rounds", transition_rounds)],
    "profile": [],
}


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """The method with one part changed, inside the block."""
    if name not in PATCHES:
        raise ValueError(name)
    with contextlib.ExitStack() as stack:
        for owner, attr, value in PATCHES[name]:
            stack.enter_context(_patched(owner, attr, value))
        yield


def profile_bounds(population: np.ndarray, n_bin: np.ndarray, k_bin: np.ndarray, merge: bool) -> np.ndarray:
    """Per line, the profile-likelihood bound of the share that hurts on this side (see the module's docstring).
    `k_bin` counts the decisions that were one person (merge) or duplicates (reject)."""
    group = np.arange(BINS) // 5
    n = np.bincount(group, weights=n_bin)
    k = np.bincount(group, weights=k_bin)
    keep = n > 0
    if not keep.any():
        return np.ones(BINS)
    lls = [
        cv.log_likelihood(link, n[keep], k[keep], np.bincount(group, weights=n_bin * link.x)[keep] / n[keep])
        for link in cv.LINKS
    ]
    best = max(float(ll.max()) for ll in lls)
    hurts = []
    for i, (link, ll) in enumerate(zip(cv.LINKS, lls, strict=True)):
        ci, lo_i, hi_i = np.nonzero(ll >= best - PROFILE_DROP)
        on_score = i == 1
        pivot = cv.sigmoid(cv.CENTRES[ci]) if on_score else cv.CENTRES[ci]
        d = (cv._S if on_score else cv.X)[None, :] - pivot[:, None]
        p = cv.sigmoid(np.where(d < 0, link.slopes[lo_i][:, None], link.slopes[hi_i][:, None]) * d)
        hurts.append(1 - p if merge else p)
    hurt = np.concatenate(hurts)
    unknown = population - n_bin
    known = (n_bin - k_bin) if merge else k_bin
    expected = cv.side_sum(hurt * unknown, merge) + cv.side_sum(known, merge)[None]
    spread = np.sqrt(cv.side_sum(hurt * (1 - hurt) * unknown, merge))
    groups = cv.side_sum(population, merge)
    return ((expected + PROFILE_Z * spread) / np.where(groups > 0, groups, 1.0)).max(axis=0)


def profile_lines(
    world: cb.World, decided: list[int], merge_target: float, reject_target: float
) -> tuple[int | None, int | None]:
    """The lowest merge line and the highest reject line whose profile bound is within the target."""
    population = world.histogram()
    n_bin, one, dup = (np.zeros(BINS) for _ in range(3))
    for i in decided:
        n_bin[world.bins[i]] += 1
        one[world.bins[i]] += world.one[i]
        dup[world.bins[i]] += world.dup[i]
    merge_groups, reject_groups = cv.side_sum(population, True), cv.side_sum(population, False)
    ok = np.nonzero((profile_bounds(population, n_bin, one, True) <= merge_target) & (merge_groups > 0))[0]
    merge = int(ok[0]) if len(ok) else None
    ok = np.nonzero((profile_bounds(population, n_bin, dup, False) <= reject_target) & (reject_groups > 0))[0]
    reject = int(ok[-1]) if len(ok) else None
    if merge is not None and reject is not None and reject > merge:
        reject = merge
    return merge, reject


def _world(seed: int, customers: int) -> cb.World:
    if seed == 0:
        return cb.synthetic_world(seed=11, groups=1500)
    return cb.emulator_world(seed=seed, customers=customers, scenario="linkage")


def _profile_row(world: cb.World, budget: int, repetitions: int) -> str:
    reviews, unsafe_m, unsafe_r = [], 0, 0
    for rep in range(repetitions):
        decided = cb.decide(world, "calibration", budget, random.Random(rep))
        m, r = profile_lines(world, decided, 0.01, 0.05)
        unsafe_m += m is not None and world.wrong_share(m) > 0.01 + 1e-12
        unsafe_r += r is not None and world.missed_share(r) > 0.05 + 1e-12
        reviews.append(world.review_share(m if m is not None else cb.POLICY[0], r if r is not None else cb.POLICY[1]))
    return f"review {float(np.median(reviews)):.1%}, unsafe merge {unsafe_m} / reject {unsafe_r} of {repetitions}"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=tuple(PATCHES), required=True)
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("rows", nargs="+", help="SEED:CUSTOMERS:BUDGET (seed 0: the synthetic run)")
    args = parser.parse_args(argv)
    for row in args.rows:
        seed, customers, budget = (int(x) for x in row.split(":"))
        world = _world(seed, customers)
        truth = world.review_share(*world.truth_lines(0.01, 0.05))
        if args.variant == "profile":
            print(f"{row} profile: {_profile_row(world, budget, args.repetitions)} (truth's lines {truth:.1%})")
            continue
        with variant(args.variant):
            s = cb.simulate(world, "calibration", budget, args.repetitions)
        print(
            f"{row} {args.variant}: merge {cb._line(s.merge_line)} within {cb._pct(s.merge_within)}, reject "
            f"{cb._line(s.reject_line)} within {cb._pct(s.reject_within)}, review {cb._pct(s.review)} "
            f"(truth's lines {truth:.1%}), {s.merge_suggested} / {s.reject_suggested} suggested; the bound at the "
            f"policy in force held {cb._pct(s.policy_merge_held)} / {cb._pct(s.policy_reject_held)}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
