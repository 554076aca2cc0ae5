"""Pulls (DESIGN.md flow 1): GetMatches into Postgres exactly once, resumable, with carry-over at completion.

How a pull stays exactly-once:
- One pull per domain at a time: the pulling connection holds a session advisory lock on the domain, and the database
  allows one `running` MatchRun per domain. The lock says whether the worker of a running run is alive: Postgres drops
  it the moment the worker's connection goes (SIGKILL, crash, lost host), so a new pull resumes a run whose lock is free
  at once, whatever its `heartbeat_at` says, and refuses one whose lock is held. (Behind a transaction-pooling
  pgbouncer session locks do not work: connect pulls directly.) The job poll queues a pull for a running run whose
  heartbeat is older than STALE_HEARTBEAT_SECONDS, so an orphaned run is resumed without waiting for the next job.
  As a second guard, every transaction that stores pages re-reads the run under FOR UPDATE and checks the checkpoint
  is the one this pull left: two writers can never both advance a run.
- A transaction stores one or more pages (at most PAGES_PER_TRANSACTION, or SECONDS_PER_TRANSACTION's worth) and the
  checkpoint of its last page: `next_token` (the token of the next page to fetch) and the counters. A killed pull
  resumes from the checkpoint: what was committed is complete up to it, nothing after it was.
- A batch's valid groups are COPYed into a session temp table, then moved with one INSERT ... SELECT ... ON CONFLICT
  (run, match_id) DO NOTHING RETURNING; only rows really inserted are counted into the run's score histogram
  (`bins_add`) and `groups_stored`. A MatchId already stored is compared with the stored copy: identical, ignored;
  different, quarantined (the first copy stays).

Restarts: a page whose MatchGenerationDate differs from the run's (AWS serves only the latest results, so the rest
of the pull would mix two generations), or a BadRequest about the NextToken (expired, or from before a crash), deletes
the run's groups, quarantine and histogram and starts again from the first page, at most MAX_RESTARTS times.

Carry-over at completion, in the completion transaction. For each new group, by `profile_set_key` over the domain's
earlier runs, the latest counting decision (merge, reject or split, latest by created_at, that no undo or reopen
reverts):
- reject → the group is `carried_over`, `linked_decision` = that reject (a reopen takes it back);
- merge or split whose MergeJob is scheduled or running → `approved`, linked; succeeded → `merged`, linked
  (never reopened for review); failed or cancelled → stays open. A linked `approved` group then follows its job
  (merged, failed, or back to open when the job is cancelled, undone or sent back);
- otherwise, a group holding a profile merged away since (Profile.merged_into set) or known to be gone
  (Profile.missing) → `stale`.
Only the exact same profile set carries over: a superset or subset of a rejected set is a different question (a new
profile joined, or one left) and stays open for review, with no link. The same holds for merges: a group that is a
strict subset of a merged set normally holds merged-away profiles and becomes `stale` by the last rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from matches import aws
from matches.aws import AwsBadRequest, MatchdeskAwsError
from matches.models import (
    Decision,
    Domain,
    MatchGroup,
    MatchRun,
    MergeJob,
    Profile,
    QuarantinedMatch,
    RunScoreBin,
    profile_set_key,
)
from matches.services import enqueue
from matches.services.audit import audit_log
from matches.services.backoff import call_with_backoff
from matches.services.groups import bins_add, groups_set_status

log = logging.getLogger(__name__)

MAX_RESULTS = 100
PAGES_PER_TRANSACTION = 20
SECONDS_PER_TRANSACTION = 2.0
MAX_RESTARTS = 3
# A running run whose heartbeat is older than this is presumed orphaned: the job poll queues a pull to resume it.
STALE_HEARTBEAT_SECONDS = 600
SUPERSEDE_CHUNK = 20_000
# Arbitrary constant: the advisory lock class of "a pull of domain N is in progress" ("MDPU").
PULL_LOCK_CLASS = 0x4D44_5055
PROFILE_ID = re.compile(r"[a-f0-9]{32}")
MAX_GROUP_SIZE = 32767  # MatchGroup.size is a smallint

Status = MatchGroup.Status
RunStatus = MatchRun.Status


class PullError(Exception):
    """A pull could not run or did not finish; the message says why."""


class PullAlreadyRunning(PullError):
    pass


class PullFailed(PullError):
    def __init__(self, message: str, *, run_id: int | None = None):
        super().__init__(message)
        self.run_id = run_id


class PullLost(PullError):
    """Another process moved this run's checkpoint: this one stops without writing."""


class _Restart(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class PullProgress:
    run_id: int
    pages: int
    groups_seen: int
    groups_stored: int
    quarantined: int
    potential_matches: int | None
    restarts: int


@dataclass
class PullResult:
    domain: str
    status: str  # "completed" or "unchanged"
    run_id: int | None = None
    generated_at: datetime | None = None
    resumed: bool = False
    pages: int = 0
    groups_seen: int = 0
    groups_stored: int = 0
    quarantined: int = 0
    restarts: int = 0
    potential_matches: int | None = None
    superseded_run_ids: list[int] = field(default_factory=list)
    superseded_groups: int = 0
    carried_over: int = 0
    approved: int = 0
    merged: int = 0
    stale: int = 0

    @property
    def message(self) -> str:
        if self.status == "unchanged" and self.run_id is None:
            return f"{self.domain}: no new results (no identity-resolution job has produced matches yet)"
        if self.status == "unchanged":
            return f"{self.domain}: no new results (generation {_when(self.generated_at)} already pulled)"
        return (
            f"{self.domain}: run {self.run_id} completed{' (resumed)' if self.resumed else ''}: "
            f"{self.groups_stored} groups stored from {self.groups_seen} received in {self.pages} pages, "
            f"{self.quarantined} quarantined, {self.restarts} restarts; carried over {self.carried_over}, "
            f"approved {self.approved}, merged {self.merged}, stale {self.stale}; "
            f"{self.superseded_groups} open groups of the previous run superseded"
        )


ProgressCallback = Callable[[PullProgress], None]


# Validation -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CleanMatch:
    match_id: str
    profile_ids: tuple[str, ...]  # sorted, distinct
    score: float


def match_validate(item: Any) -> tuple[CleanMatch | None, str]:
    """A GetMatches item as stored, or None and every reason it must be quarantined."""
    if not isinstance(item, dict):
        return None, f"not an object: {type(item).__name__}"
    problems = []
    match_id = item.get("MatchId")
    if not isinstance(match_id, str) or not match_id.strip():
        problems.append("missing MatchId")
    elif len(match_id) > 255:
        problems.append("MatchId longer than 255 characters")
    ids = item.get("ProfileIds")
    distinct: list[str] = []
    if ids is None:
        problems.append("missing ProfileIds")
    elif not isinstance(ids, list):
        problems.append("ProfileIds is not a list")
    else:
        bad = [p for p in ids if not (isinstance(p, str) and PROFILE_ID.fullmatch(p))]
        if bad:
            problems.append(f"malformed profile id {bad[0]!r} (expected 32 lowercase hex characters)")
        distinct = sorted({p for p in ids if isinstance(p, str) and PROFILE_ID.fullmatch(p)})
        if not bad and len(distinct) < 2:
            problems.append("fewer than two distinct profile ids")
        elif len(distinct) > MAX_GROUP_SIZE:
            problems.append(f"more than {MAX_GROUP_SIZE} profile ids")
    score = item.get("ConfidenceScore")
    if score is None:
        problems.append("missing ConfidenceScore")
    elif isinstance(score, bool) or not isinstance(score, (int, float, Decimal)):
        problems.append(f"ConfidenceScore is not a number: {score!r}")
    elif not math.isfinite(float(score)) or not 0.0 <= float(score) <= 1.0:
        problems.append(f"ConfidenceScore {score!r} is outside [0, 1]")
    if problems:
        return None, "; ".join(problems)
    return CleanMatch(match_id, tuple(distinct), float(score)), ""


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def raw_plain(item: Any) -> tuple[str, str]:
    """The item as JSON text (datetimes and other non-JSON values serialised) and its hash."""
    text = json.dumps(item, default=_json_default, sort_keys=True, separators=(",", ":"), allow_nan=True)
    # jsonb refuses NaN/Infinity: keep them as strings in the stored copy.
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(json.loads(text, parse_constant=str), sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()


# Storing pages (the hot path; the benchmark drives it too) -----------------------------------------------------


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
_INSERT_GROUPS = f"""
    INSERT INTO {_GROUP_TABLE}
        (run_id, match_id, profile_ids, profile_set_key, confidence_score, size,
         status, status_reason, display_names, search_text, created_at, updated_at)
    SELECT %s, match_id, string_to_array(profile_ids, ','), profile_set_key, confidence_score, size,
           'open', '', '', '', now(), now()
    FROM {_STAGE}
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
    outcome = BatchOutcome()
    first_page = run.pages + 1
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
                bad.append((item, _conflict_reason(first), number))
    potential = pages[-1].get("PotentialMatches") if pages else None
    with transaction.atomic():
        _lock_checkpoint(run)
        with connection.cursor() as cursor:
            rows = list(good.values())
            cursor.execute(_CREATE_STAGE)
            cursor.execute(f"DELETE FROM {_STAGE}")  # empty already, unless an outer transaction is still open
            with cursor.copy(_COPY_STAGE) as copy:
                for g in rows:
                    ids = g.profile_ids
                    copy.write_row((g.match_id, ",".join(ids), profile_set_key(ids), g.score, len(ids)))
            cursor.execute(_INSERT_GROUPS, [run.pk])
            inserted = cursor.fetchall()
            outcome.stored = len(inserted)
            if len(inserted) < len(rows):
                # Some MatchIds were stored by an earlier batch of this run: an identical repeat is ignored,
                # a conflicting copy quarantined (the first copy stays).
                taken = {m for m, _ in inserted}
                again = [g for g in rows if g.match_id not in taken]
                stored = {
                    m: CleanMatch(m, tuple(p), s)
                    for m, p, s in MatchGroup.objects.filter(
                        run=run, match_id__in=[g.match_id for g in again]
                    ).values_list("match_id", "profile_ids", "confidence_score")
                }
                for g in again:
                    if stored.get(g.match_id) == g:
                        outcome.duplicates_ignored += 1
                    else:
                        bad.append((_item_of(g, pages), _conflict_reason(stored.get(g.match_id)), first_page))
            for item, reason, number in bad:
                text, digest = raw_plain(item)
                cursor.execute(_INSERT_QUARANTINE, [run.pk, text, digest, reason, number])
                outcome.quarantined += len(cursor.fetchall())
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


def _conflict_reason(first: CleanMatch | None) -> str:
    if first is None:
        return "duplicate MatchId that conflicts with the copy already stored (first copy kept)"
    return (
        f"duplicate MatchId {first.match_id!r} that conflicts with the first copy "
        f"({len(first.profile_ids)} ids, score {first.score}); first copy kept"
    )


def _item_of(clean: CleanMatch, pages: list[dict[str, Any]]) -> Any:
    """The raw item behind a validated repeat, for the quarantine (the last copy with that MatchId)."""
    for page in reversed(pages):
        for item in reversed(page.get("Matches") or []):
            if isinstance(item, dict) and item.get("MatchId") == clean.match_id:
                return item
    return asdict(clean)


def _lock_checkpoint(run: MatchRun) -> None:
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
            raise _Restart(
                f"MatchGenerationDate changed mid-pull from {_when(expected)} to {_when(generation)} "
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
                progress(_progress(run))
        if not token:
            return
    if batch:
        pages_store(run=run, pages=batch, next_token=batch[-1].get("NextToken") or "")


def _progress(run: MatchRun) -> PullProgress:
    return PullProgress(
        run_id=run.pk,
        pages=run.pages,
        groups_seen=run.groups_seen,
        groups_stored=run.groups_stored,
        quarantined=run.quarantined,
        potential_matches=run.potential_matches,
        restarts=run.restarts,
    )


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else "none"


# The pull --------------------------------------------------------------------------------------------------------


@contextmanager
def _domain_lock(domain: Domain) -> Iterator[bool]:
    """Session advisory lock: held by the live pull of this domain, released by Postgres if its process dies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [PULL_LOCK_CLASS, domain.pk])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [PULL_LOCK_CLASS, domain.pk])
            except DatabaseError:  # the connection is gone, and the lock with it
                log.warning("could not release the pull lock of %s", domain.name, exc_info=True)


def pull_running_message(domain: Domain) -> str:
    run = MatchRun.objects.filter(domain=domain, status=RunStatus.RUNNING).first()
    if run is None:
        return f"A pull is already starting for {domain.name}."
    beat = f", last heartbeat {_when(run.heartbeat_at)}" if run.heartbeat_at else ""
    return f"A pull is already running for {domain.name} (run {run.pk}, started {_when(run.started_at)}{beat})."


def pull_domain(
    *, domain: Domain, actor=None, progress: ProgressCallback | None = None, job_id: str = ""
) -> PullResult:
    """Pull the domain's latest GetMatches results: resume its running run or start one; complete it."""
    with _domain_lock(domain) as got:
        if not got:
            raise PullAlreadyRunning(pull_running_message(domain))
        return _Pull(domain=domain, actor=actor, progress=progress, job_id=job_id).run()


class _Pull:
    def __init__(self, *, domain: Domain, actor, progress: ProgressCallback | None, job_id: str):
        self.domain = domain
        self.actor = actor
        self.progress = progress
        self.job_id = job_id
        self.run_row: MatchRun | None = None

    # Fetching ------------------------------------------------------------------------------------------------------

    def fetch(self, token: str | None) -> dict[str, Any]:
        try:
            return call_with_backoff(
                lambda: aws.get_matches(self.domain, next_token=token, max_results=MAX_RESULTS),
                what=f"GetMatches {self.domain.name}",
            )
        except AwsBadRequest as exc:
            if token and "token" in (exc.aws_message or exc.message).lower():
                raise _Restart(f"the NextToken was refused ({exc.aws_message or exc.message})") from exc
            raise

    def pages_from(self, token: str | None, first: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        page = first if first is not None else self.fetch(token)
        while True:
            yield page
            token = page.get("NextToken")
            if not token:
                return
            page = self.fetch(token)

    # Flow ----------------------------------------------------------------------------------------------------------

    def run(self) -> PullResult:
        run = MatchRun.objects.filter(domain=self.domain, status=RunStatus.RUNNING).first()
        first = None
        try:
            if run is None:
                first = self.fetch(None)
                latest = self.domain.latest_completed_run()
                generation = first.get("MatchGenerationDate")
                no_results_yet = latest is None and generation is None and not first.get("Matches")
                if no_results_yet or (latest is not None and generation == latest.generated_at):
                    return self.unchanged(latest, generation)
                run = self.start(first)
                resumed = False
            else:
                resumed = True
                self.resume(run)
            self.run_row = run
            self.ingest(run, first)
            return self.complete(run, resumed=resumed)
        except MatchdeskAwsError as exc:
            failed = self.fail(run, exc.message)
            raise PullFailed(f"Pull of {self.domain.name} failed: {exc.message}", run_id=failed.pk) from exc
        except (PullLost, PullFailed):
            raise
        except (DatabaseError, SoftTimeLimitExceeded):
            raise  # the database went away, or the task ran out of time: the run stays resumable
        except Exception as exc:
            if run is not None:
                self.fail(run, f"{type(exc).__name__}: {exc}")
            raise

    def ingest(self, run: MatchRun, first: dict[str, Any] | None) -> None:
        while True:
            try:
                if run.pages and not run.next_token:
                    return  # every page was stored before an interruption; only completion is left
                pages = self.pages_from(run.next_token or None, first)
                pages_ingest(run=run, pages=pages, progress=self.progress)
                return
            except _Restart as restart:
                first = None
                self.restart(run, restart.reason)

    def unchanged(self, latest: MatchRun | None, generation: datetime | None) -> PullResult:
        """Nothing new: the generation already pulled, or (no run yet) no identity-resolution results at all."""
        with transaction.atomic():
            audit_log(
                actor=self.actor,
                action="pull.unchanged",
                object_type="domain",
                object_id=self.domain.pk,
                domain=self.domain,
                details={"generated_at": _when(generation), "run_id": latest.pk if latest else None},
            )
        return PullResult(
            domain=self.domain.name,
            status="unchanged",
            run_id=latest.pk if latest else None,
            generated_at=generation,
        )

    def start(self, first: dict[str, Any]) -> MatchRun:
        try:
            with transaction.atomic():
                run = MatchRun.objects.create(
                    domain=self.domain,
                    status=RunStatus.RUNNING,
                    generated_at=first.get("MatchGenerationDate"),
                    potential_matches=first.get("PotentialMatches"),
                    job_id=self.job_id,
                    started_by=self.actor if getattr(self.actor, "pk", None) else None,
                    heartbeat_at=timezone.now(),
                )
                audit_log(
                    actor=self.actor,
                    action="pull.started",
                    object_type="run",
                    object_id=run.pk,
                    domain=self.domain,
                    details={"generated_at": _when(run.generated_at), "potential_matches": run.potential_matches},
                )
        except IntegrityError as exc:
            raise PullAlreadyRunning(pull_running_message(self.domain)) from exc
        return run

    def resume(self, run: MatchRun) -> None:
        with transaction.atomic():
            MatchRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            audit_log(
                actor=self.actor,
                action="pull.resumed",
                object_type="run",
                object_id=run.pk,
                domain=self.domain,
                details={
                    "pages": run.pages,
                    "groups_stored": run.groups_stored,
                    "last_heartbeat": _when(run.heartbeat_at),
                },
            )

    def restart(self, run: MatchRun, reason: str) -> None:
        if run.restarts >= MAX_RESTARTS:
            raise PullFailed(self.fail(run, f"Gave up after {run.restarts} restarts; the last: {reason}").error)
        with transaction.atomic():
            _lock_checkpoint(run)
            MatchGroup.objects.filter(run=run).delete()
            QuarantinedMatch.objects.filter(run=run).delete()
            RunScoreBin.objects.filter(run=run).delete()
            run.restarts += 1
            run.pages = run.groups_seen = run.groups_stored = run.quarantined = 0
            run.next_token = ""
            run.heartbeat_at = timezone.now()
            run.save()
            audit_log(
                actor=self.actor,
                action="pull.restarted",
                object_type="run",
                object_id=run.pk,
                domain=self.domain,
                details={"reason": reason, "restarts": run.restarts},
            )
        log.warning("%s: restarting run %s: %s", self.domain.name, run.pk, reason)

    def fail(self, run: MatchRun | None, error: str) -> MatchRun:
        with transaction.atomic():
            if run is None:
                run = MatchRun.objects.create(
                    domain=self.domain,
                    status=RunStatus.FAILED,
                    job_id=self.job_id,
                    started_by=self.actor if getattr(self.actor, "pk", None) else None,
                )
            MatchRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, error=error, finished_at=timezone.now(), heartbeat_at=timezone.now()
            )
            run.refresh_from_db()
            audit_log(
                actor=self.actor,
                action="pull.failed",
                object_type="run",
                object_id=run.pk,
                domain=self.domain,
                details={"error": error, "pages": run.pages, "groups_stored": run.groups_stored},
            )
        return run

    def complete(self, run: MatchRun, *, resumed: bool) -> PullResult:
        result = PullResult(domain=self.domain.name, status="completed", run_id=run.pk, resumed=resumed)
        # The run's rows arrived faster than autovacuum analyses: without fresh statistics the planner takes the
        # new run for a handful of rows and picks nested loops over all of it for carry-over and the queues.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_GROUP_TABLE}")
        with transaction.atomic():
            _lock_checkpoint(run)
            for previous in MatchRun.objects.select_for_update().filter(domain=self.domain, status=RunStatus.COMPLETED):
                result.superseded_groups += _supersede(previous)
                result.superseded_run_ids.append(previous.pk)
            counts = carry_over(run=run)
            result.carried_over, result.approved, result.merged, result.stale = (
                counts[Status.CARRIED_OVER],
                counts[Status.APPROVED],
                counts[Status.MERGED],
                counts[Status.STALE],
            )
            run.status = RunStatus.COMPLETED
            run.finished_at = run.heartbeat_at = timezone.now()
            run.next_token = ""
            run.save(update_fields=["status", "finished_at", "heartbeat_at", "next_token"])
            for name in ("generated_at", "pages", "groups_seen", "groups_stored", "quarantined", "restarts"):
                setattr(result, name, getattr(run, name))
            result.potential_matches = run.potential_matches
            audit_log(
                actor=self.actor,
                action="pull.completed",
                object_type="run",
                object_id=run.pk,
                domain=self.domain,
                details={
                    "generated_at": _when(run.generated_at),
                    "pages": run.pages,
                    "groups_seen": run.groups_seen,
                    "groups_stored": run.groups_stored,
                    "quarantined": run.quarantined,
                    "restarts": run.restarts,
                    "potential_matches": run.potential_matches,
                    "resumed": resumed,
                    "superseded_run_ids": result.superseded_run_ids,
                    "superseded_groups": result.superseded_groups,
                    "carried_over": result.carried_over,
                    "approved": result.approved,
                    "merged": result.merged,
                    "stale": result.stale,
                },
            )
            # Robust: a stored pull must not fail on a broker hiccup; groups are also hydrated when opened.
            enqueue.hydration(domain_id=self.domain.pk)
        return result


def _supersede(previous: MatchRun) -> int:
    """The previous run steps down; its still-open groups with it (in chunks, so memory stays flat)."""
    previous.status = RunStatus.SUPERSEDED
    previous.save(update_fields=["status"])
    total = 0
    while True:
        ids = list(
            MatchGroup.objects.filter(run=previous, status=Status.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)[:SUPERSEDE_CHUNK]
        )
        if not ids:
            return total
        total += groups_set_status(
            queryset=MatchGroup.objects.filter(pk__in=ids),
            status=Status.SUPERSEDED,
            reason=f"A newer pull replaced run {previous.pk}.",
        )


_LINK_EARLIER_DECISIONS = f"""
    WITH latest AS (
        SELECT DISTINCT ON (g.profile_set_key) g.profile_set_key, d.id AS decision_id, d.action, j.status AS job_status
        FROM {Decision._meta.db_table} d
        JOIN {_GROUP_TABLE} g ON g.id = d.group_id
        JOIN {MatchRun._meta.db_table} r ON r.id = g.run_id
        LEFT JOIN {MergeJob._meta.db_table} j ON j.decision_id = d.id
        WHERE r.domain_id = %(domain)s AND r.id <> %(run)s
          AND d.action IN ('merge', 'reject', 'split')
          AND NOT EXISTS (SELECT 1 FROM {Decision._meta.db_table} u WHERE u.reverts_id = d.id)
          AND g.profile_set_key IN (SELECT profile_set_key FROM {_GROUP_TABLE} WHERE run_id = %(run)s)
        ORDER BY g.profile_set_key, d.created_at DESC, d.id DESC
    )
    UPDATE {_GROUP_TABLE} n SET linked_decision_id = latest.decision_id
    FROM latest
    WHERE n.run_id = %(run)s AND n.status = 'open' AND n.profile_set_key = latest.profile_set_key
      AND (latest.action = 'reject'
           OR (latest.action IN ('merge', 'split') AND latest.job_status IN ('scheduled', 'running', 'succeeded')))
"""

# The pending merge jobs an earlier decision on one of the run's profile sets may be waiting on, locked before any
# group is linked: a job that finishes meanwhile either commits before the statuses are read below, or waits for the
# carry-over to commit and then finds the linked `approved` groups (services.groups.linked_groups_follow). Jobs first,
# then groups: the same order as the merge executor, so the two cannot deadlock.
_LOCK_PENDING_JOBS = f"""
    SELECT j.id
    FROM {MergeJob._meta.db_table} j
    JOIN {Decision._meta.db_table} d ON d.id = j.decision_id
    JOIN {_GROUP_TABLE} g ON g.id = d.group_id
    JOIN {MatchRun._meta.db_table} r ON r.id = g.run_id
    WHERE r.domain_id = %(domain)s AND r.id <> %(run)s AND j.status IN ('scheduled', 'running')
      AND g.profile_set_key IN (SELECT profile_set_key FROM {_GROUP_TABLE} WHERE run_id = %(run)s)
    ORDER BY j.id
    FOR UPDATE OF j
"""

_GONE_MEMBERS = f"""
    SELECT DISTINCT g.id
    FROM {_GROUP_TABLE} g
    CROSS JOIN LATERAL unnest(g.profile_ids) AS member(profile_id)
    JOIN {Profile._meta.db_table} p ON p.domain_id = %s AND p.profile_id = member.profile_id
    WHERE g.run_id = %s AND g.status = 'open' AND (p.missing OR p.merged_into <> '')
"""


def carry_over(*, run: MatchRun) -> dict[str, int]:
    """Apply earlier decisions on the same profile sets to the run's open groups (see the module docstring)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_PENDING_JOBS, {"domain": run.domain_id, "run": run.pk})
            cursor.execute(_LINK_EARLIER_DECISIONS, {"domain": run.domain_id, "run": run.pk})
        linked = MatchGroup.objects.filter(run=run, status=Status.OPEN, linked_decision__isnull=False)
        merge_actions = [Decision.Action.MERGE, Decision.Action.SPLIT]
        counts = {
            Status.CARRIED_OVER: groups_set_status(
                queryset=_by_pk(linked.filter(linked_decision__action=Decision.Action.REJECT)),
                status=Status.CARRIED_OVER,
                reason="Rejected in an earlier run; reopen to decide again.",
            ),
            Status.MERGED: groups_set_status(
                queryset=_by_pk(
                    linked.filter(
                        linked_decision__action__in=merge_actions,
                        linked_decision__merge_job__status=MergeJob.Status.SUCCEEDED,
                    )
                ),
                status=Status.MERGED,
                reason="Merged after a decision in an earlier run.",
            ),
            Status.APPROVED: groups_set_status(
                queryset=_by_pk(
                    linked.filter(
                        linked_decision__action__in=merge_actions,
                        linked_decision__merge_job__status__in=[MergeJob.Status.SCHEDULED, MergeJob.Status.RUNNING],
                    )
                ),
                status=Status.APPROVED,
                reason="A merge decided in an earlier run is pending.",
            ),
        }
        with connection.cursor() as cursor:
            cursor.execute(_GONE_MEMBERS, [run.domain_id, run.pk])
            stale_ids = [row[0] for row in cursor.fetchall()]
        counts[Status.STALE] = groups_set_status(
            queryset=MatchGroup.objects.filter(pk__in=stale_ids),
            status=Status.STALE,
            reason="A member profile was merged away or no longer exists.",
        )
    return counts


def _by_pk(queryset):
    """The same groups by id, so that groups_set_status's FOR UPDATE locks only group rows (not decisions or jobs)."""
    return MatchGroup.objects.filter(pk__in=list(queryset.values_list("pk", flat=True)))
