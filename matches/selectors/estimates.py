"""What the decisions say about the thresholds: the inputs of matches/estimates built from the database, and the
pages' views of them (docs/thresholds.md).

Inputs: the run's histogram (RunScoreBin.total: every group of the run, decided or not) and one label per decided
group, from its latest decision: merge = one person, split = a duplicate but a wrong merge, reject = neither; an undo
or reopen takes a decision back; bulk decisions never count. A group of the run carried over from an earlier
decision is known through that decision. Earlier runs of the domain count only when the admin includes them; their
decisions keep the score the group had when decided."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.core.cache import cache
from django.db.models import Exists, Max, OuterRef

from matches import estimates as es
from matches.models import (
    CalibrationItem,
    CalibrationSample,
    Decision,
    Domain,
    MatchGroup,
    MatchRun,
    QASampleItem,
    RunScoreBin,
    ThresholdPolicy,
)

MERGE, SPLIT, REJECT = Decision.Action.MERGE, Decision.Action.SPLIT, Decision.Action.REJECT
COUNTING = (MERGE, SPLIT, REJECT)
LINE_SECONDS = 60
ESTIMATES_SECONDS = 600
Line = Decimal | float | str  # a threshold as a score (0.950)


def label_of(action: str, score: float, in_run: bool) -> es.Label | None:
    if action == MERGE:
        return es.Label.merged(score, in_run)
    if action == SPLIT:
        return es.Label.split(score, in_run)
    if action == REJECT:
        return es.Label.rejected(score, in_run)
    return None


def run_histogram(run: MatchRun) -> list[int]:
    hist = [0] * es.BINS
    for b, n in RunScoreBin.objects.filter(run=run).values_list("bin", "total"):
        if n:
            hist[min(b, es.BINS - 1)] += n
    return hist


def _latest(group_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The latest decision of each group (the query reads decisions only for groups a person decided)."""
    rows = (
        Decision.objects.filter(group_id__in=list(group_ids))
        .order_by("group_id", "-created_at", "-id")
        .distinct("group_id")
        .values("group_id", "action", "bulk", "confidence_score", "group__run_id")
    )
    return [dict(r) for r in rows]


def run_labels(run: MatchRun, earlier: Sequence[int] = ()) -> list[es.Label]:
    """Labels from the run's own decided groups, its carried-over groups and the included earlier runs' groups."""
    runs = [run.pk, *earlier]
    # A manual group (no score) is never threshold evidence: it says nothing about AWS's scores.
    decided = (
        Decision.objects.filter(group__run_id__in=runs, bulk=False, confidence_score__isnull=False)
        .values_list("group_id", flat=True)
        .distinct()
    )
    labels = []
    for row in _latest(decided):
        if row["bulk"] or row["action"] not in COUNTING:
            continue
        in_run = row["group__run_id"] == run.pk
        # A decision carries its decision-time score; for the run's own groups that is the run's score.
        labels.append(label_of(row["action"], row["confidence_score"], in_run))
    carried = (
        MatchGroup.objects.filter(
            run=run, linked_decision__isnull=False, linked_decision__bulk=False, confidence_score__isnull=False
        )
        .exclude(decisions__isnull=False)
        .values_list("confidence_score", "linked_decision__action")
    )
    for score, action in carried:
        label = label_of(action, cast(float, score), True)  # filtered: scored groups only
        if label is not None:
            labels.append(label)
    return [label for label in labels if label is not None]


@dataclass(frozen=True)
class RunEstimates:
    """The estimates of one run and where they came from."""

    run: MatchRun
    estimates: es.Estimates
    runs_used: list[int]  # the run first, then the earlier runs included
    in_run: int  # decisions of the run itself (carried-over ones included)
    earlier: int  # decisions from the earlier runs included
    merge_target: float = es.DEFAULT_MERGE_TARGET
    reject_target: float = es.DEFAULT_REJECT_TARGET
    suggestion: tuple[int | None, int | None] = field(default=(None, None))

    @property
    def decisions(self) -> int:
        return self.in_run + self.earlier

    def at(self, merge_min: Line, reject_below: Line) -> es.LineEstimate:
        return self.estimates.at(_milli(merge_min), _milli(reject_below))


def _milli(value: Line) -> int:
    return int(round(float(value) * 1000))


def earlier_runs(domain: Domain, run: MatchRun, limit: int = 10) -> list[MatchRun]:
    """Earlier completed or superseded runs of the domain, newest first (what the admin may include)."""
    return list(
        domain.runs.filter(status__in=[MatchRun.Status.COMPLETED, MatchRun.Status.SUPERSEDED], pk__lt=run.pk)
        .order_by("-pk")
        .only("pk", "generated_at", "finished_at", "groups_stored")[:limit]
    )


def run_estimates(
    *,
    domain: Domain,
    include: Sequence[int] = (),
    merge_target: float = es.DEFAULT_MERGE_TARGET,
    reject_target: float = es.DEFAULT_REJECT_TARGET,
) -> RunEstimates | None:
    """The estimates for the domain's latest completed run (None before the first pull). Cached on what they depend
    on: the run (its histogram is fixed once it completes), the newest decision anywhere, the runs included and the
    targets; moving a slider on the thresholds page then costs two small queries and a cache read."""
    run = domain.latest_completed_run()
    if run is None:
        return None
    allowed = {r.pk for r in earlier_runs(domain, run, limit=1000)}
    earlier = sorted((pk for pk in set(include) if pk in allowed), reverse=True)
    newest = Decision.objects.aggregate(last=Max("id"))["last"]
    # The run's start time makes the key unique even where ids are reused (a database built afresh, the tests).
    key = f"estimates:run:{_run_key(run)}:{newest}:{','.join(map(str, earlier))}:{merge_target}:{reject_target}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = _run_estimates(run, earlier, merge_target, reject_target)
    cache.set(key, result, ESTIMATES_SECONDS)
    return result


def _run_key(run: MatchRun) -> str:
    stamp = run.started_at or run.finished_at or run.generated_at
    return f"{run.pk}:{stamp.timestamp() if stamp else ''}"


def _run_estimates(run: MatchRun, earlier: list[int], merge_target: float, reject_target: float) -> RunEstimates:
    labels = run_labels(run, earlier)
    est = es.Estimates(run_histogram(run), labels)
    in_run = sum(1 for label in labels if label.in_run)
    return RunEstimates(
        run=run,
        estimates=est,
        runs_used=[run.pk, *earlier],
        in_run=in_run,
        earlier=len(labels) - in_run,
        merge_target=merge_target,
        reject_target=reject_target,
        suggestion=est.suggest(merge_target, reject_target),
    )


# The one line on the domain and queue pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyLine:
    """The policy in force in one line per outer queue: estimate, upper bound, decisions."""

    merge_estimate: float
    merge_upper: float
    reject_estimate: float
    reject_upper: float
    decisions: int

    # With no decision the estimate is the prior's middle (50%), which reads as a finding: say there is none.
    @property
    def merge_text(self) -> str:
        if not self.decisions:
            return "merge queue: share of wrong merges not known yet"
        return f"merge queue: est. {_pct(self.merge_estimate)} wrong, 95% ≤ {_pct(self.merge_upper)}"

    @property
    def reject_text(self) -> str:
        if not self.decisions:
            return "reject queue: share of real duplicates not known yet"
        return f"reject queue: est. {_pct(self.reject_estimate)} real duplicates, 95% ≤ {_pct(self.reject_upper)}"

    @property
    def source_text(self) -> str:
        if not self.decisions:
            return "no decisions in this run yet"
        return f"from {self.decisions} decision{'s' if self.decisions != 1 else ''}"


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def policy_line(
    *, domain: Domain, run: MatchRun | None = None, policy: ThresholdPolicy | None = None
) -> PolicyLine | None:
    """The estimates of the policy in force for the current run, cached for a minute per run and policy: a queue page
    pays one cache read, and the line trails new decisions by at most LINE_SECONDS."""
    run = run or domain.latest_completed_run()
    policy = policy or domain.policy()
    if run is None or policy is None:
        return None
    key = f"estimates:line:{_run_key(run)}:{policy.pk}"
    cached = cache.get(key)
    if cached is None:
        result = run_estimates(domain=domain)
        if result is None or result.run.pk != run.pk:
            return None
        line = result.at(policy.merge_min, policy.reject_below)
        cached = PolicyLine(
            line.wrong_merges.estimate,
            line.wrong_merges.upper,
            line.missed_duplicates.estimate,
            line.missed_duplicates.upper,
            result.decisions,
        )
        cache.set(key, cached, LINE_SECONDS)
    return cached


# Calibration samples -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleProgress:
    sample: CalibrationSample
    decided: int
    pending: int

    @property
    def left(self) -> int:
        return max(self.sample.budget - self.decided, 0)


def calibration_progress(*, domain: Domain, limit: int = 10) -> list[SampleProgress]:
    out = []
    for sample in domain.calibration_samples.select_related("created_by", "run").order_by("-created_at", "-id")[:limit]:
        groups = MatchGroup.objects.filter(calibration_items__sample=sample)
        pending = groups.filter(status=MatchGroup.Status.OPEN).count()
        out.append(SampleProgress(sample, sample.drawn - pending, pending))
    return out


def sampled_as(group: MatchGroup) -> tuple[bool, bool]:
    """(in a QA sample, in an open calibration sample), in one query: either way a steward reviews it blind."""
    read = vars(group)
    if "page_qa_sampled" in read:  # read with the group (review.group_page_queryset)
        return bool(read["page_qa_sampled"]), bool(read["page_calibration_sampled"])
    row = (
        MatchGroup.objects.filter(pk=group.pk)
        .annotate(
            qa=Exists(QASampleItem.objects.filter(group=OuterRef("pk"))),
            cal=Exists(CalibrationItem.objects.filter(group=OuterRef("pk"), sample__closed_at__isnull=True)),
        )
        .values_list("qa", "cal")
        .first()
    )
    return (bool(row[0]), bool(row[1])) if row else (False, False)


def is_in_calibration_sample(group: MatchGroup) -> bool:
    """Drawn into an open calibration sample: stewards review it blind (score and queue hidden)."""
    return CalibrationItem.objects.filter(group_id=group.pk, sample__closed_at__isnull=True).exists()


# The trade-off chart -----------------------------------------------------------------------------------------------


def tradeoff_chart(result: RunEstimates, merge_min: Line, reject_below: Line, step: int = 5) -> dict:
    """Geometry of the trade-off chart (drawn by the template as SVG, like the score histogram): as the merge line
    moves (right of the reject line) the expected share of wrong merges with its 95% interval, as the reject line
    moves (left of the merge line) the missed duplicates with theirs, and the review workload for each position (the
    other line where it is). Shares above the chart's top are drawn at the top. Before any decision counts nothing
    is known: the bands span the whole chart and no expected share or bound is drawn (the prior's 50% is not a
    finding)."""
    width, height, pad_l, pad_r, pad_t, pad_b = 760, 240, 44, 44, 14, 26
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    est = result.estimates
    m, r = _milli(merge_min), _milli(reject_below)
    top = max(0.1, 2 * result.reject_target, 4 * result.merge_target)

    def x(line: int) -> float:
        return round(pad_l + plot_w * line / 1000, 2)

    def y(share: float) -> float:
        return round(pad_t + plot_h - plot_h * min(max(share, 0.0), top) / top, 2)

    def y_review(share: float) -> float:
        return round(pad_t + plot_h - plot_h * share, 2)

    total = max(est.total, 1)
    merge = [p for p in est.curve("merge", step) if p["line"] >= r and p["groups"]]
    reject = [p for p in est.curve("reject", step) if p["line"] <= m and p["groups"]]

    def line_of(points: list[dict], key: str) -> str:
        if not est.decisions:
            return ""
        return " ".join(f"{x(p['line'])},{y(p[key])}" for p in points)

    def band(points: list[dict]) -> str:
        upper = [f"{x(p['line'])},{y(p['high'])}" for p in points]
        lower = [f"{x(p['line'])},{y(p['low'])}" for p in reversed(points)]
        return " ".join(upper + lower)

    review_merge = " ".join(
        f"{x(p['line'])},{y_review((total - p['groups'] - est.reject_groups[r]) / total)}" for p in merge
    )
    review_reject = " ".join(
        f"{x(p['line'])},{y_review((total - p['groups'] - est.merge_groups[m]) / total)}" for p in reject
    )
    suggested_m, suggested_r = result.suggestion
    return {
        "width": width,
        "height": height,
        "known": bool(est.decisions),
        "plot": {"x": pad_l, "y": pad_t, "w": plot_w, "h": plot_h, "bottom": pad_t + plot_h, "right": pad_l + plot_w},
        "merge": {"estimate": line_of(merge, "estimate"), "upper": line_of(merge, "upper"), "band": band(merge)},
        "reject": {"estimate": line_of(reject, "estimate"), "upper": line_of(reject, "upper"), "band": band(reject)},
        "review_merge": review_merge,
        "review_reject": review_reject,
        "targets": [
            {"y": y(result.merge_target), "label": f"{result.merge_target * 100:g}% wrong merges", "queue": "merge"},
            {"y": y(result.reject_target), "label": f"{result.reject_target * 100:g}% missed", "queue": "reject"},
        ],
        "lines": [{"x": x(m), "queue": "merge"}, {"x": x(r), "queue": "reject"}],
        "suggestions": [
            {"x": x(v), "queue": q, "label": f"suggested {v / 1000:.3f}"}
            for q, v in (("merge", suggested_m), ("reject", suggested_r))
            if v is not None
        ],
        "ticks": [{"x": x(t * 100), "label": f"{t / 10:.1f}"} for t in range(11)],
        "yticks": [{"y": y(top * f), "label": f"{top * f * 100:g}%"} for f in (0, 0.5, 1)],
        "rticks": [{"y": y_review(f), "label": f"{f * 100:g}%"} for f in (0, 0.5, 1)],
    }
