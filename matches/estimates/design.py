"""Where the calibration sample's later rounds go when the smooth curve is in use: the decisions that would shrink
the uncertainty of the share at the lines most (docs/thresholds.md, "The calibration sample").

The curve's posterior is a cloud of draws (curve.py). For each side whose curve is in use, take the line the
estimate could reach (the furthest line where the estimate is within half the target: the rest of the target is
room for the bound) and, per draw, T = the expected count of groups that hurt in that queue among its undecided
groups. T is what the bound is about; its spread over the draws, plus the coin tosses of the undecided groups
themselves, is what keeps the bound above the estimate.

One more decision in stratum s is a coin toss with chance p_s (the chance of a group drawn there: the stratum's
undecided groups' mean). Treating the draws as a joint normal cloud, its outcome shrinks the spread of T by
Cov(T, p_s)^2 / (Var(p_s) + E[p_s (1 - p_s)]) (the Kalman update of a linear estimate, here of an ensemble:
Evensen 2003), and when s lies inside the queue the decided group's own coin toss leaves the count too. The next
decision goes to the stratum with the largest shrinkage relative to what is left (summed over both sides), the cloud
is updated as if it had been made (rank one), and so on: decisions land where they pin the curve at the lines,
which is often not at the lines themselves (a decision at the curve's middle moves its steepness, and with it the
tail). Neither truth nor outcomes are guessed: only the current posterior's spread decides.
"""

from __future__ import annotations

import numpy as np


def _side_state(
    p_hurt: np.ndarray, unknown: np.ndarray, avail: np.ndarray, edges: list[tuple[int, int]], line: int, merge: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(covariance of [T, p_1..p_S] over the draws, per stratum the coin-toss variance R_s, per stratum whether it
    lies in the queue, the queue's own coin-toss variance)."""
    region = np.zeros(p_hurt.shape[1], dtype=bool)
    if merge:
        region[line:] = True
    else:
        region[:line] = True
    u = np.where(region, unknown, 0.0)
    total = p_hurt @ u  # draws
    strata = []
    inside = []
    for lo, hi in edges:
        w = avail[lo:hi]
        if w.sum() <= 0:
            w = np.ones(hi - lo)
        strata.append(p_hurt[:, lo:hi] @ (w / w.sum()))
        inside.append(bool(region[lo:hi].all()))  # the whole stratum in the queue
    ps = np.column_stack(strata)
    cov = np.cov(np.column_stack([total, ps]), rowvar=False)
    noise = (ps * (1 - ps)).mean(axis=0)
    own = float(((p_hurt * (1 - p_hurt)).mean(axis=0) * u).sum())
    return cov, noise, np.array(inside), own


def curve_design(
    sides: list[tuple[np.ndarray, int, bool]],
    unknown: np.ndarray,
    avail: np.ndarray,
    edges: list[tuple[int, int]],
    room: list[int],
    budget: int,
) -> list[int]:
    """Extra decisions per stratum, greedy on the shrinkage above. `sides` holds, per side in use, its draws of the
    chance that hurts (draws x bins), its line and whether it is the merge side; `room` is how many more each
    stratum can give."""
    extra = [0] * len(edges)
    if budget <= 0 or not sides:
        return extra
    states = [_side_state(p, unknown, avail, edges, line, merge) for p, line, merge in sides]
    room = list(room)
    for _ in range(budget):
        best, gain = None, 0.0
        for s in range(len(edges)):
            if room[s] <= 0:
                continue
            g = 0.0
            for cov, noise, inside, own in states:
                left = cov[0, 0] + own
                if left <= 0:
                    continue
                shrink = cov[0, s + 1] ** 2 / (cov[s + 1, s + 1] + noise[s]) if noise[s] > 0 else 0.0
                if inside[s]:
                    shrink += noise[s]
                g += shrink / left
            if g > gain:
                best, gain = s, g
        if best is None:
            break
        extra[best] += 1
        room[best] -= 1
        for i, (cov, noise, inside, own) in enumerate(states):
            k = best + 1
            denom = cov[k, k] + noise[best]
            if denom > 0:
                cov = cov - np.outer(cov[:, k], cov[k, :]) / denom
            if inside[best]:
                own = max(own - noise[best], 0.0)
            states[i] = (cov, noise, inside, own)
    return extra


def reachable_line(estimate: np.ndarray, groups: np.ndarray, target: float, merge: bool) -> int | None:
    """The furthest line whose estimate is within half the target and whose queue holds a group."""
    ok = np.nonzero((estimate <= target / 2) & (groups > 0))[0]
    if not len(ok):
        return None
    return int(ok[0] if merge else ok[-1])
