"""Rule-based groups' own evidence band (docs/thresholds.md, "Rule-based groups"): stewards' decisions on rule-based
groups per rule level, and on groups both engines propose, apart from the score-based estimates (matches/estimates
never sees a rule-based group: it has no score). The latest non-bulk decision per group counts, over all the
domain's runs; a merge says the rule was right, a split or a reject that it was not (wholly). 95% Wilson interval."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Q

from matches.estimates.model import wilson
from matches.models import Decision, Domain, MatchGroup

COUNTING = (Decision.Action.MERGE, Decision.Action.SPLIT, Decision.Action.REJECT)
BOTH = "both"


@dataclass(frozen=True)
class RuleBand:
    label: str  # "rule level 2" or "ML + rules"
    decided: int
    merged: int

    @property
    def share(self) -> float:
        return self.merged / self.decided if self.decided else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.merged, self.decided)

    @property
    def text(self) -> str:
        low, high = self.interval
        return f"{self.merged} of {self.decided} merged ({self.share:.0%}; 95% {low:.0%}–{high:.0%})"


def rule_evidence(*, domain: Domain) -> list[RuleBand]:
    """One band per rule level decided on (strictest first), then the both-engines band when any was decided."""
    rows = (
        Decision.objects.filter(group__run__domain=domain, bulk=False)
        .filter(Q(group__source=MatchGroup.Source.RULE_BASED) | Q(group__both_engines=True))
        .order_by("group_id", "-created_at", "-id")
        .distinct("group_id")
        .values_list("action", "group__rule_level", "group__both_engines")
    )
    decided: Counter[int | str] = Counter()
    merged: Counter[int | str] = Counter()
    for action, level, both in rows:
        if action not in COUNTING:
            continue
        key: int | str = BOTH if both or level is None else int(level)
        decided[key] += 1
        merged[key] += action == Decision.Action.MERGE
    levels = sorted(k for k in decided if isinstance(k, int))
    bands = [RuleBand(f"rule level {k}", decided[k], merged[k]) for k in levels]
    if decided[BOTH]:
        bands.append(RuleBand("ML + rules", decided[BOTH], merged[BOTH]))
    return bands
