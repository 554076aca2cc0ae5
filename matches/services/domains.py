"""Domains: created or changed only here, each change audited; a new domain gets a default threshold policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from matches import aws
from matches.models import Domain, ThresholdPolicy
from matches.services.audit import audit_log
from matches.services.schedules import schedules_ensure

if TYPE_CHECKING:
    from django.contrib.auth.models import User

EDITABLE = (
    "region",
    "endpoint_url",
    "role_arn",
    "enabled",
    "undo_window_seconds",
    "merge_rate_per_second",
    "blind_review_enforced",
    "approval_size_above",
    "approval_score_below",
    "approval_splits",
    "approval_bulk",
    "approval_all",
    "rule_based_pull",
    "rule_merge_max_level",
    "results_source",
    "aws_rates",
)


def domain_save(*, actor: User | None, name: str, **values: Any) -> tuple[Domain, bool]:
    """Create the domain or update the given fields; returns (domain, created)."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    if "region" in values:
        domain_region_check(values["region"])
    with transaction.atomic():
        domain = Domain.objects.select_for_update().filter(name=name).first()
        created = domain is None
        changes: dict[str, Any]
        if domain is None:
            domain = Domain(name=name, **values)
            domain.full_clean()
            domain.save()
            ThresholdPolicy.objects.create(
                domain=domain,
                merge_min=ThresholdPolicy.DEFAULT_MERGE_MIN,
                reject_below=ThresholdPolicy.DEFAULT_REJECT_BELOW,
                created_by=actor,
                note="default",
            )
            changes = {k: str(getattr(domain, k)) for k in EDITABLE}
        else:
            changes = {k: [str(getattr(domain, k)), str(v)] for k, v in values.items() if getattr(domain, k) != v}
            for key, value in values.items():
                setattr(domain, key, value)
            domain.full_clean()
            domain.save()
        if created or "enabled" in changes:
            # Polling and the weekly fallback pull follow the domain's `enabled`.
            schedules_ensure(domain=domain)
        if created or changes:
            audit_log(
                actor=actor,
                action="domain.created" if created else "domain.updated",
                object_type="domain",
                object_id=domain.pk,
                domain=domain,
                details={"name": domain.name, "changes": changes},
            )
    return domain, created


def domain_set_merges_paused(*, actor: User, domain: Domain, paused: bool) -> None:
    """Pause or resume merge execution for one domain."""
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).update(merges_paused=paused)
        domain.merges_paused = paused
        audit_log(
            actor=actor,
            action="merges.paused" if paused else "merges.resumed",
            object_type="domain",
            object_id=domain.pk,
            domain=domain,
            details={"scope": "domain"},
        )


def domain_region_check(region: str) -> None:
    """Refuse a region boto3 does not know for Customer Profiles (a typo, markup, a region without the service)."""
    problem = aws.region_problem(region)
    if problem:
        raise ValidationError({"region": problem})


def domain_test_connection(*, domain: Domain) -> dict:
    """GetDomain, reduced to what an admin needs to see: matching, its schedule and AWS's own auto-merging.
    Reads only (nothing is stored or audited); an AWS error is part of the answer, not an exception."""
    try:
        response = aws.get_domain(domain)
    except aws.MatchdeskAwsError as exc:
        return {"ok": False, "error": str(exc), "code": exc.code}
    matching = response.get("Matching") or {}
    auto = matching.get("AutoMerging") or {}
    schedule = matching.get("JobSchedule") or {}
    return {
        "ok": True,
        "matching_enabled": bool(matching.get("Enabled")),
        "schedule_day": schedule.get("DayOfTheWeek", ""),
        "schedule_time": schedule.get("Time", ""),
        "auto_merging": bool(auto.get("Enabled")),
        "auto_min_score": auto.get("MinAllowedConfidenceScoreForMerging"),
        "profile_count": (response.get("Stats") or {}).get("ProfileCount"),
        "rules": rule_settings_of(response),
    }


def rule_settings_of(response: dict) -> dict | None:
    """GetDomain's RuleBasedMatching as the domain page lists it (None: the domain has none)."""
    rules = response.get("RuleBasedMatching")
    if not isinstance(rules, dict):
        return None
    conflict = rules.get("ConflictResolution") or {}
    types = rules.get("AttributeTypesSelector") or {}
    return {
        "enabled": bool(rules.get("Enabled")),
        "status": rules.get("Status") or "",
        "rules": [", ".join(r.get("Rule") or []) for r in rules.get("MatchingRules") or []],
        "max_merging": rules.get("MaxAllowedRuleLevelForMerging"),
        "max_matching": rules.get("MaxAllowedRuleLevelForMatching"),
        "conflict": " ".join(str(v) for v in (conflict.get("ConflictResolvingModel"), conflict.get("SourceName")) if v),
        "attribute_model": types.get("AttributeMatchingModel") or "",
    }
