"""Reads that views share."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When

from matches.models import Domain, MatchRun, MergeJob, RunScoreBin, ThresholdPolicy


@dataclass(frozen=True)
class QueueCounts:
    merge: int
    review: int
    reject: int

    @property
    def total(self) -> int:
        return self.merge + self.review + self.reject


def queue_counts(*, run: MatchRun | None, policy: ThresholdPolicy, field: str = "open") -> QueueCounts:
    """Open groups per queue from the run's histogram (at most 1,001 rows, whatever the run's size)."""
    if run is None:
        return QueueCounts(0, 0, 0)
    return queue_counts_for(run_id=run.pk, merge_min=policy.merge_min, reject_below=policy.reject_below, field=field)


def queue_counts_for(*, run_id: int, merge_min: Decimal, reject_below: Decimal, field: str = "open") -> QueueCounts:
    merge_bin = int(Decimal(merge_min) * 1000)
    reject_bin = int(Decimal(reject_below) * 1000)
    bins = RunScoreBin.objects.filter(run_id=run_id)
    agg = bins.aggregate(
        merge=Sum(field, filter=Q(bin__gte=merge_bin)),
        reject=Sum(field, filter=Q(bin__lt=reject_bin)),
        all=Sum(field),
    )
    merge, reject, total = agg["merge"] or 0, agg["reject"] or 0, agg["all"] or 0
    return QueueCounts(merge=merge, review=total - merge - reject, reject=reject)


def domains_overview() -> list[dict]:
    """Each domain with its latest completed run, policy in force and queue counts."""
    overview = []
    for domain in Domain.objects.order_by("name"):
        run = domain.latest_completed_run()
        policy = domain.policy()
        overview.append(
            {
                "domain": domain,
                "run": run,
                "policy": policy,
                "counts": queue_counts(run=run, policy=policy) if policy else QueueCounts(0, 0, 0),
            }
        )
    return overview


# Merges -------------------------------------------------------------------------------------------------------------

_ACTIVE = (MergeJob.Status.RUNNING, MergeJob.Status.SCHEDULED)


def merge_jobs_list(*, status: str = "", domain: Domain | None = None):
    """Merge jobs for the Merges page: running, then waiting (soonest due first), then the newest finished."""
    jobs = MergeJob.objects.select_related("decision__actor", "decision__group__run__domain")
    if status:
        jobs = jobs.filter(status=status)
    if domain is not None:
        jobs = jobs.filter(decision__group__run__domain=domain)
    rank = Case(
        When(status=MergeJob.Status.RUNNING, then=Value(0)),
        When(status=MergeJob.Status.SCHEDULED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    due = Case(When(status__in=_ACTIVE, then=F("not_before")), default=None)
    return jobs.annotate(rank=rank, due=due).order_by("rank", "due", "-id")


def merge_job_counts(*, domain: Domain | None = None) -> dict[str, int]:
    """Jobs per status (for the filter tabs)."""
    jobs = MergeJob.objects.all()
    if domain is not None:
        jobs = jobs.filter(decision__group__run__domain=domain)
    counts = dict(jobs.order_by().values("status").annotate(n=Count("id")).values_list("status", "n"))
    return {s: counts.get(s, 0) for s in MergeJob.Status.values}
