"""The pull itself: one per domain at a time under a session advisory lock; resume a running run or start one; fetch
pages, hand them to `store`, restart on a new generation or a refused NextToken, complete with carry-over.

Top-level services own their transactions: each step of a pull (start, resume, restart, fail, complete) is one
durable transaction with its audit row (docs/architecture.md, "Pulls").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from matches import aws
from matches.aws import AwsBadRequest, MatchdeskAwsError
from matches.models import Domain, MatchGroup, MatchRun, QuarantinedMatch, ResultsSource, RunScoreBin
from matches.services import notifications
from matches.services.audit import audit_log
from matches.services.backoff import aws_read
from matches.services.pulls.carry_over import run_carry_over, run_groups_supersede, runs_step_down
from matches.services.pulls.results import (
    ProgressCallback,
    PullAlreadyRunning,
    PullFailed,
    PullLost,
    PullResult,
    Restart,
    when,
)
from matches.services.pulls.rules import rule_matches_ingest
from matches.services.pulls.store import lock_checkpoint, pages_ingest

log = logging.getLogger(__name__)

MAX_RESULTS = 100
MAX_RESTARTS = 3
# Arbitrary constant: the advisory lock class of "a pull of domain N is in progress" ("MDPU").
PULL_LOCK_CLASS = 0x4D44_5055

Status = MatchGroup.Status
RunStatus = MatchRun.Status
_GROUP_TABLE = MatchGroup._meta.db_table


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
    """Why a second pull of the domain is refused, naming the run in progress."""
    run = MatchRun.objects.filter(domain=domain, status=RunStatus.RUNNING).first()
    carrying = MatchRun.objects.filter(domain=domain, status=RunStatus.CARRYING_OVER).first()
    if run is None and carrying is not None:
        done = carrying.completion.get("batches", 0)
        return f"Run {carrying.pk} of {domain.name} is being carried over ({done} batches done); pull again after it."
    if run is None:
        return f"A pull is already starting for {domain.name}."
    beat = f", last heartbeat {when(run.heartbeat_at)}" if run.heartbeat_at else ""
    return f"A pull is already running for {domain.name} (run {run.pk}, started {when(run.started_at)}{beat})."


def pull_domain(
    *, domain: Domain, actor: User | None = None, progress: ProgressCallback | None = None, job_id: str = ""
) -> PullResult:
    """Pull the domain's latest GetMatches results: resume its running run or start one; complete it."""
    with _domain_lock(domain) as got:
        if not got:
            raise PullAlreadyRunning(pull_running_message(domain))
        # This pull serves any "Pull now" made before it: the sweep stops looking for one (services/ops.py).
        Domain.objects.filter(pk=domain.pk, pull_requested_at__isnull=False).update(pull_requested_at=None)
        pull = _Pull(domain=domain, actor=actor, progress=progress, job_id=job_id)
        if domain.results_source == ResultsSource.S3 or MatchRun.objects.filter(
            domain=domain, status=RunStatus.RUNNING, source=ResultsSource.S3
        ):
            from matches.services.pulls.s3 import s3_pull  # s3 builds on this module

            try:
                started = s3_pull(domain=domain, actor=actor, job_id=job_id)
            except MatchdeskAwsError as exc:
                running = MatchRun.objects.filter(domain=domain, status=RunStatus.RUNNING).first()
                failed = pull.fail(running, exc.message)
                raise PullFailed(f"Pull of {domain.name} failed: {exc.message}", run_id=failed.pk) from exc
            if started is not None:
                return started
        return pull.run()


class _Pull:
    def __init__(self, *, domain: Domain, actor: User | None, progress: ProgressCallback | None, job_id: str) -> None:
        self.domain = domain
        self.actor = actor
        self.progress = progress
        self.job_id = job_id
        self.run_row: MatchRun | None = None

    # Fetching ------------------------------------------------------------------------------------------------------

    def fetch(self, token: str | None) -> dict[str, Any]:
        try:
            return aws_read(
                self.domain,
                "GetMatches",
                lambda: aws.get_matches(self.domain, next_token=token, max_results=MAX_RESULTS),
            )
        except AwsBadRequest as exc:
            if token and "token" in (exc.aws_message or exc.message).lower():
                raise Restart(f"the NextToken was refused ({exc.aws_message or exc.message})") from exc
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
        # A completion a dead worker left half-way is finished first: the run it carries over becomes current.
        completions_finish_locked(self.domain, actor=self.actor)
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
        while not (run.pages and not run.next_token):  # else every page was stored before an interruption
            try:
                pages_ingest(run=run, pages=self.pages_from(run.next_token or None, first), progress=self.progress)
            except Restart as restart:
                first = None
                self.restart(run, restart.reason)
        if self.domain.rule_based_pull:  # then the rule-based matches, from their own checkpoint
            rule_matches_ingest(run=run, domain=self.domain, progress=self.progress, actor=self.actor)

    def unchanged(self, latest: MatchRun | None, generation: datetime | None) -> PullResult:
        """Nothing new: the generation already pulled, or (no run yet) no identity-resolution results at all."""
        with transaction.atomic(durable=True):
            audit_log(
                actor=self.actor,
                action="pull.unchanged",
                object_type="domain",
                object_id=self.domain.pk,
                domain=self.domain,
                details={"generated_at": when(generation), "run_id": latest.pk if latest else None},
            )
        return PullResult(
            domain=self.domain.name,
            status="unchanged",
            run_id=latest.pk if latest else None,
            generated_at=generation,
        )

    def start(self, first: dict[str, Any]) -> MatchRun:
        try:
            with transaction.atomic(durable=True):
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
                    details={"generated_at": when(run.generated_at), "potential_matches": run.potential_matches},
                )
        except IntegrityError as exc:
            raise PullAlreadyRunning(pull_running_message(self.domain)) from exc
        return run

    def resume(self, run: MatchRun) -> None:
        with transaction.atomic(durable=True):
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
                    "last_heartbeat": when(run.heartbeat_at),
                },
            )

    def restart(self, run: MatchRun, reason: str) -> None:
        if run.restarts >= MAX_RESTARTS:
            raise PullFailed(self.fail(run, f"Gave up after {run.restarts} restarts; the last: {reason}").error)
        with transaction.atomic(durable=True):
            lock_checkpoint(run)
            MatchGroup.objects.filter(run=run).delete()
            QuarantinedMatch.objects.filter(run=run).delete()
            RunScoreBin.objects.filter(run=run).delete()
            run.restarts += 1
            run.pages = run.groups_seen = run.groups_stored = run.quarantined = 0
            run.next_token = run.rule_next_token = ""
            run.rule_pages = run.rule_groups_stored = 0
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
        with transaction.atomic(durable=True):
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
            notifications.notify(
                kind=notifications.Kind.PULL_FAILED,
                domain=self.domain,
                context={
                    "summary": f"Pull of {self.domain.name} failed (run {run.pk})",
                    "url": reverse("admin-run", args=[run.pk]),
                    "run_id": run.pk,
                    "error": error,
                },
            )
        return run

    def complete(self, run: MatchRun, *, resumed: bool) -> PullResult:
        """The completion transaction touches run rows only (constant time); carry-over and the old run's row
        rewrite follow in batches (carry_over.py; docs/architecture.md, "Completion")."""
        # The run's rows arrived faster than autovacuum analyses: without fresh statistics the planner takes the
        # new run for a handful of rows and picks nested loops over all of it for carry-over and the queues.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_GROUP_TABLE}")
        run_stored_complete(run=run, actor=self.actor, resumed=resumed)
        run = completions_finish_locked(self.domain, actor=self.actor)[0] or run
        return result_of(run, domain=self.domain)


def run_stored_complete(*, run: MatchRun, actor: User | None = None, resumed: bool = False) -> None:
    """The completion transaction: run rows only, whatever the runs' sizes (docs/architecture.md, "Completion")."""
    with transaction.atomic(durable=True):
        lock_checkpoint(run)
        superseded_ids, superseded_groups = runs_step_down(run=run)
        run.status = RunStatus.CARRYING_OVER
        run.heartbeat_at = timezone.now()
        run.next_token = run.carry_over_cursor = ""
        run.completion = {
            "resumed": resumed,
            "superseded_run_ids": superseded_ids,
            "superseded_groups": superseded_groups,
        }
        run.save(update_fields=["status", "heartbeat_at", "next_token", "carry_over_cursor", "completion"])
        audit_log(
            actor=actor,
            action="pull.stored",
            object_type="run",
            object_id=run.pk,
            domain=run.domain,
            details={
                "generated_at": when(run.generated_at),
                "groups_stored": run.groups_stored,
                "superseded_run_ids": superseded_ids,
                "superseded_groups": superseded_groups,
            },
        )


def result_of(run: MatchRun, *, domain: Domain) -> PullResult:
    """What a completed pull reports, from the run's counters and its completion totals."""
    totals = run.completion
    result = PullResult(
        domain=domain.name,
        status="completed",
        run_id=run.pk,
        resumed=bool(totals.get("resumed")),
        superseded_run_ids=list(totals.get("superseded_run_ids", [])),
        superseded_groups=int(totals.get("superseded_groups", 0)),
        carried_over=int(totals.get(Status.CARRIED_OVER, 0)),
        approved=int(totals.get(Status.APPROVED, 0)),
        merged=int(totals.get(Status.MERGED, 0)),
        stale=int(totals.get(Status.STALE, 0)),
        potential_matches=run.potential_matches,
    )
    for name in ("generated_at", "pages", "groups_seen", "groups_stored", "quarantined", "restarts", "rule_pages"):
        setattr(result, name, getattr(run, name))
    result.rule_groups_stored = run.rule_groups_stored
    return result


def completions_finish_locked(domain: Domain, *, actor: User | None = None) -> tuple[MatchRun | None, int]:
    """Under the domain's pull lock: finish the carry-over of a `carrying_over` run (it becomes the domain's
    current run), then rewrite the open rows of its superseded runs. Returns the run carried over (or None) and the
    rows rewritten. Resumable at any point: each step is its own transaction with its checkpoint."""
    carried = None
    for run in MatchRun.objects.filter(domain=domain, status=RunStatus.CARRYING_OVER).order_by("pk"):
        carried = run_carry_over(run=run, actor=actor)
    rewritten = 0
    for old in MatchRun.objects.filter(
        domain=domain, status=RunStatus.SUPERSEDED, groups_superseded_at__isnull=True
    ).order_by("pk"):
        rewritten += run_groups_supersede(run=old)
    return carried, rewritten


def completion_finish(*, domain: Domain) -> bool:
    """Finish a domain's interrupted completion (the sweep's task); False when a pull holds the domain (it does)."""
    with _domain_lock(domain) as got:
        if not got:
            return False
        completions_finish_locked(domain)
        return True
