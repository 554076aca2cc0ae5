"""What "next" serves a steward: the one place that decides the order (docs/thresholds.md, "The calibration
sample"; docs/architecture.md, "Review").

1. the steward's own claimed group (an open group of the run they hold);
2. groups assigned to them (services/assignments.py), oldest profile set first;
3. sample groups: an open calibration sample of the run (its next round is drawn when one is spent), then QA samples
   of the run — served blind by the group page;
4. known-answer and second-review items at their rate (services/quality.py `judgement_serve`): the steward's own
   unanswered judgement, a known answer when their cadence is due, a sampled decision of another steward waiting
   for its second review. These are judged on their own page, blind, and are not claims: `Served.judgement`;
5. the queue, in its order, passing over groups an open assignment gives another steward.

Another steward may take a candidate between the read and the claim: every source is tried with the claim service
and the next candidate follows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from matches.models import CalibrationSample, Judgement, MatchGroup, MatchRun, ThresholdPolicy
from matches.selectors import assignments as assignment_reads
from matches.selectors import review as review_reads
from matches.services import quality
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


def _assigned(*, run: MatchRun, actor: User, exclude: list[int], **_: Any) -> Iterable[MatchGroup]:
    mine = assignment_reads.assigned_q(actor=actor, domain=run.domain)
    return _claimable(run, actor, exclude).filter(mine).order_by("first_seen_at", "id")[:LIMIT]


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
    return ()  # served as a Judgement, not claimed: next_work_claim calls quality.judgement_serve at this slot


def _queue(
    *, run: MatchRun, policy: ThresholdPolicy, queue: str, actor: User, exclude: list[int]
) -> Iterable[MatchGroup]:
    others = assignment_reads.assigned_to_others_ids(run=run, actor=actor)
    return review_reads.queue_next_candidates(
        run=run, policy=policy, queue=queue, actor=actor, exclude=[*exclude, *others]
    )


SOURCES: tuple[tuple[str, Callable[..., Iterable[MatchGroup]]], ...] = (
    ("own", _own),
    ("assigned", _assigned),
    ("sample", _samples),
    ("known-answer", _known_answer),
    ("queue", _queue),
)


@dataclass(frozen=True)
class Served:
    """What "next" serves: a claimed group, or (the known-answer slot) a judgement to answer on its own page."""

    source: str = ""
    group: MatchGroup | None = None
    judgement: Judgement | None = None


def next_work_claim(
    *,
    actor: User,
    run: MatchRun | None,
    policy: ThresholdPolicy | None,
    queue: str,
    exclude: list[int],
    judgements: bool = True,
) -> Served:
    """Claim what "next" serves (see the module docstring) and say where it came from; without `judgements`, the
    known-answer slot is passed over (only groups are served)."""
    if run is None or policy is None:
        return Served()
    exclude = list(exclude)
    for source, candidates in SOURCES:
        if source == "known-answer":
            judgement = quality.judgement_serve(actor=actor, run=run) if judgements else None
            if judgement is not None:
                return Served(judgement.get_kind_display(), judgement.group, judgement)
            continue
        for _ in range(3):
            found = list(candidates(run=run, policy=policy, queue=queue, actor=actor, exclude=exclude))
            if not found:
                break
            for candidate in found:
                if group_claim(group=candidate, actor=actor):
                    candidate.refresh_from_db(fields=["claimed_by", "claimed_until"])
                    return Served(source, candidate)
                exclude.append(candidate.pk)
    return Served()


def next_group_claim(
    *, actor: User, run: MatchRun | None, policy: ThresholdPolicy | None, queue: str, exclude: list[int]
) -> tuple[MatchGroup | None, str]:
    """Claim the next group "next" would serve, as (group, source), passing over known-answer and second-review items
    (they are judgements, not groups to claim: the pages use next_work_claim)."""
    served = next_work_claim(actor=actor, run=run, policy=policy, queue=queue, exclude=exclude, judgements=False)
    return served.group, served.source
