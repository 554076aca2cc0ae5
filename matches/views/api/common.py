"""What every API endpoint shares: permission checks (the roles of matches/roles.py), the domain scope
(access.visible_domains) and turning rows into the answer's schemas."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja.errors import HttpError

from matches import access
from matches.models import AuditEvent, Decision, Domain, MatchGroup, MatchRun, MergeJob, ThresholdPolicy
from matches.selectors.counts import queue_counts
from matches.views.api import schemas

ERRORS: dict[int, Any] = {
    400: schemas.Error,
    401: schemas.Error,
    403: schemas.Error,
    404: schemas.Error,
    422: schemas.ValidationErrorOut,
}


class Refused(HttpError):
    """A 4xx that names its reason's type in `code`."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(status, message)
        self.code = code


def only(request: HttpRequest, *names: str) -> None:
    """Refuse query parameters the operation does not take: a misspelt filter must not quietly answer everything."""
    unknown = sorted(set(request.GET) - set(names))
    if unknown:
        raise Refused(400, f"Unknown parameter: {', '.join(unknown)[:200]}.", "UnknownParameter")


DOMAIN_NAME = r"^[A-Za-z0-9_-]{1,64}$"


def user_of(request: HttpRequest) -> User:
    user = request.auth  # set by TokenAuth
    assert isinstance(user, User)
    return user


def need(request: HttpRequest, perm: str) -> User:
    user = user_of(request)
    if not user.has_perm(perm):
        raise HttpError(403, f"Your role does not allow this ({perm.split('.')[-1]}).")
    return user


def domains_of(request: HttpRequest) -> QuerySet[Domain]:
    return access.visible_domains(user_of(request))


def domain_or_404(request: HttpRequest, name: str) -> Domain:
    domain = domains_of(request).filter(name=name).first()
    if domain is None:
        raise HttpError(404, "No such domain.")
    return domain


def group_or_404(request: HttpRequest, pk: int) -> MatchGroup:
    group = (
        MatchGroup.objects.select_related("run__domain", "claimed_by")
        .filter(pk=pk, run__domain__in=domains_of(request))
        .first()
    )
    if group is None:
        raise HttpError(404, "No such group.")
    return group


def domain_out(domain: Domain) -> dict[str, Any]:
    run = domain.latest_completed_run()
    policy = domain.policy()
    counts = queue_counts(run=run, policy=policy)
    return {
        "name": domain.name,
        "region": domain.region,
        "enabled": domain.enabled,
        "merges_paused": domain.merges_paused,
        "undo_window_seconds": domain.undo_window_seconds,
        "policy": {"merge_min": float(policy.merge_min), "reject_below": float(policy.reject_below)}
        if policy
        else None,
        "queues": {"run_id": run.pk if run else None, **vars(counts)},
    }


def run_out(run: MatchRun) -> dict[str, Any]:
    progress = None
    if run.potential_matches:
        progress = min(1.0, run.groups_seen / run.potential_matches)
    fields = ("id", "status", "job_id", "generated_at", "started_at", "finished_at", "pages", "groups_seen")
    rest = ("groups_stored", "quarantined", "potential_matches", "restarts", "error")
    return {**{name: getattr(run, name) for name in fields + rest}, "progress": progress}


def group_out(group: MatchGroup, policy: ThresholdPolicy | None) -> dict[str, Any]:
    # as_read: an open group of a superseded run reads as superseded before its row is rewritten (docs/architecture.md,
    # "Completion").
    group = group.as_read()
    return {
        "id": group.pk,
        "match_id": group.match_id,
        "run_id": group.run_id,
        "domain": group.run.domain.name,
        "confidence_score": group.confidence_score,
        "queue": group.queue_of(policy) or None,
        "source": group.source,
        "rule_level": group.rule_level,
        "both_engines": group.both_engines,
        "size": group.size,
        "status": group.status,
        "status_reason": group.status_reason,
        "profile_ids": list(group.profile_ids),
        "claimed_by": group.claimed_by.get_username() if group.claimed_by else None,
        "claimed_until": group.claimed_until,
    }


def decision_out(decision: Decision) -> dict[str, Any]:
    try:
        job: MergeJob | None = decision.merge_job  # select_related by the reads
    except MergeJob.DoesNotExist:
        job = None
    return {
        "id": decision.pk,
        "group_id": decision.group_id,
        "action": decision.action,
        "actor": decision.actor.get_username(),
        "created_at": decision.created_at,
        "confidence_score": decision.confidence_score,
        "bucket": decision.bucket,
        "main_profile_id": decision.main_profile_id,
        "field_sources": decision.field_sources or {},
        "reason": decision.reason,
        "bulk": decision.bulk,
        "reverts_id": decision.reverts_id,
        "merge_job_status": job.status if job else None,
        "merge_not_before": job.not_before if job else None,
    }


def event_out(event: AuditEvent) -> dict[str, Any]:
    fields = ("seq", "created_at", "action", "object_type", "object_id", "domain", "details", "hash")
    return {**{name: getattr(event, name) for name in fields}, "actor": event.actor_name}
