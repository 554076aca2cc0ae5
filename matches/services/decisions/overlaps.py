"""Overlapping groups (docs/architecture.md, "Overlapping groups"): two groups that share a profile cannot both be
approved into different main profiles. The check runs in the decision's transaction after taking a transaction-level
advisory lock per profile it touches, in sorted order, so two concurrent approvals of overlapping groups are
serialised and the second sees the first once it has committed."""

from __future__ import annotations

from django.db import connection

from matches.models import MatchGroup
from matches.selectors.approvals import pending_merges_touching
from matches.services.decisions.errors import OverlapsPendingMerge

# An arbitrary namespace for the two-key advisory locks: ("MDPF", a profile id's first 32 bits).
PROFILE_LOCK_SPACE = 0x4D44_5046


def profile_lock_keys(profile_ids: set[str] | list[str]) -> list[int]:
    """Sorted int4 keys, one per profile id (a collision only serialises two approvals that need not be)."""
    return sorted({int(pid[:8], 16) - 2**31 for pid in profile_ids if pid})


def profiles_lock(profile_ids: set[str] | list[str]) -> None:
    """Hold each profile's advisory lock until the transaction ends; sorted, so two holders never deadlock."""
    keys = profile_lock_keys(profile_ids)
    if keys:
        with connection.cursor() as cursor:
            # A plain projection over unnest evaluates row by row in array order: the locks are taken sorted.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k", [PROFILE_LOCK_SPACE, keys]
            )


def refuse_overlapping(*, group: MatchGroup, main_profile_id: str, touched: set[str]) -> None:
    """Refuse a merge whose profiles another pending merge takes into a different main profile (caller's
    transaction; takes the profiles' locks first)."""
    profiles_lock(touched)
    for other in pending_merges_touching(domain_id=group.run.domain_id, profile_ids=touched, exclude_group_id=group.pk):
        if other.main_profile_id == main_profile_id:
            continue  # the same customer either way: the executor runs the two jobs one after the other
        shared = sorted(other.touched_profile_ids() & touched)
        raise OverlapsPendingMerge(
            f"Profile {shared[0]} is also in group {other.group.match_id}, approved by "
            f"{other.actor.get_username()} into main profile {other.main_profile_id}, which has not merged yet. "
            "Decide this group after that merge has run, or undo that decision first.",
            other=other.group,
            decision=other,
            shared=shared,
        )
