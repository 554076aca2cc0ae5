"""Storing pages, the hot path (the benchmark drives it too): a transaction per few pages, with the run's checkpoint.

A batch's valid groups are COPYed into a session temp table, then moved with one INSERT ... SELECT ... ON CONFLICT
(run, match_id) DO NOTHING RETURNING; only rows really inserted are counted into the run's score histogram
(`bins_add`) and `groups_stored`. A MatchId already stored is compared with the stored copy: identical, ignored;
different, quarantined (the first copy stays). Every transaction re-reads the run under FOR UPDATE and checks the
checkpoint is the one this pull left (`lock_checkpoint`): two writers can never both advance a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connection, transaction
from django.utils import timezone

from matches.models import MatchGroup, MatchRun, QuarantinedMatch, profile_set_key
from matches.services.groups import bins_add
from matches.services.pulls.results import ProgressCallback, PullLost, PullProgress, Restart, when
from matches.services.pulls.validate import CleanMatch, conflict_reason, match_validate, raw_plain

PAGES_PER_TRANSACTION = 20
SECONDS_PER_TRANSACTION = 2.0

RunStatus = MatchRun.Status


@dataclass
class BatchOutcome:
    stored: int = 0
    quarantined: int = 0
    duplicates_ignored: int = 0


_GROUP_TABLE = MatchGroup._meta.db_table
# Validated rows are COPYed into a session temp table (emptied at each commit), then moved in one INSERT ... SELECT:
# COPY's row format is written in C, where a parameter array would be quoted in Python, item by item.
_STAGE = "matchdesk_pull_stage"
_CREATE_STAGE = f"""
    CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        match_id text, profile_ids text, profile_set_key text, confidence_score float8, size int
    ) ON COMMIT DELETE ROWS
"""
_COPY_STAGE = f"COPY {_STAGE} (match_id, profile_ids, profile_set_key, confidence_score, size) FROM STDIN"
# A group's age (first_seen_at) is written as it is stored: the earliest time an earlier run of the domain stored the
# same profile set (that run's row already holds its own earliest), else now. Carry-over would otherwise rewrite
# nearly every row of a weekly run a second time (a new version of the row in every index) only to set it.
# The set's rows are found by group_set_key alone (OFFSET 0 keeps the run's test outside that scan: with a fresh
# run's statistics not yet gathered, Postgres otherwise ANDed in every row of the run from group_age, per row).
_EARLIEST_SEEN = f"""
    SELECT min(e.first_seen_at)
    FROM (SELECT first_seen_at, run_id FROM {_GROUP_TABLE} WHERE profile_set_key = {{key}} OFFSET 0) e
    JOIN {MatchRun._meta.db_table} r ON r.id = e.run_id
    WHERE r.domain_id = %(domain)s AND r.id <> %(run)s
"""


def first_seen_of(*, run: MatchRun, keys: Iterable[str]) -> dict[str, datetime]:
    """For groups stored one by one (rule-based pages): each profile set's earliest first_seen_at in an earlier run of
    the domain, where one holds it. One statement."""
    if not (keys := sorted(set(keys))):
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT k, ({_EARLIEST_SEEN.format(key='k')}) FROM unnest(%(keys)s::text[]) AS k",
            {"keys": keys, "run": run.pk, "domain": run.domain_id},
        )
        return {key: seen for key, seen in cursor.fetchall() if seen is not None}


_INSERT_GROUPS = f"""
    INSERT INTO {_GROUP_TABLE}
        (run_id, match_id, profile_ids, profile_set_key, confidence_score, size,
         status, status_reason, display_names, search_text, created_at, updated_at, first_seen_at)
    SELECT %(run)s, s.match_id, string_to_array(s.profile_ids, ','), s.profile_set_key, s.confidence_score, s.size,
           'open', '', '', '', now(), now(), coalesce(({_EARLIEST_SEEN.format(key="s.profile_set_key")}), now())
    FROM {_STAGE} s
    ON CONFLICT (run_id, match_id) DO NOTHING
    RETURNING match_id, confidence_score
"""
_INSERT_QUARANTINE = f"""
    INSERT INTO {QuarantinedMatch._meta.db_table} (run_id, raw, raw_hash, reason, page, created_at)
    VALUES (%s, %s::jsonb, %s, %s, %s, now())
    ON CONFLICT (run_id, raw_hash) DO NOTHING
    RETURNING id
"""


def pages_store(*, run: MatchRun, pages: list[dict[str, Any]], next_token: str) -> BatchOutcome:
    """Store the items of consecutive pages and move the run's checkpoint past them, in one transaction."""
    first_page = run.pages + 1
    good, bad, outcome, seen = items_sort(pages, first_page=first_page)
    potential = pages[-1].get("PotentialMatches") if pages else None
    with transaction.atomic():
        lock_checkpoint(run)
        inserted = items_store(run=run, good=good, bad=bad, pages=pages, first_page=first_page, outcome=outcome)
        bins_add(run=run, scores=[score for _, score in inserted])
        if run.pages == 0 and pages:
            run.generated_at = pages[0].get("MatchGenerationDate")
        run.pages += len(pages)
        run.groups_seen += seen
        run.groups_stored += outcome.stored
        run.quarantined += outcome.quarantined
        if potential is not None:
            run.potential_matches = potential
        run.next_token = next_token
        run.heartbeat_at = timezone.now()
        run.save(
            update_fields=[
                "pages",
                "groups_seen",
                "groups_stored",
                "quarantined",
                "potential_matches",
                "generated_at",
                "next_token",
                "heartbeat_at",
            ]
        )
    return outcome


def items_sort(
    pages: list[dict[str, Any]], *, first_page: int
) -> tuple[dict[str, CleanMatch], list[tuple[Any, str, int]], BatchOutcome, int]:
    """Validate the pages' items: (valid by MatchId, (item, reason, page) to quarantine, outcome so far, items seen).
    A repeat of a MatchId inside the batch is ignored when identical and quarantined when it differs."""
    outcome = BatchOutcome()
    good: dict[str, CleanMatch] = {}
    bad: list[tuple[Any, str, int]] = []
    seen = 0
    for number, page in enumerate(pages, start=first_page):
        items = page.get("Matches") or []
        seen += len(items)
        for item in items:
            clean, reason = match_validate(item)
            if clean is None:
                bad.append((item, reason, number))
                continue
            first = good.get(clean.match_id)
            if first is None:
                good[clean.match_id] = clean
            elif first == clean:
                outcome.duplicates_ignored += 1
            else:
                bad.append((item, conflict_reason(first), number))
    return good, bad, outcome, seen


def items_store(
    *,
    run: MatchRun,
    good: dict[str, CleanMatch],
    bad: list[tuple[Any, str, int]],
    pages: list[dict[str, Any]],
    first_page: int,
    outcome: BatchOutcome,
) -> list[tuple[str, float]]:
    """The bulk upsert and the quarantine (the caller's transaction): the valid groups COPYed and moved with ON
    CONFLICT DO NOTHING, repeats of stored MatchIds compared, the bad items quarantined. Returns the rows inserted
    (match_id, score) for the histogram; counts into `outcome`. Used by the GetMatches and the S3 paths alike."""
    with connection.cursor() as cursor:
        rows = list(good.values())
        cursor.execute(_CREATE_STAGE)
        cursor.execute(f"DELETE FROM {_STAGE}")  # empty already, unless an outer transaction is still open
        with cursor.copy(_COPY_STAGE) as copy:
            for g in rows:
                ids = g.profile_ids
                copy.write_row((g.match_id, ",".join(ids), profile_set_key(ids), g.score, len(ids)))
        # The age's lookup per row (a cheap probe) makes the plan's estimate large enough to compile it (JIT): about
        # 20 ms for every batch's statement, more than the statement itself.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_INSERT_GROUPS, {"run": run.pk, "domain": run.domain_id})
        inserted: list[tuple[str, float]] = cursor.fetchall()
        outcome.stored = len(inserted)
        if len(inserted) < len(rows):
            # Some MatchIds were stored by an earlier batch of this run: an identical repeat is ignored,
            # a conflicting copy quarantined (the first copy stays).
            taken = {m for m, _ in inserted}
            again = [g for g in rows if g.match_id not in taken]
            stored = {
                m: CleanMatch(m, tuple(p), cast(float, s))  # a pulled group always has a score
                for m, p, s in MatchGroup.objects.filter(run=run, match_id__in=[g.match_id for g in again]).values_list(
                    "match_id", "profile_ids", "confidence_score"
                )
            }
            for g in again:
                if stored.get(g.match_id) == g:
                    outcome.duplicates_ignored += 1
                else:
                    bad.append((_item_of(g, pages), conflict_reason(stored.get(g.match_id)), first_page))
        for item, reason, number in bad:
            text, digest = raw_plain(item)
            cursor.execute(_INSERT_QUARANTINE, [run.pk, text, digest, reason, number])
            outcome.quarantined += len(cursor.fetchall())
    return inserted


def _item_of(clean: CleanMatch, pages: list[dict[str, Any]]) -> Any:
    """The raw item behind a validated repeat, for the quarantine (the last copy with that MatchId)."""
    for page in reversed(pages):
        for item in reversed(page.get("Matches") or []):
            if isinstance(item, dict) and item.get("MatchId") == clean.match_id:
                return item
    return asdict(clean)


def lock_checkpoint(run: MatchRun) -> None:
    """Refuse to write unless the run is still running at the checkpoint this pull last saw."""
    current = MatchRun.objects.select_for_update().filter(pk=run.pk).values_list("status", "pages", "restarts").first()
    if current != (RunStatus.RUNNING, run.pages, run.restarts):
        raise PullLost(
            f"run {run.pk} moved on without this pull (now {current}, expected running at page {run.pages}); "
            "another pull took it over"
        )


def pages_ingest(*, run: MatchRun, pages: Iterable[dict[str, Any]], progress: ProgressCallback | None = None) -> None:
    """Store a stream of pages, a transaction per few pages, checking each page's generation against the run's."""
    batch: list[dict[str, Any]] = []
    expected, known = run.generated_at, run.pages > 0
    started = time.monotonic()
    for page in pages:
        generation = page.get("MatchGenerationDate")
        if not known:
            expected, known = generation, True
        elif generation != expected:
            raise Restart(
                f"MatchGenerationDate changed mid-pull from {when(expected)} to {when(generation)} "
                f"(page {run.pages + len(batch) + 1})"
            )
        batch.append(page)
        token = page.get("NextToken") or ""
        if not token or len(batch) >= PAGES_PER_TRANSACTION or time.monotonic() - started >= SECONDS_PER_TRANSACTION:
            pages_store(run=run, pages=batch, next_token=token)
            connection.queries_log.clear()  # under DEBUG, Django would keep every batch's parameters
            batch = []
            started = time.monotonic()
            if progress is not None:
                progress(progress_of(run))
        if not token:
            return
    if batch:
        pages_store(run=run, pages=batch, next_token=batch[-1].get("NextToken") or "")


def progress_of(run: MatchRun) -> PullProgress:
    """The run's counters as the progress callback sees them."""
    return PullProgress(
        run_id=run.pk,
        pages=run.pages,
        groups_seen=run.groups_seen,
        groups_stored=run.groups_stored,
        quarantined=run.quarantined,
        potential_matches=run.potential_matches,
        restarts=run.restarts,
        rule_pages=run.rule_pages,
        rule_groups_stored=run.rule_groups_stored,
    )
