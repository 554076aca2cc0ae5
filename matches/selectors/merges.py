"""Reads behind the Merges page."""

from __future__ import annotations

from django.db.models import Case, Count, F, IntegerField, QuerySet, Value, When

from matches.models import Domain, MergeJob

_ACTIVE = (MergeJob.Status.RUNNING, MergeJob.Status.SCHEDULED)


def merge_jobs_list(
    *, status: str = "", domain: Domain | None = None, domains: QuerySet[Domain] | None = None
) -> QuerySet[MergeJob]:
    """Merge jobs for the Merges page: running, then waiting (soonest due first), then the newest finished; of
    `domains` only (the user's access), when given."""
    jobs = MergeJob.objects.select_related("decision__actor", "decision__group__run__domain")
    if domains is not None:
        jobs = jobs.filter(decision__group__run__domain__in=domains)
    if status:
        jobs = jobs.filter(status=status)
    if domain is not None:
        jobs = jobs.filter(decision__group__run__domain=domain)
    rank = Case(
        When(status=MergeJob.Status.RUNNING, then=Value(0)),
        When(status__in=MergeJob.NOT_STARTED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    due = Case(When(status__in=_ACTIVE, then=F("not_before")), default=None)
    return jobs.annotate(rank=rank, due=due).order_by("rank", "due", "-id")


def merge_job_counts(*, domain: Domain | None = None, domains: QuerySet[Domain] | None = None) -> dict[str, int]:
    """Jobs per status (for the filter tabs), of `domains` only when given."""
    jobs = MergeJob.objects.all()
    if domains is not None:
        jobs = jobs.filter(decision__group__run__domain__in=domains)
    if domain is not None:
        jobs = jobs.filter(decision__group__run__domain=domain)
    counts = dict(jobs.order_by().values("status").annotate(n=Count("id")).values_list("status", "n"))
    return {s: counts.get(s, 0) for s in MergeJob.Status.values}


def merge_job_get(pk: int) -> MergeJob:
    """One job with what its row shows; Http404 when there is none."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(MergeJob.objects.select_related("decision__actor", "decision__group__run__domain"), pk=pk)
