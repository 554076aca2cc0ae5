"""What "next" serves a steward: the one place that decides the order (docs/thresholds.md, "The calibration
sample"; docs/architecture.md, "Review").

1. the steward's own claimed group (an open group of the run they hold);
2. groups assigned to them (no assignments yet: `_assigned` is the hook);
3. sample groups: an open calibration sample of the run (its next round is drawn when one is spent), then QA samples
   of the run — served blind by the group page;
4. known-answer and second-review items at their rate (not built yet: `_known_answer` is the hook);
5. the queue, in its order.

Another steward may take a candidate between the read and the claim: every source is tried with the claim service
and the next candidate follows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from matches.models import CalibrationSample, MatchGroup, MatchRun, ThresholdPolicy
from matches.selectors import review as review_reads
from matches.services.calibration import calibration_round_draw
from matches.services.decisions import group_claim

OPEN = MatchGroup.Status.OPEN
LIMIT = 5


def _claimable(run: MatchRun, actor: User, exclude: list[int]) -> QuerySet[MatchGroup]:
    return (
        MatchGroup.objects.filter(review_reads.claimable_q(actor), run=run, status=OPEN)
        .exclude(pk__in=exclude)
        .select_related("run__domain")
    )


def _own(*, run: MatchRun, actor: User, exclude: list[int], **_: Any) -> Iterable[MatchGroup]:
    now = timezone.now()
    return _claimable(run, actor, exclude).filter(claimed_by=actor, claimed_until__gte=now).order_by("id")[:LIMIT]


def _assigned(**_: Any) -> Iterable[MatchGroup]:
    return ()  # hook: groups assigned to a steward (issue: "groups assigned to them")


def _samples(*, run: MatchRun, actor: User, exclude: list[int], **_: Any) -> Iterable[MatchGroup]:
    samples = list(CalibrationSample.objects.filter(run=run, closed_at__isnull=True).order_by("created_at", "id"))
    for sample in samples:
        found = list(
            _claimable(run, actor, exclude)
            .filter(calibration_items__sample=sample)
            .order_by("calibration_items__id")[:LIMIT]
        )
        if not found and calibration_round_draw(sample=sample, actor=actor):
            found = list(
                _claimable(run, actor, exclude)
                .filter(calibration_items__sample=sample)
                .order_by("calibration_items__id")[:LIMIT]
            )
        if found:
            return found
    return list(_claimable(run, actor, exclude).filter(qa_items__sample__run=run).order_by("qa_items__id")[:LIMIT])


def _known_answer(**_: Any) -> Iterable[MatchGroup]:
    return ()  # hook: known-answer and second-review items at their rate


def _queue(
    *, run: MatchRun, policy: ThresholdPolicy, queue: str, actor: User, exclude: list[int]
) -> Iterable[MatchGroup]:
    return review_reads.queue_next_candidates(run=run, policy=policy, queue=queue, actor=actor, exclude=exclude)


SOURCES: tuple[tuple[str, Callable[..., Iterable[MatchGroup]]], ...] = (
    ("own", _own),
    ("assigned", _assigned),
    ("sample", _samples),
    ("known-answer", _known_answer),
    ("queue", _queue),
)


def next_group_claim(
    *, actor: User, run: MatchRun | None, policy: ThresholdPolicy | None, queue: str, exclude: list[int]
) -> tuple[MatchGroup | None, str]:
    """Claim what "next" serves (see the module docstring) and say where it came from."""
    if run is None or policy is None:
        return None, ""
    exclude = list(exclude)
    for source, candidates in SOURCES:
        for _ in range(3):
            found = list(candidates(run=run, policy=policy, queue=queue, actor=actor, exclude=exclude))
            if not found:
                break
            for candidate in found:
                if group_claim(group=candidate, actor=actor):
                    candidate.refresh_from_db(fields=["claimed_by", "claimed_until"])
                    return candidate, source
                exclude.append(candidate.pk)
    return None, ""
