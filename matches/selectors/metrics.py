"""Reads behind /metrics (docs/architecture.md, "Operations"). Each is bounded whatever the data's size: queue sizes
come from the runs' score histograms (RunScoreBin, at most 1,001 rows a run), progress from running runs only (one per
domain at most), merge jobs from the (status, not_before) index."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count

from matches.models import Domain, MatchRun, MergeJob
from matches.selectors.counts import QueueCounts, queue_counts


@dataclass(frozen=True)
class DomainQueues:
    domain: str
    run_id: int | None
    counts: QueueCounts


def queue_sizes() -> Iterator[DomainQueues]:
    """Open groups per queue of each domain's latest completed run, under the policy in force."""
    for domain in Domain.objects.order_by("name"):
        run = domain.latest_completed_run()
        yield DomainQueues(domain.name, run.pk if run else None, queue_counts(run=run, policy=domain.policy()))


def running_pulls() -> list[MatchRun]:
    """Runs being pulled now, with their domain."""
    return list(MatchRun.objects.filter(status=MatchRun.Status.RUNNING).select_related("domain").order_by("pk"))


def merge_jobs_waiting() -> dict[tuple[str, str], int]:
    """Merge jobs scheduled or running, by (domain, status)."""
    rows = (
        MergeJob.objects.filter(status__in=[MergeJob.Status.SCHEDULED, MergeJob.Status.RUNNING])
        .values("decision__group__run__domain__name", "status")
        .annotate(n=Count("pk"))
    )
    return {(row["decision__group__run__domain__name"], row["status"]): row["n"] for row in rows}
