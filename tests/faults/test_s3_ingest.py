"""Issue 16, item 1, "Done when": a worker killed -9 in the middle of an S3 export object; the next worker resumes
it from its checkpoint, and the run ends with exactly the rows of an uninterrupted ingestion. Short (well under a
minute): the ingesting worker is a `manage.py shell` child on the test database, not the fault stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matches.models import ExportObject, MatchGroup, MatchRun, QuarantinedMatch, RunScoreBin
from matches.services import enqueue
from matches.services.pulls import pull_domain
from matches.services.pulls.s3 import export_object_ingest
from tests.emulator_fixtures import match

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.usefixtures("fast_retries")]


def rows(run: MatchRun) -> dict:
    return {
        "groups": {
            (m, tuple(p), s)
            for m, p, s in MatchGroup.objects.filter(run=run).values_list("match_id", "profile_ids", "confidence_score")
        },
        "quarantine": set(QuarantinedMatch.objects.filter(run=run).values_list("raw_hash", "page")),
        "bins": set(RunScoreBin.objects.filter(run=run).values_list("bin", "total", "open")),
        "counters": (run.status, run.pages, run.groups_seen, run.groups_stored, run.quarantined),
    }


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_object_is_resumed_from_its_checkpoint_exactly_once(
    s3_domain, command_env, moto_s3, monkeypatch
):
    items = [match(i, size=2 + i % 3, score=(i % 89) / 89) for i in range(12000)]
    items.insert(7000, {"MatchId": "bad", "ProfileIds": ["x"], "ConfidenceScore": 2})
    killed, twin = s3_domain(items, parts=2), s3_domain(items, parts=2)
    queued: list[int] = []
    monkeypatch.setattr(enqueue, "s3_objects", lambda *, object_ids: queued.extend(object_ids))
    run_id = pull_domain(domain=killed).run_id
    first, second = queued

    env = {**command_env, "MATCHDESK_S3_ENDPOINT_URL": moto_s3.url, "MATCHDESK_S3_RECORDS_PER_TRANSACTION": "100"}
    code = f"from matches.services.pulls.s3 import export_object_ingest as go; go(object_id={first})"
    child = subprocess.Popen([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while not ExportObject.objects.filter(pk=first, records_done__gte=500).exists():
        assert child.poll() is None, "the worker ended before it was killed"
        assert time.monotonic() < deadline, "no checkpoint was committed in time"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    cut = ExportObject.objects.get(pk=first)
    assert cut.status == "claimed" and 500 <= cut.records_done < 6000

    # The next worker: the dead one's advisory lock goes with its connection (as soon as Postgres sees the socket
    # closed), then it takes the object over; until then it finds the object held and leaves it (its task retries).
    outcome = export_object_ingest(object_id=first)
    while outcome == "held":
        assert time.monotonic() < deadline + 30, "the killed worker's lock was never released"
        time.sleep(0.1)
        outcome = export_object_ingest(object_id=first)
    assert outcome == "done"
    assert export_object_ingest(object_id=second) == "done"
    twin_ids: list[int] = []
    monkeypatch.setattr(enqueue, "s3_objects", lambda *, object_ids: twin_ids.extend(object_ids))
    twin_run = pull_domain(domain=twin).run_id
    for object_id in twin_ids:
        export_object_ingest(object_id=object_id)

    run = MatchRun.objects.get(pk=run_id)
    assert ExportObject.objects.get(pk=first).attempts == 2
    assert rows(run) == rows(MatchRun.objects.get(pk=twin_run))
    assert rows(run)["counters"] == ("completed", 2, 12001, 12000, 1)
    assert run.reconciliation["ok"] is True
