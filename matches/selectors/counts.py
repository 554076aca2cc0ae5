"""Open groups per queue, from a run's score histogram (RunScoreBin): at most 1,001 rows, whatever the run's size."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, FloatField, Sum, Value
from django.db.models.functions import Cast

from matches.models import MatchRun, Queue, RunScoreBin, ThresholdPolicy


@dataclass(frozen=True)
class QueueCounts:
    merge: int
    review: int
    reject: int

    @property
    def total(self) -> int:
        return self.merge + self.review + self.reject


EMPTY = QueueCounts(0, 0, 0)


def queue_counts(*, run: MatchRun | None, policy: ThresholdPolicy | None, field: str = "open") -> QueueCounts:
    """Open groups per queue of the run under `policy`."""
    if run is None or policy is None:
        return EMPTY
    return queue_counts_for(run_id=run.pk, merge_min=policy.merge_min, reject_below=policy.reject_below, field=field)


def queue_counts_for(*, run_id: int, merge_min: Decimal, reject_below: Decimal, field: str = "open") -> QueueCounts:
    """As queue_counts, under proposed thresholds (the threshold preview)."""
    policy = ThresholdPolicy(merge_min=merge_min, reject_below=reject_below)
    # A bin holds the scores [bin/1000, (bin+1)/1000): its lower edge is the score the policy's bounds compare.
    bins = RunScoreBin.objects.filter(run_id=run_id).annotate(score=Cast(F("bin"), FloatField()) / Value(1000.0))
    agg = bins.aggregate(
        merge=Sum(field, filter=policy.score_q(Queue.MERGE, field="score")),
        reject=Sum(field, filter=policy.score_q(Queue.REJECT, field="score")),
        all=Sum(field),
    )
    merge, reject, total = agg["merge"] or 0, agg["reject"] or 0, agg["all"] or 0
    return QueueCounts(merge=merge, review=total - merge - reject, reject=reject)
