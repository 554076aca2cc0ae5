"""Calibration samples: groups drawn across the whole score range so the threshold estimates have evidence where the
lines belong (docs/thresholds.md, "The calibration sample"). Stewards get them through "next" (services/work.py)."""

from __future__ import annotations

import secrets
from typing import cast

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import MD5, Cast, Concat
from django.utils import timezone

from matches import estimates as es
from matches.models import CalibrationItem, CalibrationSample, Domain, MatchGroup, RunScoreBin
from matches.selectors import estimates as estimate_reads
from matches.services.audit import audit_log

MAX_BUDGET = 5000
ROUNDS = 2


class SampleRefused(ValueError):
    pass


def _available(sample: CalibrationSample) -> list[int]:
    """Open groups per bin that the sample does not hold yet."""
    hist = [0] * es.BINS
    for b, n in RunScoreBin.objects.filter(run=sample.run).values_list("bin", "open"):
        if n > 0:
            hist[min(b, es.BINS - 1)] += n
    held = MatchGroup.objects.filter(
        calibration_items__sample=sample, status=MatchGroup.Status.OPEN, confidence_score__isnull=False
    )
    for score in held.values_list("confidence_score", flat=True):
        at = es.score_bin(cast(float, score))  # filtered: scored groups only
        hist[at] = max(hist[at] - 1, 0)
    return hist


def _draw_round(sample: CalibrationSample, size: int, round_no: int) -> list[es.Stratum]:
    """Allocate `size` groups over the strata with today's estimates and draw them: within a stratum, the open groups
    not yet in the sample in the order of md5(id:seed:round) (seeded, the same whatever order the rows come in)."""
    current = estimate_reads.run_estimates(domain=sample.domain)
    estimates = current.estimates if current is not None and current.run.pk == sample.run_id else None
    strata = es.allocate(
        estimate_reads.run_histogram(sample.run),
        size,
        estimates=estimates,
        available=_available(sample),
    )
    salt = f":{sample.seed}:{round_no}"
    chosen: list[int] = []
    for stratum in strata:
        if not stratum.draw:
            continue
        rows = (
            MatchGroup.objects.filter(
                run=sample.run,
                status=MatchGroup.Status.OPEN,
                confidence_score__gte=stratum.lo / 1000,
                confidence_score__lt=stratum.hi / 1000,
            )
            .exclude(calibration_items__sample=sample)
            .annotate(h=MD5(Concat(Cast("id", CharField()), Value(salt))))
            .order_by("h")
            .values_list("pk", flat=True)[: stratum.draw]
        )
        chosen.extend(rows)
    CalibrationItem.objects.bulk_create([CalibrationItem(sample=sample, group_id=pk, round=round_no) for pk in chosen])
    sample.drawn += len(chosen)
    sample.save(update_fields=["drawn"])
    return strata


def _strata_details(strata: list[es.Stratum]) -> list[list]:
    return [[s.lo, s.hi, s.draw] for s in strata if s.draw]


def calibration_sample_draw(
    *, actor: User, domain: Domain, budget: int | str, seed: int | str | None = None
) -> CalibrationSample:
    """Ask for a calibration sample of `budget` decisions on the latest completed run; the first round is drawn now."""
    try:
        budget = int(budget)
    except (TypeError, ValueError):
        raise SampleRefused("The budget must be a whole number of decisions, e.g. 200.") from None
    if not 1 <= budget <= MAX_BUDGET:
        raise SampleRefused(f"The budget must be between 1 and {MAX_BUDGET} decisions.")
    try:
        seed = secrets.randbelow(2**31) if seed in (None, "") else int(seed)
    except (TypeError, ValueError):
        raise SampleRefused("The seed must be a whole number (or empty for a random one).") from None
    run = domain.latest_completed_run()
    if run is None:
        raise SampleRefused("This domain has no completed pull yet: nothing to sample.")
    with transaction.atomic(durable=True):
        sample = CalibrationSample.objects.create(
            domain=domain, run=run, budget=budget, seed=seed, rounds=ROUNDS, created_by=actor
        )
        strata = _draw_round(sample, sample.next_round_size(), 1)
        if not sample.drawn:
            raise SampleRefused("No open group left in the latest run: nothing to sample.")
        audit_log(
            actor=actor,
            action="calibration_sample.drawn",
            object_type="calibration_sample",
            object_id=sample.pk,
            domain=domain,
            details={
                "budget": budget,
                "seed": seed,
                "run_id": run.pk,
                "round": 1,
                "size": sample.drawn,
                "strata": _strata_details(strata),
            },
        )
    return sample


def calibration_round_draw(*, sample: CalibrationSample, actor: User | None = None) -> int:
    """Draw the next round when the sample has no open group left and budget to spend; close it when spent.
    Returns how many groups were drawn (0: nothing to do). Called by "next"."""
    with transaction.atomic():
        sample = CalibrationSample.objects.select_for_update().get(pk=sample.pk)
        if sample.closed_at is not None:
            return 0
        if MatchGroup.objects.filter(calibration_items__sample=sample, status=MatchGroup.Status.OPEN).exists():
            return 0
        size = sample.next_round_size()
        round_no = sample.items.values("round").distinct().count() + 1
        strata = _draw_round(sample, size, round_no) if size else []
        drawn = sum(s.draw for s in strata)
        if not drawn:
            _close(sample, actor, "spent" if size == 0 else "no open group left")
            return 0
        audit_log(
            actor=actor,
            action="calibration_sample.round_drawn",
            object_type="calibration_sample",
            object_id=sample.pk,
            domain=sample.domain,
            details={"round": round_no, "size": drawn, "strata": _strata_details(strata)},
        )
        return drawn


def calibration_sample_close(*, sample: CalibrationSample, actor: User) -> None:
    """Stop a sample: its undecided groups go back to their queues (no longer blind)."""
    with transaction.atomic(durable=True):
        sample = CalibrationSample.objects.select_for_update().get(pk=sample.pk)
        if sample.closed_at is not None:
            return
        _close(sample, actor, "stopped")


def _close(sample: CalibrationSample, actor: User | None, reason: str) -> None:
    """Close a locked sample and audit why (spent, no open group left, stopped)."""
    sample.closed_at = timezone.now()
    sample.save(update_fields=["closed_at"])
    audit_log(
        actor=actor,
        action="calibration_sample.closed",
        object_type="calibration_sample",
        object_id=sample.pk,
        domain=sample.domain,
        details={"reason": reason, "drawn": sample.drawn},
    )
