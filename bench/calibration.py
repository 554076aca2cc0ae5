"""Proof by simulation: do the suggested thresholds keep their promise against the emulator's truth?

    python -m bench calibration [--seeds 3] [--repetitions 200] [--scenario linkage|default] [--quick]

A *world* is one run: every group's score and its hidden truth (all one person; at least two profiles of one
person), from the emulator's generator. A repetition decides groups the way the app asks (the calibration draw of
`matches.estimates.allocate`, or the review queue worked top-down, or QA samples of the merge and reject queues, or a
mix), labels them from the truth as a perfect steward would, runs the estimator and reads its suggestions. Reported
per budget: the suggested lines, the run's true wrong-merge and missed-duplicate shares at them, the review share,
whether the stated 95% bound held the truth, and beside them the lines chosen knowing the truth at the same targets.
Coverage is counted at the suggested line and at the policy in force (0.95 / 0.60) over every repetition.

No Django, no database: the same pure functions the app calls, fed from the emulator's truth.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matches import estimates as es

POLICY = (950, 600)  # the default policy in force: merge >= 0.950, reject < 0.600
HOWS = ("calibration", "topdown", "qa", "mix")
ROUNDS = 2
NEEDS = True  # later rounds first serve the lines' model-free needs (the app's draw); --no-needs measures without


@dataclass
class World:
    """One run's groups: score bins and truth, in arrays."""

    bins: np.ndarray  # score bin per group
    one: np.ndarray  # all one person
    dup: np.ndarray  # at least two profiles of one person
    scores: list[float] = field(default_factory=list)

    @classmethod
    def from_truth(cls, truth: Sequence[tuple[float, bool, bool]]) -> World:
        scores = [float(s) for s, _, _ in truth]
        return cls(
            bins=np.array([es.score_bin(s) for s in scores], dtype=int),
            one=np.array([bool(o) for _, o, _ in truth]),
            dup=np.array([bool(d) for _, _, d in truth]),
            scores=scores,
        )

    @property
    def size(self) -> int:
        return len(self.bins)

    def histogram(self) -> np.ndarray:
        return np.bincount(self.bins, minlength=es.BINS).astype(float)

    def wrong_share(self, merge_min: int) -> float:
        side = self.bins >= merge_min
        return float((~self.one[side]).sum() / side.sum()) if side.any() else 0.0

    def missed_share(self, reject_below: int) -> float:
        side = self.bins < reject_below
        return float(self.dup[side].sum() / side.sum()) if side.any() else 0.0

    def review_share(self, merge_min: int, reject_below: int) -> float:
        return float(((self.bins >= reject_below) & (self.bins < merge_min)).sum() / self.size)

    def truth_lines(self, merge_target: float, reject_target: float) -> tuple[int | None, int | None]:
        """Lines chosen knowing the truth: the lowest merge line and the highest reject line within the targets."""
        merge = next(
            (m for m in range(es.BINS) if (self.bins >= m).any() and self.wrong_share(m) <= merge_target), None
        )
        reject = next(
            (r for r in range(es.BINS - 1, -1, -1) if (self.bins < r).any() and self.missed_share(r) <= reject_target),
            None,
        )
        if merge is not None and reject is not None and reject > merge:
            reject = merge
        return merge, reject


def emulator_world(*, seed: int, customers: int, scenario: str = "default") -> World:
    from emulator.store import build_domain

    return World.from_truth(build_domain("sim", seed=seed, customers=customers, scenario=scenario).group_truth())


def synthetic_world(*, seed: int, groups: int = 2000) -> World:
    """Scores from a two-humped mixture, truth from a smooth increasing p(s) (a split now and then)."""
    rng = random.Random(seed)
    truth = []
    for _ in range(groups):
        s = min(1.0, max(0.0, rng.gauss(0.85, 0.1) if rng.random() < 0.6 else rng.gauss(0.45, 0.15)))
        p = 1 / (1 + np.exp(-(s - 0.62) * 22))
        one = rng.random() < p
        dup = one or rng.random() < 0.15
        truth.append((round(s, 6), one, dup))
    return World.from_truth(truth)


# How decisions are made --------------------------------------------------------------------------------------------


def calibration_draw(world: World, budget: int, rng: random.Random, decided: Sequence[int] = ()) -> list[int]:
    """The app's calibration sample: allocation per stratum from the histogram and the current estimates, then a
    seeded draw of undecided groups within each stratum."""
    decided_set = set(decided)
    hist = world.histogram()
    estimates = _estimate(world, decided) if decided else None
    available = hist.copy()
    for i in decided_set:
        available[world.bins[i]] -= 1
    strata = es.allocate(hist, budget, estimates=estimates, available=available, use_needs=NEEDS)
    candidates: dict[int, list[int]] = {}
    for i in range(world.size):
        if i not in decided_set:
            candidates.setdefault(int(world.bins[i]), []).append(i)
    return es.draw_sample(candidates, strata, seed=rng.randrange(2**31))


def topdown(world: World, budget: int, policy: tuple[int, int] = POLICY) -> list[int]:
    """The review queue worked with "next" from the top: highest score first."""
    m, r = policy
    queue = [i for i in range(world.size) if r <= world.bins[i] < m]
    queue.sort(key=lambda i: (-world.scores[i], i))
    return queue[:budget]


def qa_only(world: World, budget: int, rng: random.Random, policy: tuple[int, int] = POLICY) -> list[int]:
    """QA samples of the merge and the reject queue, half the budget each."""
    m, r = policy
    merge = [i for i in range(world.size) if world.bins[i] >= m]
    reject = [i for i in range(world.size) if world.bins[i] < r]
    half = budget // 2
    return rng.sample(merge, min(half, len(merge))) + rng.sample(reject, min(budget - half, len(reject)))


def calibration_rounds(world: World, budget: int, rng: random.Random, rounds: int = 2) -> list[int]:
    """The calibration sample as the app draws it: in rounds, each placed with the estimates of the decisions
    before it (the first, with none, follows the population)."""
    decided: list[int] = []
    for i in range(rounds):
        size = (budget - len(decided)) // (rounds - i)
        decided += calibration_draw(world, size, rng, decided=decided)
    return decided


def decide(world: World, how: str, budget: int, rng: random.Random) -> list[int]:
    if how == "calibration":
        return calibration_rounds(world, budget, rng, rounds=ROUNDS)
    if how == "calibration1":
        return calibration_draw(world, budget, rng)
    if how == "topdown":
        return topdown(world, budget)
    if how == "qa":
        return qa_only(world, budget, rng)
    if how == "mix":
        first = topdown(world, budget // 2)
        return first + calibration_draw(world, budget - len(first), rng, decided=first)
    raise ValueError(how)


def labels(world: World, decided: Sequence[int]) -> list[es.Label]:
    return [es.Label(world.scores[i], bool(world.one[i]), bool(world.dup[i])) for i in decided]


def _estimate(world: World, decided: Sequence[int], seed: int = 0) -> es.Estimates:
    return es.Estimates(world.histogram(), labels(world, decided), seed=seed)


# One repetition and many -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    merge: int | None
    reject: int | None
    wrong: float | None  # the run's true share at the suggested merge line
    missed: float | None
    review: float  # review share of the suggested pair (missing lines: the policy's)
    merge_held: bool | None  # the stated upper bound at the suggested line held the truth
    reject_held: bool | None
    policy_merge_held: bool
    policy_reject_held: bool
    merge_within: bool | None  # the true share at the suggestion is within the target
    reject_within: bool | None
    ms: float


def repetition(
    world: World, how: str, budget: int, seed: int, merge_target: float = 0.01, reject_target: float = 0.05
) -> Outcome:
    rng = random.Random(seed)
    decided = decide(world, how, budget, rng)
    started = time.perf_counter()
    est = _estimate(world, decided, seed=seed)
    m, r = est.suggest(merge_target, reject_target)
    ms = (time.perf_counter() - started) * 1000
    pm, pr = POLICY
    wrong = world.wrong_share(m) if m is not None else None
    missed = world.missed_share(r) if r is not None else None
    return Outcome(
        merge=m,
        reject=r,
        wrong=wrong,
        missed=missed,
        review=world.review_share(m if m is not None else pm, r if r is not None else min(pr, m or pr)),
        merge_held=None if m is None else est.wrong_merges(m).upper >= wrong - 1e-12,
        reject_held=None if r is None else est.missed_duplicates(r).upper >= missed - 1e-12,
        policy_merge_held=est.wrong_merges(pm).upper >= world.wrong_share(pm) - 1e-12,
        policy_reject_held=est.missed_duplicates(pr).upper >= world.missed_share(pr) - 1e-12,
        merge_within=None if m is None else wrong <= merge_target + 1e-12,
        reject_within=None if r is None else missed <= reject_target + 1e-12,
        ms=ms,
    )


@dataclass(frozen=True)
class Summary:
    how: str
    budget: int
    repetitions: int
    merge_suggested: int
    reject_suggested: int
    merge_within: float | None  # share of suggestions whose true share is within the target
    reject_within: float | None
    merge_unsafe: float  # share of all repetitions that suggested a line beyond the target
    reject_unsafe: float
    merge_held: float | None  # coverage of the bound at the suggested line
    reject_held: float | None
    policy_merge_held: float
    policy_reject_held: float
    merge_line: float | None  # median suggested line
    reject_line: float | None
    wrong: float | None  # median true share at the suggestion
    missed: float | None
    review: float  # median review share of the suggestions
    ms: float  # median estimator time


def _rate(values: list[bool | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def summarise(how: str, budget: int, outcomes: list[Outcome]) -> Summary:
    return Summary(
        how=how,
        budget=budget,
        repetitions=len(outcomes),
        merge_suggested=sum(o.merge is not None for o in outcomes),
        reject_suggested=sum(o.reject is not None for o in outcomes),
        merge_within=_rate([o.merge_within for o in outcomes]),
        reject_within=_rate([o.reject_within for o in outcomes]),
        merge_unsafe=sum(o.merge_within is False for o in outcomes) / len(outcomes),
        reject_unsafe=sum(o.reject_within is False for o in outcomes) / len(outcomes),
        merge_held=_rate([o.merge_held for o in outcomes]),
        reject_held=_rate([o.reject_held for o in outcomes]),
        policy_merge_held=_rate([o.policy_merge_held for o in outcomes]),
        policy_reject_held=_rate([o.policy_reject_held for o in outcomes]),
        merge_line=_median([o.merge for o in outcomes]),
        reject_line=_median([o.reject for o in outcomes]),
        wrong=_median([o.wrong for o in outcomes]),
        missed=_median([o.missed for o in outcomes]),
        review=statistics.median(o.review for o in outcomes),
        ms=statistics.median(o.ms for o in outcomes),
    )


def simulate(world: World, how: str, budget: int, repetitions: int, seed: int = 0, **targets: float) -> Summary:
    outcomes = [repetition(world, how, budget, seed * 100_003 + i, **targets) for i in range(repetitions)]
    return summarise(how, budget, outcomes)


def simulate_pooled(
    worlds: Sequence[World], how: str, budget: int, repetitions: int, seed: int = 0, **targets: float
) -> Summary:
    """Repetitions spread over several runs (a repetition is a run and a draw): coverage as an admin meets it."""
    outcomes = [
        repetition(worlds[i % len(worlds)], how, budget, seed * 100_003 + i, **targets) for i in range(repetitions)
    ]
    return summarise(how, budget, outcomes)


# The benchmark -----------------------------------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def _line(x: float | None) -> str:
    return "-" if x is None else f"{x / 1000:.3f}"


def run(argv: list[str] | None = None) -> int:
    from bench.ceiling import ceiling, fade  # they read a World

    parser = argparse.ArgumentParser(prog="python -m bench calibration", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="worlds (emulator seeds) per size")
    parser.add_argument("--repetitions", type=int, default=200, help="draws per world and budget")
    parser.add_argument("--scenario", default="linkage", choices=("linkage", "default"))
    parser.add_argument("--how", action="append", choices=HOWS, help="decision patterns (default: all)")
    parser.add_argument("--merge-target", type=float, default=0.01)
    parser.add_argument("--reject-target", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true", help="one seed, 50 repetitions")
    parser.add_argument("--customers", type=int, action="append", choices=(600, 5000), help="sizes (default: both)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--budget", type=int, action="append", help="budgets (default: 50/100/200 at 600, 100/200/400)")
    parser.add_argument(
        "--no-needs", action="store_true", help="experiment: later rounds by uncertainty only, not the lines' needs"
    )
    parser.add_argument(
        "--no-design", action="store_true", help="experiment: later rounds by the lines' needs, not the curve's design"
    )
    args = parser.parse_args(argv)
    global NEEDS
    NEEDS = not args.no_needs
    if args.no_design:
        from matches.estimates import sampling

        sampling.DESIGN = False
    if args.quick:
        args.seeds, args.repetitions = 1, 50
    hows = args.how or list(HOWS)
    plan = {600: (50, 100, 200), 5000: (100, 200, 400)}
    if args.customers:
        plan = {c: plan[c] for c in args.customers}
    if args.budget:
        plan = {c: tuple(args.budget) for c in plan}
    targets = {"merge_target": args.merge_target, "reject_target": args.reject_target}
    print(
        f"scenario {args.scenario}; targets: wrong merges <= {_pct(args.merge_target)}, missed duplicates <= "
        f"{_pct(args.reject_target)}; {args.repetitions} repetitions per world, {args.seeds} worlds per size"
        + ("" if NEEDS else "; later rounds without the lines' needs (experiment)")
    )
    failed = False
    for customers, budgets in plan.items():
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            world = emulator_world(seed=seed, customers=customers, scenario=args.scenario)
            tm, tr = world.truth_lines(args.merge_target, args.reject_target)
            truth_review = world.review_share(tm if tm is not None else 1000, tr if tr is not None else 0)
            print(
                f"\n{customers} customers, seed {seed}: {world.size} groups; knowing the truth: merge >= {_line(tm)}, "
                f"reject < {_line(tr)}, review {_pct(truth_review)}; policy 0.950/0.600: wrong "
                f"{_pct(world.wrong_share(POLICY[0]), 2)}, missed {_pct(world.missed_share(POLICY[1]), 2)}, review "
                f"{_pct(world.review_share(*POLICY))}"
            )
            for budget in budgets:
                limit = ceiling(world, budget, args.merge_target, args.reject_target)
                if limit:
                    print(
                        f"  limit for any method, {budget} decisions (bench/ceiling.py): merge <= "
                        f"{_line(limit.t_max)} and reject >= {_line(limit.r_min)} to be within 10 points; "
                        f"{limit.merge_changed} of {limit.merge_pool} and {limit.reject_changed} of "
                        f"{limit.reject_pool} groups changed fool it with chance S = {limit.fooled:.3f}, so its "
                        f"unsafe rate here is >= {_pct(limit.unsafe_at_least)}"
                    )
                    tail = fade(world, budget, min(args.repetitions, 21), limit.t_max, args.merge_target, seed=seed)
                    print(
                        f"    the breaking fade at {_line(limit.t_max)} (middle {tail.middle:.3f}, steepness "
                        f"{tail.slope:.1f} per unit of score): p = {tail.likely:.3f}, the decisions "
                        + ("cannot rule it out" if tail.likely >= 0.05 else "rule it out (a gap here is the method's)")
                    )
            print(
                f"{'how':>11} {'budget':>6} {'merge':>6} {'sugg':>5} {'wrong':>6} {'held':>6} {'within':>6} "
                f"{'reject':>6} {'sugg':>5} {'missed':>6} {'held':>6} {'within':>6} {'review':>6} {'Δtruth':>6} "
                f"{'pol.m':>6} {'pol.r':>6} {'ms':>5}"
            )
            for budget in budgets:
                for how in hows:
                    s = simulate(world, how, budget, args.repetitions, seed=seed, **targets)
                    gap = s.review - truth_review
                    print(
                        f"{how:>11} {budget:>6} {_line(s.merge_line):>6} {s.merge_suggested:>5} {_pct(s.wrong, 2):>6} "
                        f"{_pct(s.merge_held, 0):>6} {_pct(s.merge_within, 0):>6} {_line(s.reject_line):>6} "
                        f"{s.reject_suggested:>5} {_pct(s.missed, 1):>6} {_pct(s.reject_held, 0):>6} "
                        f"{_pct(s.reject_within, 0):>6} {_pct(s.review):>6} {gap * 100:>+6.1f} "
                        f"{_pct(s.policy_merge_held, 0):>6} {_pct(s.policy_reject_held, 0):>6} {s.ms:>5.0f}",
                        flush=True,
                    )
                    for rate in (s.merge_within, s.reject_within, s.policy_merge_held, s.policy_reject_held):
                        failed |= rate is not None and rate < 0.9
    print(
        "\nColumns: median suggested line over repetitions and how many repetitions suggested one (sugg); the run's "
        "true share at it (median); held = the stated 95% bound held the truth there; within = the true share is "
        "within the target; review = median review share of the suggestions (a missing line: the policy's); "
        "Δtruth = that minus the review share of the lines chosen knowing the truth; pol.m / pol.r = coverage of the "
        "bound at the policy in force; ms = estimator time (median)."
    )
    return 1 if failed else 0
