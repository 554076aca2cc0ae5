"""Claims and decisions on match groups (docs/architecture.md, "Flows", 3). Each decision locks its group,
refuses a second decision with who decided and when (as a DecisionRefused subclass), stores a snapshot of the
profiles as shown, and writes its audit event in the same durable transaction. A merge or split schedules a MergeJob
after the domain's undo window; nothing merges without a person.

decide.py: merge, split, reject, undo, reopen; claims.py: claims and comments; records.py: the Decision row, its
snapshot and audit event; errors.py: why something is refused. Callers import from this package.
"""

from matches.services.decisions.claims import comment_add, group_claim, group_release
from matches.services.decisions.decide import (
    decision_undo,
    group_merge_approve,
    group_merge_approve_within,
    group_reject,
    group_reject_within,
    group_reopen,
    group_split,
)
from matches.services.decisions.errors import (
    AlreadyDecided,
    AlreadyDecidedByYou,
    DecisionRefused,
    HeldByOther,
    InvalidDecision,
    NotDecidable,
    NotUndoable,
    OverlapsPendingMerge,
    RoleRefused,
    TooLateToUndo,
)
from matches.services.decisions.records import default_main_profile, latest_decision, snapshot_take

__all__ = [
    "AlreadyDecided",
    "AlreadyDecidedByYou",
    "DecisionRefused",
    "HeldByOther",
    "InvalidDecision",
    "NotDecidable",
    "NotUndoable",
    "OverlapsPendingMerge",
    "RoleRefused",
    "TooLateToUndo",
    "comment_add",
    "decision_undo",
    "default_main_profile",
    "group_claim",
    "group_merge_approve",
    "group_merge_approve_within",
    "group_reject",
    "group_reject_within",
    "group_release",
    "group_reopen",
    "group_split",
    "latest_decision",
    "snapshot_take",
]
