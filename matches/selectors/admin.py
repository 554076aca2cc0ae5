"""Reads for the admin pages: threshold preview, evidence, QA samples, bulk queues, runs and operations
(docs/architecture.md, "Admin")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from matches import estimates as es
from matches import roles
from matches.models import (
    AuditEvent,
    BulkJob,
    CalibrationItem,
    Decision,
    Domain,
    Heartbeat,
    MatchGroup,
    MatchRun,
    QASample,
    QASampleItem,
    QuarantinedMatch,
    Queue,
    RunScoreBin,
    ThresholdPolicy,
)
from matches.selectors.counts import EMPTY, QueueCounts, queue_counts_for

MERGED_ACTIONS = (Decision.Action.MERGE, Decision.Action.SPLIT)
COUNTING_ACTIONS = (*MERGED_ACTIONS, Decision.Action.REJECT)
HEARTBEAT_STALE_SECONDS = 120


# Evidence ------------------------------------------------------------------------------------------------------------


def latest_decisions(groups: QuerySet) -> QuerySet:
    """The latest decision of each of these groups (undo and reopen included: they take a decision back)."""
    return (
        Decision.objects.filter(group__in=groups)
        .order_by("group_id", "-created_at", "-id")
        .distinct("group_id")
        .values("group_id", "action", "bulk", "confidence_score")
    )


def evidence_pairs(*, domain: Domain) -> list[tuple[float, bool]]:
    """(score, merged) per group of the domain whose latest decision is a person's own (non-bulk) merge/split/reject."""
    # Manual groups have no score: never evidence about AWS's (issue 15).
    rows = latest_decisions(MatchGroup.objects.filter(run__domain=domain, confidence_score__isnull=False))
    return [
        (r["confidence_score"], r["action"] in MERGED_ACTIONS)
        for r in rows
        if r["action"] in COUNTING_ACTIONS and not r["bulk"]
    ]


# Threshold preview ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    run: MatchRun | None
    before: QueueCounts
    after: QueueCounts
    chart: dict

    @property
    def delta(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for queue in Queue:
            d = getattr(self.after, queue) - getattr(self.before, queue)
            out[queue.value] = f"+{d}" if d > 0 else (f"−{-d}" if d < 0 else "")
        return out


def score_chart(
    *, run: MatchRun | None, merge_min: Decimal, reject_below: Decimal, bar_milli: int = 10, field: str = "open"
) -> dict:
    """Geometry of the score histogram: stacked bars per queue, both threshold lines (drawn by the template as SVG)."""
    width, height, pad_l, pad_r, pad_t, pad_b = 760, 220, 44, 12, 14, 26
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    policy = ThresholdPolicy(merge_min=Decimal(merge_min), reject_below=Decimal(reject_below))
    nbars = 1000 // bar_milli
    stacks = [dict.fromkeys(Queue, 0) for _ in range(nbars)]
    if run is not None:
        for b, n in RunScoreBin.objects.filter(run=run).values_list("bin", field):
            if n:
                # A bin's lower edge stands for its scores (as in selectors/counts.py).
                stacks[min(b // bar_milli, nbars - 1)][policy.queue_of(b / 1000)] += n
    peak = max((sum(s.values()) for s in stacks), default=0) or 1
    bar_w = plot_w / nbars
    bars = []
    for i, stack in enumerate(stacks):
        total = sum(stack.values())
        if not total:
            continue
        y: float = pad_t + plot_h
        segments = []
        for queue in (Queue.REJECT, Queue.REVIEW, Queue.MERGE):
            if stack[queue]:
                h = plot_h * stack[queue] / peak
                y -= h
                segments.append({"queue": queue, "y": round(y, 2), "h": round(h, 2), "n": stack[queue]})
        lo = Decimal(i * bar_milli) / 1000
        bars.append(
            {
                "x": round(pad_l + i * bar_w + 0.5, 2),
                "w": round(max(bar_w - 1, 0.5), 2),
                "segments": segments,
                "title": f"{lo:.3f}–{lo + Decimal(bar_milli) / 1000:.3f}: {total}",
            }
        )

    def xpos(value: Decimal) -> float:
        return round(pad_l + plot_w * float(value), 2)

    ticks = [{"x": xpos(Decimal(t) / 10), "label": f"{t / 10:.1f}"} for t in range(11)]
    reject_x, merge_x = xpos(Decimal(reject_below)), xpos(Decimal(merge_min))
    # Labels sit beside their line, on the side away from the other line, flipped at the chart's edges, and on
    # a second row when the lines are close.
    merge_end = merge_x > pad_l + plot_w - 100
    reject_start = reject_x < pad_l + 100
    close = merge_x - reject_x < 210
    yticks = [
        {"y": round(pad_t + plot_h - plot_h * f, 2), "label": _short(round(peak * f))} for f in (0, 0.5, 1) if peak > 1
    ]
    return {
        "width": width,
        "height": height,
        "cx": width // 2,
        "plot": {"x": pad_l, "y": pad_t, "w": plot_w, "h": plot_h, "bottom": pad_t + plot_h},
        "bars": bars,
        "ticks": ticks,
        "yticks": yticks,
        "peak": peak,
        "field": field,
        "lines": [
            {
                "queue": Queue.REJECT.value,
                "x": reject_x,
                "label": f"reject < {Decimal(reject_below):.3f}",
                "anchor": "start" if reject_start else "end",
                "dx": 4 if reject_start else -4,
                "y": pad_t + (12 if close else 0),
            },
            {
                "queue": Queue.MERGE.value,
                "x": merge_x,
                "label": f"merge ≥ {Decimal(merge_min):.3f}",
                "anchor": "end" if merge_end else "start",
                "dx": -4 if merge_end else 4,
                "y": pad_t,
            },
        ],
    }


def _short(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n // 1000}k"
    return str(n)


def threshold_preview(*, domain: Domain, merge_min: Decimal, reject_below: Decimal) -> Preview:
    """Counts per queue under the policy in force and under the proposed one, and the chart; from RunScoreBin only."""
    run = domain.latest_completed_run()
    policy = domain.policy()
    if run is None:
        return Preview(None, EMPTY, EMPTY, score_chart(run=None, merge_min=merge_min, reject_below=reject_below))
    before = queue_counts_for(run_id=run.pk, merge_min=policy.merge_min, reject_below=policy.reject_below)
    after = queue_counts_for(run_id=run.pk, merge_min=merge_min, reject_below=reject_below)
    return Preview(run, before, after, score_chart(run=run, merge_min=merge_min, reject_below=reject_below))


def policy_history(*, domain: Domain, limit: int = 50) -> QuerySet:
    return domain.threshold_policies.select_related("created_by").order_by("-created_at", "-id")[:limit]


# Queues for QA samples and bulk decisions ----------------------------------------------------------------------------


BULK_QUEUES = (Queue.MERGE, Queue.REJECT)


def queue_bounds(policy: ThresholdPolicy, queue: str) -> tuple[float, float]:
    """[score_min, score_below) of the merge or reject queue under `policy` (the merge queue includes 1.0);
    ThresholdPolicy.bounds with the open ends closed, for a BulkJob's stored range."""
    if queue not in BULK_QUEUES:
        raise ValueError(f"Unknown queue: {queue}")
    low, high = policy.bounds(queue)
    return (0.0 if low is None else float(low)), (2.0 if high is None else float(high))


def queue_groups(*, run: MatchRun, policy: ThresholdPolicy, queue: str) -> QuerySet[MatchGroup]:
    """Open groups of the run in the merge or reject queue, highest score first for merge, lowest first for reject."""
    if queue not in BULK_QUEUES:
        raise ValueError(f"Unknown queue: {queue}")
    qs = MatchGroup.objects.filter(policy.score_q(queue), run=run, status=MatchGroup.Status.OPEN)
    order = ("-confidence_score", "-id") if queue == Queue.MERGE else ("confidence_score", "id")
    return qs.order_by(*order)


def is_in_qa_sample(group: MatchGroup) -> bool:
    """True when the group was drawn into a QA sample: stewards must review it blind (scores and queue hidden)."""
    return QASampleItem.objects.filter(group_id=group.pk).exists()


def qa_sampled_group_ids(group_ids: Iterable[int]) -> set[int]:
    """Which of these groups were drawn into a QA sample or an open calibration sample (bulk decisions skip them: a
    sample is evidence only when a person decides it)."""
    ids = list(group_ids)
    qa = set(QASampleItem.objects.filter(group_id__in=ids).values_list("group_id", flat=True))
    calibration = CalibrationItem.objects.filter(group_id__in=ids, sample__closed_at__isnull=True)
    return qa | set(calibration.values_list("group_id", flat=True))


@dataclass(frozen=True)
class QAResult:
    sample: QASample
    decided: int
    agreed: int
    lower: float
    upper: float

    @property
    def pending(self) -> int:
        return self.sample.size - self.decided

    @property
    def rate_label(self) -> str:
        return f"{float(self.sample.rate) * 100:g}%"

    @property
    def precision(self) -> float | None:
        return self.agreed / self.decided if self.decided else None


def qa_result(sample: QASample) -> QAResult:
    """Measured precision of a sample: share of its decided groups whose (non-bulk) decision agreed with the queue."""
    rows = latest_decisions(MatchGroup.objects.filter(qa_items__sample=sample))
    decided = agreed = 0
    for r in rows:
        if r["action"] not in COUNTING_ACTIONS or r["bulk"]:
            continue
        decided += 1
        merged = r["action"] in MERGED_ACTIONS
        agreed += 1 if merged == (sample.queue == QASample.Queue.MERGE) else 0
    lower, upper = es.wilson(agreed, decided)
    return QAResult(sample, decided, agreed, lower, upper)


def qa_results(*, domain: Domain, queue: str | None = None, limit: int = 20) -> list[QAResult]:
    samples = domain.qa_samples.select_related("created_by", "run").order_by("-created_at", "-id")
    if queue:
        samples = samples.filter(queue=queue)
    return [qa_result(s) for s in samples[:limit]]


def latest_qa_result(*, domain: Domain, queue: str, run: MatchRun | None) -> QAResult | None:
    """The newest sample of this queue in this run that has at least one decision (the one bulk decisions rely on)."""
    if run is None:
        return None
    for sample in domain.qa_samples.filter(queue=queue, run=run).order_by("-created_at", "-id")[:10]:
        result = qa_result(sample)
        if result.decided:
            return result
    return None


# Runs and operations -------------------------------------------------------------------------------------------------


def runs_recent(*, domain: Domain | None = None, limit: int = 50) -> QuerySet:
    qs = MatchRun.objects.select_related("domain", "started_by").order_by("-started_at", "-id")
    if domain is not None:
        qs = qs.filter(domain=domain)
    return qs[:limit]


def run_quarantine(run: MatchRun) -> QuerySet:
    return QuarantinedMatch.objects.filter(run=run).select_related("acknowledged_by").order_by("id")


@dataclass(frozen=True)
class HeartbeatView:
    heartbeat: Heartbeat
    age_seconds: float

    @property
    def stale(self) -> bool:
        return self.age_seconds > HEARTBEAT_STALE_SECONDS


def heartbeats() -> list[HeartbeatView]:
    now = timezone.now()
    return [HeartbeatView(h, (now - h.last_seen).total_seconds()) for h in Heartbeat.objects.order_by("kind", "name")]


def workers_stopped_at(views: list[HeartbeatView]) -> datetime | None:
    """When a worker was last heard from, if every worker has gone silent (nothing runs merges or pulls); else None."""
    workers = [v for v in views if v.heartbeat.kind == Heartbeat.Kind.WORKER]
    if not workers or any(not v.stale for v in workers):
        return None
    return max(v.heartbeat.last_seen for v in workers)


def bulk_jobs_recent(*, domain: Domain, limit: int = 10) -> QuerySet:
    return domain.bulk_jobs.select_related("created_by").order_by("-created_at", "-id")[:limit]


def bulk_job_get(pk: int) -> BulkJob:
    return BulkJob.objects.select_related("domain", "created_by").get(pk=pk)


PULL_OUTCOMES = ("pull.failed", "pull.unchanged")


def pull_outcomes_recent(limit: int = 10) -> list[AuditEvent]:
    """The latest failed and "nothing new" pulls, from the audit log (a pull with no new results makes no run)."""
    events = AuditEvent.objects.filter(action__in=PULL_OUTCOMES).select_related("actor").order_by("-seq")[:limit]
    return list(events)


def pull_requests_pending() -> list[Domain]:
    """Domains whose "Pull now" waits for a worker (the request is cleared when the pull starts)."""
    return list(Domain.objects.filter(pull_requested_at__isnull=False).order_by("pull_requested_at"))


PULL_ANSWERS = ("pull.started", "pull.resumed", "pull.unchanged", "pull.failed", "pull.completed")


def pull_requests_unanswered(window_seconds: int = 120) -> bool:
    """A "Pull now" of the last minutes that no pull has answered yet (started, failed or found nothing new). The
    request flag is cleared when the worker takes it, a moment before its outcome is written: the page keeps
    polling through that moment instead of stopping one poll short of the answer."""
    since = timezone.now() - timedelta(seconds=window_seconds)
    asked = AuditEvent.objects.filter(action="pull.requested", created_at__gte=since).values_list("domain", "seq")
    return any(
        not AuditEvent.objects.filter(domain=domain, seq__gt=seq, action__in=PULL_ANSWERS).exists()
        for domain, seq in asked
    )


def running_domain_ids() -> set[int]:
    """Domains with a pull under way (their "Pull now" is refused)."""
    return set(MatchRun.objects.filter(status=MatchRun.Status.RUNNING).values_list("domain_id", flat=True))


def periodic_tasks(limit: int = 50) -> QuerySet:
    """Celery beat's schedule as stored by django-celery-beat."""
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.select_related("interval", "crontab").order_by("name")[:limit]


# Users ---------------------------------------------------------------------------------------------------------------


def users_with_roles() -> list[dict]:
    """Every user with the Matchdesk roles they hold, by username (one query for the roles, whatever the count)."""
    users = get_user_model().objects.prefetch_related("groups").order_by("username")
    return [{"user": u, "roles": sorted(g.name for g in u.groups.all() if g.name in roles.ROLES)} for u in users]
