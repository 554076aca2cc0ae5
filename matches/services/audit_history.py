"""Audited reads of the history itself: verifying the chain and starting an export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Max

from matches import roles
from matches.models import AuditEvent, Decision
from matches.selectors.audit import AuditFilters
from matches.services.audit import audit_log_atomic, verify_chain


class AuditAccessRefused(Exception):
    """The user's role may not read the audit history."""


def _require_auditor(actor: User) -> None:
    if not actor.is_active or not actor.has_perm(roles.VIEW_AUDIT):
        raise AuditAccessRefused("Your role cannot read the audit history.")


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str
    event: AuditEvent


def audit_chain_verify(*, actor: User) -> ChainStatus:
    """Walk the whole chain and record who checked it and what they found."""
    _require_auditor(actor)
    checked, problem = verify_chain()
    details: dict[str, Any] = {"ok": problem is None, "checked": checked}
    if problem:
        details.update(first_bad_seq=problem.seq, reason=problem.reason)
    event = audit_log_atomic(
        actor=actor, action="audit.verified", object_type="audit", object_id="chain", details=details
    )
    return ChainStatus(
        ok=problem is None,
        checked=checked,
        first_bad_seq=problem.seq if problem else None,
        reason=problem.reason if problem else "",
        event=event,
    )


def export_start(*, actor: User, kind: str, filters: AuditFilters) -> tuple[AuditEvent, int]:
    """Record the export before its first byte leaves (own transaction); returns the event and the highest key the
    export covers, so the file is a consistent cut however long the download takes."""
    _require_auditor(actor)
    if kind not in ("events", "decisions"):
        raise ValueError(f"unknown export {kind!r}")
    upto: int | None = None
    if kind == "decisions":
        upto = Decision.objects.aggregate(m=Max("id"))["m"] or 0
    details: dict[str, Any] = {"filters": filters.as_details()}
    if filters.domains is not None:  # a reader limited to some domains exports only those
        details["domains"] = list(filters.domains)
    if upto is not None:
        details["upto_decision_id"] = upto
    event = audit_log_atomic(
        actor=actor,
        action=f"export.{kind}",
        object_type="export",
        object_id=kind,
        domain=filters.domain,
        details=details,
    )
    return event, event.seq if kind == "events" else (upto or 0)
