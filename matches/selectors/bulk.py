"""Whether the evidence allows a bulk decision on a queue (docs/thresholds.md, "Bulk decisions"): the queue's
estimate, read through the thresholds selector (matches/selectors/estimates.py) so it is the same figure as on the
thresholds page, its one-sided 95% upper bound against the domain's target, and what would help when it is not
within it. The bulk page shows it beside the confirmation; the bulk service refuses a job without it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from matches import estimates as es
from matches.models import Domain, MatchRun, Queue, ThresholdPolicy
from matches.selectors import estimates as estimate_reads

METHOD = (
    "isotonic fit of people's decisions by score, Jeffreys per pooled block, 400 replicates; "
    "the one-sided 95% upper bound must be within the target"
)
Z_ONE_SIDED = 1.645
JEFFREYS_ZERO = 1.92  # the 95% upper bound of a rate with no event in n decisions is about 1.92 / n


def domain_targets(domain: Domain) -> tuple[float, float]:
    """The domain's targets (wrong merges in the merge queue, real duplicates in the reject queue). Every domain has
    the house targets today, the ones the thresholds page suggests lines for by default; this is the one place that
    says so."""
    return es.DEFAULT_MERGE_TARGET, es.DEFAULT_REJECT_TARGET


@dataclass(frozen=True)
class BulkEvidence:
    """The evidence behind a bulk decision on one queue under one policy."""

    queue: str
    policy_id: int
    run_id: int | None
    target: float
    share: es.Share | None  # wrong merges (merge queue) or real duplicates (reject queue); None: no completed run
    decisions: int  # people's decisions behind the estimate
    in_queue: int  # of them, inside the queue's score range
    runs_used: tuple[int, ...]
    low: float  # the queue's score range, for "decide more groups in ..."
    high: float
    more: int | None  # about how many more decisions in the range would bring the bound within the target
    method: str = METHOD

    @property
    def allowed(self) -> bool:
        return self.share is not None and self.share.upper <= self.target + 1e-12

    @property
    def measure(self) -> str:
        return "wrong merges" if self.queue == Queue.MERGE else "real duplicates rejected"

    @property
    def range_label(self) -> str:
        return f"{self.low:.2f}–{min(self.high, 1.0):.2f}"

    @property
    def estimate_text(self) -> str:
        return pct(self.share.estimate) if self.share else "—"

    @property
    def interval_text(self) -> str:
        return f"{pct(self.share.low)}–{pct(self.share.high)}" if self.share else "—"

    @property
    def upper_text(self) -> str:
        return pct(self.share.upper) if self.share else "—"

    @property
    def target_text(self) -> str:
        return pct(self.target)

    @property
    def runs_text(self) -> str:
        return ", ".join(f"run {pk}" for pk in self.runs_used) or "none"

    @property
    def why_not(self) -> str:
        """Why bulk is not offered, in a sentence ("" when it is)."""
        if self.allowed:
            return ""
        if self.share is None:
            return "This domain has no completed pull yet."
        return (
            f"Bulk is not offered: the 95% upper bound on {self.measure} in the {self.queue} queue is "
            f"{self.upper_text}, above the domain's target of {self.target_text} (estimate {self.estimate_text}, from "
            f"{self.decisions} decision{'s' if self.decisions != 1 else ''}, {self.in_queue} of them in "
            f"{self.range_label})."
        )

    @property
    def what_helps(self) -> str:
        """What would let the bound follow ("" when bulk is offered)."""
        if self.allowed or self.share is None:
            return ""
        if self.more is None:
            return (
                f"Even the low end of the interval is above the target: more decisions will not make bulk safe "
                f"here; move the {self.queue} line on the thresholds page."
            )
        return (
            f"Decide about {self.more} more group{'s' if self.more != 1 else ''} in {self.range_label}, "
            f"spread over the range, or ask for a calibration sample."
        )

    @property
    def refusal(self) -> str:
        return f"{self.why_not} {self.what_helps}".strip()

    def summary(self) -> dict[str, object]:
        """The figures as the audit row keeps them."""
        share = self.share
        return {
            "target": self.target,
            "estimate": share.estimate if share else None,
            "low": share.low if share else None,
            "high": share.high if share else None,
            "upper": share.upper if share else None,
            "decisions": self.decisions,
            "in_queue": self.in_queue,
            "runs_used": list(self.runs_used),
        }


def pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def more_needed(groups: int, decided: int, rate: float, target: float) -> int:
    """About how many more decisions from a queue of `groups` (`decided` of them known) would bring its upper bound
    within `target` if the share is about `rate`, taken as at most half the target (the rest is room for the bound;
    with few decisions the estimate says little): (undecided / groups) x (rate + z sd + 1.92 / n) <= target."""
    if groups <= 0:
        return 1
    rate = min(max(rate, 0.0), target / 2)

    def within(n: int) -> bool:
        upper = rate + Z_ONE_SIDED * math.sqrt(rate * (1 - rate) / n) + JEFFREYS_ZERO / n
        return (groups - n) / groups * upper <= target

    lo, hi = max(decided, 1), groups
    if within(lo):
        return max(lo - decided, 1)
    while hi - lo > 1:  # within() only gets easier with more decisions
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if within(mid) else (mid, hi)
    return max(hi - decided, 1)


def bulk_evidence(
    *, domain: Domain, queue: str, policy: ThresholdPolicy | None = None, run: MatchRun | None = None
) -> BulkEvidence:
    """The evidence for a bulk decision on the merge or reject queue under `policy` (default: the one in force), for
    the domain's latest completed run (the run bulk acts on)."""
    policy = policy or domain.policy()
    merge_target, reject_target = domain_targets(domain)
    target = merge_target if queue == Queue.MERGE else reject_target
    low, high = policy.score_range(queue)
    result = estimate_reads.run_estimates(domain=domain, merge_target=merge_target, reject_target=reject_target)
    if result is None or (run is not None and result.run.pk != run.pk):
        return BulkEvidence(queue, policy.pk, None, target, None, 0, 0, (), low, high, None)
    line = result.at(policy.merge_min, policy.reject_below)
    share = line.wrong_merges if queue == Queue.MERGE else line.missed_duplicates
    m, r = round(float(policy.merge_min) * 1000), round(float(policy.reject_below) * 1000)
    per_bin = result.estimates.labels_per_bin
    in_queue = int(per_bin[m:].sum() if queue == Queue.MERGE else per_bin[:r].sum())
    # None when the bound holds, or when even the interval's low end is above the target (decisions will not do).
    hopeless = share.upper <= target or share.low > target
    more = None if hopeless else more_needed(share.groups, in_queue, share.estimate, target)
    return BulkEvidence(
        queue=queue,
        policy_id=policy.pk,
        run_id=result.run.pk,
        target=target,
        share=share,
        decisions=result.decisions,
        in_queue=in_queue,
        runs_used=tuple(result.runs_used),
        low=low,
        high=high,
        more=more,
    )
