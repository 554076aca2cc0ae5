"""History records as the witness of a merge (docs/architecture.md, "Merges").

After an uncertain MergeProfiles outcome (a 5xx, a timeout, a worker that died with a chunk in flight), a profile
that is gone is not read as "merged by us" on its own: AWS's profile history says why it went. A chunk counts as
merged only when the main profile has a `MERGED` record and each gone profile a `DELETED_BY_MERGE` record, both no
older than the job's start (less CLOCK_SKEW). A profile deleted for another reason (`DELETED_BY_CUSTOMER`, `EXPIRED`),
or merged before the job started (AWS auto-merging, another tool), sends the job back with that reason. No record yet
defers the job (history may lag the merge); so does a throttled or failing history call. A history that cannot be
read at all (no permission) leaves the re-check alone to decide, as before, and says so in the job's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from matches import aws, ratelimit
from matches.models import Domain
from matches.services.backoff import domain_rate

OPERATION = "ListProfileHistoryRecords"
CLOCK_SKEW = timedelta(minutes=5)
GONE_ACTIONS = ("DELETED_BY_MERGE", "DELETED_BY_CUSTOMER", "EXPIRED")


@dataclass
class Witness:
    merged: list[str] = field(default_factory=list)  # witnessed: deleted by a merge into the main profile
    other: dict[str, str] = field(default_factory=dict)  # profile id -> why it went, when not by our merge
    unknown: list[str] = field(default_factory=list)  # no history record says why yet

    def summary(self) -> str:
        parts = [f"{len(self.merged)} witnessed merged (DELETED_BY_MERGE, main MERGED)"]
        if self.other:
            parts.append("; ".join(f"{pid}: {why}" for pid, why in sorted(self.other.items())))
        if self.unknown:
            parts.append(f"no history record yet for {', '.join(self.unknown)}")
        return "; ".join(parts)


def _records(domain: Domain, profile_id: str, action_type: str | None = None) -> list[dict[str, Any]]:
    per_second = domain_rate(domain, OPERATION)
    with ratelimit.call_slot(operation=OPERATION, domain_name=domain.name, per_second=per_second, fail_open=True):
        return aws.list_profile_history_records(domain, profile_id=profile_id, action_type=action_type)


def _when(record: dict[str, Any]) -> datetime | None:
    value = record.get("CreatedAt")
    return value if isinstance(value, datetime) else None


def merge_witness(*, domain: Domain, main: str, gone: list[str], started: datetime) -> Witness:
    """Why each of `gone` left AWS, from its history records and the main profile's (raises MatchdeskAwsError)."""
    since = started - CLOCK_SKEW
    witness = Witness()
    main_merged = any((_when(r) or since) >= since for r in _records(domain, main, "MERGED"))
    for pid in gone:
        ends = [r for r in _records(domain, pid) if r.get("ActionType") in GONE_ACTIONS]
        last = max(ends, key=lambda r: _when(r) or since, default=None)
        if last is None:
            witness.unknown.append(pid)
            continue
        at = _when(last)
        shown = f"{last['ActionType']} at {at.isoformat(timespec='seconds') if at else 'an unknown time'}"
        by = f" by {last['PerformedBy']}" if last.get("PerformedBy") else ""
        if last["ActionType"] != "DELETED_BY_MERGE":
            witness.other[pid] = f"{shown}{by}"
        elif at is not None and at < since:
            witness.other[pid] = f"{shown}{by}, before this merge job started (not this job's merge)"
        elif not main_merged:
            witness.other[pid] = f"{shown}{by}, but the main profile {main} has no MERGED record since the job started"
        else:
            witness.merged.append(pid)
    return witness
