"""API writes: claims and decisions through the same services as the browser (matches/services/decisions), so the
same locks, refusals and audit events apply. A refusal is a 4xx naming its type: 403 for the role, 400 for an invalid
decision, 409 for a state that refuses it (already decided, held by someone else, too late to undo)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Router, Status

from matches import roles
from matches.models import Decision, MatchGroup
from matches.services import decisions
from matches.views.api import common, schemas
from matches.views.api.common import ERRORS

router = Router(tags=["write"])
REFUSALS: dict[int, Any] = {409: schemas.Error}


def _status_of(exc: decisions.DecisionRefused) -> int:
    if isinstance(exc, decisions.RoleRefused):
        return 403
    if isinstance(exc, decisions.InvalidDecision):
        return 400
    return 409


def _refused(exc: decisions.DecisionRefused) -> common.Refused:
    return common.Refused(_status_of(exc), str(exc), type(exc).__name__)


def _claim_out(group: MatchGroup, claimed: bool) -> dict[str, Any]:
    group.refresh_from_db(fields=["claimed_by", "claimed_until"])
    return {
        "claimed": claimed,
        "claimed_by": group.claimed_by.get_username() if group.claimed_by else None,
        "claimed_until": group.claimed_until,
    }


@router.post("/groups/{pk}/claim", response={200: schemas.ClaimOut, **REFUSALS, **ERRORS}, summary="Claim a group")
def claim(request: HttpRequest, pk: int = Path(..., ge=1, lt=2**63)) -> Any:
    user = common.need(request, roles.DECIDE)
    common.only(request)
    group = common.group_or_404(request, pk)
    try:
        claimed = decisions.group_claim(group=group, actor=user)
    except decisions.DecisionRefused as exc:
        raise _refused(exc) from None
    return _claim_out(group, claimed)


@router.post("/groups/{pk}/release", response={200: schemas.ClaimOut, **REFUSALS, **ERRORS}, summary="Release a claim")
def release(request: HttpRequest, pk: int = Path(..., ge=1, lt=2**63)) -> Any:
    user = common.need(request, roles.DECIDE)
    common.only(request)
    group = common.group_or_404(request, pk)
    try:
        decisions.group_release(group=group, actor=user)
    except decisions.DecisionRefused as exc:
        raise _refused(exc) from None
    return _claim_out(group, False)


@router.post(
    "/groups/{pk}/decisions",
    response={201: schemas.DecisionOut, **REFUSALS, **ERRORS},
    summary="Decide a group: merge, split or reject",
)
def decide(request: HttpRequest, body: schemas.DecideIn, pk: int = Path(..., ge=1, lt=2**63)) -> Any:
    user = common.need(request, roles.DECIDE)
    common.only(request)
    group = common.group_or_404(request, pk)
    try:
        decision = _decide(group, user, body)
    except decisions.DecisionRefused as exc:
        raise _refused(exc) from None
    return Status(201, common.decision_out(Decision.objects.select_related("actor", "merge_job").get(pk=decision.pk)))


def _decide(group: MatchGroup, user: Any, body: schemas.DecideIn) -> Decision:
    reason = body.reason.strip()
    if body.action == Decision.Action.REJECT:
        return decisions.group_reject(group=group, actor=user, reason=reason)
    if body.action == Decision.Action.SPLIT:
        keep = sorted(set(body.keep_profile_ids))
        if len(keep) < 2 or not set(keep) <= set(group.profile_ids):
            raise decisions.InvalidDecision("A split keeps at least two of the group's profiles (keep_profile_ids).")
        main = body.main_profile_id or decisions.default_main_profile(MatchGroup(run=group.run, profile_ids=keep))
        return decisions.group_split(
            group=group,
            actor=user,
            keep_profile_ids=keep,
            main_profile_id=main,
            field_sources=body.field_sources,
            reason=reason,
        )
    main = body.main_profile_id or decisions.default_main_profile(group)
    return decisions.group_merge_approve(
        group=group, actor=user, main_profile_id=main, field_sources=body.field_sources, reason=reason
    )


@router.post(
    "/decisions/{pk}/undo",
    response={201: schemas.DecisionOut, **REFUSALS, **ERRORS},
    summary="Undo a merge or split before it runs",
)
def undo(request: HttpRequest, body: schemas.UndoIn, pk: int = Path(..., ge=1, lt=2**63)) -> Any:
    user = common.need(request, roles.DECIDE)
    common.only(request)
    decision = get_object_or_404(
        Decision.objects.select_related("group__run__domain"), pk=pk, group__run__domain__in=common.domains_of(request)
    )
    try:
        undone = decisions.decision_undo(decision=decision, actor=user, reason=body.reason.strip())
    except decisions.DecisionRefused as exc:
        raise _refused(exc) from None
    return Status(201, common.decision_out(Decision.objects.select_related("actor", "merge_job").get(pk=undone.pk)))
