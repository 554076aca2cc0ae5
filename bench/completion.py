"""`python -m bench completion --groups N`: a run's completion with N open groups in the previous run and N new
groups (1% of the sets rejected before, so they carry over), the old way and the new way, in the same run.

- old way: what completion did before docs/architecture.md, "Completion": every open group of the previous run
  rewritten to `superseded` and carry-over over the whole new run, inside the one completion transaction (measured,
  then rolled back, then VACUUM so the new way starts from the same table);
- new way: the completion transaction (run rows only: the figure that must stay flat as N grows), then carry-over in
  batches until the run is current, then the background rewrite of the old rows, each batch its own transaction.
Target: the completion transaction under 1 s whatever N (a lock held for a second at most, not for minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench import figures
from bench.review import _setup_django, _use_database

BENCH_DOMAIN = "bench-completion"
TARGET_COMPLETION_S = 1.0


def _build(n: int) -> tuple[int, int]:
    """A domain with a completed run of n open groups (1% rejected by a steward) and a stored run of n groups with
    the same profile sets, waiting for its completion. Returns (old run id, new run id)."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from matches.models import Decision, MatchGroup, MatchRun, RunScoreBin
    from tests.factories import DomainFactory, UserFactory, ensure_role_groups

    call_command("migrate", verbosity=0, interactive=False)
    ensure_role_groups()
    gt, dt, bt = MatchGroup._meta.db_table, Decision._meta.db_table, RunScoreBin._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE matches_mergejob, matches_comment, matches_decision, matches_profilesnapshot, "
            f"matches_auditevent, {bt}, {gt}, matches_profile, matches_quarantinedmatch, matches_bulkjob, "
            "matches_qasampleitem, "
            "matches_qasample, matches_matchrun, matches_thresholdpolicy, matches_domain CASCADE"
        )
    with transaction.atomic():
        domain = DomainFactory(name=BENCH_DOMAIN)
        steward = UserFactory(username=f"bench-steward-{time.time_ns()}")
        now = timezone.now()
        old = MatchRun.objects.create(domain=domain, status="completed", finished_at=now, groups_stored=n)
        new = MatchRun.objects.create(domain=domain, status="running", groups_stored=n, pages=n // 100)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s "
                "AND indexdef NOT LIKE %s",
                [gt, "%pkey", "%UNIQUE%"],
            )
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            # The old run's sets were first seen a week ago, as in a weekly run, and the new run's rows hold that age
            # as the pull stores them (store._EARLIEST_SEEN).
            for run_id, prefix in ((old.pk, "a"), (new.pk, "b")):
                cur.execute(
                    f"""
                    INSERT INTO {gt} (run_id, match_id, profile_ids, profile_set_key, confidence_score, size, status,
                                      status_reason, display_names, search_text, created_at, updated_at,
                                      first_seen_at)
                    SELECT %s, %s || i, ARRAY[md5('a' || i), md5('b' || i)]::varchar(32)[], md5('set' || i),
                           ((i::bigint * 7919) %% 1000003)::float8 / 1000003, 2, 'open', '',
                           'Ann Lee' || i, 'ann lee' || i, now(), now(), now() - interval '7 days'
                    FROM generate_series(1, %s) AS i
                    """,
                    [run_id, prefix, n],
                )
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for _, definition in indexes:
                cur.execute(definition)
            # A steward rejected 1% of the old run's groups: those sets carry over.
            cur.execute(
                f"""
                INSERT INTO {dt} (group_id, action, actor_id, created_at, confidence_score, bucket, main_profile_id,
                                  merged_profile_ids, excluded_profile_ids, field_sources, reason, bulk)
                SELECT id, 'reject', %s, now(), confidence_score, 'review', '', '{{}}', profile_ids, '{{}}', '', false
                FROM {gt} WHERE run_id = %s AND id %% 100 = 0
                """,
                [steward.pk, old.pk],
            )
            cur.execute(
                f"UPDATE {gt} SET status = 'rejected' WHERE run_id = %s AND id %% 100 = 0",
                [old.pk],
            )
            cur.execute(
                f"""
                INSERT INTO {bt} (run_id, bin, total, open)
                SELECT run_id, floor(confidence_score * 1000)::int, count(*), count(*) FILTER (WHERE status = 'open')
                FROM {gt} GROUP BY 1, 2
                """
            )
    with connection.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {gt}")
    return old.pk, new.pk


def _old_way(old_id: int, new_id: int) -> float:
    """Supersede and carry over in one transaction, as completion did before; rolled back."""
    from django.db import transaction

    from matches.models import MatchGroup, MatchRun
    from matches.services.groups import groups_set_status
    from matches.services.pulls import carry_over

    class Rollback(Exception):
        pass

    started = time.perf_counter()
    try:
        with transaction.atomic():
            MatchRun.objects.filter(pk=old_id).update(status="superseded")
            while True:
                ids = list(
                    MatchGroup.objects.filter(run_id=old_id, status="open")
                    .order_by("pk")
                    .values_list("pk", flat=True)[:20_000]
                )
                if not ids:
                    break
                groups_set_status(
                    queryset=MatchGroup.objects.filter(pk__in=ids), status="superseded", reason="A newer pull."
                )
            carry_over(run=MatchRun.objects.get(pk=new_id))
            MatchRun.objects.filter(pk=new_id).update(status="completed")
            seconds = time.perf_counter() - started
            raise Rollback()
    except Rollback:
        pass
    return seconds


def _new_way(old_id: int, new_id: int) -> dict[str, float]:
    from matches.models import MatchGroup, MatchRun
    from matches.services.pulls import run_carry_over, run_groups_supersede
    from matches.services.pulls.run import run_stored_complete

    new = MatchRun.objects.select_related("domain").get(pk=new_id)
    t0 = time.perf_counter()
    run_stored_complete(run=new)
    t1 = time.perf_counter()
    new = run_carry_over(run=MatchRun.objects.select_related("domain").get(pk=new_id))
    t2 = time.perf_counter()
    rewritten = run_groups_supersede(run=MatchRun.objects.get(pk=old_id))
    t3 = time.perf_counter()
    assert new.status == "completed", new.status
    carried = MatchGroup.objects.filter(run_id=new_id, status="carried_over").count()
    assert carried == new.completion["carried_over"] > 0, (carried, new.completion)
    assert not MatchGroup.objects.filter(run_id=old_id, status="open").exists()
    return {
        "completion_s": t1 - t0,
        "carry_over_s": t2 - t1,
        "batches": new.completion["batches"],
        "carried_over": carried,
        "rewrite_s": t3 - t2,
        "rewritten": rewritten,
    }


def run(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench completion", description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--skip-old", action="store_true", help="only the new way")
    opts = parser.parse_args(args or [])
    _setup_django()
    from django.conf import settings

    _use_database(settings.DATABASES["default"]["NAME"])
    worst = 0
    for n in opts.groups:
        started = time.perf_counter()
        old_id, new_id = _build(n)
        built = time.perf_counter() - started
        print(f"\ncompletion, {n:,} open groups in the previous run, {n:,} new (built in {built:.0f} s)", flush=True)
        if not opts.skip_old:
            from django.db import connection

            old = _old_way(old_id, new_id)
            print(f"  old way: one transaction          {old:8.2f} s")
            figures.record("completion", f"old way, one transaction, {n:,} groups", f"{old:.1f} s")
            with connection.cursor() as cur:
                cur.execute("VACUUM ANALYZE matches_matchgroup")
        new = _new_way(old_id, new_id)
        ok = new["completion_s"] <= TARGET_COMPLETION_S
        worst |= 0 if ok else 1
        load = os.getloadavg()[0]
        print(f"  new way: completion transaction   {new['completion_s']:8.3f} s  (target <= {TARGET_COMPLETION_S} s)")
        carried = f"{new['carried_over']:,} carried in {new['batches']} batches"
        print(f"           carry-over               {new['carry_over_s']:8.2f} s  {carried}")
        print(f"           old rows rewritten       {new['rewrite_s']:8.2f} s  {new['rewritten']:,} rows")
        print(f"  load average {load:.1f}")
        figures.record(
            "completion",
            f"completion transaction, {n:,} groups",
            f"{new['completion_s'] * 1000:.0f} ms",
            f"<= {TARGET_COMPLETION_S * 1000:.0f} ms",
            ok,
        )
        figures.record("completion", f"carry-over in batches, {n:,} groups", f"{new['carry_over_s']:.1f} s")
        figures.record("completion", f"background rewrite, {n:,} groups", f"{new['rewrite_s']:.1f} s")
    return worst


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
