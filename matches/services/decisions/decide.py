"""Decisions on match groups: merge, split, reject, undo, reopen. Each locks its group, refuses a second decision with
who decided and when, and writes its Decision, snapshot and audit event in one durable transaction
(docs/architecture.md, "Transactions")."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from matches import aws, fields, roles
from matches.models import Decision, MatchGroup, MatchRun, MergeJob
from matches.services import approvals, enqueue
from matches.services.decisions.digest import members_digest
from matches.services.decisions.errors import (
    AlreadyDecided,
    AlreadyDecidedByYou,
    HeldByOther,
    InvalidDecision,
    NotDecidable,
    NotUndoable,
    RoleRefused,
    TooLateToUndo,
)
from matches.services.decisions.overlaps import refuse_overlapping
from matches.services.decisions.records import decision_audit, decision_record, latest_decision, snapshot_take
from matches.services.groups import group_set_status, linked_groups_follow

Status = MatchGroup.Status
Action = Decision.Action
DECIDED = (Status.APPROVED, Status.MERGED, Status.REJECTED, Status.SPLIT, Status.FAILED)
NOT_DECIDABLE: dict[str, str] = {
    Status.SUPERSEDED: "This group belongs to an older run: a newer pull replaced it.",
    Status.STALE: "A profile in this group was merged away since the run: it cannot be decided.",
    Status.CARRIED_OVER: "This profile set was decided in an earlier run; reopen it to decide again.",
}
NOT_YET_SHOWN = "This group's run is still being carried over: it opens for review when that finishes."


def when(dt: datetime) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%d %H:%M:%S %Z")


def locked(group: MatchGroup) -> MatchGroup:
    """The group under its row lock, with its run's and domain's rows (inside a transaction). The run's lock is what
    makes a completion wait for a decision in flight on that run (docs/architecture.md, "Completion")."""
    return MatchGroup.objects.select_for_update().select_related("run__domain").get(pk=group.pk)


def require_decider(actor: User) -> None:
    if not actor.is_active or not actor.has_perm(roles.DECIDE):
        raise RoleRefused("Your role cannot claim or decide groups.")


def refuse_unless_run_decides(group: MatchGroup) -> None:
    """An open group of a superseded run reads as superseded (its row may not be rewritten yet), and a run still
    carrying over takes no decisions (MatchRun.takes_decisions; docs/architecture.md, "Completion"). The caller holds
    the run's row lock (`locked`), so a completion cannot slip in between."""
    if group.run.takes_decisions():
        return
    if group.read_status() == Status.SUPERSEDED:
        raise NotDecidable(NOT_DECIDABLE[Status.SUPERSEDED])
    if group.run.status != MatchRun.Status.SUPERSEDED:
        raise NotDecidable(NOT_YET_SHOWN)


def refuse_unless_open(group: MatchGroup, actor: User) -> None:
    """Open and not held by someone else, or the reason why not as its exception type."""
    refuse_unless_run_decides(group)
    if group.status == Status.OPEN:
        holder, until = group.claimed_by, group.claimed_until
        if holder is not None and until is not None and group.held_by_other(actor, timezone.now()):
            raise HeldByOther(
                f"{holder.get_username()} is working on this group until {when(until)}.",
                holder=holder.get_username(),
                until=until,
            )
        return
    last = latest_decision(group)
    if last is not None and group.status in DECIDED:
        mine = last.actor_id == actor.pk
        who = "you" if mine else last.actor.get_username()
        refused = AlreadyDecidedByYou if mine else AlreadyDecided
        raise refused(f"Already decided by {who} at {when(last.created_at)} ({last.action}).", decision=last)
    raise NotDecidable(NOT_DECIDABLE.get(group.status, f"This group is {group.status} and cannot be decided."))


def _validate_merge(*, members: list[str], main_profile_id: str, field_sources: dict[str, str]) -> None:
    if len(members) < 2:
        raise InvalidDecision("A merge needs at least two profiles.")
    if main_profile_id not in members:
        raise InvalidDecision("The main profile must be one of the profiles being merged.")
    for key, source in field_sources.items():
        if not fields.is_source_key(key):
            raise InvalidDecision(f"'{key}' is not a field MergeProfiles can take a source for.")
        if source not in members:
            raise InvalidDecision(f"The source chosen for {key} is not one of the profiles being merged.")
    # The executor's rule (merges.merge_plan): the first MergeProfiles call carries every chosen source other than
    # the main profile, and one call takes at most MAX_IDS_PER_CALL ids to merge.
    sources = {pid for pid in field_sources.values() if pid != main_profile_id}
    if len(sources) > aws.MAX_IDS_PER_CALL:
        raise InvalidDecision(
            f"Fields are taken from {len(sources)} different profiles besides the main profile, but AWS can apply "
            f"field choices from at most {aws.MAX_IDS_PER_CALL}. Take more fields from the main profile or from "
            "profiles already chosen for other fields."
        )


def _schedule_merge(
    *,
    group: MatchGroup,
    actor: User,
    action: Decision.Action,
    main_profile_id: str,
    keep: list[str],
    field_sources: dict[str, str],
    reason: str,
    bulk: bool,
    new_status: MatchGroup.Status,
    preapproved: bool = False,
) -> Decision:
    _validate_merge(members=keep, main_profile_id=main_profile_id, field_sources=field_sources)
    refuse_overlapping(group=group, main_profile_id=main_profile_id, touched=set(keep))
    excluded = sorted(set(group.profile_ids) - set(keep))
    snapshot = snapshot_take(group=group)
    decision = decision_record(
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
    domain = group.run.domain
    rule = (
        ""
        if preapproved
        else domain.approval_rule(size=len(keep), score=group.confidence_score, split=action == Action.SPLIT)
    )
    # Four-eyes: a job awaiting approval is never due; its undo window starts when a second person approves.
    job = MergeJob.objects.create(
        decision=decision,
        status=MergeJob.Status.AWAITING_APPROVAL if rule else MergeJob.Status.SCHEDULED,
        not_before=timezone.now() + timedelta(seconds=domain.undo_window_seconds),
    )
    group_set_status(group=group, status=new_status, claimed_by=None, claimed_until=None)
    extra = {"merge_job_id": job.pk, "not_before": None if rule else job.not_before.isoformat()}
    if rule:
        extra["approval_rule"] = rule
    decision_audit(decision, group, extra)
    if rule:
        approvals.approval_request_within(decision=decision, rule=rule, actor=actor)
    else:
        enqueue.merge_job(job_id=job.pk, eta=job.not_before)
    return decision


def _inside_transaction(name: str) -> None:
    if not connection.in_atomic_block:
        raise RuntimeError(f"{name} must run inside the caller's transaction")


def group_merge_approve_within(
    *,
    group: MatchGroup,
    actor: User,
    main_profile_id: str,
    field_sources: dict[str, str] | None = None,
    reason: str = "",
    bulk: bool = False,
    preapproved: bool = False,
) -> Decision:
    """group_merge_approve inside the caller's transaction (bulk decisions: one transaction per group; a bulk job
    a second admin approved as a whole is `preapproved`)."""
    _inside_transaction("group_merge_approve_within")
    require_decider(actor)
    group = locked(group)
    refuse_unless_open(group, actor)
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
        preapproved=preapproved,
    )


def group_merge_approve(
    *,
    group: MatchGroup,
    actor: User,
    main_profile_id: str,
    field_sources: dict[str, str] | None = None,
    reason: str = "",
    bulk: bool = False,
) -> Decision:
    """Approve merging every profile of the group into `main_profile_id`."""
    require_decider(actor)
    with transaction.atomic(durable=True):
        return group_merge_approve_within(
            group=group,
            actor=actor,
            main_profile_id=main_profile_id,
            field_sources=field_sources,
            reason=reason,
            bulk=bulk,
        )


def group_split(
    *,
    group: MatchGroup,
    actor: User,
    keep_profile_ids: list[str],
    main_profile_id: str,
    field_sources: dict[str, str] | None = None,
    reason: str = "",
) -> Decision:
    """Merge the chosen subset; the rest of the group is recorded as not this customer."""
    require_decider(actor)
    keep = sorted(set(keep_profile_ids))
    with transaction.atomic(durable=True):
        group = locked(group)
        refuse_unless_open(group, actor)
        if not set(keep) <= set(group.profile_ids):
            raise InvalidDecision("A split can only keep profiles of this group.")
        if len(keep) == len(group.profile_ids):
            raise InvalidDecision("A split must leave at least one profile out; to merge them all, approve the merge.")
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


def group_reject_within(*, group: MatchGroup, actor: User, reason: str = "", bulk: bool = False) -> Decision:
    """group_reject inside the caller's transaction (bulk decisions: one transaction per group)."""
    _inside_transaction("group_reject_within")
    require_decider(actor)
    group = locked(group)
    refuse_unless_open(group, actor)
    decision = decision_record(
        group=group,
        actor=actor,
        action=Action.REJECT,
        bulk=bulk,
        snapshot=None if bulk else snapshot_take(group=group),
        reason=reason,
        excluded_profile_ids=list(group.profile_ids),
        # What it was rejected on, kept when the snapshot is erased: a change reopens it (services/rematch.py).
        matching_digest=members_digest(domain_id=group.run.domain_id, profile_ids=group.profile_ids),
    )
    group_set_status(group=group, status=Status.REJECTED, claimed_by=None, claimed_until=None)
    decision_audit(decision, group)
    return decision


def group_reject(*, group: MatchGroup, actor: User, reason: str = "", bulk: bool = False) -> Decision:
    """Record that the profiles are not the same customer."""
    require_decider(actor)
    with transaction.atomic(durable=True):
        return group_reject_within(group=group, actor=actor, reason=reason, bulk=bulk)


def decision_undo(*, decision: Decision, actor: User, reason: str = "") -> Decision:
    """Take back a merge or split whose job has not started; the group returns to its queue."""
    with transaction.atomic(durable=True):
        group = locked(decision.group)
        latest = latest_decision(group)
        if latest is None or latest.pk != decision.pk or decision.action not in (Action.MERGE, Action.SPLIT):
            raise NotUndoable("Only the latest merge or split of a group can be undone.")
        job = MergeJob.objects.select_for_update().get(decision=decision)
        decision.merge_job = job  # the rule below reads the job as locked now
        blocker = decision.undo_blocker(actor)
        if blocker == Decision.UndoBlock.ROLE:
            raise RoleRefused("Only the steward who approved this merge, or an admin, can undo it.")
        if blocker == Decision.UndoBlock.STARTED:
            raise TooLateToUndo(f"Too late to undo: the merge is {job.status}.")
        job.status = MergeJob.Status.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        approvals.approval_withdraw_within(decision=decision, actor=actor)
        undo = decision_record(
            group=group, actor=actor, action=Action.UNDO, bulk=False, snapshot=None, reverts=decision, reason=reason
        )
        group_set_status(group=group, status=Status.OPEN)
        linked = linked_groups_follow(
            decision_id=decision.pk,
            status=Status.OPEN,
            reason="The merge decided in an earlier run was undone; back in review.",
        )
        decision_audit(undo, group, {"merge_job_id": job.pk, "linked_groups": linked})
        return undo


def group_reopen(*, group: MatchGroup, actor: User, reason: str = "") -> Decision:
    """Send a rejected or carried-over group back to its queue, taking back the decision behind it."""
    require_decider(actor)
    with transaction.atomic(durable=True):
        group = locked(group)
        if not group.run.takes_decisions():
            raise NotDecidable(
                NOT_DECIDABLE[Status.SUPERSEDED] if group.run.status == MatchRun.Status.SUPERSEDED else NOT_YET_SHOWN
            )
        if group.status == Status.REJECTED:
            reverts = latest_decision(group)
        elif group.status == Status.CARRIED_OVER:
            reverts = group.linked_decision
        else:
            raise NotDecidable(f"Only rejected or carried-over groups can be reopened (this one is {group.status}).")
        reopen = decision_record(
            group=group, actor=actor, action=Action.REOPEN, bulk=False, snapshot=None, reverts=reverts, reason=reason
        )
        group_set_status(group=group, status=Status.OPEN)
        decision_audit(reopen, group)
        return reopen
