"""Benchmark: the audit events export streams with flat memory, however many rows it carries.

`run(args)` builds a throwaway database (`bench_<name>`), writes N chained audit events, then in fresh child
processes consumes the streaming CSV response of `/audit/export/events.csv` for the first `--small` events and for all
of them, sampling the resident set size after every chunk. Peak growth over the baseline should not scale with rows
(both sizes above the export batch of 2,000 rows: below it, a smaller batch is a smaller footprint).
For contrast it also measures loading the same rows into a list, which does.

    python -m bench.audit [--rows 100000] [--small 10000] [--keep-db]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import figures

ROOT = Path(__file__).resolve().parents[1]
SMALL_ACTION, LARGE_ACTION = "bench.a", "bench.b"


def _django(db_name: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import django
    from django.conf import settings

    django.setup()
    if db_name:
        from django.db import connections

        settings.DATABASES["default"]["NAME"] = db_name
        connections["default"].settings_dict["NAME"] = db_name


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fill(total: int, small: int) -> None:
    """Write `total` chained events (the first `small` with action bench.a) in bulk, hashes as audit_log makes them."""
    from datetime import UTC, datetime, timedelta

    from matches.models import AuditEvent
    from matches.services.audit import GENESIS_HASH, chain_hash, event_fields

    prev = GENESIS_HASH
    start = datetime(2026, 1, 5, tzinfo=UTC)
    batch = []
    for seq in range(1, total + 1):
        details = {
            "match_id": f"{seq:08x}-5b1e-4c5e-9a51-5d0c{seq:08x}",
            "run_id": 1 + seq // 20000,
            "profile_ids": [f"{seq:032x}", f"{seq + 7:032x}"],
            "confidence_score": 0.5 + (seq % 500) / 1000,
            "bucket": "review",
            "reason": "@formula-looking text" if seq % 1000 == 0 else "looked at addresses and birthdays",
        }
        fields = event_fields(
            seq=seq,
            actor_id=None,
            actor_name="",
            action=SMALL_ACTION if seq <= small else LARGE_ACTION,
            object_type="group",
            object_id=str(seq),
            domain="bench",
            details=details,
            created_at=start + timedelta(seconds=seq),
        )
        digest = chain_hash(fields, prev)
        batch.append(
            AuditEvent(
                seq=seq,
                actor_name="",
                action=fields["action"],
                object_type="group",
                object_id=str(seq),
                domain="bench",
                details=details,
                created_at=datetime.fromisoformat(fields["created_at"]),
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)


def _measure(db_name: str, action: str, mode: str) -> dict:
    """In a fresh process: consume one export (or, in `naive` mode, load the rows into a list) and sample RSS."""
    _django(db_name)
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from matches.models import AuditEvent
    from matches.views.audit import export_events

    user = get_user_model().objects.get(username="bench-auditor")

    def export(act: str):
        request = RequestFactory().get("/audit/export/events.csv", {"action": act})
        request.user = user
        return export_events(request)

    for _ in export("bench.nothing").streaming_content:  # warm up imports, connection, query compilation
        pass
    baseline = peak = _rss_bytes()
    started = time.perf_counter()
    rows = size = chunks = 0
    if mode == "naive":
        held = list(AuditEvent.objects.filter(action__startswith=action).order_by("seq").values_list())
        rows, peak = len(held), max(peak, _rss_bytes())
    else:
        response = export(action)
        for chunk in response.streaming_content:
            chunks += 1
            size += len(chunk)
            rows += chunk.count(b"\n")
            peak = max(peak, _rss_bytes())
        rows -= 1  # header
    return {
        "mode": mode,
        "rows": rows,
        "bytes": size,
        "chunks": chunks,
        "seconds": round(time.perf_counter() - started, 3),
        "rss_baseline_mb": round(baseline / 2**20, 1),
        "rss_growth_mb": round((peak - baseline) / 2**20, 1),
    }


def _child(db_name: str, action: str, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.audit", "--measure", db_name, "--action", action, "--mode", mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--measure", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--action", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    opts = parser.parse_args(args or [])
    if opts.measure:
        return _measure(opts.measure, opts.action, opts.mode)

    _django()
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django.db import connection

    from matches import roles
    from tests.factories import UserFactory

    name = settings.DATABASES["default"]["NAME"]
    connection.settings_dict["TEST"]["NAME"] = f"bench_{name}"
    t0 = time.perf_counter()
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=opts.keep_db)
    try:
        from matches.models import AuditEvent

        if AuditEvent.objects.filter(action__startswith="bench.").count() != opts.rows:
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE matches_auditevent")  # a throwaway database: row triggers do not fire
            _fill(opts.rows, opts.small)
        user = UserFactory(username="bench-auditor")
        user.groups.add(Group.objects.get(name=roles.AUDITOR))
        setup_seconds = round(time.perf_counter() - t0, 1)
        small = _child(db_name, SMALL_ACTION, "stream")
        large = _child(db_name, "bench.", "stream")
        naive = _child(db_name, "bench.", "naive")
    finally:
        if not opts.keep_db:
            connection.creation.destroy_test_db(name, verbosity=0)
    flat = large["rss_growth_mb"] <= small["rss_growth_mb"] + 8
    figures.record(
        "audit",
        f"export memory growth, {opts.small:,} vs {opts.rows:,} events",
        f"{small['rss_growth_mb']:.0f} vs {large['rss_growth_mb']:.0f} MB",
        "flat (+8 MB at most)",
        flat,
    )
    return {
        "benchmark": "audit events export (streaming CSV)",
        "setup_seconds": setup_seconds,
        "small": small,
        "large": large,
        "naive_list_of_large": naive,
        "rows_per_second": round(large["rows"] / large["seconds"]) if large["seconds"] else None,
        "memory_flat": flat,
    }


if __name__ == "__main__":
    result = run(sys.argv[1:])
    print(json.dumps(result, indent=None if "--measure" in sys.argv else 2))
