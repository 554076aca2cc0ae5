"""Reads for the search panel and manual groups (docs/architecture.md, "Search and manual groups")."""

from __future__ import annotations

from collections.abc import Iterable

from matches.models import Decision, MatchGroup, MatchRun, Profile
from matches.selectors.approvals import pending_merges_touching

Status = MatchGroup.Status


def groups_holding(*, run: MatchRun | None, profile_ids: Iterable[str]) -> dict[str, list[MatchGroup]]:
    """Per profile id, the open groups of the run that hold it (the GIN index on profile_ids finds them)."""
    ids = sorted(set(profile_ids))
    out: dict[str, list[MatchGroup]] = {pid: [] for pid in ids}
    if run is None or not ids:
        return out
    rows = MatchGroup.objects.filter(run=run, status=Status.OPEN, profile_ids__overlap=ids).only(
        "pk", "match_id", "profile_ids", "source", "run_id"
    )
    for group in rows.order_by("pk"):
        for pid in group.profile_ids:
            if pid in out:
                out[pid].append(group)
    return out


def pending_merges_of(*, domain_id: int, profile_ids: Iterable[str]) -> list[Decision]:
    """Decisions whose merge job has not finished and touches one of these profiles."""
    return pending_merges_touching(domain_id=domain_id, profile_ids=set(profile_ids))


def cached_profiles(*, domain_id: int, profile_ids: Iterable[str]) -> dict[str, Profile]:
    return {p.profile_id: p for p in Profile.objects.filter(domain_id=domain_id, profile_id__in=list(profile_ids))}
