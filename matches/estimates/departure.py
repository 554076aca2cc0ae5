"""Where the decisions in a score stratum say the smooth curve is off there: a departure per stratum.

The curve (curve.py) is one S-shape across the whole score range. Once a few hundred decisions pin its middle and
steepness, its draws agree closely, and where the run's real chance is not quite S-shaped (a shoulder of
duplicates just below the middle, say) the bound inherits the curve's error with the confidence of its many
decisions: on held-out runs its missed-duplicate suggestions at 400 decisions held in only 86-89% of repetitions
(docs/thresholds.md, "Departures from the curve").

So each draw of the curve may be off in each 0.05 stratum by its own amount on the log-odds scale:

    logit p(x) = curve(x) + delta_s,        delta_s ~ Normal(0, tau^2), independently per stratum,

with tau, how far the run's strata stray from the curve, unknown: half-Cauchy with scale 1 (a departure of a factor
e in the odds is a large one; Gelman 2006's weakly informative prior for a hierarchical spread). For each draw of
the curve, tau is drawn from its posterior given every stratum's decisions, then each stratum's delta from its
posterior given its own decisions and tau. Many decisions in a stratum that disagree with the curve move that
stratum towards what they say; strata whose decisions agree make tau small, and with it every departure, including
in strata nobody decided. The curve's draws themselves are not refitted (a "cut" of the joint model: the
departures answer the decisions the curve cannot, they do not pull the curve).

A departure can put a stratum's chance above the next one's. Each draw is then put back in order the way that is
unfavourable to its side: for the reject side (the chance of a duplicate) no bin below any other's chance; for the
merge side no bin above any higher bin's.
"""

from __future__ import annotations

import numpy as np

from matches.estimates.curve import sigmoid
from matches.estimates.model import BINS, STRATUM_MILLI

DELTAS = np.linspace(-4.0, 4.0, 25)  # the departure's grid (log-odds); a draw is spread within its cell
TAUS = np.geomspace(0.05, 4.0, 12)  # the spread's grid; 0.05 is no departure for any share a line is set on
TAU_SCALE = 1.0  # half-Cauchy scale of the spread (log-odds)
POOL = 10  # decisions pooled in 0.01-wide bins for the likelihood (at their mean log-odds)
STRATUM = np.minimum(np.arange(BINS) // STRATUM_MILLI, 1000 // STRATUM_MILLI - 1)  # 1.000 is in the top stratum
STRATA = int(STRATUM.max()) + 1
_PRIOR = np.exp(-0.5 * (DELTAS[None, :] / TAUS[:, None]) ** 2)
_PRIOR /= _PRIOR.sum(axis=1, keepdims=True)  # taus x deltas: each spread's normal on the grid
_LOG_TAU_PRIOR = np.log(TAUS) - np.log1p((TAUS / TAU_SCALE) ** 2)  # half-Cauchy mass on a log-spaced grid


def _log_likelihood(eta: np.ndarray, n_bin: np.ndarray, k_bin: np.ndarray) -> np.ndarray:
    """Draws x strata x DELTAS: the log likelihood of each stratum's decisions under each draw moved by each delta.
    In single precision (its error, about 1e-5 of a log likelihood, moves no draw that matters; it halves the
    cost)."""
    group = np.arange(BINS) // POOL
    n_pool = np.bincount(group, weights=n_bin)
    k_pool = np.bincount(group, weights=k_bin)
    used = np.nonzero(n_pool > 0)[0]
    decided = np.nonzero(n_bin > 0)[0]
    mean = np.zeros((len(decided), len(used)))  # decided bin -> its pool, weighted by its share of the decisions
    mean[np.arange(len(decided)), np.searchsorted(used, group[decided])] = n_bin[decided] / n_pool[group[decided]]
    eta_pool = (eta[:, decided] @ mean).astype(np.float32)
    member = np.zeros((len(used), STRATA), dtype=np.float32)
    member[np.arange(len(used)), STRATUM[used * POOL]] = 1.0
    n, k = n_pool[used].astype(np.float32), k_pool[used].astype(np.float32)
    out = np.empty((eta.shape[0], STRATA, len(DELTAS)))
    for g, d in enumerate(DELTAS.astype(np.float32)):
        z = eta_pool + d
        # k log p + (n - k) log (1 - p) = k z - n log(1 + e^z)
        out[:, :, g] = (k * z - n * (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))))) @ member
    return out


def _pick(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of the last axis, with the given (unnormalised, non-negative) weights."""
    cdf = np.cumsum(weights, axis=-1)
    u = rng.random(cdf.shape[:-1] + (1,)) * cdf[..., -1:]
    return np.minimum((u > cdf).sum(axis=-1), weights.shape[-1] - 1)


def departed(eta: np.ndarray, n_bin: np.ndarray, k_bin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws x bins: the chance of the outcome with each draw's departures (unordered). `eta` is the curve's log-odds
    per draw and bin, `n_bin` / `k_bin` the decisions per bin and how many had the outcome."""
    ll = _log_likelihood(eta, n_bin, k_bin)
    top = ll.max(axis=2, keepdims=True)
    like = np.exp(ll - top)  # draws x strata x deltas
    # Per draw, each spread's marginal likelihood: the strata's likelihoods averaged over their departures' prior.
    marginal = (np.log(np.maximum(like @ _PRIOR.T, 1e-300)) + top).sum(axis=1) + _LOG_TAU_PRIOR  # draws x taus
    tau = _pick(np.exp(marginal - marginal.max(axis=1, keepdims=True)), rng)
    delta_i = _pick(like * _PRIOR[tau][:, None, :], rng)  # draws x strata
    # Each draw spread within its grid cell, unless the spread is finer than the grid (the departure is then its
    # grid point, 0 but where a stratum's decisions insist).
    step = DELTAS[1] - DELTAS[0]
    half = np.where(TAUS[tau] < step, 0.0, step / 2)[:, None]
    delta = DELTAS[delta_i] + half * rng.uniform(-1.0, 1.0, delta_i.shape)
    return sigmoid(eta + delta[:, STRATUM])


def ordered(p: np.ndarray, merge: bool) -> np.ndarray:
    """Each draw put back in non-decreasing order, the way unfavourable to its side: merge (the hurt is 1 - p) takes
    the lowest chance of any bin at or above; reject (the hurt is p) the highest of any bin at or below."""
    if merge:  # a reversed view would slow every sum over it: a fresh array in the usual order
        return np.ascontiguousarray(np.minimum.accumulate(p[:, ::-1], axis=1)[:, ::-1])
    return np.maximum.accumulate(p, axis=1)
