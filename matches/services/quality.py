"""Reviewer quality (docs/architecture.md, "Reviewer quality"): known answers, second reviews, and what an admin does
with a disagreement.

A Judgement is a record of its own, never a Decision: answering one never changes its group and never reaches
MergeProfiles. One that disagrees with the decision it is measured against waits for an admin, who keeps the decision
or takes it back (an undo while its merge has not run, a reopen of a reject) through the ordinary decision services.
What "next" serves, and when, is services/work.py's; it calls `judgement_serve` at the known-answer slot. Every
change is one durable transaction with its audit event."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from matches import roles
from matches.models import Decision, Domain, Judgement, KnownAnswer, MatchGroup, MatchRun
from matches.selectors import quality as quality_reads
from matches.services import decisions
from matches.services.audit import audit_log
from matches.services.decisions.decide import require_decider

Kind, Answer, Resolution = Judgement.Kind, Judgement.Answer, Judgement.Resolution
DECIDING = (Decision.Action.MERGE, Decision.Action.REJECT, Decision.Action.SPLIT)
REASON_MAX = 2000
KNOWN_RATE_MAX = Decimal("0.5")


class QualityRefused(ValueError):
    """The known answer, judgement or resolution cannot be taken; the message says why."""


def _require(actor: User, perm: str, words: str) -> None:
    if not actor.is_active or not actor.has_perm(perm):
        raise QualityRefused(words)


def _audit(actor: User, action: str, judgement: Judgement, **extra: Any) -> None:
    audit_log(
        actor=actor,
        action=action,
        object_type="group",
        object_id=judgement.group_id,
        domain=judgement.domain,
        details={
            "judgement_id": judgement.pk,
            "kind": judgement.kind,
            "reference_decision_id": judgement.reference_id,
            "reference_action": judgement.reference.action,
            "reference_actor": judgement.reference.actor.get_username(),
            "steward": judgement.actor.get_username(),
            **extra,
        },
    )


# Settings and known answers ------------------------------------------------------------------------------------------


def _rate(value: Decimal | float | str, *, top: Decimal, what: str) -> Decimal:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise QualityRefused(f"The {what} is a share, a number like 0.05 for 5%.") from None
    exponent = rate.as_tuple().exponent
    if not rate.is_finite() or not isinstance(exponent, int) or exponent < -3 or not Decimal(0) <= rate <= top:
        raise QualityRefused(f"The {what} is between 0 and {top}, with at most three decimals.")
    return rate


def quality_rates_set(
    *, actor: User, domain: Domain, known_answer_rate: Decimal | str, second_review_rate: Decimal | str
) -> Domain:
    """How often "next" serves a known answer, and what share of ordinary decisions gets a second review."""
    _require(actor, roles.ADMINISTER, "Only an admin sets the reviewer-quality rates.")
    known = _rate(known_answer_rate, top=KNOWN_RATE_MAX, what="known-answer rate")
    second = _rate(second_review_rate, top=Decimal(1), what="second-review rate")
    with transaction.atomic(durable=True):
        locked = Domain.objects.select_for_update().get(pk=domain.pk)
        before = {
            "known_answer_rate": str(locked.known_answer_rate),
            "second_review_rate": str(locked.second_review_rate),
        }
        locked.known_answer_rate, locked.second_review_rate = known, second
        locked.save(update_fields=["known_answer_rate", "second_review_rate", "updated_at"])
        audit_log(
            actor=actor,
            action="domain.quality_rates_set",
            object_type="domain",
            object_id=locked.pk,
            domain=locked,
            details={"before": before, "after": {"known_answer_rate": str(known), "second_review_rate": str(second)}},
        )
    return locked


def known_answer_mark(*, actor: User, group: MatchGroup, note: str = "") -> KnownAnswer:
    """Mark a decided group as a known answer: its latest decision (a merge, reject or split by a person, not undone,
    with its snapshot still held) is the answer other stewards are measured against."""
    _require(actor, roles.ADMINISTER, "Only an admin marks known answers.")
    if len(note) > 200:
        raise QualityRefused("A note is at most 200 characters.")
    with transaction.atomic(durable=True):
        group = MatchGroup.objects.select_for_update().select_related("run__domain").get(pk=group.pk)
        latest = decisions.latest_decision(group)
        if latest is None or latest.action not in DECIDING:
            raise QualityRefused("Only a decided group (merged, split or rejected) can be a known answer.")
        if latest.bulk:
            raise QualityRefused("A bulk decision was not made by a person looking: it cannot be a known answer.")
        if latest.snapshot is None or latest.snapshot.erased_at is not None:
            raise QualityRefused("The profiles as decided are no longer held (erased): it cannot be served blind.")
        if KnownAnswer.objects.filter(decision=latest, retired_at__isnull=True).exists():
            raise QualityRefused("This group is already a known answer.")
        known = KnownAnswer.objects.create(
            domain=group.run.domain, group=group, decision=latest, note=note, created_by=actor
        )
        audit_log(
            actor=actor,
            action="known_answer.marked",
            object_type="group",
            object_id=group.pk,
            domain=group.run.domain,
            details={"known_answer_id": known.pk, "decision_id": latest.pk, "answer": latest.action, "note": note},
        )
    return known


def known_answer_retire(*, actor: User, known_answer: KnownAnswer) -> KnownAnswer:
    """No longer served (its judgements so far still count in the reports)."""
    _require(actor, roles.ADMINISTER, "Only an admin retires known answers.")
    with transaction.atomic(durable=True):
        known = KnownAnswer.objects.select_for_update().select_related("domain").get(pk=known_answer.pk)
        if known.retired_at is not None:
            raise QualityRefused("This known answer is already retired.")
        known.retired_at = timezone.now()
        known.save(update_fields=["retired_at"])
        audit_log(
            actor=actor,
            action="known_answer.retired",
            object_type="group",
            object_id=known.group_id,
            domain=known.domain,
            details={"known_answer_id": known.pk, "decision_id": known.decision_id},
        )
    return known


# Serving and answering -----------------------------------------------------------------------------------------------


def _serve(actor: User, kind: str, reference: Decision, known: KnownAnswer | None) -> Judgement | None:
    """One judgement for `actor`, or None when someone else took the item first."""
    try:
        with transaction.atomic(durable=True):
            judgement = Judgement.objects.create(
                kind=kind,
                domain=reference.group.run.domain,
                group=reference.group,
                reference=reference,
                known_answer=known,
                actor=actor,
            )
            _audit(actor, "judgement.served", judgement)
            return judgement
    except IntegrityError:
        return None


def judgement_serve(*, actor: User, run: MatchRun) -> Judgement | None:
    """What the known-answer slot of "next" serves `actor` (services/work.py): their own unanswered judgement;
    else a known answer when their cadence says so (Domain.known_answer_rate of what they answer); else a sampled
    ordinary decision of another steward waiting for its second review."""
    require_decider(actor)
    domain = run.domain
    pending = quality_reads.pending_judgement(actor=actor, domain=domain)
    if pending is not None:
        return pending
    if quality_reads.known_answer_due(actor=actor, domain=domain):
        for known in quality_reads.known_answer_candidates(actor=actor, domain=domain):
            served = _serve(actor, Kind.KNOWN_ANSWER, known.decision, known)
            if served is not None:
                return served
    if domain.second_review_rate > 0:
        for decision in quality_reads.second_review_candidates(actor=actor, run=run):
            served = _serve(actor, Kind.SECOND_REVIEW, decision, None)
            if served is not None:
                return served
    return None


def judgement_answer(
    *, judgement: Judgement, actor: User, answer: str, kept_profile_ids: list[str] | None = None, reason: str = ""
) -> Judgement:
    """Record the steward's blind answer and whether it agrees with the decision it is measured against. Nothing
    else changes: a disagreement waits for an admin (`judgement_resolve`)."""
    require_decider(actor)
    if answer not in Answer.values:
        raise QualityRefused("Answer merge, reject or split.")
    if len(reason) > REASON_MAX:
        raise QualityRefused(f"A reason is at most {REASON_MAX} characters.")
    with transaction.atomic(durable=True):
        locked = (
            Judgement.objects.select_for_update().select_related("reference", "group", "domain").get(pk=judgement.pk)
        )
        if locked.actor_id != actor.pk:
            raise QualityRefused("This item was served to another steward.")
        if locked.answered_at is not None:
            raise QualityRefused("You have already answered this item.")
        members = set(locked.group.profile_ids)
        kept: list[str] = []
        if answer == Answer.SPLIT:
            kept = sorted(set(kept_profile_ids or []) & members)
            if len(kept) < 2 or len(kept) >= len(members):
                raise QualityRefused("A split keeps at least two profiles together and leaves at least one out.")
        locked.answer, locked.kept_profile_ids, locked.reason = answer, kept, reason
        locked.answered_at = timezone.now()
        locked.agrees = quality_reads.answers_agree(locked.reference, answer, kept)
        locked.resolution = Resolution.NONE if locked.agrees else Resolution.OPEN
        locked.save(update_fields=["answer", "kept_profile_ids", "reason", "answered_at", "agrees", "resolution"])
        _audit(actor, "judgement.answered", locked, answer=answer, kept_profile_ids=kept, agrees=locked.agrees)
    return locked


def judgement_resolve(*, judgement: Judgement, actor: User, take_back: bool, note: str = "") -> Judgement:
    """An admin settles a disagreement: keep the decision, or take it back through the decision services (undo a
    merge or split whose job has not started; reopen a reject). The judgement itself never changes the group."""
    _require(actor, roles.ADMINISTER, "Only an admin settles a disagreement.")
    if len(note) > REASON_MAX:
        raise QualityRefused(f"A note is at most {REASON_MAX} characters.")
    current = Judgement.objects.select_related("reference__group", "group").get(pk=judgement.pk)
    if current.resolution != Resolution.OPEN:
        raise QualityRefused("This disagreement is already settled.")
    if take_back:
        reference, why = current.reference, f"Disagreement on a {current.get_kind_display()}: {note}".strip()
        try:
            if reference.action == Decision.Action.REJECT:
                decisions.group_reopen(group=reference.group, actor=actor, reason=why)
            else:
                decisions.decision_undo(decision=reference, actor=actor, reason=why)
        except decisions.DecisionRefused as exc:
            raise QualityRefused(str(exc)) from None
    with transaction.atomic(durable=True):
        locked = (
            Judgement.objects.select_for_update().select_related("reference", "domain", "actor").get(pk=judgement.pk)
        )
        if locked.resolution != Resolution.OPEN:
            raise QualityRefused("This disagreement is already settled.")
        locked.resolution = Resolution.UNDONE if take_back else Resolution.KEPT
        locked.resolved_by, locked.resolved_at, locked.resolution_note = actor, timezone.now(), note
        locked.save(update_fields=["resolution", "resolved_by", "resolved_at", "resolution_note"])
        _audit(actor, "judgement.resolved", locked, resolution=locked.resolution, note=note)
    return locked
