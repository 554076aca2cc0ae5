"""S3 ingestion (docs/architecture.md, "S3 ingestion"): a job's results read from its S3 export instead of paging
GetMatches, by several workers at once, into the same runs, groups, histogram and quarantine (store.py).

How it stays exactly-once and resumable:
- The pull (under the domain's pull lock, like any pull) lists the objects under the job's ExportingLocation and
  creates the run with one `ExportObject` row per object, in one transaction; then one task per object.
- A worker takes an object with a session advisory lock on it (Postgres drops it the moment the worker's connection
  goes: a kill -9 frees the object at once) and claims it with a conditional UPDATE (pending or claimed, run still
  running) that stamps a claim token; every later write re-reads the row FOR UPDATE and checks token and checkpoint.
- The object's records are parsed in order (s3_format.py) and stored S3_RECORDS_PER_TRANSACTION at a time; each
  transaction stores them (the GetMatches path's bulk upsert and quarantine), moves the object's checkpoint
  (`records_done`) and adds its counts to the run with F() expressions. A worker that dies resumes after the last
  committed record; a repeat of a stored MatchId is compared and ignored or quarantined, as in a pull.
- The worker that finishes the last object completes the run under the domain's pull lock: reconciliation against
  PotentialMatches and JobStats.NumberOfMatchesFound, then the completion every pull ends with (run.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from matches import aws
from matches.models import Domain, ExportObject, MatchRun, ResultsSource
from matches.services import enqueue
from matches.services.audit import audit_log
from matches.services.backoff import AwsRetriesExhausted, aws_read, backoff_delay
from matches.services.groups import bins_add
from matches.services.pulls import s3_format
from matches.services.pulls.results import PullFailed, PullLost, PullResult, when
from matches.services.pulls.run import (
    _domain_lock,
    _Pull,
    completions_finish_locked,
    pull_running_message,
    result_of,
    run_stored_complete,
)
from matches.services.pulls.s3_reconcile import run_reconcile
from matches.services.pulls.schedule import newest_job_with_results
from matches.services.pulls.store import BatchOutcome, items_sort, items_store

log = logging.getLogger(__name__)

# Arbitrary constant: the advisory lock class of "a worker is reading export object N" ("MDS3").
OBJECT_LOCK_CLASS = 0x4D44_5333
FINISH_LOCK_TRIES = 20

RunStatus = MatchRun.Status
ObjStatus = ExportObject.Status


def s3_pull(*, domain: Domain, actor: User | None, job_id: str) -> PullResult | None:
    """Under the domain's pull lock: resume the domain's S3 run or start one from the job's export; None when the
    job reports no ExportingLocation (the caller pages GetMatches instead)."""
    running = MatchRun.objects.filter(domain=domain, status=RunStatus.RUNNING).first()
    if running is not None:
        return _resume(running, actor=actor) if running.source == ResultsSource.S3 else None
    completions_finish_locked(domain, actor=actor)
    job = _job(domain, job_id)
    where = aws.s3_location(job.get("ExportingLocation")) if job else None
    if job is None or where is None:
        log.info("%s: the job reports no ExportingLocation; pulling through GetMatches", domain.name)
        return None
    latest = domain.latest_completed_run()
    if latest is not None and latest.job_id == job["JobId"]:
        return _Pull(domain=domain, actor=actor, progress=None, job_id=job["JobId"]).unchanged(
            latest, latest.generated_at
        )
    bucket, prefix = where
    objects = aws_read(domain, "S3", lambda: aws.s3_list_objects(domain, bucket=bucket, prefix=prefix))
    first = aws_read(domain, "GetMatches", lambda: aws.get_matches(domain, max_results=1))
    run = _start(domain, actor=actor, job=job, location=f"s3://{bucket}/{prefix}", objects=objects, first=first)
    if not objects:
        return s3_run_finish_locked(run=run, actor=actor)
    return _ingesting(run, domain)


def _job(domain: Domain, job_id: str) -> dict[str, Any] | None:
    if not job_id:
        newest = aws_read(domain, "ListIdentityResolutionJobs", lambda: newest_job_with_results(domain))
        if newest is None:
            return None
        job_id = newest["JobId"]
    return aws_read(domain, "GetIdentityResolutionJob", lambda: aws.get_identity_resolution_job(domain, job_id=job_id))


def _start(
    domain: Domain,
    *,
    actor: User | None,
    job: dict[str, Any],
    location: str,
    objects: list[dict[str, Any]],
    first: dict[str, Any],
) -> MatchRun:
    found = (job.get("JobStats") or {}).get("NumberOfMatchesFound")
    with transaction.atomic(durable=True):
        run = MatchRun.objects.create(
            domain=domain,
            status=RunStatus.RUNNING,
            source=ResultsSource.S3,
            export_location=location[:1100],
            generated_at=first.get("MatchGenerationDate") or job.get("JobEndTime"),
            potential_matches=first.get("PotentialMatches"),
            job_id=job["JobId"],
            started_by=actor if getattr(actor, "pk", None) else None,
            heartbeat_at=timezone.now(),
            reconciliation={"matches_found": found, "objects": len(objects)},
        )
        rows = ExportObject.objects.bulk_create(
            [ExportObject(run=run, key=o["Key"][:1024], size=o["Size"]) for o in objects]
        )
        audit_log(
            actor=actor,
            action="pull.started",
            object_type="run",
            object_id=run.pk,
            domain=domain,
            details={
                "source": "s3",
                "location": run.export_location,
                "objects": len(rows),
                "generated_at": when(run.generated_at),
                "potential_matches": run.potential_matches,
                "matches_found": found,
            },
        )
        enqueue.s3_objects(object_ids=[o.pk for o in rows])
    return run


def _resume(run: MatchRun, *, actor: User | None) -> PullResult:
    left = list(run.export_objects.exclude(status=ObjStatus.DONE).values_list("pk", flat=True))
    if not left:
        return s3_run_finish_locked(run=run, actor=actor)
    with transaction.atomic(durable=True):
        MatchRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
        audit_log(
            actor=actor,
            action="pull.resumed",
            object_type="run",
            object_id=run.pk,
            domain=run.domain,
            details={"source": "s3", "objects_left": len(left), "groups_stored": run.groups_stored},
        )
        enqueue.s3_objects(object_ids=left)
    return _ingesting(run, run.domain)


def _ingesting(run: MatchRun, domain: Domain) -> PullResult:
    result = result_of(run, domain=domain)
    result.status = "ingesting"
    result.resumed = run.export_objects.exclude(status=ObjStatus.PENDING).exists()
    return result


# One object ------------------------------------------------------------------------------------------------------


def export_object_ingest(*, object_id: int) -> str:
    """Read one export object into its run from its checkpoint, exactly once; finish the run after the last one.
    Returns what happened ("done", "held" by a live worker, "finished" already, or "failed")."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [OBJECT_LOCK_CLASS, object_id])
        if not cursor.fetchone()[0]:
            return "held"
    try:
        outcome = _Reader(object_id).run()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [OBJECT_LOCK_CLASS, object_id])
    if outcome == "done":
        obj = ExportObject.objects.select_related("run__domain").get(pk=object_id)
        if not obj.run.export_objects.exclude(status=ObjStatus.DONE).exists():
            s3_run_finish(run=obj.run)
    return outcome


class _Reader:
    def __init__(self, object_id: int) -> None:
        self.object_id = object_id
        self.token = uuid.uuid4().hex

    def run(self) -> str:
        claimed = ExportObject.objects.filter(
            pk=self.object_id, status__in=[ObjStatus.PENDING, ObjStatus.CLAIMED], run__status=RunStatus.RUNNING
        ).update(
            status=ObjStatus.CLAIMED, claim_token=self.token, attempts=F("attempts") + 1, heartbeat_at=timezone.now()
        )
        if not claimed:
            return "finished"
        self.obj = ExportObject.objects.select_related("run__domain").get(pk=self.object_id)
        self.run_row = self.obj.run
        self.domain = self.run_row.domain
        self.ordinal = self.run_row.export_objects.filter(key__lt=self.obj.key).count() + 1
        bucket, _, _ = self.run_row.export_location.removeprefix("s3://").partition("/")
        attempt = 1
        while True:
            try:
                self.read(bucket)
                return "done"
            except aws.MatchdeskAwsError as exc:
                exhausted = isinstance(exc, AwsRetriesExhausted) or attempt >= settings.MATCHDESK["RETRY_MAX_ATTEMPTS"]
                if not exc.retryable and not isinstance(exc, AwsRetriesExhausted):
                    self.fail(str(exc))
                    return "failed"
                if exhausted:
                    # Back to pending for the task's own retry (autoretry_for AwsRetriesExhausted), from the checkpoint.
                    ExportObject.objects.filter(pk=self.obj.pk, claim_token=self.token).update(status=ObjStatus.PENDING)
                    raise exc if isinstance(exc, AwsRetriesExhausted) else AwsRetriesExhausted(exc, attempt) from exc
                log.info(
                    "S3 object %s: %s; reading again from record %s", self.obj.key, exc.code, self.obj.records_done
                )
                time.sleep(backoff_delay(attempt))
                attempt += 1

    def read(self, bucket: str) -> None:
        chunks = aws_read(self.domain, "S3", lambda: aws.s3_object_chunks(self.domain, bucket=bucket, key=self.obj.key))
        per = settings.MATCHDESK["S3_RECORDS_PER_TRANSACTION"]
        try:
            layout, records = s3_format.records(chunks)
            batch: list[s3_format.Record] = []
            for record in records:
                if record.number <= self.obj.records_done:
                    continue
                batch.append(record)
                if len(batch) >= per:
                    self.store(batch, layout=layout)
                    batch = []
            self.store(batch, layout=layout, last=True)
        except s3_format.UnknownLayout as exc:
            self.unreadable(str(exc))

    def store(self, batch: list[s3_format.Record], *, layout: str, last: bool = False) -> None:
        items = [r.item for r in batch if not r.problem]
        good, bad, outcome, _ = items_sort([{"Matches": items}], first_page=self.ordinal)
        bad += [(r.item, r.problem, self.ordinal) for r in batch if r.problem]
        bad = [(item, f"{reason} [{self.obj.key}]", page) for item, reason, page in bad]
        self.commit(
            good=good,
            bad=bad,
            outcome=outcome,
            seen=len(batch),
            layout=layout,
            last=last,
            records_done=batch[-1].number if batch else self.obj.records_done,
        )

    def unreadable(self, reason: str) -> None:
        """Quarantine what could not be read, once, with the reason; the object counts as read."""
        raw = {"s3_object": self.obj.key, "records_before": self.obj.records_done}
        bad = [(raw, f"S3 object {self.obj.key} cannot be read: {reason}", self.ordinal)]
        self.commit(
            good={},
            bad=bad,
            outcome=BatchOutcome(),
            seen=0,
            layout="unknown",
            last=True,
            records_done=self.obj.records_done,
        )

    def commit(
        self, *, good: Any, bad: Any, outcome: BatchOutcome, seen: int, layout: str, last: bool, records_done: int
    ) -> None:
        now = timezone.now()
        with transaction.atomic(durable=True):
            current = ExportObject.objects.select_for_update().get(pk=self.obj.pk)
            if (current.status, current.claim_token, current.records_done) != (
                ObjStatus.CLAIMED,
                self.token,
                self.obj.records_done,
            ):
                raise PullLost(f"export object {current.key} moved on without this worker (another took it over)")
            inserted = items_store(
                run=self.run_row, good=good, bad=bad, pages=[], first_page=self.ordinal, outcome=outcome
            )
            bins_add(run=self.run_row, scores=[score for _, score in inserted])
            current.records_done = records_done
            current.stored += outcome.stored
            current.quarantined += outcome.quarantined
            current.layout = layout
            current.heartbeat_at = now
            if last:
                current.status = ObjStatus.DONE
            current.save()
            moved = MatchRun.objects.filter(pk=self.run_row.pk, status=RunStatus.RUNNING).update(
                pages=F("pages") + (1 if last else 0),
                groups_seen=F("groups_seen") + seen,
                groups_stored=F("groups_stored") + outcome.stored,
                quarantined=F("quarantined") + outcome.quarantined,
                heartbeat_at=now,
            )
            if not moved:
                raise PullLost(f"run {self.run_row.pk} is no longer running")
        self.obj = current
        connection.queries_log.clear()

    def fail(self, error: str) -> None:
        ExportObject.objects.filter(pk=self.obj.pk, claim_token=self.token).update(status=ObjStatus.FAILED, error=error)
        _Pull(domain=self.domain, actor=None, progress=None, job_id=self.run_row.job_id).fail(
            self.run_row, f"S3 object {self.obj.key}: {error}"
        )


# Completion ------------------------------------------------------------------------------------------------------


def s3_run_finish(*, run: MatchRun) -> PullResult | None:
    """The last object is read: complete the run under the domain's pull lock (None when a pull holds the lock for
    longer than we wait: that pull finishes it, or the job poll's resume does)."""
    domain = run.domain
    for _ in range(FINISH_LOCK_TRIES):
        with _domain_lock(domain) as got:
            if got:
                return s3_run_finish_locked(run=run)
        time.sleep(0.5)
    log.info("%s: %s", domain.name, pull_running_message(domain))
    return None


def s3_run_finish_locked(*, run: MatchRun, actor: User | None = None) -> PullResult:
    """Under the pull lock: reconcile, then the completion every pull ends with."""
    run.refresh_from_db()
    domain = run.domain
    if run.status != RunStatus.RUNNING:
        return result_of(run, domain=domain)
    if run.export_objects.exclude(status=ObjStatus.DONE).exists():
        raise PullFailed(f"run {run.pk} still has export objects to read", run_id=run.pk)
    run_reconcile(run=run, actor=actor)
    run.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {run.groups.model._meta.db_table}")
    run_stored_complete(run=run, actor=actor)
    run = completions_finish_locked(domain, actor=actor)[0] or run
    run.refresh_from_db()
    return result_of(run, domain=domain)
