"""Reads behind reviewer quality (docs/architecture.md, "Reviewer quality"): what the known-answer slot of "next" may
serve, whether a judgement agrees, the open disagreements, and each steward's agreement with known answers and with
peers, with Wilson 95% intervals.

`steward_error_rates` is the selector the threshold estimates may read: each steward's measured error rate on known
answers (a judgement that disagrees with the known answer is an error), with its interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Mod, Now

from matches.models import Decision, Domain, Judgement, KnownAnswer, MatchGroup, MatchRun
from matches.selectors.reports import ReportFilters

Kind, Resolution = Judgement.Kind, Judgement.Resolution
DECIDING = (Decision.Action.MERGE, Decision.Action.REJECT, Decision.Action.SPLIT)
LIMIT = 5
Z95 = 1.959963984540054
# Second reviews sample decisions by id: (id * STRIDE) mod 1000 below rate × 1000. STRIDE is prime to 1000, so every
# 1000 consecutive decisions hold exactly rate × 1000 of them, spread evenly, and a steward cannot tell which.
STRIDE = 7919


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n (95% by default); None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def answers_agree(reference: Decision, answer: str, kept: list[str]) -> bool:
    """Same action; a split also keeps the same profiles together as the reference's merged part."""
    if reference.action != answer:
        return False
    return answer != Decision.Action.SPLIT or set(kept) == reference.touched_profile_ids()


# What the known-answer slot serves ----------------------------------------------------------------------------------


def pending_judgement(*, actor: User, domain: Domain) -> Judgement | None:
    """A judgement served to `actor` and not answered yet: theirs until they answer it."""
    return (
        Judgement.objects.filter(actor=actor, domain=domain, answered_at__isnull=True)
        .select_related("group", "reference")
        .order_by("served_at", "id")
        .first()
    )


def answered_count(*, actor: User, domain: Domain) -> int:
    """What the cadence counts: the steward's own decisions (not bulk) and answered judgements in the domain."""
    decided = Decision.objects.filter(actor=actor, group__run__domain=domain, action__in=DECIDING, bulk=False).count()
    judged = Judgement.objects.filter(actor=actor, domain=domain, answered_at__isnull=False).count()
    return decided + judged


def known_answer_due(*, actor: User, domain: Domain) -> bool:
    """Is this press one of the `known_answer_rate` share? After n answered items the steward has had about n × rate
    known answers: the press is due when n + 1 crosses the next whole one (exactly ⌊N × rate⌋ in N, evenly spread)."""
    rate = float(domain.known_answer_rate)
    if rate <= 0:
        return False
    n = answered_count(actor=actor, domain=domain)
    return math.floor((n + 1) * rate + 1e-9) > math.floor(n * rate + 1e-9)


def _snapshot_held() -> Q:
    return Q(snapshot__isnull=False, snapshot__erased_at__isnull=True)


def known_answer_candidates(*, actor: User, domain: Domain) -> list[KnownAnswer]:
    """Active known answers `actor` has not judged, decided or marked; the least judged first."""
    return list(
        KnownAnswer.objects.filter(domain=domain, retired_at__isnull=True)
        .exclude(decision__actor=actor)
        .exclude(created_by=actor)
        .exclude(judgements__actor=actor)
        .filter(decision__snapshot__isnull=False, decision__snapshot__erased_at__isnull=True)
        .select_related("decision__group__run__domain", "decision__actor")
        .annotate(times=Count("judgements"))
        .order_by("times", "id")[:LIMIT]
    )


def second_review_candidates(*, actor: User, run: MatchRun) -> list[Decision]:
    """Ordinary decisions on the run's groups by someone else, sampled at the domain's second-review rate, not undone
    or reopened, not yet reviewed a second time, and not known answers (those are measured apart)."""
    slots = int(round(float(run.domain.second_review_rate) * 1000))
    if slots <= 0:
        return []
    return list(
        Decision.objects.filter(_snapshot_held(), group__run=run, action__in=DECIDING, bulk=False)
        .exclude(actor=actor)
        .annotate(
            slot=Mod(F("id") * STRIDE, 1000),
            reverted=Exists(Decision.objects.filter(reverts=OuterRef("pk"))),
            reviewed=Exists(Judgement.objects.filter(reference=OuterRef("pk"), kind=Kind.SECOND_REVIEW)),
            known=Exists(KnownAnswer.objects.filter(decision=OuterRef("pk"))),
        )
        .filter(slot__lt=slots, reverted=False, reviewed=False, known=False)
        .select_related("group__run__domain", "actor")
        .order_by("id")[:LIMIT]
    )


# Disagreements and the reports --------------------------------------------------------------------------------------


def disagreements(
    *, domain: str = "", settled: bool = False, domains: tuple[str, ...] | None = None
) -> QuerySet[Judgement]:
    """Judgements that disagree: waiting for an admin, or (settled) already kept or taken back; of `domains` only
    when given (the reader's access: access.visible_domain_names)."""
    qs = Judgement.objects.filter(agrees=False).select_related(
        "domain", "group", "reference__actor", "reference__merge_job", "actor", "resolved_by"
    )
    if domains is not None:
        qs = qs.filter(domain__name__in=domains)
    if domain:
        qs = qs.filter(domain__name=domain)
    if settled:
        return qs.exclude(resolution=Resolution.OPEN).order_by("-resolved_at", "-id")[:50]
    return qs.filter(resolution=Resolution.OPEN).order_by("answered_at", "id")


def disagreements_open_count() -> int:
    return Judgement.objects.filter(resolution=Resolution.OPEN).count()


@dataclass(frozen=True)
class Agreement:
    """k of n agreed, with the Wilson 95% interval of the share."""

    n: int
    agreed: int

    @property
    def share(self) -> float | None:
        return self.agreed / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.agreed, self.n)

    @property
    def text(self) -> str:
        if not self.n:
            return "—"
        low, high = self.interval or (0.0, 0.0)
        return f"{self.agreed}/{self.n} = {100 * self.agreed / self.n:.0f}% (95% {100 * low:.0f}–{100 * high:.0f}%)"


def _answered(f: ReportFilters) -> QuerySet[Judgement]:
    qs = Judgement.objects.filter(answered_at__isnull=False)
    if f.domains is not None:
        qs = qs.filter(domain__name__in=f.domains)
    if f.domain:
        qs = qs.filter(domain__name=f.domain)
    if f.date_from:
        qs = qs.filter(answered_at__date__gte=f.date_from)
    if f.date_to:
        qs = qs.filter(answered_at__date__lte=f.date_to)
    return qs


def steward_quality(f: ReportFilters) -> list[dict]:
    """Per steward: agreement with known answers (their judgements), and with peers (second reviews they gave, and
    second reviews of their own decisions), each with its Wilson 95% interval. One aggregate query."""
    rows: dict[str, dict[str, list[int]]] = {}

    def add(name: str, what: str, n: int, agreed: int) -> None:
        cell = rows.setdefault(name, {"known": [0, 0], "reviewer": [0, 0], "reviewed": [0, 0]})[what]
        cell[0] += n
        cell[1] += agreed

    counts = (
        _answered(f)
        .values("kind", "actor__username", "reference__actor__username")
        .annotate(n=Count("id"), k=Count("id", filter=Q(agrees=True)))
        .order_by()
    )
    for r in counts:
        if r["kind"] == Kind.KNOWN_ANSWER:
            add(r["actor__username"], "known", r["n"], r["k"])
        else:
            add(r["actor__username"], "reviewer", r["n"], r["k"])
            add(r["reference__actor__username"], "reviewed", r["n"], r["k"])
    out = []
    for name in sorted(rows):
        cells = rows[name]
        peer = [cells["reviewer"][0] + cells["reviewed"][0], cells["reviewer"][1] + cells["reviewed"][1]]
        out.append(
            {
                "steward": name,
                "known": Agreement(*cells["known"]),
                "reviewer": Agreement(*cells["reviewer"]),
                "reviewed": Agreement(*cells["reviewed"]),
                "peer": Agreement(*peer),
            }
        )
    return out


@dataclass(frozen=True)
class ErrorRate:
    """A steward's measured error rate on known answers: `errors` of `n`, the share and its Wilson 95% interval."""

    user_id: int
    username: str
    n: int
    errors: int

    @property
    def rate(self) -> float | None:
        return self.errors / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.errors, self.n)


def steward_error_rates(*, domain: Domain | None = None) -> dict[int, ErrorRate]:
    """Each steward's error rate on known answers (by user id), for the threshold estimates: a decision by a steward
    whose rate is e is a noisy label, so a band's share of matches carries that uncertainty as well as its sampling
    one. Only answered known-answer judgements count (a second review measures agreement, not who was right)."""
    qs = Judgement.objects.filter(kind=Kind.KNOWN_ANSWER, answered_at__isnull=False)
    if domain is not None:
        qs = qs.filter(domain=domain)
    return {
        r["actor"]: ErrorRate(r["actor"], r["actor__username"], r["n"], r["errors"])
        for r in qs.values("actor", "actor__username").annotate(
            n=Count("id"), errors=Count("id", filter=Q(agrees=False))
        )
    }


def overdue_by_domain(*, domain: str = "", domains: tuple[str, ...] | None = None) -> list[dict]:
    """Per domain with a review deadline (of `domains` only when given: the reader's access): its open groups past
    it in its completed run (the reports page), in one query (a domain has one completed run; the others are
    superseded)."""
    cutoff = ExpressionWrapper(
        Now() - OuterRef("review_deadline_days") * timedelta(days=1), output_field=DateTimeField()
    )
    overdue = (
        MatchGroup.objects.filter(
            run__domain=OuterRef("pk"),
            run__status=MatchRun.Status.COMPLETED,
            status=MatchGroup.Status.OPEN,
            first_seen_at__lt=cutoff,
        )
        .order_by()
        .values("run__domain")
        .annotate(n=Count("id"))
        .values("n")
    )
    qs = Domain.objects.filter(review_deadline_days__isnull=False).annotate(overdue=Subquery(overdue)).order_by("name")
    if domains is not None:
        qs = qs.filter(name__in=domains)
    if domain:
        qs = qs.filter(name=domain)
    return [{"domain": d, "days": d.review_deadline_days, "overdue": d.overdue or 0} for d in qs]
