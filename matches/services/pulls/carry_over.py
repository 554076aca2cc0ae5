"""Completion of a run, in constant time (docs/architecture.md, "Completion"): the previous run steps down, and
earlier decisions carry over to the new groups in batches after that.

1. The completion transaction (`runs_step_down`, called from `run`) touches run rows only: the domain's completed runs
   become `superseded` and the new run `carrying_over`. Its cost does not grow with the runs' groups.
2. Carry-over (`run_carry_over`) walks the new run's open groups in id order (the order they were stored: a batch
   reads consecutive pages however large the table), CARRY_OVER_BATCH at a time, each batch one durable transaction
   that re-reads the run under FOR UPDATE, applies `carry_over` to the batch, and moves the checkpoint
   (`MatchRun.carry_over_cursor`, the totals in `MatchRun.completion`) past it: a killed worker resumes after the
   last committed batch, and no batch counts twice. The last transaction makes the run `completed`: only then do the
   queues show it (they read the latest completed run), so nobody sees a half-carried-over run.
3. The superseded run's open rows are rewritten to `superseded` in the background (`run_groups_supersede`,
   SUPERSEDE_CHUNK per transaction). Until a row is reached, every reader treats an open group of a superseded run as
   superseded (`MatchGroup.read_status`; decisions refuse it through `MatchRun.takes_decisions`).

For each new group, by `profile_set_key` over the domain's earlier runs, the latest counting decision (merge, reject
or split, latest by created_at, that no undo or reopen reverts):
- reject → the group is `carried_over`, `linked_decision` = that reject (a reopen takes it back);
- merge or split whose MergeJob is awaiting approval, scheduled or running → `approved`, linked; succeeded →
  `merged`, linked (never reopened for review); failed or cancelled → stays open. A linked `approved` group then
  follows its job (merged, failed, or back to open when the job is cancelled, undone or sent back);
- otherwise, a group holding a profile merged away since (Profile.merged_into set) or known to be gone
  (Profile.missing) → `stale`.
Only the exact same profile set carries over: a superset or subset of a rejected set is a different question (a new
profile joined, or one left) and stays open for review, with no link. The same holds for merges: a group that is a
strict subset of a merged set normally holds merged-away profiles and becomes `stale` by the last rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Min, Sum
from django.urls import reverse
from django.utils import timezone

from matches.models import Decision, MatchGroup, MatchRun, MergeJob, Profile, RunScoreBin
from matches.services import enqueue, notifications
from matches.services.audit import audit_log
from matches.services.groups import groups_set_status
from matches.services.pulls.results import when

CARRY_OVER_BATCH = 5_000
SUPERSEDE_CHUNK = 5_000
COUNTED = ("carried_over", "approved", "merged", "stale")

Status = MatchGroup.Status
RunStatus = MatchRun.Status
_GROUP_TABLE = MatchGroup._meta.db_table

# The groups a carry-over statement looks at: the run's open groups, or only those of one batch (its open groups
# hold every id of the run's open groups in that range: a range of the primary key, not a probe per id).
_ALL = ""
_BATCH = " AND {alias}.id > %(after)s AND {alias}.id <= %(last)s"

# The profile sets looked at, computed once (MATERIALIZED): were the batch a filter inside the join, Postgres would
# test every earlier decision against it (decisions × batch comparisons per batch); this way it walks from the
# batch's sets to their earlier groups (group_set_key) and their decisions.
_BATCH_SETS = f"""
    batch AS MATERIALIZED (
        SELECT DISTINCT b.profile_set_key FROM {_GROUP_TABLE} b WHERE b.run_id = %(run)s AND b.status = 'open'{{b}}
    )"""

# Per profile set of the batch, its latest counting decision in an earlier run, found from the set (LATERAL: a probe
# of group_set_key and decision_group_latest per set, so a batch costs the same however many decisions the domain
# holds; a join let the planner scan every decision and its group for each batch: 0.6 s a batch at 100,000). The
# set's groups by group_set_key alone, as in store._EARLIEST_SEEN (OFFSET 0).
_LINK_EARLIER_DECISIONS = f"""
    WITH {_BATCH_SETS},
    latest AS (
        SELECT batch.profile_set_key, x.decision_id, x.action, x.job_status
        FROM batch CROSS JOIN LATERAL (
            SELECT d.id AS decision_id, d.action, j.status AS job_status
            FROM (SELECT id, run_id FROM {_GROUP_TABLE} WHERE profile_set_key = batch.profile_set_key OFFSET 0) g
            JOIN {MatchRun._meta.db_table} r ON r.id = g.run_id
            JOIN {Decision._meta.db_table} d ON d.group_id = g.id
            LEFT JOIN {MergeJob._meta.db_table} j ON j.decision_id = d.id
            WHERE r.domain_id = %(domain)s AND r.id <> %(run)s
              AND d.action IN ('merge', 'reject', 'split')
              AND NOT EXISTS (SELECT 1 FROM {Decision._meta.db_table} u WHERE u.reverts_id = d.id)
            ORDER BY d.created_at DESC, d.id DESC
            LIMIT 1
        ) x
    )
    UPDATE {_GROUP_TABLE} n SET linked_decision_id = latest.decision_id
    FROM latest
    WHERE n.run_id = %(run)s AND n.status = 'open' AND n.profile_set_key = latest.profile_set_key{{n}}
      AND (latest.action = 'reject'
           OR (latest.action IN ('merge', 'split')
               AND latest.job_status IN ('awaiting_approval', 'scheduled', 'running', 'succeeded')))
    RETURNING n.id, latest.action, latest.job_status
"""

# The pending merge jobs an earlier decision on one of the run's profile sets may be waiting on, locked before any
# group is linked: a job that finishes meanwhile either commits before the statuses are read below, or waits for the
# carry-over to commit and then finds the linked `approved` groups (services.groups.linked_groups_follow). Jobs first,
# then groups: the same order as the merge executor, so the two cannot deadlock.
_LOCK_PENDING_JOBS = f"""
    WITH {_BATCH_SETS}
    SELECT j.id
    FROM {MergeJob._meta.db_table} j
    JOIN {Decision._meta.db_table} d ON d.id = j.decision_id
    JOIN {_GROUP_TABLE} g ON g.id = d.group_id
    JOIN {MatchRun._meta.db_table} r ON r.id = g.run_id
    WHERE r.domain_id = %(domain)s AND r.id <> %(run)s AND j.status IN ('awaiting_approval', 'scheduled', 'running')
      AND g.profile_set_key IN (SELECT profile_set_key FROM batch)
    ORDER BY j.id
    FOR UPDATE OF j
"""

_GONE_MEMBERS = f"""
    SELECT DISTINCT g.id
    FROM {_GROUP_TABLE} g
    CROSS JOIN LATERAL unnest(g.profile_ids) AS member(profile_id)
    JOIN {Profile._meta.db_table} p ON p.domain_id = %(domain)s AND p.profile_id = member.profile_id
    WHERE g.run_id = %(run)s AND g.status = 'open' AND (p.missing OR p.merged_into <> ''){{g}}
"""


def _sql(template: str, batch: tuple[int, int] | None) -> str:
    scope = _ALL if batch is None else _BATCH
    return template.format(b=scope.format(alias="b"), n=scope.format(alias="n"), g=scope.format(alias="g"))


def carry_over(*, run: MatchRun, batch: tuple[int, int] | None = None) -> dict[str, int]:
    """Apply earlier decisions on the same profile sets to the run's open groups, or to those with an id in `batch`
    (after, last] (see the module docstring), inside the caller's transaction or its own. A group's age is not its
    business: the pull writes it as it stores the row (store._EARLIEST_SEEN)."""
    after, last = batch or (0, 0)
    params: dict[str, Any] = {"domain": run.domain_id, "run": run.pk, "after": after, "last": last}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_sql(_LOCK_PENDING_JOBS, batch), params)
            cursor.execute(_sql(_LINK_EARLIER_DECISIONS, batch), params)
            linked = cursor.fetchall()
        moves = {
            Status.CARRIED_OVER: "Rejected in an earlier run; reopen to decide again.",
            Status.MERGED: "Merged after a decision in an earlier run.",
            Status.APPROVED: "A merge decided in an earlier run is pending.",
        }
        to: dict[str, list[int]] = {status: [] for status in moves}
        for pk, action, job_status in linked:
            if action == Decision.Action.REJECT:
                to[Status.CARRIED_OVER].append(pk)
            elif job_status == MergeJob.Status.SUCCEEDED:
                to[Status.MERGED].append(pk)
            else:  # a merge or split whose job is awaiting approval, scheduled or running (the others it takes)
                to[Status.APPROVED].append(pk)
        counts: dict[str, int] = {status: 0 for status in moves}
        for status, reason in moves.items():
            if to[status]:
                counts[status] = groups_set_status(
                    queryset=MatchGroup.objects.filter(pk__in=to[status]), status=status, reason=reason
                )
        with connection.cursor() as cursor:
            cursor.execute(_sql(_GONE_MEMBERS, batch), params)
            stale_ids = [row[0] for row in cursor.fetchall()]
        counts[Status.STALE] = groups_set_status(
            queryset=MatchGroup.objects.filter(pk__in=stale_ids),
            status=Status.STALE,
            reason="A member profile was merged away or no longer exists.",
        )
    return counts


# Completion in steps -------------------------------------------------------------------------------------------------


def runs_step_down(*, run: MatchRun) -> tuple[list[int], int]:
    """Inside the completion transaction: the domain's completed runs become superseded (their rows only; the open
    groups they held are counted from their histograms). Returns their ids and that count."""
    previous = list(
        MatchRun.objects.select_for_update()
        .filter(domain_id=run.domain_id, status=RunStatus.COMPLETED)
        .exclude(pk=run.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not previous:
        return [], 0
    open_groups = RunScoreBin.objects.filter(run_id__in=previous).aggregate(n=Sum("open"))["n"] or 0
    MatchRun.objects.filter(pk__in=previous).update(status=RunStatus.SUPERSEDED, superseded_at=timezone.now())
    return previous, open_groups


# The checkpoint: the id of the last group of the last committed batch.
_POSITION = "id_"


def _position_of(value: str) -> int:
    """The last id carried over; an empty checkpoint, or one written in the (score, id) order of earlier versions,
    starts from the run's first group (carry-over is idempotent: a group it has moved is no longer open)."""
    return int(value.removeprefix(_POSITION)) if value.startswith(_POSITION) else 0


def _before_first(run: MatchRun) -> int:
    """Just below the run's first id, found once per walk: the ids below it are earlier runs' rows, which a walk
    from 0 along the primary key would read through first."""
    return (MatchGroup.objects.filter(run=run).aggregate(first=Min("id"))["first"] or 1) - 1


def _next_batch(run: MatchRun, size: int) -> tuple[int, int] | None:
    """The next `size` open groups of the run after its checkpoint, in id order, as the id range (after, last] that
    holds them: the order a pull stored them, so a batch is a few hundred consecutive pages of the table and its
    primary key, however large the table (in score order its ids were spread over the whole run: a random page each
    once the table outgrew the cache). None when no open group is left past the checkpoint."""
    after = _position_of(run.carry_over_cursor) or _before_first(run)
    open_groups = MatchGroup.objects.filter(run=run, status=Status.OPEN, pk__gt=after).order_by("id")
    ids = list(open_groups.values_list("pk", flat=True)[:size])
    return (after, ids[-1]) if ids else None


def carry_over_step(*, run_id: int, actor: User | None = None, batch: int | None = None) -> MatchRun:
    """One batch of carry-over and its checkpoint in one durable transaction; the last one completes the run."""
    with transaction.atomic(durable=True):
        run = MatchRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.CARRYING_OVER:
            return run  # finished meanwhile by another worker
        span = _next_batch(run, batch or CARRY_OVER_BATCH)
        totals = {**{name: 0 for name in COUNTED}, **run.completion}
        if span is not None:
            counts = carry_over(run=run, batch=span)
            for name in COUNTED:
                totals[name] += counts[name]
            totals["batches"] = totals.get("batches", 0) + 1
            run.carry_over_cursor = f"{_POSITION}{span[1]}"
            run.completion = totals
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["carry_over_cursor", "completion", "heartbeat_at"])
            return run
        run.status = RunStatus.COMPLETED
        run.finished_at = run.heartbeat_at = timezone.now()
        run.save(update_fields=["status", "finished_at", "heartbeat_at"])
        audit_log(
            actor=actor,
            action="pull.completed",
            object_type="run",
            object_id=run.pk,
            domain=run.domain.name,
            details={
                "generated_at": when(run.generated_at),
                "pages": run.pages,
                "groups_seen": run.groups_seen,
                "groups_stored": run.groups_stored,
                "quarantined": run.quarantined,
                "restarts": run.restarts,
                "potential_matches": run.potential_matches,
                "resumed": totals.get("resumed", False),
                "superseded_run_ids": totals.get("superseded_run_ids", []),
                "superseded_groups": totals.get("superseded_groups", 0),
                "carry_over_batches": totals.get("batches", 0),
                **{name: totals[name] for name in COUNTED},
            },
        )
        notifications.notify(
            kind=notifications.Kind.RUN_COMPLETED,
            domain=run.domain,
            context={
                "summary": f"New run of {run.domain.name}: {run.groups_stored:,} groups pulled (run {run.pk})",
                "url": reverse("home"),
                "run_id": run.pk,
                "groups_stored": run.groups_stored,
                "quarantined": run.quarantined,
                "generated_at": when(run.generated_at),
            },
        )
        # The run is current now: its profiles are fetched in the background (robust: a broker hiccup does not fail
        # the completion; groups are also hydrated when opened).
        enqueue.hydration(domain_id=run.domain_id)
        return run


def run_carry_over(
    *, run: MatchRun, actor: User | None = None, after_batch: Callable[[MatchRun], None] | None = None
) -> MatchRun:
    """Carry over a `carrying_over` run batch by batch until it is completed (or already is); resumable."""
    while True:
        run = carry_over_step(run_id=run.pk, actor=actor)
        if run.status != RunStatus.CARRYING_OVER:
            return run
        connection.queries_log.clear()
        if after_batch is not None:
            after_batch(run)


def run_groups_supersede(*, run: MatchRun, chunk: int | None = None) -> int:
    """The background rewrite: a superseded run's still-open rows become `superseded`, a chunk per durable
    transaction (the histogram with them); marks the run when none is left. Returns the rows rewritten."""
    start = _before_first(run)
    total, after = 0, start
    while True:
        with transaction.atomic(durable=True):
            # In id order, past the last chunk (like carry-over's batches: consecutive pages, not one per row).
            ids = list(
                MatchGroup.objects.filter(run=run, status=Status.OPEN, pk__gt=after)
                .order_by("id")
                .values_list("pk", flat=True)[: chunk or SUPERSEDE_CHUNK]
            )
            if not ids and after > start and MatchGroup.objects.filter(run=run, status=Status.OPEN).exists():
                after = start  # a row went back to open behind the walk (a merge job sent back): once more
                continue
            if not ids:
                MatchRun.objects.filter(pk=run.pk, groups_superseded_at__isnull=True).update(
                    groups_superseded_at=timezone.now()
                )
                return total
            total += groups_set_status(
                queryset=MatchGroup.objects.filter(pk__in=ids, status=Status.OPEN),
                status=Status.SUPERSEDED,
                reason=f"A newer pull replaced run {run.pk}.",
            )
            after = ids[-1]
        connection.queries_log.clear()


def run_supersede(previous: MatchRun) -> int:
    """A run steps down and all its open rows are rewritten (outside a pull: tests and the benchmark's old way)."""
    MatchRun.objects.filter(pk=previous.pk).update(status=RunStatus.SUPERSEDED, superseded_at=timezone.now())
    previous.status = RunStatus.SUPERSEDED
    return run_groups_supersede(run=previous)
