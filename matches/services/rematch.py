"""Not-a-match that reopens when the data changes (issue 15, item 3; docs/architecture.md, "Rejections that reopen").

A rejection keeps a digest of what identity resolution matched on (`Decision.matching_digest`, see
services/decisions/digest.py), which survives the erasure of the decision's snapshot. After each pull the hydration
compares the carried-over rejections' members with it; where a member's matching attributes differ, the system
reopens the group, audited, naming the fields that changed (never their values).
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.db import transaction

from matches.models import Decision, MatchGroup, Profile
from matches.services.decisions.decide import locked
from matches.services.decisions.digest import (
    attributes_digest,
    changed_fields,
    digest_key,
    rejection_digest,
)
from matches.services.decisions.records import decision_audit, decision_record
from matches.services.groups import group_set_status

log = logging.getLogger(__name__)

SYSTEM_USERNAME = "matchdesk-system"


def system_actor() -> User:
    """The actor of what Matchdesk does by itself: an inactive user that cannot log in."""
    user, created = User.objects.get_or_create(username=SYSTEM_USERNAME, defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def carried_rejections_check(*, groups: list[MatchGroup], profiles: dict[str, Profile]) -> int:
    """After hydration: reopen the carried-over rejections among `groups` whose members' matching data changed
    since the rejection. Returns how many were reopened."""
    carried = [g for g in groups if g.status == MatchGroup.Status.CARRIED_OVER and g.linked_decision_id]
    if not carried:
        return 0
    rejections = {
        d.pk: d
        for d in Decision.objects.filter(
            pk__in={g.linked_decision_id for g in carried}, action=Decision.Action.REJECT
        ).select_related("snapshot")
    }
    key = digest_key()
    reopened = 0
    for group in carried:
        rejection = rejections.get(group.linked_decision_id)  # type: ignore[arg-type]
        if rejection is None:
            continue
        now = {
            pid: attributes_digest(p.attributes, key)
            for pid in group.profile_ids
            if (p := profiles.get(pid)) is not None and not p.missing and p.attributes
        }
        changed = changed_fields(rejection_digest(rejection), now)
        if changed and group_reopen_on_change(group=group, rejection=rejection, changed=changed) is not None:
            reopened += 1
    return reopened


def group_reopen_on_change(*, group: MatchGroup, rejection: Decision, changed: dict[str, list[str]]) -> Decision | None:
    """Reopen one carried-over rejection, by the system actor, naming the changed fields (None when it is no longer
    carried over with this rejection, or its run takes no decisions)."""
    actor = system_actor()
    with transaction.atomic(durable=True):
        group = locked(group)
        if (
            group.status != MatchGroup.Status.CARRIED_OVER
            or group.linked_decision_id != rejection.pk
            or not group.run.takes_decisions()
        ):
            return None
        fields = sorted({f for names in changed.values() for f in names})
        reason = f"The matching data changed since the rejection ({', '.join(fields)}): back in review."
        reopen = decision_record(
            group=group,
            actor=actor,
            action=Decision.Action.REOPEN,
            bulk=False,
            snapshot=None,
            reverts=rejection,
            reason=reason,
            changed_fields=changed,
        )
        group_set_status(group=group, status=MatchGroup.Status.OPEN, reason=reason)
        decision_audit(reopen, group, {"changed_fields": changed, "by_system": True})
    log.info("group %s reopened: matching data changed (%s)", group.pk, ", ".join(fields))
    return reopen
