"""AWS's own profile history (ListProfileHistoryRecords) for the profile timeline, beside Matchdesk's decisions.

Read on demand when the timeline opens, one attempt (a page never waits through backoff), kept a minute in the cache;
an error is shown in its place, never an error page. The merge executor reads the same records as its witness
(services/merges/witness.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache

from matches import aws
from matches.models import Domain
from matches.services.backoff import aws_read

CACHE_SECONDS = 60


@dataclass
class AwsHistory:
    records: list[dict[str, Any]] = field(default_factory=list)  # newest first: ActionType, CreatedAt, PerformedBy
    error: str = ""


def profile_history_fetch(*, domain: Domain, profile_id: str) -> AwsHistory:
    """The profile's history records at AWS in AWS's order (newest first), or why they could not be read."""
    key = f"profile-history:{domain.pk}:{profile_id}"
    cached = cache.get(key)
    if isinstance(cached, AwsHistory):
        return cached
    try:
        raw = aws_read(
            domain,
            "ListProfileHistoryRecords",
            lambda: aws.list_profile_history_records(domain, profile_id=profile_id, max_pages=2),
            max_attempts=1,
        )
    except aws.MatchdeskAwsError as exc:
        return AwsHistory(error=str(exc))
    records = [
        {
            "action": str(r.get("ActionType", "")),
            "at": r.get("CreatedAt") if isinstance(r.get("CreatedAt"), datetime) else None,
            "by": str(r.get("PerformedBy") or ""),
            "object_type": str(r.get("ObjectTypeName") or ""),
        }
        for r in raw
    ]
    history = AwsHistory(records=records)
    cache.set(key, history, CACHE_SECONDS)
    return history
