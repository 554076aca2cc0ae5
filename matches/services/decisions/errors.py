"""Why a claim, decision or comment is refused. Each is a DecisionRefused whose message a steward understands;
callers branch on the type, never on the text."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matches.models import Decision, MatchGroup


class DecisionRefused(Exception):
    """The decision cannot be taken; the message says why in words a steward understands."""


class RoleRefused(DecisionRefused):
    """The actor's role (or their relation to the claim or decision) does not allow this."""


class HeldByOther(DecisionRefused):
    """Another steward holds a live claim on the group."""

    def __init__(self, message: str, *, holder: str, until: datetime) -> None:
        super().__init__(message)
        self.holder = holder
        self.until = until


class AlreadyDecided(DecisionRefused):
    """The group was decided (its latest decision is `decision`); a second decision is refused."""

    def __init__(self, message: str, *, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision


class AlreadyDecidedByYou(AlreadyDecided):
    """The actor decided it themselves: usually a double submit, to be told calmly."""


class NotDecidable(DecisionRefused):
    """The group's status does not allow this (superseded, stale, carried over, not reopenable…)."""


class InvalidDecision(DecisionRefused):
    """What was chosen is not a decision that can be carried out (profiles, main profile, field sources, comment)."""


class NotUndoable(DecisionRefused):
    """Not the latest merge or split of its group."""


class TooLateToUndo(NotUndoable):
    """The merge job has started (or finished): undo is no longer possible."""


class OverlapsPendingMerge(DecisionRefused):
    """Another group sharing a profile is approved into a different main profile and has not merged yet: deciding
    this one now would send AWS two merges that fight over that profile. `other` is that group, `decision` its
    decision."""

    def __init__(self, message: str, *, other: MatchGroup, decision: Decision, shared: list[str]) -> None:
        super().__init__(message)
        self.other = other
        self.decision = decision
        self.shared = shared
