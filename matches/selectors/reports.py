"""Reads behind the reports page: decisions per week, agreement with the queues, reversals, QA samples.
Everything is aggregated in SQL (docs/architecture.md, "Audit")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.apps import apps
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncWeek

from matches.models import Approval, Decision, Queue
from matches.selectors.audit import AuditFilters, created_range
from reviewapp.dbrouter import read_alias

Action = Decision.Action
DECIDING = (Action.MERGE, Action.SPLIT, Action.REJECT)


@dataclass(frozen=True)
class ReportFilters:
    domain: str = ""
    date_from: date | None = None
    date_to: date | None = None
    # The domains the reader may see, None for every domain (set by the view; see AuditFilters.domains).
    domains: tuple[str, ...] | None = None


def _report_decisions(f: ReportFilters) -> QuerySet[Decision]:
    qs = Decision.objects.using(read_alias())  # the read replica when one is set (reviewapp/dbrouter.py)
    if f.domains is not None:
        qs = qs.filter(group__run__domain__name__in=f.domains)
    if f.domain:
        qs = qs.filter(group__run__domain__name=f.domain)
    return qs.filter(created_range("created_at", AuditFilters(date_from=f.date_from, date_to=f.date_to)))


def decisions_per_week(f: ReportFilters, *, by: str) -> list[dict]:
    """Rows of (week, `by`, n): `by` is "actor__username" or "bucket". Aggregated in SQL."""
    return list(
        _report_decisions(f)
        .annotate(week=TruncWeek("created_at"))
        .values("week", by)
        .annotate(n=Count("id"))
        .order_by("week", by)
    )


def agreement_by_steward(f: ReportFilters) -> list[dict[str, Any]]:
    """Per steward, individual (non-bulk) decisions against the queue's suggestion: merge queue → merge,
    reject queue → reject. Review has no suggestion. Splits count as not following a merge suggestion."""
    merge_q, reject_q = Q(bucket=Queue.MERGE), Q(bucket=Queue.REJECT)
    return [
        dict(row)
        for row in (
            _report_decisions(f)
            .filter(action__in=DECIDING, bulk=False)
            .values("actor__username")
            .annotate(
                decided=Count("id"),
                merge_queue=Count("id", filter=merge_q),
                merge_agreed=Count("id", filter=merge_q & Q(action=Action.MERGE)),
                reject_queue=Count("id", filter=reject_q),
                reject_agreed=Count("id", filter=reject_q & Q(action=Action.REJECT)),
                review_queue=Count("id", filter=Q(bucket=Queue.REVIEW)),
            )
            .order_by("actor__username")
        )
    ]


def reversal_rates(f: ReportFilters) -> list[dict[str, Any]]:
    """Per steward: merges/splits later undone and rejects later reopened (a carried-over reopen included)."""
    undone = Exists(Decision.objects.filter(reverts=OuterRef("pk"), action=Action.UNDO))
    reopened = Exists(Decision.objects.filter(reverts=OuterRef("pk"), action=Action.REOPEN))
    return [
        dict(row)
        for row in (
            _report_decisions(f)
            .filter(action__in=DECIDING)
            .annotate(was_undone=undone, was_reopened=reopened)
            .values("actor__username")
            .annotate(
                merges=Count("id", filter=Q(action__in=(Action.MERGE, Action.SPLIT))),
                undone=Count("id", filter=Q(action__in=(Action.MERGE, Action.SPLIT), was_undone=True)),
                rejects=Count("id", filter=Q(action=Action.REJECT)),
                reopened=Count("id", filter=Q(action=Action.REJECT, was_reopened=True)),
            )
            .order_by("actor__username")
        )
    ]


def qa_sample_model() -> type | None:
    """The QASample model when the QA feature is installed in this build, else None."""
    try:
        return apps.get_model("matches", "QASample")
    except LookupError:
        return None


def qa_sample_results(f: ReportFilters, *, limit: int = 20) -> list[dict] | None:
    """Per QA sample (newest first): how stewards decided its groups against the sampled queue's suggestion.
    The verdict of a group is its latest individual merge, split or reject. None when QA samples are not built in."""
    sample_model = qa_sample_model()
    if sample_model is None:
        return None
    item_model = apps.get_model("matches", "QASampleItem")
    samples = sample_model.objects.using(read_alias()).select_related("domain", "created_by")
    samples = samples.order_by("-created_at", "-id")
    if f.domains is not None:
        samples = samples.filter(domain__name__in=f.domains)
    if f.domain:
        samples = samples.filter(domain__name=f.domain)
    samples = list(
        samples.filter(created_range("created_at", AuditFilters(date_from=f.date_from, date_to=f.date_to)))[:limit]
    )
    verdict = Subquery(
        Decision.objects.using(read_alias())
        .filter(group=OuterRef("group"), bulk=False, action__in=DECIDING)
        .order_by("-created_at", "-id")
        .values("action")[:1]
    )
    counts = {
        row["sample_id"]: row
        for row in item_model.objects.using(read_alias())
        .filter(sample__in=samples)
        .annotate(verdict=verdict)
        .values("sample_id")
        .annotate(
            items=Count("id"),
            merged=Count("id", filter=Q(verdict=Action.MERGE)),
            split=Count("id", filter=Q(verdict=Action.SPLIT)),
            rejected=Count("id", filter=Q(verdict=Action.REJECT)),
        )
    }
    results = []
    for sample in samples:
        row = counts.get(sample.pk, {"items": 0, "merged": 0, "split": 0, "rejected": 0})
        decided = row["merged"] + row["split"] + row["rejected"]
        agreed = row["merged"] if sample.queue == Queue.MERGE else row["rejected"]
        results.append(
            {"sample": sample, **row, "decided": decided, "agreed": agreed, "pending": row["items"] - decided}
        )
    return results


def approval_report(f: ReportFilters, *, limit: int = 50) -> dict[str, Any]:
    """Four-eyes approvals asked in the period: counts per rule and status, and the latest ones with both people,
    both times and the rule (docs/architecture.md, "Four-eyes approval")."""
    qs = Approval.objects.using(read_alias())
    if f.domains is not None:
        qs = qs.filter(domain__name__in=f.domains)
    if f.domain:
        qs = qs.filter(domain__name=f.domain)
    qs = qs.filter(created_range("requested_at", AuditFilters(date_from=f.date_from, date_to=f.date_to)))
    by_rule = [
        dict(row)
        for row in qs.values("rule")
        .annotate(
            asked=Count("id"),
            approved=Count("id", filter=Q(status=Approval.Status.APPROVED)),
            sent_back=Count("id", filter=Q(status=Approval.Status.SENT_BACK)),
            pending=Count("id", filter=Q(status=Approval.Status.PENDING)),
            withdrawn=Count("id", filter=Q(status=Approval.Status.WITHDRAWN)),
        )
        .order_by("rule")
    ]
    latest = list(
        qs.select_related("domain", "requested_by", "decided_by", "decision__group").order_by("-requested_at", "-id")[
            :limit
        ]
    )
    return {"by_rule": by_rule, "latest": latest}
