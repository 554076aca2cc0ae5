"""A data subject's request: erase a profile's personal data from the decision snapshots and the profile cache.
Decisions and the audit chain remain: decision events store the snapshot's hash, not its contents."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from matches import roles
from matches.models import PROFILE_ID_RE, Domain, MatchGroup, Profile, ProfileSnapshot
from matches.selectors.timelines import snapshots_of_profile
from matches.services.audit import audit_log

ERASED = {"erased": True}


class ErasureRefused(Exception):
    """The erasure cannot be done; the message says why."""


@dataclass(frozen=True)
class ErasureResult:
    profile_id: str
    snapshot_ids: list[int]
    snapshots_erased: int
    snapshots_emptied: int
    profile_cache_cleared: bool
    groups_scrubbed: int


def _erase_from(snapshot: ProfileSnapshot, profile_id: str) -> bool:
    """Replace the profile's entry; empty the snapshot when nothing personal is left. True when emptied."""
    profiles = dict(snapshot.profiles or {})
    profiles[profile_id] = dict(ERASED)
    others = [pid for pid in set(snapshot.profile_ids) | set(profiles) if pid != profile_id]
    if all(profiles.get(pid) == ERASED or pid not in profiles for pid in others):
        snapshot.profiles = {}
        return True
    snapshot.profiles = profiles
    return False


def profile_snapshots_erase(*, actor: User, domain: Domain, profile_id: str, reason: str) -> ErasureResult:
    """Erase one profile's data from every snapshot holding it and from the profile cache (admins only)."""
    if not actor.is_active or not actor.has_perm(roles.ADMINISTER):
        raise ErasureRefused("Only an admin can erase a profile's data.")
    profile_id = profile_id.strip().lower()
    if not re.match(PROFILE_ID_RE, profile_id):
        raise ErasureRefused("A profile id is 32 lowercase hex characters.")
    reason = reason.strip()
    if not reason:
        raise ErasureRefused("Say why (for example the request's reference): the reason is kept in the audit log.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        ids = list(snapshots_of_profile(domain=domain, profile_id=profile_id).values_list("pk", flat=True))
        snapshots = list(ProfileSnapshot.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        emptied = 0
        for snapshot in snapshots:
            emptied += _erase_from(snapshot, profile_id)
            snapshot.erased_at = now
            snapshot.erased_by = actor
            snapshot.save(update_fields=["profiles", "erased_at", "erased_by"])
        cleared = Profile.objects.filter(domain=domain, profile_id=profile_id).update(attributes={}) > 0
        # Queue rows keep member names for search; blank them until the members are hydrated again.
        scrubbed = (
            MatchGroup.objects.filter(run__domain=domain, profile_ids__contains=[profile_id])
            .exclude(display_names="", search_text="")
            .update(display_names="", search_text="")
        )
        result = ErasureResult(
            profile_id=profile_id,
            snapshot_ids=[s.pk for s in snapshots],
            snapshots_erased=len(snapshots),
            snapshots_emptied=emptied,
            profile_cache_cleared=cleared,
            groups_scrubbed=scrubbed,
        )
        audit_log(
            actor=actor,
            action="profile.erased",
            object_type="profile",
            object_id=profile_id,
            domain=domain,
            details={
                "profile_id": profile_id,
                "snapshot_ids": result.snapshot_ids,
                "snapshots_erased": result.snapshots_erased,
                "snapshots_emptied": result.snapshots_emptied,
                "profile_cache_cleared": cleared,
                "groups_scrubbed": scrubbed,
                "reason": reason,
            },
        )
    return result
