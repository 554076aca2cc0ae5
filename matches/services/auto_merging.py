"""AWS's own auto-merging, read for the advisor on the domain page (docs/architecture.md, "Auto-merge advisor").

Auto-merging is a setting of the domain at AWS (`Matching.AutoMerging` in GetDomain): when it is on, the weekly job
merges every group scoring at least `MinAllowedConfidenceScoreForMerging` by itself, and those merges bypass
Matchdesk's review. Matchdesk never changes that setting; it reads it, previews a candidate score with
GetAutoMergingPreview and sets both beside the stewards' evidence (matches/selectors/advisor.py).

Both calls only read: nothing is stored or audited, and an AWS error is part of the answer, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from matches import aws
from matches.models import Domain

# GetDomain's answer is kept this long, so the domain page's warning costs one AWS call a minute at most.
SETTINGS_SECONDS = 60


@dataclass(frozen=True)
class AutoMergingSettings:
    ok: bool
    enabled: bool = False
    min_score: float | None = None
    consolidation: dict[str, Any] | None = None
    conflict_resolution: dict[str, Any] | None = None
    error: str = ""
    code: str = ""


@dataclass(frozen=True)
class AutoMergingPreview:
    ok: bool
    min_score: float
    groups_in_sample: int = 0
    profiles_in_sample: int = 0
    profiles_merged: int = 0
    error: str = ""
    code: str = ""


def _settings_key(domain: Domain) -> str:
    return f"auto-merging:{domain.pk}:{domain.region}:{domain.endpoint_url}"


def auto_merging_settings(*, domain: Domain, fresh: bool = False) -> AutoMergingSettings:
    """The domain's auto-merging at AWS (GetDomain), cached for SETTINGS_SECONDS unless `fresh`."""
    key = _settings_key(domain)
    if not fresh:
        cached = cache.get(key)
        if isinstance(cached, AutoMergingSettings):
            return cached
    try:
        response = aws.get_domain(domain)
    except aws.MatchdeskAwsError as exc:
        # Not cached: the admin may fix the cause and reload.
        return AutoMergingSettings(ok=False, error=str(exc), code=exc.code or "")
    auto = (response.get("Matching") or {}).get("AutoMerging") or {}
    minimum = auto.get("MinAllowedConfidenceScoreForMerging")
    settings = AutoMergingSettings(
        ok=True,
        enabled=bool(auto.get("Enabled")),
        min_score=float(minimum) if minimum is not None else None,
        consolidation=auto.get("Consolidation"),
        conflict_resolution=auto.get("ConflictResolution"),
    )
    cache.set(key, settings, SETTINGS_SECONDS)
    return settings


def auto_merging_preview(*, domain: Domain, min_score: float) -> AutoMergingPreview:
    """GetAutoMergingPreview at `min_score`, with the domain's own consolidation rules when it has them (the preview's
    counts turn on the score; AWS requires the rules in every call)."""
    settings = auto_merging_settings(domain=domain)
    try:
        response = aws.get_auto_merging_preview(
            domain,
            min_score=min_score,
            consolidation=settings.consolidation if settings.ok else None,
            conflict_resolution=settings.conflict_resolution if settings.ok else None,
        )
    except aws.MatchdeskAwsError as exc:
        return AutoMergingPreview(ok=False, min_score=min_score, error=str(exc), code=exc.code or "")
    return AutoMergingPreview(
        ok=True,
        min_score=min_score,
        groups_in_sample=int(response.get("NumberOfMatchesInSample") or 0),
        profiles_in_sample=int(response.get("NumberOfProfilesInSample") or 0),
        profiles_merged=int(response.get("NumberOfProfilesWillBeMerged") or 0),
    )
