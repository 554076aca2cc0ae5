"""`manage.py pull_matches NAME` (contract): exit codes, progress on stderr, and a SIGKILLed pull that resumes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from matches.models import MatchGroup, MatchRun, QuarantinedMatch, RunScoreBin
from matches.services.pulls import PULL_LOCK_CLASS, pull_domain
from tests.emulator_fixtures import match

ROOT = Path(__file__).resolve().parents[2]


def pull_command(name: str, env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "pull_matches", name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def run_command(name: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "pull_matches", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def interrupted_id(domain) -> int:
    return MatchRun.objects.get(domain=domain).pk


def snapshot(run: MatchRun) -> dict:
    return {
        "groups": {
            (m, tuple(p), s, k, z, st)
            for m, p, s, k, z, st in MatchGroup.objects.filter(run=run).values_list(
                "match_id", "profile_ids", "confidence_score", "profile_set_key", "size", "status"
            )
        },
        "quarantine": set(QuarantinedMatch.objects.filter(run=run).values_list("raw_hash", "reason", "page")),
        "bins": set(RunScoreBin.objects.filter(run=run).values_list("bin", "total", "open")),
        "counters": (run.status, run.pages, run.groups_seen, run.groups_stored, run.quarantined, run.potential_matches),
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_pull_killed_part_way_resumes_to_exactly_the_rows_of_an_uninterrupted_pull(emu, emulated_domain, command_env):
    items = [match(i, size=2 + i % 3, score=(i % 997) / 997) for i in range(8000)]
    for at in range(150, 8000, 1000):  # bad items and duplicates spread over the pages
        items.insert(at, {"MatchId": f"bad-{at}", "ProfileIds": ["nope"], "ConfidenceScore": 0.5})
        items.insert(at + 1, {**items[at - 100], "ConfidenceScore": 0.01})
    killed, twin = emulated_domain(items=items), emulated_domain(items=items)
    emu.set_faults(latency_ms=25, operations=["GetMatches"])

    proc = pull_command(killed.name, command_env)
    deadline = time.monotonic() + 60
    while not MatchRun.objects.filter(domain=killed, pages__gte=20).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint was committed in time"
        time.sleep(0.05)
    # Progress is written just after each checkpoint commits: wait for the next checkpoint, so that the one seen
    # above has surely been reported before the kill (under load the kill could fall between commit and write).
    seen = MatchRun.objects.get(domain=killed).pages
    while not MatchRun.objects.filter(domain=killed, pages__gt=seen).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no second checkpoint was committed in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert re.search(rf"run {interrupted_id(killed)}: \d+ pages, \d+/8016 groups received", stderr)  # progress
    interrupted = MatchRun.objects.get(domain=killed)
    assert interrupted.status == "running" and 20 <= interrupted.pages < 81 and interrupted.next_token
    partial = MatchGroup.objects.filter(run=interrupted).count()
    assert 0 < partial < 8000

    emu.clear_faults()
    resumed = run_command(killed.name, command_env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {interrupted.pk} completed (resumed)" in resumed.stdout

    reference = pull_domain(domain=twin)
    run = MatchRun.objects.get(domain=killed)
    assert run.pk == interrupted.pk and run.restarts == 0
    mine, theirs = snapshot(run), snapshot(MatchRun.objects.get(pk=reference.run_id))
    assert mine == theirs
    assert mine["counters"] == ("completed", 81, 8016, 8000, 16, 8016)
    assert RunScoreBin.objects.filter(run=run).aggregate(n=Sum("total"))["n"] == 8000


@pytest.mark.django_db(transaction=True)
def test_exit_zero_on_success_and_on_no_new_results(emulated_domain, command_env):
    domain = emulated_domain(items=[match(i) for i in range(150)])

    first = run_command(domain.name, command_env)
    again = run_command(domain.name, command_env)

    assert first.returncode == 0 and "150 groups stored" in first.stdout
    assert "2 pages" in first.stderr
    assert again.returncode == 0 and "no new results" in again.stdout
    assert MatchRun.objects.filter(domain=domain).count() == 1


@pytest.mark.django_db(transaction=True)
def test_exit_non_zero_with_the_reason_on_failure(emu, emulated_domain, command_env):
    domain = emulated_domain(items=[match(1)])
    emu.set_faults(access_denied=True, operations=["GetMatches"])

    result = run_command(domain.name, command_env)

    assert result.returncode != 0
    assert "AccessDeniedException" in result.stderr and "not authorized" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_exit_non_zero_when_a_pull_is_already_running(emulated_domain, command_env):
    domain = emulated_domain(items=[match(1)])
    run = MatchRun.objects.create(domain=domain, status="running")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [PULL_LOCK_CLASS, domain.pk])
    try:
        result = run_command(domain.name, command_env)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [PULL_LOCK_CLASS, domain.pk])

    assert result.returncode != 0
    assert f"already running for {domain.name} (run {run.pk}" in result.stderr


def test_an_unknown_domain_is_named(db):
    with pytest.raises(CommandError, match="No domain named 'nope'"):
        call_command("pull_matches", "nope")
