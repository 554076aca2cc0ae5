"""Open groups per queue, from a run's score histogram (RunScoreBin): at most 1,001 rows, whatever the run's size.
Groups without a score (manual, rule-based: in no bin) are counted in the queue where the queue page and "next"
serve them, from the partial index `group_unscored`, which holds only those rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from matches.models import Domain, MatchGroup, MatchRun, RunScoreBin, ThresholdPolicy


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
# queue pages run it on every visit, and compiling the aggregate cost more than running it (issue 18). The second
# part counts the run's groups without a score (manual and rule-based: confidence_score is NULL exactly for them,
# group_score_by_source; the partial index group_unscored), open ones for "open", all for "total", as the histogram's
# two columns do for scored groups, and how many of them are rule-based at or under the domain's rule_merge_max_level
# (MatchGroup.queue_of puts those in merge; every other unscored group is in review).
_UNSCORED_SQL = (
    f"SELECT COUNT(*) FILTER (WHERE g.\"source\" = '{MatchGroup.Source.RULE_BASED.value}'"
    ' AND g."rule_level" <= COALESCE(d."rule_merge_max_level", 0)) AS merge, COUNT(*) AS n'
    f' FROM "{MatchGroup._meta.db_table}" g JOIN "{MatchRun._meta.db_table}" r ON r."id" = g."run_id"'
    f' JOIN "{Domain._meta.db_table}" d ON d."id" = r."domain_id"'
    ' WHERE g."run_id" = %s AND g."confidence_score" IS NULL{status}'
)
_STATUS = {"open": f" AND g.\"status\" = '{MatchGroup.Status.OPEN.value}'", "total": ""}
_COUNTS_SQL = (
    "SELECT h.merge, h.reject, h.total, u.merge, u.n FROM ("
    'SELECT SUM("{field}") FILTER (WHERE ("bin"::double precision / 1000.0) >= %s) AS merge, '
    'SUM("{field}") FILTER (WHERE ("bin"::double precision / 1000.0) < %s) AS reject, SUM("{field}") AS total '
    f'FROM "{RunScoreBin._meta.db_table}" WHERE "run_id" = %s) h CROSS JOIN ({{unscored}}) u'
)


def queue_counts_for(*, run_id: int, merge_min: Decimal, reject_below: Decimal, field: str = "open") -> QueueCounts:
    """As queue_counts, under proposed thresholds (the threshold preview). A bin holds the scores
    [bin/1000, (bin+1)/1000): its lower edge is the score the policy's bounds compare. Groups without a score stay
    where their kind puts them whatever the thresholds: manual ones in review, rule-based ones by their level."""
    if field not in ("open", "total"):
        raise ValueError(f"no such histogram column: {field}")
    sql = _COUNTS_SQL.format(field=field, unscored=_UNSCORED_SQL.format(status=_STATUS[field]))
    with connection.cursor() as cur:
        cur.execute(sql, [float(merge_min), float(reject_below), run_id, run_id])
        merge, reject, total, rule_merge, unscored = (value or 0 for value in cur.fetchone())
    return QueueCounts(merge=merge + rule_merge, review=total - merge - reject + unscored - rule_merge, reject=reject)
