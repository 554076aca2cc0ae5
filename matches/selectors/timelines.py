"""Reads behind the timelines: a group's history across runs and a profile's history (docs/architecture.md,
"Audit")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from matches.models import AuditEvent, Decision, Domain, MatchGroup, Profile, ProfileSnapshot
from matches.selectors.audit import profile_events_q


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
    same_set = [
        g.as_read()
        for g in MatchGroup.objects.filter(profile_set_key=group.profile_set_key, run__domain_id=group.run.domain_id)
        .select_related("run")
        .order_by("run_id", "id")
    ]
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
    groups = [
        g.as_read()
        for g in MatchGroup.objects.filter(run__domain=domain, profile_ids__contains=[profile_id])
        .select_related("run", "linked_decision__actor")
        .order_by("-run_id", "-id")
    ]
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
