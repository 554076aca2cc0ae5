"""What a decision writes besides the group: its Decision row, a snapshot of the profiles as shown, its audit event."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import User

from matches.models import Decision, MatchGroup, Profile, ProfileSnapshot
from matches.services.audit import audit_log
from matches.services.decisions.errors import InvalidDecision

REASON_MAX = 2000


def latest_decision(group: MatchGroup) -> Decision | None:
    """The decision that counts: the group's newest."""
    return group.decisions.select_related("actor").order_by("-created_at", "-id").first()


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


def decision_record(
    *,
    group: MatchGroup,
    actor: User,
    action: Decision.Action,
    bulk: bool,
    snapshot: ProfileSnapshot | None,
    **values: Any,
) -> Decision:
    """The Decision row, with the score, its queue and the policy in force."""
    reason = values.get("reason") or ""
    if len(reason) > REASON_MAX:
        # Refused, never cut: the steward keeps their text and shortens it themselves.
        raise InvalidDecision(
            f"A reason holds at most {REASON_MAX:,} characters; this one has {len(reason):,}. Shorten it and try again."
        )
    policy = group.run.domain.policy()
    return Decision.objects.create(
        group=group,
        action=action,
        actor=actor,
        confidence_score=group.confidence_score,
        bucket=group.queue_of(policy),
        threshold_policy=policy,
        bulk=bulk,
        snapshot=snapshot,
        **values,
    )


def decision_audit(decision: Decision, group: MatchGroup, extra: dict[str, Any] | None = None) -> None:
    """The decision's audit event (in its transaction): everything needed to read it back without the rows."""
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
