"""Reads behind the API (docs/architecture.md, "API"): keyset pages (a page is "after this key", never an OFFSET, so a
page costs the same at the millionth row), each scoped to the domains the caller may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Q, QuerySet

from matches.models import AuditEvent, Decision, Domain, MatchGroup, MatchRun, Queue

T = TypeVar("T")


class BadCursor(ValueError):
    """A cursor this API did not hand out."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next: str | None


def _page(rows: list[T], limit: int, key: str) -> Page[T]:
    return Page(rows[:limit], key if len(rows) > limit else None)


def _int_cursor(after: str | None) -> int | None:
    if after is None or after == "":
        return None
    try:
        value = int(after)
    except ValueError:
        raise BadCursor("cursor") from None
    if not 0 < value < 2**63:
        raise BadCursor("cursor")
    return value


def runs_page(*, domain: Domain, after: str | None, limit: int) -> Page[MatchRun]:
    """The domain's runs, newest first."""
    qs = MatchRun.objects.filter(domain=domain).order_by("-pk")
    key = _int_cursor(after)
    if key is not None:
        qs = qs.filter(pk__lt=key)
    rows = list(qs[: limit + 1])
    return _page(rows, limit, str(rows[limit - 1].pk) if len(rows) > limit else "")


def groups_page(*, domain: Domain, queue: Queue | None, status: str, after: str | None, limit: int) -> Page[MatchGroup]:
    """Groups of the domain's latest completed run, highest score first (the `group_queue` index); open groups of one
    queue under the policy in force when `queue` is given."""
    run = domain.latest_completed_run()
    if run is None:
        return Page([], None)
    # Keyset on the score: manual groups (no score) are not listed here; /groups/{pk} answers them.
    qs = MatchGroup.objects.filter(run=run, confidence_score__isnull=False).select_related("run__domain", "claimed_by")
    qs = qs.order_by("-confidence_score", "-pk")
    if queue is not None:
        qs = qs.filter(domain.policy().score_q(queue), status=MatchGroup.Status.OPEN)
    elif status:
        qs = qs.filter(status=status)
    if after:
        score_text, _, pk_text = after.partition(":")
        try:
            score, pk = float(score_text), int(pk_text)
        except ValueError:
            raise BadCursor("cursor") from None
        if not 0 < pk < 2**63:
            raise BadCursor("cursor")
        qs = qs.filter(Q(confidence_score__lt=score) | Q(confidence_score=score, pk__lt=pk))
    rows = list(qs[: limit + 1])
    last = rows[limit - 1] if len(rows) > limit else None
    return _page(rows, limit, f"{last.confidence_score!r}:{last.pk}" if last else "")


def decisions_page(
    *, domains: QuerySet[Domain], group: MatchGroup | None, after: str | None, limit: int
) -> Page[Decision]:
    """Decisions, newest first, of the visible domains (or of one group)."""
    qs = Decision.objects.select_related("actor", "merge_job").order_by("-pk")
    qs = qs.filter(group=group) if group is not None else qs.filter(group__run__domain__in=domains)
    key = _int_cursor(after)
    if key is not None:
        qs = qs.filter(pk__lt=key)
    rows = list(qs[: limit + 1])
    return _page(rows, limit, str(rows[limit - 1].pk) if len(rows) > limit else "")


def audit_page(
    *, domains: QuerySet[Domain], domain: str, action: str, after: str | None, limit: int
) -> Page[AuditEvent]:
    """Audit events, newest first: those of the visible domains and those about no domain (users, logins)."""
    names = list(domains.values_list("name", flat=True))
    qs = AuditEvent.objects.filter(Q(domain__in=names) | Q(domain="")).order_by("-seq")
    if domain:
        qs = qs.filter(domain=domain)
    if action:
        qs = qs.filter(action=action)
    key = _int_cursor(after)
    if key is not None:
        qs = qs.filter(seq__lt=key)
    rows = list(qs[: limit + 1])
    return _page(rows, limit, str(rows[limit - 1].seq) if len(rows) > limit else "")
