"""Reconciliation of an S3 run at its end: the records read against what AWS says the job found.

An S3 export can lose or repeat objects, and its layout is an assumption (s3_format.py), so before the run completes
its counts are compared with GetMatches' `PotentialMatches` and the job's `JobStats.NumberOfMatchesFound`. A mismatch
does not fail the run (the groups read are real); it is kept on the run (`MatchRun.reconciliation`), audited, and
shown with the figures on the run's page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from matches import aws
from matches.models import MatchRun
from matches.services.audit import audit_log
from matches.services.backoff import aws_read


def reconciliation_of(*, records: int, stored: int, quarantined: int, potential: Any, found: Any) -> dict[str, Any]:
    """The figures and every mismatch between them, in words."""
    mismatches = []
    for name, value in (("PotentialMatches", potential), ("JobStats.NumberOfMatchesFound", found)):
        if isinstance(value, int) and value != records:
            mismatches.append(f"{records} records read from the export, {name} says {value}")
    if records != stored + quarantined:
        mismatches.append(
            f"{records - stored - quarantined} of {records} records are repeats of a MatchId already stored"
        )
    return {
        "records": records,
        "stored": stored,
        "quarantined": quarantined,
        "potential_matches": potential,
        "matches_found": found,
        "mismatches": mismatches,
        "ok": not mismatches,
    }


def run_reconcile(*, run: MatchRun, actor: User | None = None) -> dict[str, Any]:
    """Compare the run's counts with PotentialMatches and NumberOfMatchesFound; store and audit the outcome."""
    domain = run.domain
    notes = []
    potential = run.potential_matches
    found = (run.reconciliation or {}).get("matches_found")
    try:
        potential = aws_read(domain, "GetMatches", lambda: aws.get_matches(domain, max_results=1)).get(
            "PotentialMatches", potential
        )
    except aws.MatchdeskAwsError as exc:
        notes.append(f"PotentialMatches could not be read again: {exc}")
    if run.job_id:
        try:
            job = aws_read(
                domain,
                "GetIdentityResolutionJob",
                lambda: aws.get_identity_resolution_job(domain, job_id=run.job_id),
            )
            found = (job.get("JobStats") or {}).get("NumberOfMatchesFound", found)
        except aws.MatchdeskAwsError as exc:
            notes.append(f"JobStats could not be read again: {exc}")
    figures = reconciliation_of(
        records=run.groups_seen, stored=run.groups_stored, quarantined=run.quarantined, potential=potential, found=found
    )
    figures["objects"] = run.export_objects.count()
    figures["notes"] = notes
    with transaction.atomic(durable=True):
        MatchRun.objects.filter(pk=run.pk).update(
            reconciliation=figures, potential_matches=potential if isinstance(potential, int) else run.potential_matches
        )
        audit_log(
            actor=actor,
            action="pull.reconciled",
            object_type="run",
            object_id=run.pk,
            domain=domain,
            details=figures,
        )
    return figures
