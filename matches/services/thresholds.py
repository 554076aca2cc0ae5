"""Threshold policies: append-only, each change audited."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import User
from django.db import transaction

from matches.models import Domain, ThresholdPolicy
from matches.services.audit import audit_log

NOTE_MAX = 2000


class ThresholdInvalid(ValueError):
    """The proposed thresholds are not a valid policy; the message says why."""


def threshold_parse(
    *, merge_min: str | Decimal | float, reject_below: str | Decimal | float
) -> tuple[Decimal, Decimal]:
    """Validate and return (merge_min, reject_below) as Decimals: 0 <= reject_below <= merge_min <= 1, 3 decimals."""
    values = {}
    for label, raw in (("Merge from", merge_min), ("Reject below", reject_below)):
        try:
            value = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            raise ThresholdInvalid(f"{label} must be a number between 0 and 1, got '{raw}'.") from None
        if not value.is_finite():
            raise ThresholdInvalid(f"{label} must be a number between 0 and 1, got '{raw}'.")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -3 and value != value.quantize(Decimal("0.001")):
            raise ThresholdInvalid(f"{label} takes at most three decimals (like 0.955), got '{raw}'.")
        if not Decimal(0) <= value <= Decimal(1):
            raise ThresholdInvalid(f"{label} must be between 0 and 1, got '{raw}'.")
        values[label] = value.quantize(Decimal("0.001"))
    merge, reject = values["Merge from"], values["Reject below"]
    if reject > merge:
        raise ThresholdInvalid(
            f"Reject below ({reject}) cannot be higher than merge from ({merge}): the queues would overlap."
        )
    return merge, reject


def threshold_set(
    *,
    actor: User,
    domain: Domain,
    merge_min: str | Decimal | float,
    reject_below: str | Decimal | float,
    note: str = "",
) -> ThresholdPolicy:
    """Put a new threshold policy in force for the domain (the queues re-bucket at once)."""
    merge, reject = threshold_parse(merge_min=merge_min, reject_below=reject_below)
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise ThresholdInvalid(
            f"A note holds at most {NOTE_MAX:,} characters; this one has {len(note):,}. Shorten it and save again."
        )
    with transaction.atomic(durable=True):
        # Serialise changes per domain so "before" in the audit event is the policy this one replaces.
        Domain.objects.select_for_update().filter(pk=domain.pk).first()
        previous = domain.policy()
        policy = ThresholdPolicy.objects.create(
            domain=domain, merge_min=merge, reject_below=reject, created_by=actor, note=note
        )
        audit_log(
            actor=actor,
            action="threshold.changed",
            object_type="threshold_policy",
            object_id=policy.pk,
            domain=domain,
            details={
                "merge_min": str(merge),
                "reject_below": str(reject),
                "before": {"merge_min": str(previous.merge_min), "reject_below": str(previous.reject_below)}
                if previous
                else None,
                "note": policy.note,
            },
        )
    return policy
