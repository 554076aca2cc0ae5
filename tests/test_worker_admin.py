"""Real Celery worker and beat processes against this test's database: heartbeats and a background bulk job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from matches.models import BulkJob, Decision, Heartbeat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path) -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "MATCHDESK_HEARTBEAT_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "reviewapp", *args], cwd=ROOT, env=env, stdout=handle, stderr=handle
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(predicate, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    tails = "\n".join(f"--- {p.name}\n" + p.read_text()[-3000:] for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@pytest.fixture
def worker(tmp_path, celery_queue):
    log = tmp_path / "worker.log"
    proc = _start(
        ["worker", "--pool=solo", "--without-gossip", "--without-mingle", f"--hostname=admintest-{os.getpid()}@%h"],
        _env(tmp_path),
        log,
    )
    yield log
    _stop(proc)


def test_worker_and_beat_heartbeats_arrive_with_beat_send_time(worker, tmp_path):
    beat_log = tmp_path / "beat.log"
    beat = _start(["beat", "--schedule", str(tmp_path / "beat-schedule"), "--max-interval=1"], _env(tmp_path), beat_log)
    started = timezone.now()
    try:
        _wait(
            lambda: (
                Heartbeat.objects.filter(kind="beat", last_seen__gte=started).exists()
                and Heartbeat.objects.filter(kind="worker", last_seen__gte=started).exists()
            ),
            90,
            "heartbeats from beat and the worker",
            [worker, beat_log],
        )
    finally:
        _stop(beat)
    beat_hb = Heartbeat.objects.get(kind="beat")
    worker_hb = Heartbeat.objects.get(kind="worker")
    assert worker_hb.name == f"worker:admintest-{os.getpid()}@" + worker_hb.name.split("@", 1)[1]
    # Beat stamped the time it sent the task; the worker processed it a little later.
    assert beat_hb.last_seen <= worker_hb.last_seen
    assert 0 <= beat_hb.details["lag_seconds"] < 30


def test_a_large_bulk_reject_runs_in_the_worker_with_progress(worker, admin, monkeypatch):
    from matches.services import bulk
    from tests.admin_helpers import bulk_evidence, bulk_run
    from tests.factories import DomainFactory

    domain = DomainFactory(name="bulky")
    run = bulk_run(domain, [0.1 + i * 0.0001 for i in range(260)])
    bulk_evidence(run, admin, queues=["reject"])
    job = bulk.bulk_job_create(actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk)
    assert job.total == 260 > bulk.INLINE_LIMIT
    _wait(lambda: BulkJob.objects.get(pk=job.pk).status == "done", 120, "the bulk job", [worker])
    job.refresh_from_db()
    assert (job.done, job.skipped) == (260, 0)
    assert Decision.objects.filter(bulk=True, action="reject").count() == 260
