"""Reads for the audit history: filtered events, keyset pages and export batches (docs/architecture.md, "Audit").

Timelines are in selectors/timelines.py, reports in selectors/reports.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from matches.models import AuditEvent, Decision
from reviewapp.dbrouter import read_alias_holding

PAGE_SIZE = 50
EXPORT_BATCH = 2000


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    domain: str = ""
    date_from: date | None = None
    date_to: date | None = None
    match_id: str = ""
    profile_id: str = ""
    group: int | None = None
    # The domains the reader may see (access.visible_domain_names), None for every domain: set by the view, never
    # by the form. A limited reader sees only events of these domains (events of no domain are for unlimited ones).
    domains: tuple[str, ...] | None = None

    def as_details(self) -> dict[str, Any]:
        """The filters that are set, as plain JSON for an audit event."""
        return {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in asdict(self).items()
            if v not in ("", None) and k != "domains"
        }

    @property
    def any(self) -> bool:
        return bool(self.as_details())


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def created_range(prefix: str, f: AuditFilters) -> Q:
    q = Q()
    if f.date_from:
        q &= Q(**{f"{prefix}__gte": _day_start(f.date_from)})
    if f.date_to:
        q &= Q(**{f"{prefix}__lt": _day_start(f.date_to + timedelta(days=1))})
    return q


def _actor_ids(username: str) -> QuerySet:
    return get_user_model().objects.filter(username=username).values("pk")


def profile_events_q(profile_id: str) -> Q:
    """Events naming a profile: decisions list it in `profile_ids`, profile events name it in `profile_id`.
    Both are jsonb containment, which the jsonb_path_ops GIN index on details answers."""
    return Q(details__contains={"profile_ids": [profile_id]}) | Q(details__contains={"profile_id": profile_id})


def audit_events(f: AuditFilters) -> QuerySet[AuditEvent]:
    """Events matching the filters (unordered)."""
    qs = AuditEvent.objects.all()
    if f.domains is not None:
        qs = qs.filter(domain__in=f.domains)
    if f.actor:
        qs = qs.filter(actor_id__in=_actor_ids(f.actor))
    if f.action:
        qs = qs.filter(action__startswith=f.action)
    if f.domain:
        qs = qs.filter(domain=f.domain)
    qs = qs.filter(created_range("created_at", f))
    if f.match_id:
        qs = qs.filter(details__contains={"match_id": f.match_id})
    if f.profile_id:
        qs = qs.filter(profile_events_q(f.profile_id))
    if f.group:
        qs = qs.filter(object_type="group", object_id=str(f.group))
    return qs


@dataclass
class AuditPage:
    events: list[AuditEvent]
    older_than: int | None  # the `before` value of the next (older) page, None on the last page


def audit_page(f: AuditFilters, *, before: int | None = None, size: int = PAGE_SIZE) -> AuditPage:
    """One page, newest first, keyset on seq: `before` is the seq the page starts below."""
    qs = audit_events(f).select_related("actor").order_by("-seq")
    if before:
        qs = qs.filter(seq__lt=before)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(events=rows, older_than=rows[-1].seq if more else None)


def keyset_batches(qs: QuerySet, *, key: str, batch_size: int | None = None) -> Iterator[list[tuple]]:
    """Walk a values_list queryset whose first column is `key`, ascending, one bounded batch per query:
    the memory held is one batch, whatever the number of rows."""
    batch_size = batch_size or EXPORT_BATCH
    last = None
    while True:
        page = qs.order_by(key)
        if last is not None:
            page = page.filter(**{f"{key}__gt": last})
        rows = list(page[:batch_size])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


EVENT_EXPORT_COLUMNS = (
    "seq",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "domain",
    "details",
    "prev_hash",
    "hash",
)


def events_for_export(f: AuditFilters, *, upto_seq: int) -> Iterator[list[tuple]]:
    # From the read replica when one is set and has replayed event `upto_seq` (reviewapp/dbrouter.py).
    qs = (
        audit_events(f)
        .using(read_alias_holding(AuditEvent, seq=upto_seq))
        .filter(seq__lte=upto_seq)
        .values_list(
            "seq",
            "created_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "domain",
            "details",
            "prev_hash",
            "hash",
        )
    )
    return keyset_batches(qs, key="seq")


DECISION_EXPORT_COLUMNS = (
    "created_at",
    "domain",
    "run",
    "match_id",
    "group_id",
    "action",
    "actor",
    "score",
    "bucket",
    "merge_min",
    "reject_below",
    "main_profile",
    "merged_ids",
    "excluded_ids",
    "field_sources",
    "reason",
    "bulk",
    "reverts",
)


def decisions_filtered(f: AuditFilters) -> QuerySet[Decision]:
    qs = Decision.objects.all()
    if f.domains is not None:
        qs = qs.filter(group__run__domain__name__in=f.domains)
    if f.domain:
        qs = qs.filter(group__run__domain__name=f.domain)
    if f.actor:
        qs = qs.filter(actor_id__in=_actor_ids(f.actor))
    action = f.action.removeprefix("decision.")
    if action:
        qs = qs.filter(action__startswith=action)
    if f.match_id:
        qs = qs.filter(group__match_id=f.match_id)
    if f.profile_id:
        qs = qs.filter(group__profile_ids__contains=[f.profile_id])
    if f.group:
        qs = qs.filter(group_id=f.group)
    return qs.filter(created_range("created_at", f))


def decisions_for_export(f: AuditFilters, *, upto_id: int) -> Iterator[list[tuple]]:
    qs = decisions_filtered(f).filter(pk__lte=upto_id).using(read_alias_holding(Decision, pk=upto_id))
    rows = qs.values_list(
        "id",
        "created_at",
        "group__run__domain__name",
        "group__run_id",
        "group__match_id",
        "group_id",
        "action",
        "actor__username",
        "confidence_score",
        "bucket",
        "threshold_policy__merge_min",
        "threshold_policy__reject_below",
        "main_profile_id",
        "merged_profile_ids",
        "excluded_profile_ids",
        "field_sources",
        "reason",
        "bulk",
        "reverts_id",
    )
    for batch in keyset_batches(rows, key="id"):
        yield [row[1:] for row in batch]
