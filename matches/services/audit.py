"""The audit core: one append-only HMAC hash chain over every state change."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from matches.models import AuditEvent, Domain

GENESIS_HASH = "0" * 64
# An arbitrary constant: the transaction-level advisory lock that orders the chain across processes.
AUDIT_LOCK_KEY = 0x4D44_4155  # "MDAU"


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    """Details as they will read back from jsonb, so the hash verifies after the round trip."""
    return json.loads(json.dumps(details, default=str))


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_fields(
    *,
    seq: int,
    actor_id: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str,
    domain: str,
    details: dict[str, Any],
    created_at: datetime,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "domain": domain,
        "details": details,
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def chain_hash(fields: dict[str, Any], prev_hash: str) -> str:
    key = settings.AUDIT_HMAC_KEY.encode()
    return hmac.new(key, canonical(fields) + b"|" + prev_hash.encode(), hashlib.sha256).hexdigest()


def audit_log(
    *,
    actor: User | None = None,
    action: str,
    object_type: str,
    object_id: Any,
    details: dict[str, Any] | None = None,
    domain: Domain | str = "",
) -> AuditEvent:
    """Append one event to the chain; must run inside the transaction of the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_log must run inside the transaction of the change it records")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    actor_name = actor.get_username() if actor is not None and actor_id else ""
    fields = event_fields(
        seq=seq,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        domain=str(getattr(domain, "name", domain) or ""),
        details=_plain(details or {}),
        created_at=timezone.now(),
    )
    return AuditEvent.objects.create(
        seq=seq,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=fields["object_type"],
        object_id=fields["object_id"],
        domain=fields["domain"],
        details=fields["details"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        prev_hash=prev_hash,
        hash=chain_hash(fields, prev_hash),
    )


def audit_log_atomic(**kwargs: Any) -> AuditEvent:
    """For events that are the whole change (a login, an export): its own transaction."""
    with transaction.atomic(durable=True):
        return audit_log(**kwargs)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def verify_chain(*, batch_size: int = 5000) -> tuple[int, ChainProblem | None]:
    """Walk the chain in order; return how many events verified and the first problem, if any."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in _iter_events(batch_size):
        if event.seq != expected_seq:
            return checked, ChainProblem(event.seq, f"sequence gap: expected #{expected_seq}, found #{event.seq}")
        if event.prev_hash != prev_hash:
            return checked, ChainProblem(event.seq, "prev_hash does not match the previous event's hash")
        fields = event_fields(
            seq=event.seq,
            actor_id=event.actor_id,
            actor_name=event.actor_name,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            domain=event.domain,
            details=event.details,
            created_at=event.created_at,
        )
        if not hmac.compare_digest(chain_hash(fields, prev_hash), event.hash):
            return checked, ChainProblem(event.seq, "contents do not match its hash (edited or forged)")
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    return checked, None


def _iter_events(batch_size: int) -> Iterator[AuditEvent]:
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last_seq = batch[-1].seq
