"""Threshold preview latency on a run of 1,000,000 groups (target: 200 ms at the 95th percentile), and the
estimates behind it computed afresh from 400 decisions (target: 200 ms).

    python -c "import bench.admin as b; b.run(None)"          # or wired into `python -m bench`
    options: --groups N  --iterations N  --keep (leave the data for the next run)

The groups are real MatchGroup rows (inserted by Postgres' generate_series) and the histogram is built by the same
`bins_add` the pull uses; the preview reads only RunScoreBin, so it should not grow with the run. The bench also checks
that the preview's counts equal a direct count of the open groups for one threshold pair.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from decimal import Decimal

from bench import figures

BENCH_DOMAIN = "bench-admin-preview"
TARGET_MS = 200.0
DECISIONS = 400


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import django

    django.setup()


def _parse(args) -> argparse.Namespace:
    if isinstance(args, argparse.Namespace):
        ns = args
    else:
        parser = argparse.ArgumentParser(prog="bench.admin", description=__doc__.splitlines()[0])
        parser.add_argument("--groups", type=int, default=1_000_000)
        parser.add_argument("--iterations", type=int, default=60)
        parser.add_argument("--keep", action="store_true", help="keep the bench domain for the next run")
        ns, _ = parser.parse_known_args(list(args or []))
    for name, default in (("groups", 1_000_000), ("iterations", 60), ("keep", False)):
        if not hasattr(ns, name):
            setattr(ns, name, default)
    return ns


def _build(groups: int):
    """The bench domain with one completed run of `groups` groups (reused when it is already there)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from matches.models import Domain, MatchGroup, MatchRun, ThresholdPolicy
    from matches.services.groups import bins_add

    domain = Domain.objects.filter(name=BENCH_DOMAIN).first()
    if domain is not None:
        run = domain.latest_completed_run()
        if run is not None and run.groups_stored == groups:
            return domain, run, 0.0
        _cleanup()
    started = time.perf_counter()
    with transaction.atomic():
        domain = Domain.objects.create(name=BENCH_DOMAIN, enabled=False)
        ThresholdPolicy.objects.create(domain=domain, merge_min=Decimal("0.950"), reject_below=Decimal("0.600"))
        run = MatchRun.objects.create(domain=domain, status=MatchRun.Status.RUNNING, generated_at=timezone.now())
        table = MatchGroup._meta.db_table
        with connection.cursor() as cursor:
            # A bimodal spread of 4-decimal scores; ids are md5 hex like real profile ids.
            cursor.execute(
                f"""
                INSERT INTO {table} (run_id, match_id, profile_ids, profile_set_key, confidence_score, size, status,
                                     status_reason, display_names, search_text, created_at, updated_at)
                SELECT %s, 'bench-' || i,
                       ARRAY[md5(i::text || 'a'), md5(i::text || 'b')],
                       md5(i::text || 'ab') || md5(i::text || 'ba'),
                       round((CASE WHEN i %% 5 < 3 THEN 0.45 + 0.14 * sin(i) * cos(i * 7)
                                   ELSE 0.90 + 0.08 * sin(i * 3) END)::numeric, 4)::float8,
                       2, 'open', '', '', '', now(), now()
                FROM generate_series(1, %s) AS i
                """,
                [run.pk, groups],
            )
            cursor.execute(
                f"UPDATE {table} SET confidence_score = least(1, greatest(0, confidence_score)) WHERE run_id = %s",
                [run.pk],
            )
            cursor.execute(f"SELECT confidence_score FROM {table} WHERE run_id = %s", [run.pk])
            scores = [row[0] for row in cursor.fetchall()]
        bins_add(run=run, scores=scores)
        MatchRun.objects.filter(pk=run.pk).update(
            status=MatchRun.Status.COMPLETED,
            finished_at=timezone.now(),
            groups_seen=groups,
            groups_stored=groups,
            potential_matches=groups,
        )
    run.refresh_from_db()
    return domain, run, time.perf_counter() - started


def _cleanup() -> None:
    import pgtrigger
    from django.db import transaction

    from matches.models import Decision, Domain, MatchGroup, MatchRun, RunScoreBin, ThresholdPolicy

    domain = Domain.objects.filter(name=BENCH_DOMAIN).first()
    if domain is None:
        return
    with (
        transaction.atomic(),
        pgtrigger.ignore("matches.ThresholdPolicy:append_only"),
        pgtrigger.ignore("matches.Decision:append_only"),
    ):
        Decision.objects.filter(group__run__domain=domain).delete()
        RunScoreBin.objects.filter(run__domain=domain).delete()
        MatchGroup.objects.filter(run__domain=domain)._raw_delete("default")
        MatchRun.objects.filter(domain=domain).delete()
        ThresholdPolicy.objects.filter(domain=domain).delete()
        domain.delete()


def _time_estimates(run, iterations: int) -> list[float]:
    """Decide DECISIONS groups of the run (non-bulk, each a merge with the chance of its score) and time the
    estimates of the thresholds page computed without their cache: labels from the decisions, the curve's posterior,
    the bounds. A kept run keeps its decisions."""
    from django.contrib.auth import get_user_model

    from matches.models import Decision, MatchGroup
    from matches.selectors.estimates import _run_estimates

    if Decision.objects.filter(group__run=run).count() < DECISIONS:
        actor, _ = get_user_model().objects.get_or_create(username="bench-admin-steward")
        first = MatchGroup.objects.filter(run=run).order_by("pk").values_list("pk", flat=True).first() or 0
        rng = random.Random(7)
        wanted = [first + i for i in rng.sample(range(run.groups_stored), DECISIONS)]
        picked = MatchGroup.objects.filter(run=run, pk__in=wanted).values_list("pk", "confidence_score")
        Decision.objects.bulk_create(
            Decision(
                group_id=pk,
                action="merge" if rng.random() < score else "reject",
                actor=actor,
                confidence_score=score,
                bucket="review",
            )
            for pk, score in picked
        )
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        _run_estimates(run, [], 0.01, 0.05)
        times.append((time.perf_counter() - t) * 1000)
    return times


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(args=None) -> dict:
    _setup_django()
    ns = _parse(args)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import RequestFactory
    from django_htmx.middleware import HtmxDetails

    from matches import roles
    from matches.models import MatchGroup
    from matches.selectors.admin import threshold_preview
    from matches.views import thresholds as threshold_views

    domain, run_, build_seconds = _build(ns.groups)
    rng = random.Random(1)
    pairs = []
    for _ in range(ns.iterations):
        a, b = sorted(Decimal(rng.randint(0, 1000)) / 1000 for _ in range(2))
        pairs.append((b, a))

    service_ms = []
    for merge_min, reject_below in pairs:
        t = time.perf_counter()
        threshold_preview(domain=domain, merge_min=merge_min, reject_below=reject_below)
        service_ms.append((time.perf_counter() - t) * 1000)

    # The whole htmx request: permission check, parse, both counts, chart, template.
    user = get_user_model().objects.create(username=f"bench-admin-{os.getpid()}", is_active=True)
    user.groups.add(Group.objects.get(name=roles.ADMIN))
    factory = RequestFactory()
    view_ms = []
    try:
        for merge_min, reject_below in pairs:
            request = factory.get(
                f"/admin/domains/{domain.name}/thresholds/preview/",
                {"merge_min": str(merge_min), "reject_below": str(reject_below)},
                HTTP_HX_REQUEST="true",
            )
            request.user = get_user_model().objects.get(pk=user.pk)
            request.htmx = HtmxDetails(request)
            t = time.perf_counter()
            response = threshold_views.preview(request, name=domain.name)
            response.render() if hasattr(response, "render") else None
            view_ms.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.status_code
    finally:
        user.groups.clear()
        user.delete()

    estimates_ms = _time_estimates(run_, iterations=max(5, ns.iterations // 6))

    # The preview's counts equal a direct count (one pair; the direct count scans the run, the preview does not).
    merge_min, reject_below = Decimal("0.900"), Decimal("0.500")
    preview = threshold_preview(domain=domain, merge_min=merge_min, reject_below=reject_below)
    open_ = MatchGroup.objects.filter(run=run_, status="open")
    t = time.perf_counter()
    direct = (
        open_.filter(confidence_score__gte=float(merge_min)).count(),
        open_.filter(confidence_score__lt=float(reject_below)).count(),
        open_.count(),
    )
    direct_ms = (time.perf_counter() - t) * 1000
    assert (preview.after.merge, preview.after.reject, preview.after.total) == direct, (preview.after, direct)

    result = {
        "groups": run_.groups_stored,
        "iterations": ns.iterations,
        "build_seconds": round(build_seconds, 1),
        "service_p50_ms": round(statistics.median(service_ms), 2),
        "service_p95_ms": round(_percentile(service_ms, 0.95), 2),
        "view_p50_ms": round(statistics.median(view_ms), 2),
        "view_p95_ms": round(_percentile(view_ms, 0.95), 2),
        "view_max_ms": round(max(view_ms), 2),
        "direct_count_ms": round(direct_ms, 1),
        "estimates_decisions": DECISIONS,
        "estimates_p50_ms": round(statistics.median(estimates_ms), 1),
        "estimates_max_ms": round(max(estimates_ms), 1),
        "counts_match_direct_count": True,
        "target_ms": TARGET_MS,
        "ok": _percentile(view_ms, 0.95) <= TARGET_MS and statistics.median(estimates_ms) <= TARGET_MS,
    }
    if not ns.keep:
        _cleanup()
    connection.close()
    figures.record(
        "admin",
        f"threshold preview p95, {result['groups']:,} groups",
        f"{result['view_p95_ms']} ms",
        f"<= {TARGET_MS} ms",
        _percentile(view_ms, 0.95) <= TARGET_MS,
    )
    figures.record(
        "admin",
        f"threshold estimates afresh (median), {DECISIONS} decisions",
        f"{result['estimates_p50_ms']} ms",
        f"<= {TARGET_MS} ms",
        result["estimates_p50_ms"] <= TARGET_MS,
    )
    width = max(len(k) for k in result)
    print("Threshold preview on a run of {:,} groups".format(result["groups"]), file=sys.stderr)
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}", file=sys.stderr)
    return result


if __name__ == "__main__":
    outcome = run(sys.argv[1:])
    sys.exit(0 if outcome["ok"] else 1)
