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

from dataclasses import dataclass

import numpy as np

from bench.calibration import World


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
