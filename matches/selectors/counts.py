"""Open groups per queue, from a run's score histogram (RunScoreBin): at most 1,001 rows, whatever the run's size."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from matches.models import MatchRun, RunScoreBin, ThresholdPolicy


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


# The statement the ORM would build (Cast(bin) / 1000.0 against the policy's bounds as floats), written once: the
# queue pages run it on every visit, and compiling the aggregate cost more than running it (issue 18).
_COUNTS_SQL = (
    'SELECT SUM("{field}") FILTER (WHERE ("bin"::double precision / 1000.0) >= %s), '
    'SUM("{field}") FILTER (WHERE ("bin"::double precision / 1000.0) < %s), SUM("{field}") '
    f'FROM "{RunScoreBin._meta.db_table}" WHERE "run_id" = %s'
)


def queue_counts_for(*, run_id: int, merge_min: Decimal, reject_below: Decimal, field: str = "open") -> QueueCounts:
    """As queue_counts, under proposed thresholds (the threshold preview). A bin holds the scores
    [bin/1000, (bin+1)/1000): its lower edge is the score the policy's bounds compare."""
    if field not in ("open", "total"):
        raise ValueError(f"no such histogram column: {field}")
    with connection.cursor() as cur:
        cur.execute(_COUNTS_SQL.format(field=field), [float(merge_min), float(reject_below), run_id])
        merge, reject, total = (value or 0 for value in cur.fetchone())
    return QueueCounts(merge=merge, review=total - merge - reject, reject=reject)
