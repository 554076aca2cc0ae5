"""`python -m bench s3`: S3 ingestion throughput (groups/s) by worker count, beside two baselines from the same run.

An export of N groups in OBJECTS gzip'd JSON Lines objects is written to moto's S3 server (started here, over HTTP).
For 1, 2 and 4 workers (processes forked from this one, each draining the objects through `export_object_ingest`, the
code a Celery worker runs: advisory lock, claim, GetObject, parse, bulk upsert, checkpoint), a fresh run ingests the
whole export. The run's completion (reconciliation against AWS, carry-over) is left out: it is the same for both
sources and measured by `python -m bench completion`. Baselines, same groups: the raw parse (gunzip + s3_format, in
memory, one process) and the GetMatches path (`pages_ingest` over pre-fetched pages, one process, as `bench ingest`).
On a machine with few cores the worker curve flattens at the core count: Postgres and the workers share them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import random
import sys
import time

from bench import figures
from bench.review import _setup_django, _use_database

DOMAIN = "bench-s3"
BUCKET = "bench-exports"


def _items(total: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out, serial = [], 0
    for i in range(total):
        size = rng.choices((2, 3, 4, 5), weights=(70, 20, 7, 3))[0]
        out.append(
            {
                "MatchId": f"s3bench{i:012x}",
                "ProfileIds": [f"{serial + j:032x}" for j in range(size)],
                "ConfidenceScore": round(rng.random(), 6),
            }
        )
        serial += size
    return out


def _objects(items: list[dict], count: int) -> list[bytes]:
    per = -(-len(items) // count)
    return [
        gzip.compress("".join(json.dumps(i) + "\n" for i in items[k * per : (k + 1) * per]).encode(), compresslevel=1)
        for k in range(count)
    ]


def _drain(object_ids: list[int], offset: int) -> None:
    from django.db import connection

    from matches.services.pulls.s3 import export_object_ingest

    # Each worker starts at its own place in the list, as workers taking messages from one queue would.
    for object_id in object_ids[offset:] + object_ids[:offset]:
        export_object_ingest(object_id=object_id)
    connection.close()


def _ingest(domain, prefix: str, keys: list[tuple[str, int]], workers: int) -> float:
    from django.db import connections

    from matches.models import ExportObject, MatchRun

    run = MatchRun.objects.create(
        domain=domain, status="running", source="s3", export_location=f"s3://{BUCKET}/{prefix}", job_id="bench"
    )
    ids = [ExportObject.objects.create(run=run, key=k, size=s).pk for k, s in keys]
    connections.close_all()  # the children open their own
    fork = multiprocessing.get_context("fork")
    started = time.perf_counter()
    procs = [fork.Process(target=_drain, args=(ids, w * len(ids) // workers)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - started
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    run.refresh_from_db()
    assert set(ExportObject.objects.filter(run=run).values_list("status", flat=True)) == {"done"}
    MatchRun.objects.filter(pk=run.pk).update(status="failed")  # one running run per domain
    return seconds


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench s3", description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200_000)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=42)
    opts = parser.parse_args(argv or [])
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    _use_database(settings.DATABASES["default"]["NAME"])
    call_command("migrate", verbosity=0)

    import boto3
    from botocore.config import Config

    from matches.models import Domain, MatchRun, ThresholdPolicy
    from matches.services.pulls import pages_ingest, s3
    from matches.services.pulls.s3_format import records
    from tests.s3_fixtures import MotoS3

    moto = MotoS3().start()
    try:
        settings.MATCHDESK = {**settings.MATCHDESK, "S3_ENDPOINT_URL": moto.url}
        s3.s3_run_finish = lambda *, run: None  # completion is not part of the figure (see the docstring)
        client = boto3.client(
            "s3",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=BUCKET)
        items = _items(opts.groups, opts.seed)
        blobs = _objects(items, opts.objects)
        prefix = f"bench/{int(time.time())}/"
        keys = []
        for k, blob in enumerate(blobs):
            key = f"{prefix}part-{k:05d}.json.gz"
            client.put_object(Bucket=BUCKET, Key=key, Body=blob)
            keys.append((key, len(blob)))
        domain, created = Domain.objects.get_or_create(name=DOMAIN)
        if created:
            ThresholdPolicy.objects.create(domain=domain, merge_min="0.95", reject_below="0.60")
        MatchRun.objects.filter(domain=domain, status="running").update(status="failed")
        n = opts.groups
        print(f"bench s3: {n:,} groups in {opts.objects} gzip'd JSON Lines objects on moto's S3 server", flush=True)

        started = time.perf_counter()
        parsed = sum(sum(1 for _ in records([b])[1]) for b in blobs)
        parse_s = time.perf_counter() - started
        assert parsed == n
        print(f"  baseline raw parse (1 process)      {n / parse_s:>10,.0f} groups/s", flush=True)

        pages = [{"Matches": items[i : i + 100], "NextToken": "t"} for i in range(0, n, 100)]
        pages[-1].pop("NextToken")
        run = MatchRun.objects.create(domain=domain, status="running", job_id="bench-getmatches")
        started = time.perf_counter()
        pages_ingest(run=run, pages=pages)
        gm_s = time.perf_counter() - started
        MatchRun.objects.filter(pk=run.pk).update(status="failed")
        print(f"  baseline GetMatches path (1 process) {n / gm_s:>9,.0f} groups/s", flush=True)
        figures.record("s3", f"GetMatches path, {n:,} groups", f"{n / gm_s:,.0f} groups/s")

        for workers in opts.workers:
            seconds = _ingest(domain, prefix, keys, workers)
            rate = n / seconds
            print(
                f"  S3 ingestion, {workers} worker{'s' if workers > 1 else ' '}          {rate:>10,.0f} groups/s "
                f"({seconds:.1f} s; {rate / (n / gm_s):.2f}x the GetMatches path)",
                flush=True,
            )
            figures.record("s3", f"S3 ingestion, {workers} workers, {n:,} groups", f"{rate:,.0f} groups/s")
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
