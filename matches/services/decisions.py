"""Claims and decisions on match groups (DESIGN.md flow 3). Each decision locks its group, refuses a second decision
with who decided and when, stores a snapshot of the profiles as shown, and writes its audit event in the same
transaction. A merge or split schedules a MergeJob after the domain's undo window; nothing merges without a person."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from matches import aws, fields, roles
from matches.models import Comment, Decision, MatchGroup, MergeJob, Profile, ProfileSnapshot
from matches.services import enqueue
from matches.services.audit import audit_log
from matches.services.groups import group_set_status, linked_groups_follow

Status = MatchGroup.Status
Action = Decision.Action


class DecisionRefused(Exception):
    """The decision cannot be taken; the message says why in words a steward understands."""


def _claim_seconds() -> int:
    return settings.MATCHDESK["CLAIM_SECONDS"]


def latest_decision(group: MatchGroup) -> Decision | None:
    return group.decisions.select_related("actor").order_by("-created_at", "-id").first()


def _when(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%d %H:%M:%S %Z")


def _locked(group: MatchGroup) -> MatchGroup:
    return MatchGroup.objects.select_for_update().select_related("run__domain").get(pk=group.pk)


def _refuse_unless_open(group: MatchGroup, actor) -> None:
    if group.status == Status.OPEN:
        if (
            group.claimed_by_id
            and group.claimed_by_id != actor.pk
            and group.claimed_until
            and group.claimed_until > timezone.now()
        ):
            raise DecisionRefused(
                f"{group.claimed_by.get_username()} is working on this group until {_when(group.claimed_until)}."
            )
        return
    last = latest_decision(group)
    if last is not None and group.status in (
        Status.APPROVED,
        Status.MERGED,
        Status.REJECTED,
        Status.SPLIT,
        Status.FAILED,
    ):
        who = "you" if last.actor_id == actor.pk else last.actor.get_username()
        raise DecisionRefused(f"Already decided by {who} at {_when(last.created_at)} ({last.action}).")
    reasons = {
        Status.SUPERSEDED: "This group belongs to an older run: a newer pull replaced it.",
        Status.STALE: "A profile in this group was merged away since the run: it cannot be decided.",
        Status.CARRIED_OVER: "This profile set was decided in an earlier run; reopen it to decide again.",
    }
    raise DecisionRefused(reasons.get(group.status, f"This group is {group.status} and cannot be decided."))


def _require_decider(actor) -> None:
    if not actor.is_active or not actor.has_perm(roles.DECIDE):
        raise DecisionRefused("Your role cannot claim or decide groups.")


def snapshot_take(*, group: MatchGroup, profile_ids: list[str] | None = None) -> ProfileSnapshot:
    """Store the members' attributes as the steward saw them (cached Profile rows)."""
    ids = sorted(profile_ids or group.profile_ids)
    rows = Profile.objects.filter(domain_id=group.run.domain_id, profile_id__in=ids)
    profiles = {
        p.profile_id: {"attributes": p.attributes, "missing": p.missing, "fetched_at": p.fetched_at} for p in rows
    }
    plain = json.loads(json.dumps(profiles, default=str, sort_keys=True))
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return ProfileSnapshot.objects.create(profile_ids=ids, profiles=plain, content_hash=digest)


def _decision(
    *, group: MatchGroup, actor, action: str, bulk: bool, snapshot: ProfileSnapshot | None, **values
) -> Decision:
    policy = group.run.domain.policy()
    return Decision.objects.create(
        group=group,
        action=action,
        actor=actor,
        confidence_score=group.confidence_score,
        bucket=policy.bucket(group.confidence_score) if policy else "",
        threshold_policy=policy,
        bulk=bulk,
        snapshot=snapshot,
        **values,
    )


def _audit_decision(decision: Decision, group: MatchGroup, extra: dict | None = None) -> None:
    audit_log(
        actor=decision.actor,
        action=f"decision.{decision.action}",
        object_type="group",
        object_id=group.pk,
        domain=group.run.domain,
        details={
            "decision_id": decision.pk,
            "match_id": group.match_id,
            "run_id": group.run_id,
            "profile_ids": group.profile_ids,
            "confidence_score": decision.confidence_score,
            "bucket": decision.bucket,
            "threshold_policy_id": decision.threshold_policy_id,
            "main_profile_id": decision.main_profile_id,
            "merged_profile_ids": decision.merged_profile_ids,
            "excluded_profile_ids": decision.excluded_profile_ids,
            "field_sources": decision.field_sources,
            "reason": decision.reason,
            "bulk": decision.bulk,
            "reverts": decision.reverts_id,
            "snapshot_id": decision.snapshot_id,
            "snapshot_hash": decision.snapshot.content_hash if decision.snapshot else None,
            **(extra or {}),
        },
    )


def _validate_merge(*, members: list[str], main_profile_id: str, field_sources: dict[str, str]) -> None:
    if len(members) < 2:
        raise DecisionRefused("A merge needs at least two profiles.")
    if main_profile_id not in members:
        raise DecisionRefused("The main profile must be one of the profiles being merged.")
    for key, source in field_sources.items():
        if not fields.is_source_key(key):
            raise DecisionRefused(f"'{key}' is not a field MergeProfiles can take a source for.")
        if source not in members:
            raise DecisionRefused(f"The source chosen for {key} is not one of the profiles being merged.")
    # The executor's rule (merges.merge_plan): the first MergeProfiles call carries every chosen source other than
    # the main profile, and one call takes at most MAX_IDS_PER_CALL ids to merge.
    sources = {pid for pid in field_sources.values() if pid != main_profile_id}
    if len(sources) > aws.MAX_IDS_PER_CALL:
        raise DecisionRefused(
            f"Fields are taken from {len(sources)} different profiles besides the main profile, but AWS can apply "
            f"field choices from at most {aws.MAX_IDS_PER_CALL}. Take more fields from the main profile or from "
            "profiles already chosen for other fields."
        )


def default_main_profile(group: MatchGroup, profiles: dict[str, Profile] | None = None) -> str:
    """The most complete profile (most non-empty fields); ties go to the lowest id."""
    if profiles is None:
        profiles = {
            p.profile_id: p
            for p in Profile.objects.filter(domain_id=group.run.domain_id, profile_id__in=group.profile_ids)
        }

    def filled(pid: str) -> int:
        profile = profiles.get(pid)
        if profile is None or profile.missing:
            return -1
        return sum(1 for k, v in profile.attributes.items() if k != "ProfileId" and v not in ("", None, {}, []))

    return sorted(group.profile_ids, key=lambda pid: (-filled(pid), pid))[0]


def _schedule_merge(
    *,
    group: MatchGroup,
    actor,
    action: str,
    main_profile_id: str,
    keep: list[str],
    field_sources: dict[str, str],
    reason: str,
    bulk: bool,
    new_status: str,
) -> Decision:
    _validate_merge(members=keep, main_profile_id=main_profile_id, field_sources=field_sources)
    excluded = sorted(set(group.profile_ids) - set(keep))
    snapshot = snapshot_take(group=group)
    decision = _decision(
        group=group,
        actor=actor,
        action=action,
        bulk=bulk,
        snapshot=snapshot,
        main_profile_id=main_profile_id,
        merged_profile_ids=sorted(set(keep) - {main_profile_id}),
        excluded_profile_ids=excluded,
        field_sources=dict(sorted(field_sources.items())),
        reason=reason,
    )
    job = MergeJob.objects.create(
        decision=decision, not_before=timezone.now() + timedelta(seconds=group.run.domain.undo_window_seconds)
    )
    group_set_status(group=group, status=new_status, claimed_by=None, claimed_until=None)
    _audit_decision(decision, group, {"merge_job_id": job.pk, "not_before": job.not_before.isoformat()})
    enqueue.merge_job(job_id=job.pk, eta=job.not_before)
    return decision


def group_merge_approve(
    *,
    group: MatchGroup,
    actor,
    main_profile_id: str,
    field_sources: dict[str, str] | None = None,
    reason: str = "",
    bulk: bool = False,
) -> Decision:
    """Approve merging every profile of the group into `main_profile_id`."""
    _require_decider(actor)
    with transaction.atomic():
        group = _locked(group)
        _refuse_unless_open(group, actor)
        return _schedule_merge(
            group=group,
            actor=actor,
            action=Action.MERGE,
            main_profile_id=main_profile_id,
            keep=list(group.profile_ids),
            field_sources=field_sources or {},
            reason=reason,
            bulk=bulk,
            new_status=Status.APPROVED,
        )


def group_split(
    *,
    group: MatchGroup,
    actor,
    keep_profile_ids: list[str],
    main_profile_id: str,
    field_sources: dict[str, str] | None = None,
    reason: str = "",
) -> Decision:
    """Merge the chosen subset; the rest of the group is recorded as not this customer."""
    _require_decider(actor)
    keep = sorted(set(keep_profile_ids))
    with transaction.atomic():
        group = _locked(group)
        _refuse_unless_open(group, actor)
        if not set(keep) <= set(group.profile_ids):
            raise DecisionRefused("A split can only keep profiles of this group.")
        if len(keep) == len(group.profile_ids):
            raise DecisionRefused("A split must leave at least one profile out; to merge them all, approve the merge.")
        return _schedule_merge(
            group=group,
            actor=actor,
            action=Action.SPLIT,
            main_profile_id=main_profile_id,
            keep=keep,
            field_sources=field_sources or {},
            reason=reason,
            bulk=False,
            new_status=Status.SPLIT,
        )


def group_reject(*, group: MatchGroup, actor, reason: str = "", bulk: bool = False) -> Decision:
    """Record that the profiles are not the same customer."""
    _require_decider(actor)
    with transaction.atomic():
        group = _locked(group)
        _refuse_unless_open(group, actor)
        decision = _decision(
            group=group,
            actor=actor,
            action=Action.REJECT,
            bulk=bulk,
            snapshot=None if bulk else snapshot_take(group=group),
            reason=reason,
            excluded_profile_ids=list(group.profile_ids),
        )
        group_set_status(group=group, status=Status.REJECTED, claimed_by=None, claimed_until=None)
        _audit_decision(decision, group)
        return decision


def decision_undo(*, decision: Decision, actor, reason: str = "") -> Decision:
    """Take back a merge or split whose job has not started; the group returns to its queue."""
    with transaction.atomic():
        group = _locked(decision.group)
        latest = latest_decision(group)
        if latest is None or latest.pk != decision.pk or decision.action not in (Action.MERGE, Action.SPLIT):
            raise DecisionRefused("Only the latest merge or split of a group can be undone.")
        if actor.pk != decision.actor_id and not actor.has_perm(roles.ADMINISTER):
            raise DecisionRefused("Only the steward who approved this merge, or an admin, can undo it.")
        job = MergeJob.objects.select_for_update().get(decision=decision)
        if job.status != MergeJob.Status.SCHEDULED:
            raise DecisionRefused(f"Too late to undo: the merge is {job.status}.")
        job.status = MergeJob.Status.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        undo = _decision(
            group=group, actor=actor, action=Action.UNDO, bulk=False, snapshot=None, reverts=decision, reason=reason
        )
        group_set_status(group=group, status=Status.OPEN)
        linked = linked_groups_follow(
            decision_id=decision.pk,
            status=Status.OPEN,
            reason="The merge decided in an earlier run was undone; back in review.",
        )
        _audit_decision(undo, group, {"merge_job_id": job.pk, "linked_groups": linked})
        return undo


def group_reopen(*, group: MatchGroup, actor, reason: str = "") -> Decision:
    """Send a rejected or carried-over group back to its queue, taking back the decision behind it."""
    _require_decider(actor)
    with transaction.atomic():
        group = _locked(group)
        if group.status == Status.REJECTED:
            reverts = latest_decision(group)
        elif group.status == Status.CARRIED_OVER:
            reverts = group.linked_decision
        else:
            raise DecisionRefused(f"Only rejected or carried-over groups can be reopened (this one is {group.status}).")
        reopen = _decision(
            group=group, actor=actor, action=Action.REOPEN, bulk=False, snapshot=None, reverts=reverts, reason=reason
        )
        group_set_status(group=group, status=Status.OPEN)
        _audit_decision(reopen, group)
        return reopen


# Claims -------------------------------------------------------------------------------------------------------------


def group_claim(*, group: MatchGroup, actor) -> bool:
    """Take or renew the lease on an open group; False when someone else holds it. Auditors never claim."""
    _require_decider(actor)
    now = timezone.now()
    with transaction.atomic():
        claimable = Q(claimed_by__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=actor)
        previous = MatchGroup.objects.filter(pk=group.pk).values_list("claimed_by_id", "claimed_until").first()
        got = MatchGroup.objects.filter(claimable, pk=group.pk, status=Status.OPEN).update(
            claimed_by=actor, claimed_until=now + timedelta(seconds=_claim_seconds())
        )
        if got and previous and not (previous[0] == actor.pk and previous[1] and previous[1] > now):
            audit_log(
                actor=actor,
                action="group.claimed",
                object_type="group",
                object_id=group.pk,
                domain=group.run.domain,
                details={"match_id": group.match_id},
            )
        return bool(got)


def group_release(*, group: MatchGroup, actor, skipped: bool = False) -> None:
    """Release a claim: the holder (a skip) or an admin."""
    with transaction.atomic():
        group = _locked(group)
        if group.claimed_by_id is None:
            return
        if group.claimed_by_id != actor.pk and not actor.has_perm(roles.ADMINISTER):
            raise DecisionRefused("Only the steward holding this group, or an admin, can release it.")
        holder = group.claimed_by.get_username()
        MatchGroup.objects.filter(pk=group.pk).update(claimed_by=None, claimed_until=None)
        audit_log(
            actor=actor,
            action="group.skipped" if skipped else "group.claim_released",
            object_type="group",
            object_id=group.pk,
            domain=group.run.domain,
            details={"match_id": group.match_id, "holder": holder},
        )


def comment_add(*, group: MatchGroup, actor, body: str) -> Comment:
    """Comment on any group (not a decision)."""
    body = body.strip()
    if not body:
        raise DecisionRefused("A comment cannot be empty.")
    if not actor.has_perm(roles.DECIDE):
        raise DecisionRefused("Your role cannot comment.")
    with transaction.atomic():
        comment = Comment.objects.create(group=group, author=actor, body=body[:4000])
        audit_log(
            actor=actor,
            action="comment.added",
            object_type="group",
            object_id=group.pk,
            domain=group.run.domain,
            details={"comment_id": comment.pk, "match_id": group.match_id},
        )
    return comment
