"""How many merges would be wrong, and how many real duplicates would be rejected, for a pair of thresholds.

Pure: numbers in, numbers out, no database. Inputs are the run's score histogram (groups per 0.001 bin, the same
bins as RunScoreBin) and labelled decisions (a score and what a person found). docs/thresholds.md explains the method
to an admin; in short:

1. **The model.** Each group has a chance p(s) of being one person, depending only on its score s, and p never goes
   down as the score goes up. Decisions are a sample of groups chosen by score (a queue's order, a QA sample, a
   calibration sample): whatever way they were chosen, given the score the truth of a decided group tells the same
   as any other at that score; what the sampling changes is *where* we have evidence.
2. **The fit.** Decisions are counted per bin and fitted with a weighted isotonic regression (pool adjacent
   violators), so a band with two decisions borrows strength from its neighbours where the data allow it.
   Inside a pooled block each 0.05 stratum speaks for its own groups: the block's rate is the population-weighted
   mean of its strata and its decisions count as the Kish effective number, so an over-sampled range (the top of the
   review queue) cannot vouch for an under-sampled one.
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

6. **The smooth curve** (curve.py). Where the decisions agree with it, a two-half logistic curve (in logit(score) or in
   the score itself, weighed by the decisions) borrows strength across the score range (a decision at 0.62 informs
   the groups at 0.80), fitted on a grid with stated priors; where it fails its posterior predictive check, or would
   reach across a populated stratum nobody decided, the model-free bound above is used instead. Every Share
   says which method gave it.
7. **Departures from the curve** (departure.py). Each draw of the curve may be off in each 0.05 stratum by its own
   amount on the log-odds scale (normal, with a spread the decisions estimate), so a stratum whose decisions disagree
   with the S-shape moves the bound near it, however many decisions elsewhere pin the curve.

A *wrong merge* is a group whose profiles are not all one person (a split counts against the merge side); a *real
duplicate* is a group with at least two profiles of one person (merge or split). Shares are over every group of the
run on that side of the line; the review workload is an exact count.
"""

from matches.estimates.model import (
    BINS,
    DEFAULT_MERGE_TARGET,
    DEFAULT_REJECT_TARGET,
    STRATUM_MILLI,
    Label,
    LineEstimate,
    Share,
    histogram_array,
    pava,
    score_bin,
    wilson,
)
from matches.estimates.sampling import Advice, Need, Stratum, advice, allocate, draw_sample, needs, strata_edges
from matches.estimates.shares import Estimates

__all__ = [
    "BINS",
    "DEFAULT_MERGE_TARGET",
    "DEFAULT_REJECT_TARGET",
    "STRATUM_MILLI",
    "Advice",
    "Estimates",
    "Label",
    "LineEstimate",
    "Need",
    "Share",
    "Stratum",
    "advice",
    "allocate",
    "draw_sample",
    "histogram_array",
    "needs",
    "pava",
    "score_bin",
    "strata_edges",
    "wilson",
]
