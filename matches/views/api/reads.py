"""API reads: domains, runs with progress, queue counts, groups with profiles, decisions, audit events (keyset pages).
Each needs the role's permission (view_queues; view_audit for the audit log) and answers only visible domains."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import HttpError

from matches import roles
from matches.models import MatchGroup, Queue
from matches.selectors import api as api_reads
from matches.selectors import review as review_reads
from matches.selectors.counts import queue_counts
from matches.services import profiles
from matches.views.api import common, schemas
from matches.views.api.common import ERRORS

router = Router(tags=["read"])
PAGED = ERRORS


class NameIn(Schema):
    name: str = Field(..., pattern=common.DOMAIN_NAME)


ID_CURSOR = r"^[1-9][0-9]{0,17}$"
# A group cursor is "<score>:<id>", the score as Python writes a float in [0, 1] (0.8, 1e-05).
SCORE_CURSOR = r"^[0-9](\.[0-9]{1,20})?(e-[0-9]{1,3})?:[1-9][0-9]{0,17}$"


class PageIn(Schema):
    after: str | None = Field(None, pattern=ID_CURSOR, description="`next` of the previous page")
    limit: int = Field(50, ge=1, le=200)


class GroupsIn(PageIn):
    after: str | None = Field(None, pattern=SCORE_CURSOR, description="`next` of the previous page")
    queue: Literal["merge", "review", "reject"] | None = Field(None, description="open groups of one queue")
    status: Literal[tuple(MatchGroup.Status.values)] | None = None  # type: ignore[valid-type]


class DecisionsIn(PageIn):
    group: int | None = Field(None, ge=1, lt=2**63)


class AuditIn(PageIn):
    domain: str | None = Field(None, pattern=common.DOMAIN_NAME)
    action: str | None = Field(None, max_length=64, pattern=r"^[a-z_.]+$")


def _keyset(read: Any, **kwargs: Any) -> api_reads.Page[Any]:
    try:
        page: api_reads.Page[Any] = read(**kwargs)
    except api_reads.BadCursor:
        raise HttpError(400, "This cursor was not handed out by the API: pass a page's `next` as it came.") from None
    return page


@router.get("/domains", response={200: list[schemas.DomainOut], **ERRORS}, summary="Domains with their queue counts")
def domains(request: HttpRequest) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request)
    return [common.domain_out(domain) for domain in common.domains_of(request).order_by("name")]


@router.get("/domains/{name}", response={200: schemas.DomainOut, **ERRORS}, summary="One domain")
def domain(request: HttpRequest, path: Path[NameIn]) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request)
    return common.domain_out(common.domain_or_404(request, path.name))


@router.get("/domains/{name}/queues", response={200: schemas.QueueCountsOut, **ERRORS}, summary="Open groups per queue")
def queues(request: HttpRequest, path: Path[NameIn]) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request)
    domain = common.domain_or_404(request, path.name)
    run = domain.latest_completed_run()
    return {"run_id": run.pk if run else None, **vars(queue_counts(run=run, policy=domain.policy()))}


@router.get(
    "/domains/{name}/runs", response={200: schemas.RunPage, **PAGED}, summary="Runs with progress, newest first"
)
def runs(request: HttpRequest, path: Path[NameIn], query: Query[PageIn]) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request, *PageIn.model_fields)
    domain = common.domain_or_404(request, path.name)
    page = _keyset(api_reads.runs_page, domain=domain, after=query.after, limit=query.limit)
    return {"items": [common.run_out(run) for run in page.items], "next": page.next}


@router.get(
    "/domains/{name}/groups",
    response={200: schemas.GroupPage, **PAGED},
    summary="Groups of the latest completed run, highest score first",
)
def groups(request: HttpRequest, path: Path[NameIn], query: Query[GroupsIn]) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request, *GroupsIn.model_fields)
    domain = common.domain_or_404(request, path.name)
    queue = Queue(query.queue) if query.queue else None
    page = _keyset(
        api_reads.groups_page,
        domain=domain,
        queue=queue,
        status=query.status or "",
        after=query.after,
        limit=query.limit,
    )
    policy = domain.policy()
    return {"items": [common.group_out(group, policy) for group in page.items], "next": page.next}


@router.get("/groups/{pk}", response={200: schemas.GroupDetailOut, **ERRORS}, summary="A group with its profiles")
def group(request: HttpRequest, pk: int = Path(..., ge=1, lt=2**63)) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request)
    found = common.group_or_404(request, pk)
    # The page's own refresh: profiles older than the cache age are fetched once, else the cached copies and why.
    members, error = profiles.group_profiles_refresh(group=found)
    return {
        **common.group_out(found, found.run.domain.policy()),
        "profiles": [
            {
                "profile_id": pid,
                "missing": members[pid].missing,
                "fetched_at": members[pid].fetched_at,
                "merged_into": members[pid].merged_into,
                "attributes": members[pid].attributes,
            }
            for pid in found.profile_ids
            if pid in members
        ],
        "profiles_error": error,
        "decisions": [common.decision_out(decision) for decision in review_reads.group_decisions(found)],
    }


@router.get("/decisions", response={200: schemas.DecisionPage, **PAGED}, summary="Decisions, newest first")
def decisions(request: HttpRequest, query: Query[DecisionsIn]) -> Any:
    common.need(request, roles.VIEW_QUEUES)
    common.only(request, *DecisionsIn.model_fields)
    group = common.group_or_404(request, query.group) if query.group else None
    page = _keyset(
        api_reads.decisions_page, domains=common.domains_of(request), group=group, after=query.after, limit=query.limit
    )
    return {"items": [common.decision_out(decision) for decision in page.items], "next": page.next}


@router.get("/audit/events", response={200: schemas.AuditPage, **PAGED}, summary="Audit events, newest first")
def audit_events(request: HttpRequest, query: Query[AuditIn]) -> Any:
    common.need(request, roles.VIEW_AUDIT)
    common.only(request, *AuditIn.model_fields)
    page = _keyset(
        api_reads.audit_page,
        domains=common.domains_of(request),
        domain=query.domain or "",
        action=query.action or "",
        after=query.after,
        limit=query.limit,
    )
    return {"items": [common.event_out(event) for event in page.items], "next": page.next}
