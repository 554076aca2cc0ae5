"""Group status changes keep the run's score histogram current in the same transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from matches.models import MatchGroup, MatchRun, RunScoreBin

Status = MatchGroup.Status


def score_bin(score: float) -> int:
    """floor(score * 1000), computed on the score's shortest decimal form so it agrees with `score >= 0.xyz`."""
    return int((Decimal(repr(float(score))) * 1000).to_integral_value(rounding=ROUND_FLOOR))


def bins_add(*, run: MatchRun, scores: Iterable[float], open_: bool = True) -> None:
    """Count newly stored groups into the run's histogram (one statement however many groups)."""
    counts = Counter(score_bin(s) for s in scores)
    if not counts:
        return
    bins = sorted(counts)  # one order for every writer: parallel S3 workers upsert the same bins without deadlock
    totals = [counts[b] for b in bins]
    table = RunScoreBin._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (run_id, bin, total, open)
            SELECT %s, b, n, o FROM unnest(%s::int[], %s::int[], %s::int[]) AS t(b, n, o)
            ON CONFLICT (run_id, bin) DO UPDATE
            SET total = {table}.total + EXCLUDED.total, open = {table}.open + EXCLUDED.open
            """,
            [run.pk, bins, totals, totals if open_ else [0] * len(bins)],
        )


def _bump_open(run_id: int, scores: Iterable[float | None], delta: int) -> None:
    # A manual group has no score and no bin: the histogram counts AWS's groups only.
    counts = Counter(score_bin(s) for s in scores if s is not None)
    if not counts:
        return
    bins = list(counts)
    table = RunScoreBin._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS h SET open = h.open + t.n
            FROM unnest(%s::int[], %s::int[]) AS t(b, n)
            WHERE h.run_id = %s AND h.bin = t.b
            """,
            [bins, [delta * counts[b] for b in bins], run_id],
        )


def group_set_status(*, group: MatchGroup, status: str, reason: str = "", **extra: Any) -> None:
    """Change one group's status (caller holds its row lock inside a transaction)."""
    if not connection.in_atomic_block:
        raise RuntimeError("group_set_status must run inside a transaction")
    if status == Status.OPEN and group.run.status == MatchRun.Status.SUPERSEDED:
        # Back to review in a run a newer pull replaced: superseded, as it would have been at that pull.
        status, reason = Status.SUPERSEDED, f"{reason} A newer pull has replaced this run.".strip()
    was_open = group.status == Status.OPEN
    group.status = status
    group.status_reason = reason
    fields = ["status", "status_reason", "updated_at"]
    for name, value in extra.items():
        setattr(group, name, value)
        fields.append(name)
    group.save(update_fields=fields)
    if was_open != (status == Status.OPEN):
        _bump_open(group.run_id, [group.confidence_score], 1 if status == Status.OPEN else -1)


def groups_set_status(*, queryset: QuerySet[MatchGroup], status: str, reason: str = "") -> int:
    """Change many groups' status at once, keeping the histograms of their runs current."""
    with transaction.atomic():
        rows = list(
            queryset.select_for_update()
            .exclude(status=status)
            .values_list("pk", "run_id", "status", "confidence_score")
        )
        if not rows:
            return 0
        MatchGroup.objects.filter(pk__in=[r[0] for r in rows]).update(status=status, status_reason=reason)
        by_run_closed: dict[int, list[float | None]] = {}
        by_run_opened: dict[int, list[float | None]] = {}
        for _, run_id, old, score in rows:
            if old == Status.OPEN and status != Status.OPEN:
                by_run_closed.setdefault(run_id, []).append(score)
            elif old != Status.OPEN and status == Status.OPEN:
                by_run_opened.setdefault(run_id, []).append(score)
        for run_id, scores in by_run_closed.items():
            _bump_open(run_id, scores, -1)
        for run_id, scores in by_run_opened.items():
            _bump_open(run_id, scores, 1)
        return len(rows)


def linked_groups_follow(*, decision_id: int, status: str, reason: str, from_status: str = Status.APPROVED) -> int:
    """Groups of later runs that carry-over linked to this merge/split decision follow its MergeJob (call inside the
    transaction that changes the job): succeeded → merged, failed → failed, cancelled/undone/sent back → open.
    Only groups still in `from_status` move. A group going back to review whose run was replaced by a newer pull
    becomes `superseded` instead, as it would have at that pull had it been open."""
    with transaction.atomic():
        rows = list(
            MatchGroup.objects.filter(linked_decision_id=decision_id, status=from_status).values_list(
                "pk", "run__status"
            )
        )
        if not rows:
            return 0
        still = MatchGroup.objects.filter(status=from_status)  # re-checked under the row lock
        if status != Status.OPEN:
            return groups_set_status(queryset=still.filter(pk__in=[pk for pk, _ in rows]), status=status, reason=reason)
        old = [pk for pk, run_status in rows if run_status == MatchRun.Status.SUPERSEDED]
        current = [pk for pk, run_status in rows if run_status != MatchRun.Status.SUPERSEDED]
        moved = groups_set_status(queryset=still.filter(pk__in=current), status=Status.OPEN, reason=reason)
        return moved + groups_set_status(
            queryset=still.filter(pk__in=old),
            status=Status.SUPERSEDED,
            reason=f"{reason} A newer pull has replaced this run.",
        )
