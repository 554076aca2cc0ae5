"""Drift between weekly runs (docs/architecture.md, "Drift"): computed once per completed run, in the background.

Run over run, a domain's groups should change slowly: most profile sets persist with about the same score, some
appear (new customers, new data) and some vanish (merged, deleted, changed). A jump says something changed upstream
(the matching rules, the data loaded, a partial job) before anyone trusts last week's thresholds on this week's
groups. Two aggregate queries over the two runs (a hash join on the profile-set key), so a run of millions costs
seconds in a worker and nothing on a page; the job's own figures come from ListIdentityResolutionJobs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from matches import aws
from matches.models import Domain, MatchRun, RunDrift

log = logging.getLogger(__name__)

MOVED = 0.05  # a persisted set whose score changed by more than this "moved"
DELTA_BIN = 0.05  # the change histogram's bin width, from -1 to 1
DELTA_BINS = int(round(2 / DELTA_BIN))
HISTORY = 8  # earlier drifts a new one is compared with
# Without history, what counts as unusual (with history: also three times the domain's own median).
FLOOR_TURNOVER = 0.30  # appeared or vanished sets, as a share of the run
FLOOR_SHIFT = 0.05  # mean score change of persisted sets
FLOOR_SIZE_CHANGE = 0.30  # change in the number of groups
WEEKLY_JOB_QUOTA = 3  # AWS: identity resolution runs at most three times a week per domain
SWEEP_LIMIT = 5  # drifts computed per sweep (each may take seconds at 10M groups)

# Drift is the ML job's: rule-based groups (docs/architecture.md, "Rule-based matches") stay out of it.
_PAIR_SQL = """
WITH a AS (SELECT profile_set_key, confidence_score FROM matches_matchgroup
           WHERE run_id = %(prev)s AND source <> 'rule_based'),
     b AS (SELECT profile_set_key, confidence_score FROM matches_matchgroup
           WHERE run_id = %(cur)s AND source <> 'rule_based')
SELECT count(*) FILTER (WHERE a.profile_set_key IS NOT NULL AND b.profile_set_key IS NOT NULL),
       count(*) FILTER (WHERE a.profile_set_key IS NULL),
       count(*) FILTER (WHERE b.profile_set_key IS NULL),
       count(*) FILTER (WHERE b.confidence_score - a.confidence_score > %(moved)s),
       count(*) FILTER (WHERE a.confidence_score - b.confidence_score > %(moved)s),
       avg(b.confidence_score - a.confidence_score),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY abs(b.confidence_score - a.confidence_score)),
       count(a.profile_set_key),
       count(b.profile_set_key)
FROM a FULL OUTER JOIN b USING (profile_set_key)
"""
_BINS_SQL = """
SELECT width_bucket(b.confidence_score - a.confidence_score, -1.0, 1.0, %(bins)s) AS bucket, count(*)
FROM matches_matchgroup a JOIN matches_matchgroup b USING (profile_set_key)
WHERE a.run_id = %(prev)s AND b.run_id = %(cur)s AND a.source <> 'rule_based' AND b.source <> 'rule_based'
GROUP BY bucket
"""
_ONE_RUN_SQL = "SELECT count(*) FROM matches_matchgroup WHERE run_id = %(cur)s AND source <> 'rule_based'"


def previous_run(run: MatchRun) -> MatchRun | None:
    """The domain's completed or superseded run before `run`."""
    return (
        MatchRun.objects.filter(
            domain_id=run.domain_id,
            pk__lt=run.pk,
            status__in=[MatchRun.Status.COMPLETED, MatchRun.Status.SUPERSEDED],
        )
        .order_by("-pk")
        .first()
    )


def _pair_figures(prev: MatchRun | None, run: MatchRun) -> dict[str, Any]:
    with connection.cursor() as cur:
        if prev is None:
            cur.execute(_ONE_RUN_SQL, {"cur": run.pk})
            (groups,) = cur.fetchone()
            return {"groups": groups, "previous_groups": 0, "appeared": groups, "delta_bins": []}
        params = {"prev": prev.pk, "cur": run.pk, "moved": MOVED, "bins": DELTA_BINS}
        cur.execute(_PAIR_SQL, params)
        persisted, appeared, vanished, up, down, mean, p95, prev_groups, groups = cur.fetchone()
        cur.execute(_BINS_SQL, params)
        bins = [0] * DELTA_BINS
        for bucket, count in cur.fetchall():
            bins[min(max(int(bucket), 1), DELTA_BINS) - 1] += count
    return {
        "groups": groups,
        "previous_groups": prev_groups,
        "persisted": persisted,
        "appeared": appeared,
        "vanished": vanished,
        "moved_up": up,
        "moved_down": down,
        "mean_delta": float(mean) if mean is not None else None,
        "p95_abs_delta": float(p95) if p95 is not None else None,
        "delta_bins": bins,
    }


def _job_time(job: dict[str, Any]) -> datetime | None:
    when = job.get("JobStartTime") or job.get("JobEndTime")
    return when if isinstance(when, datetime) else None


def _job_figures(run: MatchRun) -> dict[str, Any]:
    """The run's job from ListIdentityResolutionJobs: its status, NumberOfMatchesFound and how many jobs ran in the
    week up to it. An AWS error is recorded, not raised: the score figures stand without it."""
    try:
        jobs = aws.list_identity_resolution_jobs(run.domain, max_results=100)
    except aws.MatchdeskAwsError as exc:
        return {"job_error": str(exc)}
    job = next((j for j in jobs if run.job_id and j.get("JobId") == run.job_id), None)
    if job is None:
        return {"job_error": "" if not run.job_id else f"AWS no longer lists job {run.job_id}."}
    out: dict[str, Any] = {"job_status": str(job.get("Status", ""))}
    found = (job.get("JobStats") or {}).get("NumberOfMatchesFound")
    if found is not None:
        out["job_matches_found"] = int(found)
    at = _job_time(job)
    if at is not None:
        week = [j for j in jobs if (t := _job_time(j)) is not None and at - timedelta(days=7) < t <= at]
        out["jobs_in_week"] = len(week)
    return out


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return 0.0 if not n else (values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2)


def _unusual(value: float, history: list[float], floor: float) -> bool:
    """Beyond the floor and, with history, beyond three times the domain's own median of the same figure."""
    if value <= floor:
        return False
    return not history or value > 3 * _median(history)


def drift_flags(figures: dict[str, Any], history: list[RunDrift], potential_matches: int | None) -> list[str]:
    """What looks unusual about a run beside the one before it (and the domain's earlier drifts)."""
    flags: list[str] = []
    groups, before = figures.get("groups", 0), figures.get("previous_groups", 0)
    if before:
        turnover = max(figures.get("appeared", 0) / max(groups, 1), figures.get("vanished", 0) / before)
        past = [
            max(d.appeared / max(d.groups, 1), d.vanished / d.previous_groups) for d in history if d.previous_groups
        ]
        if _unusual(turnover, past, FLOOR_TURNOVER):
            flags.append(
                f"{figures['appeared']:,} profile sets appeared and {figures['vanished']:,} vanished "
                f"({turnover:.0%} of the run): more turnover than usual."
            )
        shift = abs(figures.get("mean_delta") or 0.0)
        past_shift = [abs(d.mean_delta) for d in history if d.mean_delta is not None]
        if _unusual(shift, past_shift, FLOOR_SHIFT):
            flags.append(
                f"Scores of persisting sets moved by {figures['mean_delta']:+.3f} on average: thresholds set on "
                "earlier runs may not fit this one."
            )
        size = abs(groups - before) / before
        past_size = [abs(d.groups - d.previous_groups) / d.previous_groups for d in history if d.previous_groups]
        if _unusual(size, past_size, FLOOR_SIZE_CHANGE):
            flags.append(
                f"The run holds {groups:,} groups against {before:,} before ({(groups - before) / before:+.0%})."
            )
    found = figures.get("job_matches_found")
    if found is not None and potential_matches is not None and found != potential_matches:
        flags.append(f"GetMatches reported {potential_matches:,} potential matches; the job says it found {found:,}.")
    if figures.get("job_status") == "PARTIAL_SUCCESS":
        flags.append("The job ended in PARTIAL_SUCCESS: some profiles were not matched this week.")
    week = figures.get("jobs_in_week")
    if week is not None and week >= WEEKLY_JOB_QUOTA:
        flags.append(
            f"{week} identity-resolution jobs in the week up to this one: AWS runs at most {WEEKLY_JOB_QUOTA} a week, "
            "so no further job can run before the oldest leaves the window."
        )
    return flags


def run_drift_compute(*, run: MatchRun) -> RunDrift:
    """Compute (again) and store the drift of a completed run against the run before it. Reads only groups and
    AWS, writes one row: safe to repeat (a worker killed half-way leaves nothing, the sweep tries again)."""
    prev = previous_run(run)
    figures = _pair_figures(prev, run)
    figures.update(_job_figures(run))
    history = list(
        RunDrift.objects.filter(run__domain_id=run.domain_id, run_id__lt=run.pk, previous__isnull=False).order_by(
            "-run_id"
        )[:HISTORY]
    )
    figures["flags"] = drift_flags(figures, history, run.potential_matches)
    with transaction.atomic(durable=True):
        drift, _ = RunDrift.objects.update_or_create(run=run, defaults={"previous": prev, **figures})
    return drift


def drifts_compute_missing(*, limit: int = SWEEP_LIMIT) -> list[int]:
    """The sweep (beat): each domain's newest completed run without a drift gets one; the ids of the runs done."""
    done: list[int] = []
    for domain in Domain.objects.filter(enabled=True).order_by("pk"):
        if len(done) >= limit:
            break
        run = domain.latest_completed_run()
        if run is None or RunDrift.objects.filter(run=run).exists():
            continue
        try:
            run_drift_compute(run=run)
        except Exception:  # one domain's failure must not stop the others'; the next sweep tries again
            log.exception("drift of run %s", run.pk)
            continue
        done.append(run.pk)
    return done
