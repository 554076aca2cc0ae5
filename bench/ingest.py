"""`python -m bench ingest`: how fast the pull stores groups, against COPY into the same table, and how much memory
a 1,000,000-group pull needs.

- ours: N groups in pre-fetched GetMatches-shaped pages fed through `pages_ingest`, the code path the pull runs
  (validation, de-duplication, INSERT ... ON CONFLICT ... RETURNING, quarantine, score histogram, checkpoint), so the
  figure is ours, not the network's;
- COPY: the same rows, already validated and keyed, loaded with COPY into matches_matchgroup in a fresh clone;
- memory: M groups streamed page by page through the same path, peak RSS (ru_maxrss) of that process.
Each measurement runs in its own child process on a fresh clone of the bench template. By default the domain already
holds last week's run with the same profile sets (loaded by COPY, not timed), as a weekly pull finds it: the pull
then looks up each set's age in it as it stores the row (store._EARLIEST_SEEN), and COPY writes into a table of the
same size. `--no-history`: the domain's first pull.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from bench import db, figures

DOMAIN = "bench-ingest"
PAGE = 100
TARGET_RATIO = 0.5
TARGET_RSS_MB = 300
GENERATION = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)


def _defaults() -> tuple[int, int]:
    scale = os.environ.get("SCALE")
    if scale:
        return int(scale), 5 * int(scale)
    return 200_000, 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    groups, memory = _defaults()
    parser.add_argument("--groups", type=int, default=groups, help=f"groups for throughput (default {groups:,})")
    parser.add_argument(
        "--memory-groups", type=int, default=memory, help=f"groups for the peak-memory run (default {memory:,})"
    )
    parser.add_argument("--skip-memory", action="store_true", help="only the throughput comparison")
    parser.add_argument("--no-history", action="store_true", help="the domain's first pull (no earlier run)")
    parser.add_argument("--seed", type=int, default=42)


# Synthetic pages ----------------------------------------------------------------------------------------------------


def pages(total: int, seed: int) -> Iterator[dict]:
    """GetMatches pages as the pull receives them: 100 items each, 2-5 distinct ids, scores in [0, 1]."""
    rng = random.Random(seed)
    sizes = rng.choices((2, 3, 4, 5), weights=(70, 20, 7, 3), k=1024)
    serial = 0
    for start in range(0, total, PAGE):
        items = []
        for i in range(start, min(start + PAGE, total)):
            size = sizes[i % 1024]
            items.append(
                {
                    "MatchId": f"bench{i:012x}",
                    "ProfileIds": [f"{serial + j:032x}" for j in range(size)],
                    "ConfidenceScore": round(rng.random(), 6),
                }
            )
            serial += size
        last = start + PAGE >= total
        yield {
            "Matches": items,
            "MatchGenerationDate": GENERATION,
            "PotentialMatches": total,
            **({} if last else {"NextToken": f"token-{start + PAGE}"}),
        }


# The child process --------------------------------------------------------------------------------------------------


def child_main(argv: list[str]) -> int:
    """`python -m bench _ingest-child setup|ours|copy|stream N SEED [history]`: prints one JSON line."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    django.setup()
    mode = argv[0]
    if mode == "setup":
        _setup()
        return 0
    total, seed = int(argv[1]), int(argv[2])
    if argv[3:] == ["history"]:  # last week's run of the same sets, not timed
        _copy(total, seed, status="completed")
    result = {"ours": _ours, "copy": _copy, "stream": _stream}[mode](total, seed)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


def _setup() -> None:
    from matches.models import Domain, ThresholdPolicy

    domain, created = Domain.objects.get_or_create(name=DOMAIN)
    if created:
        ThresholdPolicy.objects.create(
            domain=domain,
            merge_min=ThresholdPolicy.DEFAULT_MERGE_MIN,
            reject_below=ThresholdPolicy.DEFAULT_REJECT_BELOW,
        )


def _new_run(status: str = "running"):
    from matches.models import Domain, MatchRun

    return MatchRun.objects.create(domain=Domain.objects.get(name=DOMAIN), status=status)


class _Timed:
    """An iterator that keeps the time spent producing its items, so a figure can leave generation out while the
    rows are made on the fly (memory stays one page, whatever --groups: 10,000,000 rows never sit in a list)."""

    def __init__(self, items: Iterator) -> None:
        self.items, self.seconds = items, 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self):
        started = time.perf_counter()
        try:
            return next(self.items)
        finally:
            self.seconds += time.perf_counter() - started


def _ours(total: int, seed: int) -> dict:
    from matches.services.pulls import pages_ingest

    # "Fetched beforehand": neither the network nor making the pages is part of the figure (their time is taken out).
    fetched = _Timed(pages(total, seed))
    run = _new_run()
    started = time.perf_counter()
    pages_ingest(run=run, pages=fetched)
    seconds = time.perf_counter() - started - fetched.seconds
    run.refresh_from_db()
    assert run.groups_stored == total, (run.groups_stored, total)
    return {"groups": total, "seconds": seconds, "stored": run.groups_stored}


def _copy(total: int, seed: int, status: str = "running") -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from matches.models import MatchGroup, profile_set_key

    run = _new_run(status)
    now = timezone.now()

    def keyed() -> Iterator[tuple]:
        for page in pages(total, seed):
            for item in page["Matches"]:
                ids = sorted(set(item["ProfileIds"]))
                yield (run.pk, item["MatchId"], ids, profile_set_key(ids), item["ConfidenceScore"], len(ids), now, now)

    rows = _Timed(keyed())  # made while COPY streams, their making left out of the figure
    statement = (
        f"COPY {MatchGroup._meta.db_table} (run_id, match_id, profile_ids, profile_set_key, confidence_score, size, "
        "status, status_reason, display_names, search_text, created_at, updated_at) FROM STDIN"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for r in rows:
                copy.write_row((*r[:6], "open", "", "", "", *r[6:]))
    seconds = time.perf_counter() - started - rows.seconds
    stored = MatchGroup.objects.filter(run=run).count()
    assert stored == total, (stored, total)
    return {"groups": total, "seconds": seconds, "stored": stored}


def _stream(total: int, seed: int) -> dict:
    from matches.services.pulls import pages_ingest

    run = _new_run()
    started = time.perf_counter()
    pages_ingest(run=run, pages=pages(total, seed))  # one page at a time, as the pull receives them
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    assert run.groups_stored == total, (run.groups_stored, total)
    return {"groups": total, "seconds": seconds, "stored": run.groups_stored}


# The parent ---------------------------------------------------------------------------------------------------------


def _measure(template: str, mode: str, total: int, seed: int, history: bool) -> dict:
    name = db.clone(template)
    out = subprocess.run(
        [sys.executable, "-m", "bench", "_ingest-child", mode, str(total), str(seed), *(["history"] * history)],
        cwd=db.ROOT,
        env=db.child_env(name),
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"bench child {mode} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["groups"] / result["seconds"]
    return result


def run(args: argparse.Namespace) -> int:
    template = db.ensure_template(["_ingest-child", "setup"])
    history = not args.no_history
    print(
        f"bench ingest: {args.groups:,} groups (throughput), {args.memory_groups:,} groups (memory), "
        + ("beside last week's run of the same sets" if history else "the domain's first pull")
    )
    ours = _measure(template, "ours", args.groups, args.seed, history)
    print(
        f"  ours  {ours['groups']:>10,} groups in {ours['seconds']:7.2f} s = {ours['rate']:>9,.0f} groups/s"
        f" (peak RSS {ours['rss_mb']:.0f} MB: the pages are made as they are stored, never held)"
    )
    copy = _measure(template, "copy", args.groups, args.seed, history)
    print(f"  COPY  {copy['groups']:>10,} groups in {copy['seconds']:7.2f} s = {copy['rate']:>9,.0f} groups/s")
    ratio = ours["rate"] / copy["rate"]
    ok = ratio >= TARGET_RATIO
    print(f"  ratio ours/COPY = {ratio:.0%} (target >= {TARGET_RATIO:.0%}): {'OK' if ok else 'BELOW TARGET'}")
    figures.record("ingest", f"groups/s vs COPY, {args.groups:,} groups", f"{ratio:.0%}", f">= {TARGET_RATIO:.0%}", ok)
    if not args.skip_memory:
        stream = _measure(template, "stream", args.memory_groups, args.seed, False)
        fits = stream["rss_mb"] < TARGET_RSS_MB
        print(
            f"  memory {stream['groups']:>9,} groups streamed in {stream['seconds']:7.2f} s "
            f"({stream['rate']:,.0f} groups/s): peak RSS {stream['rss_mb']:.0f} MB "
            f"(target < {TARGET_RSS_MB} MB): {'OK' if fits else 'ABOVE TARGET'}"
        )
        figures.record(
            "ingest",
            f"peak RSS, {stream['groups']:,} groups",
            f"{stream['rss_mb']:.0f} MB",
            f"< {TARGET_RSS_MB} MB",
            fits,
        )
        ok = ok and fits
    db.drop(db.bench_name())
    return 0 if ok else 1


COMMAND = ("ingestion throughput against COPY, and peak memory of a large pull", add_arguments, run)
