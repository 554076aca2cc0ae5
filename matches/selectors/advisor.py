"""The stewards' evidence for AWS auto-merging at a score (docs/architecture.md, "Auto-merge advisor").

AWS auto-merging from a score s merges every group of the job scoring at least s without a person: exactly the merge
queue of a policy whose merge line is s. So the evidence is the thresholds estimate of wrong merges at that line
(docs/thresholds.md): its estimate, 95% upper bound and interval, and the lowest line whose upper bound is within the
target (what the evidence supports)."""

from __future__ import annotations

from dataclasses import dataclass

from matches.estimates import DEFAULT_MERGE_TARGET, Share
from matches.models import Domain, MatchRun
from matches.selectors.estimates import run_estimates


@dataclass(frozen=True)
class AutoMergeEvidence:
    run: MatchRun
    score_milli: int
    wrong: Share  # wrong merges among the run's groups scoring at least the score
    decisions: int
    runs_used: list[int]
    supported_milli: int | None  # the lowest line whose upper bound is within the target, or None
    target: float

    @property
    def score(self) -> float:
        return self.score_milli / 1000

    @property
    def supported(self) -> float | None:
        return None if self.supported_milli is None else self.supported_milli / 1000

    @property
    def within_target(self) -> bool:
        return self.wrong.groups > 0 and self.wrong.upper <= self.target + 1e-12

    @property
    def wrong_groups(self) -> tuple[int, int, int]:
        """Expected wrong merges as whole groups: estimate, low and high of the 95% interval."""
        share = self.wrong
        return share.count(share.estimate), share.count(share.low), share.count(share.high)


def auto_merge_evidence(
    *, domain: Domain, score: float, target: float = DEFAULT_MERGE_TARGET
) -> AutoMergeEvidence | None:
    """The evidence at `score` (0..1) for the domain's current run, or None before its first pull."""
    result = run_estimates(domain=domain, merge_target=target)
    if result is None:
        return None
    milli = max(0, min(1000, int(round(score * 1000))))
    return AutoMergeEvidence(
        run=result.run,
        score_milli=milli,
        wrong=result.at(milli / 1000, 0).wrong_merges,
        decisions=result.decisions,
        runs_used=result.runs_used,
        supported_milli=result.suggestion[0],
        target=target,
    )


def auto_merging_warning(*, enabled: bool, min_score: float | None, evidence: AutoMergeEvidence | None) -> str:
    """Why AWS's auto-merging (GetDomain's setting) is unsafe by the evidence, or "" when it is off or supported."""
    if not enabled:
        return ""
    minimum = min_score
    where = f"from {minimum:.3f}" if minimum is not None else "at AWS's default minimum"
    if evidence is None:
        return f"AWS auto-merges {where}, and no run has been pulled yet to check it against."
    if evidence.supported_milli is None:
        return (
            f"AWS auto-merges {where}, but the stewards' {evidence.decisions} decisions support no auto-merge line "
            f"at {evidence.target:.0%} wrong merges yet."
        )
    if minimum is None or minimum * 1000 < evidence.supported_milli - 1e-9:
        return (
            f"AWS auto-merges {where}, below the {evidence.supported:.3f} the evidence supports "
            f"at {evidence.target:.0%} wrong merges."
        )
    return ""
