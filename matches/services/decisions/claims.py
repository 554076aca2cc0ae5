"""Claims (leases) on open groups, and comments. A claim is not a decision: it commits without waiting for the WAL
flush (synchronous_commit off), so opening a group costs no fsync. A crash can lose the last few milliseconds of claims
and their audit rows together, never one without the other."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from matches import roles
from matches.models import Comment, MatchGroup, MatchRun
from matches.services.audit import audit_log
from matches.services.decisions.decide import locked, require_decider
from matches.services.decisions.errors import InvalidDecision, RoleRefused

Status = MatchGroup.Status
COMMENT_MAX = 4000


def _claim_seconds() -> int:
    return settings.MATCHDESK["CLAIM_SECONDS"]


def _commit_without_flush() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def group_claim(*, group: MatchGroup, actor: User) -> bool:
    """Take or renew the lease on an open group; False when someone else holds it. Auditors never claim."""
    require_decider(actor)
    now = timezone.now()
    with transaction.atomic(durable=True):
        _commit_without_flush()
        claimable = Q(claimed_by__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=actor)
        previous = MatchGroup.objects.filter(pk=group.pk).only("claimed_by_id", "claimed_until").first()
        # Only a group a decision could follow: open, of the domain's current (completed) run.
        got = MatchGroup.objects.filter(
            claimable, pk=group.pk, status=Status.OPEN, run__status=MatchRun.Status.COMPLETED
        ).update(claimed_by=actor, claimed_until=now + timedelta(seconds=_claim_seconds()))
        if got and previous and not previous.held_by(actor, now):
            audit_log(
                actor=actor,
                action="group.claimed",
                object_type="group",
                object_id=group.pk,
                domain=group.run.domain,
                details={"match_id": group.match_id},
            )
        return bool(got)


def group_release(*, group: MatchGroup, actor: User, skipped: bool = False) -> None:
    """Release a claim: the holder (a skip) or an admin."""
    with transaction.atomic(durable=True):
        group = locked(group)
        holder = group.claimed_by
        if holder is None:
            return
        if holder.pk != actor.pk and not actor.has_perm(roles.ADMINISTER):
            raise RoleRefused("Only the steward holding this group, or an admin, can release it.")
        MatchGroup.objects.filter(pk=group.pk).update(claimed_by=None, claimed_until=None)
        audit_log(
            actor=actor,
            action="group.skipped" if skipped else "group.claim_released",
            object_type="group",
            object_id=group.pk,
            domain=group.run.domain,
            details={"match_id": group.match_id, "holder": holder.get_username()},
        )


def comment_add(*, group: MatchGroup, actor: User, body: str) -> Comment:
    """Comment on any group (not a decision)."""
    body = body.strip()
    if not body:
        raise InvalidDecision("A comment cannot be empty.")
    if len(body) > COMMENT_MAX:
        raise InvalidDecision(
            f"A comment holds at most {COMMENT_MAX:,} characters; this one has {len(body):,}. "
            "Shorten it and send it again."
        )
    if not actor.has_perm(roles.DECIDE):
        raise RoleRefused("Your role cannot comment.")
    with transaction.atomic(durable=True):
        comment = Comment.objects.create(group=group, author=actor, body=body)
        audit_log(
            actor=actor,
            action="comment.added",
            object_type="group",
            object_id=group.pk,
            domain=group.run.domain,
            details={"comment_id": comment.pk, "match_id": group.match_id},
        )
    return comment
