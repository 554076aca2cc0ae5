"""Run retention (docs/scaling.md, "Partitioning by run"): the groups of runs superseded longer ago than
`MATCHDESK_RUN_RETENTION_DAYS` move out of the hot `MatchGroup` table into `ArchivedGroup`, so the queue indexes
hold the runs a steward can still reach, not every run ever pulled.

A group anything refers to never moves: a decision (the audit chain and carry-over read it through its group), a
comment, a QA or calibration item, a carried-over link. The rows referring to a group are found from the model's
reverse relations, so a table that later gains a foreign key to MatchGroup is kept out of the archive without a change
here (and should one be missed, its foreign key stops the batch: PROTECT). Each batch is one durable transaction with
its audit event; a killed worker resumes with the next batch, and a run is marked (`MatchRun.groups_archived_at`)
once nothing movable is left in it. Only runs whose background rewrite has finished are touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from matches.models import ArchivedGroup, MatchGroup, MatchRun
from matches.services.audit import audit_log

ARCHIVE_BATCH = 5000


def retention_days() -> int:
    """The setting; 0 (the default) keeps every run's groups in the hot table."""
    return int(settings.MATCHDESK.get("RUN_RETENTION_DAYS", 0) or 0)


def runs_due_for_archive(*, before: datetime) -> list[MatchRun]:
    """Superseded runs stepped down before `before` whose groups are all rewritten and not archived yet."""
    return list(
        MatchRun.objects.filter(
            status=MatchRun.Status.SUPERSEDED,
            superseded_at__lt=before,
            groups_superseded_at__isnull=False,
            groups_archived_at__isnull=True,
        )
        .select_related("domain")
        .order_by("superseded_at", "pk")
    )


def _kept_sql() -> str:
    """`NOT EXISTS` of every row that refers to the group `g`, plus its own carried-over link."""
    clauses = ["g.linked_decision_id IS NULL"]
    for rel in MatchGroup._meta.related_objects:
        if not rel.field.concrete or rel.many_to_many:
            continue
        table = rel.related_model._meta.db_table
        column = rel.field.column
        clauses.append(f'NOT EXISTS (SELECT 1 FROM "{table}" r WHERE r."{column}" = g.id)')
    return " AND ".join(clauses)


def _archive_batch(run: MatchRun, batch: int) -> int:
    """Move up to `batch` unreferenced groups of `run` (one statement: DELETE … RETURNING into the archive). In no
    order: an ORDER BY id would let the planner walk the primary key through every other run's rows."""
    archive = ArchivedGroup._meta.db_table
    groups = MatchGroup._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH batch AS (
                SELECT g.id FROM "{groups}" g
                WHERE g.run_id = %s AND {_kept_sql()}
                LIMIT %s FOR UPDATE SKIP LOCKED
            ), moved AS (
                DELETE FROM "{groups}" d USING batch WHERE d.id = batch.id RETURNING d.*
            )
            INSERT INTO "{archive}" (id, run_id, match_id, "row", archived_at)
            SELECT moved.id, moved.run_id, moved.match_id, to_jsonb(moved), now() FROM moved
            """,
            [run.pk, batch],
        )
        return cur.rowcount


@dataclass
class RetentionResult:
    runs: list[int] = field(default_factory=list)
    archived: int = 0
    kept: int = 0

    def line(self) -> str:
        if not self.runs:
            return "no run past retention"
        return (
            f"archived {self.archived} groups of {len(self.runs)} runs ({', '.join(map(str, self.runs))}); "
            f"kept {self.kept} groups with a decision, comment or sample"
        )


def run_archive(*, run: MatchRun, days: int, batch: int = ARCHIVE_BATCH) -> tuple[int, int]:
    """Archive one run's unreferenced groups, a batch per durable transaction with its audit event; returns
    (archived, kept). Marks the run when no movable group is left."""
    archived = 0
    while True:
        with transaction.atomic(durable=True):
            locked = MatchRun.objects.select_for_update().filter(pk=run.pk, groups_archived_at__isnull=True).first()
            if locked is None:
                return archived, MatchGroup.objects.filter(run=run).count()
            moved = _archive_batch(locked, batch)
            if moved:
                archived += moved
                audit_log(
                    action="run.groups_archived",
                    object_type="run",
                    object_id=run.pk,
                    details={"archived": moved, "retention_days": days},
                    domain=run.domain,
                )
            if moved < batch:
                kept = MatchGroup.objects.filter(run=run).count()
                MatchRun.objects.filter(pk=run.pk).update(groups_archived_at=timezone.now())
                audit_log(
                    action="run.archived",
                    object_type="run",
                    object_id=run.pk,
                    details={"archived": archived, "kept": kept, "retention_days": days},
                    domain=run.domain,
                )
                return archived, kept


def retention_apply(
    *, days: int | None = None, now: datetime | None = None, batch: int = ARCHIVE_BATCH
) -> RetentionResult:
    """Archive every run past the retention window (`days`, else the setting; 0 keeps everything)."""
    days = retention_days() if days is None else days
    result = RetentionResult()
    if days <= 0:
        return result
    before = (now or timezone.now()) - timedelta(days=days)
    for run in runs_due_for_archive(before=before):
        archived, kept = run_archive(run=run, days=days, batch=batch)
        result.runs.append(run.pk)
        result.archived += archived
        result.kept += kept
    return result
