"""Open groups per queue, from a run's score histogram (RunScoreBin): at most 1,001 rows, whatever the run's size.
Manual groups (no score, so in no bin) are counted in review, where the queue page and "next" serve them: an index
range scan of `group_queue` on (run, status, confidence_score IS NULL), which holds only the manual rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from matches.models import MatchGroup, MatchRun, RunScoreBin, ThresholdPolicy


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
# queue pages run it on every visit, and compiling the aggregate cost more than running it (issue 18). The last
# column counts the run's manual groups (confidence_score is NULL exactly for them: group_score_unless_manual),
# open ones for "open", all for "total", as the histogram's two columns do for scored groups.
_MANUAL_SQL = {
    "open": (
        f'(SELECT COUNT(*) FROM "{MatchGroup._meta.db_table}" WHERE "run_id" = %s AND "status" = '
        f"'{MatchGroup.Status.OPEN.value}' AND \"confidence_score\" IS NULL)"
    ),
    "total": f'(SELECT COUNT(*) FROM "{MatchGroup._meta.db_table}" WHERE "run_id" = %s AND "confidence_score" IS NULL)',
}
_COUNTS_SQL = (
    'SELECT SUM("{field}") FILTER (WHERE ("bin"::double precision / 1000.0) >= %s), '
    'SUM("{field}") FILTER (WHERE ("bin"::double precision / 1000.0) < %s), SUM("{field}"), {manual} '
    f'FROM "{RunScoreBin._meta.db_table}" WHERE "run_id" = %s'
)


def queue_counts_for(*, run_id: int, merge_min: Decimal, reject_below: Decimal, field: str = "open") -> QueueCounts:
    """As queue_counts, under proposed thresholds (the threshold preview). A bin holds the scores
    [bin/1000, (bin+1)/1000): its lower edge is the score the policy's bounds compare. Manual groups are in review
    whatever the thresholds."""
    if field not in ("open", "total"):
        raise ValueError(f"no such histogram column: {field}")
    sql = _COUNTS_SQL.format(field=field, manual=_MANUAL_SQL[field])
    with connection.cursor() as cur:
        cur.execute(sql, [float(merge_min), float(reject_below), run_id, run_id])
        merge, reject, total, manual = (value or 0 for value in cur.fetchone())
    return QueueCounts(merge=merge, review=total - merge - reject + manual, reject=reject)
