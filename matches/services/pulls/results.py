"""What a pull reports and the ways it stops: the errors callers catch, the progress and the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


class PullError(Exception):
    """A pull could not run or did not finish; the message says why."""


class PullAlreadyRunning(PullError):
    pass


class PullFailed(PullError):
    def __init__(self, message: str, *, run_id: int | None = None):
        super().__init__(message)
        self.run_id = run_id


class PullLost(PullError):
    """Another process moved this run's checkpoint: this one stops without writing."""


class Restart(Exception):
    """The run must start again from the first page (a new generation, a refused NextToken)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class PullProgress:
    run_id: int
    pages: int
    groups_seen: int
    groups_stored: int
    quarantined: int
    potential_matches: int | None
    restarts: int
    rule_pages: int = 0  # ListRuleBasedMatches pages stored (services/pulls/rules.py)
    rule_groups_stored: int = 0


@dataclass
class PullResult:
    domain: str
    status: str  # "completed", "unchanged", or "ingesting" (an S3 run its workers complete)
    run_id: int | None = None
    generated_at: datetime | None = None
    resumed: bool = False
    pages: int = 0
    groups_seen: int = 0
    groups_stored: int = 0
    quarantined: int = 0
    restarts: int = 0
    potential_matches: int | None = None
    rule_pages: int = 0
    rule_groups_stored: int = 0
    superseded_run_ids: list[int] = field(default_factory=list)
    superseded_groups: int = 0
    carried_over: int = 0
    approved: int = 0
    merged: int = 0
    stale: int = 0

    @property
    def message(self) -> str:
        if self.status == "unchanged" and self.run_id is None:
            return f"{self.domain}: no new results (no identity-resolution job has produced matches yet)"
        if self.status == "unchanged":
            return f"{self.domain}: no new results (generation {when(self.generated_at)} already pulled)"
        if self.status == "ingesting":
            return (
                f"{self.domain}: run {self.run_id}{' (resumed)' if self.resumed else ''} reads the job's S3 export "
                f"in parallel workers; {self.groups_stored} groups stored so far. The last object completes the run."
            )
        return (
            f"{self.domain}: run {self.run_id} completed{' (resumed)' if self.resumed else ''}: "
            f"{self.groups_stored} groups stored from {self.groups_seen} received in {self.pages} pages, "
            f"{self.quarantined} quarantined, {self.restarts} restarts; "
            + (f"{self.rule_groups_stored} rule-based in {self.rule_pages} pages; " if self.rule_pages else "")
            + f"carried over {self.carried_over}, "
            f"approved {self.approved}, merged {self.merged}, stale {self.stale}; "
            f"{self.superseded_groups} open groups of the previous run superseded"
        )


ProgressCallback = Callable[[PullProgress], None]


def when(value: datetime | None) -> str:
    """A moment as the pull's messages and audit details write it (UTC, to the second), or "none"."""
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else "none"
