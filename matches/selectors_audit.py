"""Reads for the audit history: filtered events, keyset pages and batches, timelines, reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncWeek

from matches.models import (
    AuditEvent,
    Bucket,
    Decision,
    Domain,
    MatchGroup,
    Profile,
    ProfileSnapshot,
)

PAGE_SIZE = 50
EXPORT_BATCH = 2000
Action = Decision.Action


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

    def as_details(self) -> dict[str, Any]:
        """The filters that are set, as plain JSON for an audit event."""
        return {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v not in ("", None)
        }

    @property
    def any(self) -> bool:
        return bool(self.as_details())


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _created_range(prefix: str, f: AuditFilters) -> Q:
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
    if f.actor:
        qs = qs.filter(actor_id__in=_actor_ids(f.actor))
    if f.action:
        qs = qs.filter(action__startswith=f.action)
    if f.domain:
        qs = qs.filter(domain=f.domain)
    qs = qs.filter(_created_range("created_at", f))
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
    qs = (
        audit_events(f)
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
    return qs.filter(_created_range("created_at", f))


def decisions_for_export(f: AuditFilters, *, upto_id: int) -> Iterator[list[tuple]]:
    qs = decisions_filtered(f).filter(pk__lte=upto_id)
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


# Timelines -----------------------------------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # "decision" or "event"
    group: MatchGroup | None = None
    decision: Decision | None = None
    event: AuditEvent | None = None
    earlier_run: bool = False

    @property
    def sort_key(self) -> tuple:
        return (self.at, 0 if self.kind == "decision" else 1, self.event.seq if self.event else 0)


@dataclass
class GroupTimeline:
    group: MatchGroup
    groups: list[MatchGroup]  # this group and the same profile set in earlier runs, oldest first
    later_groups: list[MatchGroup]
    entries: list[TimelineEntry] = field(default_factory=list)


def _decisions(groups_q: Q) -> QuerySet[Decision]:
    return Decision.objects.filter(groups_q).select_related(
        "actor", "group__run", "threshold_policy", "snapshot__erased_by", "reverts"
    )


def _merge_entries(decisions: list[Decision], events: list[AuditEvent], current_group_id: int | None) -> list:
    shown = {d.pk for d in decisions}
    seq_of = {}
    entries = []
    for e in events:
        decision_id = e.details.get("decision_id") if isinstance(e.details, dict) else None
        if e.action.startswith("decision.") and decision_id in shown:
            seq_of[decision_id] = e.seq
            continue
        entries.append(TimelineEntry(at=e.created_at, kind="event", event=e))
    for d in decisions:
        d.audit_seq = seq_of.get(d.pk)
        entries.append(
            TimelineEntry(
                at=d.created_at,
                kind="decision",
                group=d.group,
                decision=d,
                earlier_run=current_group_id is not None and d.group_id != current_group_id,
            )
        )
    entries.sort(key=lambda t: t.sort_key, reverse=True)
    return entries


def group_timeline(group: MatchGroup) -> GroupTimeline:
    """Every decision and event on this group and on its profile set in earlier runs of the domain, newest first."""
    same_set = list(
        MatchGroup.objects.filter(profile_set_key=group.profile_set_key, run__domain_id=group.run.domain_id)
        .select_related("run")
        .order_by("run_id", "id")
    )
    groups = [g for g in same_set if g.run_id <= group.run_id]
    later = [g for g in same_set if g.run_id > group.run_id]
    pks = [g.pk for g in groups]
    events_q = Q(object_type="group", object_id__in=[str(pk) for pk in pks])
    for g in groups:
        events_q |= Q(details__contains={"group_id": g.pk})
    decisions = list(_decisions(Q(group_id__in=pks)))
    events = list(
        AuditEvent.objects.filter(events_q, domain=group.run.domain.name).select_related("actor").order_by("-seq")[:500]
    )
    timeline = GroupTimeline(group=group, groups=groups, later_groups=later)
    timeline.entries = _merge_entries(decisions, events, group.pk)
    run_of = {g.pk: g for g in groups}
    for entry in timeline.entries:
        if entry.event is not None and entry.event.object_type == "group":
            entry.group = run_of.get(int(entry.event.object_id)) if entry.event.object_id.isdigit() else None
            entry.earlier_run = entry.group is not None and entry.group.pk != group.pk
    return timeline


@dataclass
class ProfileTimeline:
    domain: Domain
    profile_id: str
    profile: Profile | None
    groups: list[MatchGroup]
    decisions: list[Decision]
    events: list[AuditEvent]
    snapshots: list[ProfileSnapshot]
    erasures: list[AuditEvent]
    entries: list[TimelineEntry] = field(default_factory=list)


def snapshots_of_profile(*, domain: Domain, profile_id: str) -> QuerySet[ProfileSnapshot]:
    """Snapshots holding the profile: those behind decisions in this domain, and any not linked to a decision."""
    linked = Decision.objects.filter(snapshot=OuterRef("pk"))
    in_domain = linked.filter(group__run__domain=domain)
    return (
        ProfileSnapshot.objects.filter(profile_ids__contains=[profile_id])
        .annotate(in_domain=Exists(in_domain), linked=Exists(linked))
        .filter(Q(in_domain=True) | Q(linked=False))
    )


def profile_timeline(*, domain: Domain, profile_id: str, event_limit: int = 200) -> ProfileTimeline:
    """Every group (across runs) and decision that touched a profile, its audit events and snapshots."""
    profile = Profile.objects.filter(domain=domain, profile_id=profile_id).first()
    groups = list(
        MatchGroup.objects.filter(run__domain=domain, profile_ids__contains=[profile_id])
        .select_related("run", "linked_decision__actor")
        .order_by("-run_id", "-id")
    )
    decisions = list(_decisions(Q(group_id__in=[g.pk for g in groups])).order_by("-created_at", "-id"))
    events = list(
        AuditEvent.objects.filter(profile_events_q(profile_id), domain=domain.name)
        .select_related("actor")
        .order_by("-seq")[:event_limit]
    )
    erasures = [e for e in events if e.action == "profile.erased"]
    snapshots = list(
        snapshots_of_profile(domain=domain, profile_id=profile_id).select_related("erased_by").order_by("-id")
    )
    timeline = ProfileTimeline(
        domain=domain,
        profile_id=profile_id,
        profile=profile,
        groups=groups,
        decisions=decisions,
        events=events,
        snapshots=snapshots,
        erasures=erasures,
    )
    timeline.entries = _merge_entries(decisions, events, None)
    return timeline


# Reports -------------------------------------------------------------------------------------------------------------

DECIDING = (Action.MERGE, Action.SPLIT, Action.REJECT)


@dataclass(frozen=True)
class ReportFilters:
    domain: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _report_decisions(f: ReportFilters) -> QuerySet[Decision]:
    qs = Decision.objects.all()
    if f.domain:
        qs = qs.filter(group__run__domain__name=f.domain)
    return qs.filter(_created_range("created_at", AuditFilters(date_from=f.date_from, date_to=f.date_to)))


def decisions_per_week(f: ReportFilters, *, by: str) -> list[dict]:
    """Rows of (week, `by`, n): `by` is "actor__username" or "bucket". Aggregated in SQL."""
    return list(
        _report_decisions(f)
        .annotate(week=TruncWeek("created_at"))
        .values("week", by)
        .annotate(n=Count("id"))
        .order_by("week", by)
    )


def agreement_by_steward(f: ReportFilters) -> list[dict]:
    """Per steward, individual (non-bulk) decisions against the queue's suggestion: merge queue → merge,
    reject queue → reject. Review has no suggestion. Splits count as not following a merge suggestion."""
    merge_q, reject_q = Q(bucket=Bucket.MERGE), Q(bucket=Bucket.REJECT)
    return list(
        _report_decisions(f)
        .filter(action__in=DECIDING, bulk=False)
        .values("actor__username")
        .annotate(
            decided=Count("id"),
            merge_queue=Count("id", filter=merge_q),
            merge_agreed=Count("id", filter=merge_q & Q(action=Action.MERGE)),
            reject_queue=Count("id", filter=reject_q),
            reject_agreed=Count("id", filter=reject_q & Q(action=Action.REJECT)),
            review_queue=Count("id", filter=Q(bucket=Bucket.REVIEW)),
        )
        .order_by("actor__username")
    )


def reversal_rates(f: ReportFilters) -> list[dict]:
    """Per steward: merges/splits later undone and rejects later reopened (a carried-over reopen included)."""
    undone = Exists(Decision.objects.filter(reverts=OuterRef("pk"), action=Action.UNDO))
    reopened = Exists(Decision.objects.filter(reverts=OuterRef("pk"), action=Action.REOPEN))
    return list(
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


def qa_sample_model():
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
    samples = sample_model.objects.select_related("domain", "created_by").order_by("-created_at", "-id")
    if f.domain:
        samples = samples.filter(domain__name=f.domain)
    samples = list(
        samples.filter(_created_range("created_at", AuditFilters(date_from=f.date_from, date_to=f.date_to)))[:limit]
    )
    verdict = Subquery(
        Decision.objects.filter(group=OuterRef("group"), bulk=False, action__in=DECIDING)
        .order_by("-created_at", "-id")
        .values("action")[:1]
    )
    counts = {
        row["sample_id"]: row
        for row in item_model.objects.filter(sample__in=samples)
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
        agreed = row["merged"] if sample.queue == Bucket.MERGE else row["rejected"]
        results.append(
            {"sample": sample, **row, "decided": decided, "agreed": agreed, "pending": row["items"] - decided}
        )
    return results
