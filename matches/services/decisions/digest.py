"""The digest of what identity resolution matches on, kept with a rejection (Decision.matching_digest): per member,
one keyed HMAC each for its email addresses, its phone numbers and each part of its full name, over normalised values.
Keyed (AUDIT_HMAC_KEY), so that it says nothing readable after a snapshot's erasure: a phone number's plain hash could
be found by trying them all. services/rematch.py compares it after each pull."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from matches import compare
from matches.models import Decision, Profile

EMAIL_FIELDS = ("EmailAddress", "PersonalEmailAddress", "BusinessEmailAddress")
PHONE_FIELDS = ("PhoneNumber", "MobilePhoneNumber", "HomePhoneNumber", "BusinessPhoneNumber")
NAME_PARTS = ("FirstName", "MiddleName", "LastName")
# The names the group page shows for a changed digest (never the values).
FIELD_LABELS = {
    "emails": "email addresses",
    "phones": "phone numbers",
    "FirstName": "first name",
    "MiddleName": "middle name",
    "LastName": "last name",
}


def digest_key() -> bytes:
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), b"matchdesk matching digest v1", hashlib.sha256).digest()


def _mac(key: bytes, values: Iterable[str]) -> str:
    joined = "\x1f".join(sorted(set(values) - {""}))
    return hmac.new(key, joined.encode(), hashlib.sha256).hexdigest()


def attributes_digest(attributes: dict[str, Any], key: bytes | None = None) -> dict[str, str]:
    """One keyed digest per matching field of one profile, over normalised values (case, accents, phone format)."""
    key = key or digest_key()
    address = attributes.get("Address")
    region = compare.region_hint(address.get("Country")) if isinstance(address, dict) else None
    emails = [compare.fold(attributes[f]) for f in EMAIL_FIELDS if not compare.is_empty(attributes.get(f))]
    phones = [compare.normalise_phone(attributes[f], region) for f in PHONE_FIELDS if attributes.get(f)]
    out = {"emails": _mac(key, emails), "phones": _mac(key, phones)}
    for part in NAME_PARTS:
        value = attributes.get(part)
        out[part] = _mac(key, [] if compare.is_empty(value) else [compare.fold(str(value))])
    return out


def members_digest(*, domain_id: int, profile_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The digest of each member the profile cache holds (a missing or never-fetched profile has none)."""
    key = digest_key()
    rows = Profile.objects.filter(domain_id=domain_id, profile_id__in=list(profile_ids), missing=False)
    return {p.profile_id: attributes_digest(p.attributes, key) for p in rows if p.attributes}


def rejection_digest(decision: Decision) -> dict[str, dict[str, str]]:
    """What a rejection was made on: its stored digest, or (a rejection from before digests were kept) one derived
    from its snapshot while the snapshot is not erased; {} when neither is left."""
    if decision.matching_digest:
        return decision.matching_digest
    snapshot = decision.snapshot
    if snapshot is None or snapshot.erased_at is not None:
        return {}
    key = digest_key()
    out = {}
    for pid, entry in (snapshot.profiles or {}).items():
        attrs = entry.get("attributes") if isinstance(entry, dict) else None
        if isinstance(attrs, dict) and attrs and not entry.get("missing"):
            out[pid] = attributes_digest(attrs, key)
    return out


def changed_fields(before: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Per member present both times, the matching fields whose digest differs (labels, sorted)."""
    out = {}
    for pid, old in before.items():
        new = now.get(pid)
        if new is None:
            continue  # gone or not fetched: not a change of its data
        fields = sorted(FIELD_LABELS[f] for f in FIELD_LABELS if old.get(f) is not None and old.get(f) != new.get(f))
        if fields:
            out[pid] = fields
    return out
