"""What the API answers and accepts (its OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

PROFILE_ID = r"^[a-f0-9]{32}$"
FIELD_KEY = r"^[A-Za-z][A-Za-z0-9_.]{0,127}$"
NO_NUL = r"^[^\x00]*$"  # Postgres text cannot hold NUL: refuse it as invalid input, not a server error


class Error(Schema):
    detail: str
    code: str | None = Field(
        None, description="The refusal's type, e.g. AlreadyDecided, HeldByOther, InvalidDecision, UnknownParameter"
    )


class ValidationErrorOut(Schema):
    detail: list[dict[str, Any]]


class PolicyOut(Schema):
    merge_min: float
    reject_below: float


class QueueCountsOut(Schema):
    run_id: int | None
    merge: int
    review: int
    reject: int


class DomainOut(Schema):
    name: str
    region: str
    enabled: bool
    merges_paused: bool
    undo_window_seconds: int
    policy: PolicyOut | None
    queues: QueueCountsOut


class RunOut(Schema):
    id: int
    status: str
    job_id: str
    generated_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    pages: int
    groups_seen: int
    groups_stored: int
    quarantined: int
    potential_matches: int | None
    restarts: int
    progress: float | None = Field(description="groups seen / potential matches, 0..1, when AWS said how many")
    error: str


class GroupOut(Schema):
    id: int
    match_id: str
    run_id: int
    domain: str
    confidence_score: float | None = Field(
        description="null for a manual group (a steward formed it) and a rule-based one (AWS gives it a rule level)"
    )
    queue: str | None
    source: str = Field(description="aws_ml, rule_based or manual")
    rule_level: int | None = Field(
        description="the rule that matched (1 is the strictest): rule-based groups, and ML groups both engines propose"
    )
    both_engines: bool = Field(description="an ML group whose profile set AWS's rule-based matching also proposes")
    size: int
    status: str
    status_reason: str
    profile_ids: list[str]
    claimed_by: str | None
    claimed_until: datetime | None


class ProfileOut(Schema):
    profile_id: str
    missing: bool
    fetched_at: datetime | None
    merged_into: str
    attributes: dict[str, Any]


class DecisionOut(Schema):
    id: int
    group_id: int
    action: str
    actor: str
    created_at: datetime
    confidence_score: float | None
    bucket: str
    main_profile_id: str
    field_sources: dict[str, str]
    reason: str
    bulk: bool
    reverts_id: int | None
    merge_job_status: str | None
    merge_not_before: datetime | None


class GroupDetailOut(GroupOut):
    profiles: list[ProfileOut]
    profiles_error: str
    decisions: list[DecisionOut]


class AuditEventOut(Schema):
    seq: int
    created_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    domain: str
    details: dict[str, Any]
    hash: str


class RunPage(Schema):
    items: list[RunOut]
    next: str | None


class GroupPage(Schema):
    items: list[GroupOut]
    next: str | None


class DecisionPage(Schema):
    items: list[DecisionOut]
    next: str | None


class AuditPage(Schema):
    items: list[AuditEventOut]
    next: str | None


class ClaimOut(Schema):
    claimed: bool
    claimed_by: str | None
    claimed_until: datetime | None


class DecideIn(Schema):
    action: Literal["merge", "reject", "split"]
    main_profile_id: str | None = Field(None, pattern=PROFILE_ID, description="merge/split: defaults as the page does")
    field_sources: dict[str, str] = Field(
        default_factory=dict, description="merge/split: field -> the profile id whose value wins"
    )
    keep_profile_ids: list[str] = Field(default_factory=list, description="split: the profiles that are one customer")
    reason: str = Field("", max_length=2000, pattern=NO_NUL)


class UndoIn(Schema):
    reason: str = Field("", max_length=2000, pattern=NO_NUL)
