"""QA samples: a seeded random share of the merge or reject queue, reviewed blind before bulk decisions."""

from __future__ import annotations

import math
import random
import secrets
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import User
from django.db import transaction

from matches.models import Domain, QASample, QASampleItem
from matches.selectors.admin import queue_groups
from matches.services.audit import audit_log


class SampleRefused(ValueError):
    """The sample cannot be drawn; the message says why."""


def sample_ids(population: list[int], *, rate: Decimal, seed: int) -> list[int]:
    """Deterministic: the same population (in any order), rate and seed give the same sample."""
    if not population:
        return []
    size = min(len(population), max(1, math.ceil(len(population) * rate)))
    return sorted(random.Random(seed).sample(sorted(population), size))


def qa_sample_draw(
    *, actor: User, domain: Domain, queue: str, rate: Decimal | float | str, seed: int | None = None
) -> QASample:
    """Draw a sample of the queue's open groups in the latest completed run; the groups go to blind review."""
    if queue not in QASample.Queue.values:
        raise SampleRefused(f"QA samples are drawn from the merge or the reject queue, not '{queue}'.")
    try:
        rate = Decimal(str(rate))
    except (InvalidOperation, ValueError):
        raise SampleRefused("The rate must be a number, e.g. 0.02 for 2%.") from None
    exponent = rate.as_tuple().exponent
    if not rate.is_finite() or not isinstance(exponent, int):
        raise SampleRefused("The rate must be a number, e.g. 0.02 for 2%.")
    if not (Decimal(0) < rate <= Decimal(1)) or exponent < -4:
        raise SampleRefused("The rate must be above 0 and at most 1 (100%), with at most four decimals.")
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    run = domain.latest_completed_run()
    if run is None:
        raise SampleRefused("This domain has no completed pull yet: nothing to sample.")
    with transaction.atomic(durable=True):
        policy = domain.policy()
        population = list(queue_groups(run=run, policy=policy, queue=queue).values_list("pk", flat=True))
        if not population:
            raise SampleRefused(f"The {queue} queue is empty: nothing to sample.")
        chosen = sample_ids(population, rate=rate, seed=seed)
        sample = QASample.objects.create(
            domain=domain,
            run=run,
            queue=queue,
            threshold_policy=policy,
            rate=rate,
            seed=seed,
            size=len(chosen),
            population=len(population),
            created_by=actor,
        )
        QASampleItem.objects.bulk_create([QASampleItem(sample=sample, group_id=pk) for pk in chosen], batch_size=2000)
        audit_log(
            actor=actor,
            action="qa_sample.drawn",
            object_type="qa_sample",
            object_id=sample.pk,
            domain=domain,
            details={
                "queue": queue,
                "rate": str(rate),
                "seed": seed,
                "size": len(chosen),
                "population": len(population),
                "run_id": run.pk,
                "threshold_policy_id": policy.pk,
            },
        )
    return sample
