"""Real processes against the test database: a Celery worker (`celery_worker`) and the environment for
`manage.py` subprocesses (`subprocess_env`). Both need `transactional_db` data: what the test commits is what they see.

    def test_x(celery_worker):
        my_task.apply_async(args=[...], queue=celery_worker.queue)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60


def test_database_url() -> str:
    """DATABASE_URL of the database this test session runs against (test_<name>)."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False  # not a test


def _drop_queue(name: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(name, f"_kombu.binding.{name}")


@pytest.fixture
def subprocess_env(transactional_db):
    """Environment for a child process on the test database, with tiny retry delays and its own Celery queue
    (dropped afterwards, so follow-up tasks it queues cannot reach anyone else's worker)."""
    queue = f"matchdesk-test-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CONN_MAX_AGE": "0",
        "MATCHDESK_RETRY_BASE_DELAY": "0.001",
        "CELERY_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
    }
    yield env
    _drop_queue(queue)


@dataclass
class Worker:
    queue: str
    proc: subprocess.Popen
    logfile: Path

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited ({self.proc.returncode}):\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not in the worker log after {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)


@pytest.fixture
def celery_worker(subprocess_env):
    """A real `celery -A reviewapp worker --pool solo` on its own queue (also its default queue, so tasks it queues
    itself come back to it), against the test database and Redis. Yields once the worker is ready; killed after."""
    queue = subprocess_env["CELERY_QUEUE"]
    logdir = Path(tempfile.mkdtemp(prefix="celery-worker-"))
    logfile = logdir / "worker.log"
    with logfile.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "reviewapp",
                "worker",
                "--pool",
                "solo",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=subprocess_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(queue=queue, proc=proc, logfile=logfile)
    try:
        worker.wait_for(" ready.", timeout=READY_TIMEOUT)
        yield worker
    finally:
        if proc.poll() is None:
            # Cold shutdown: a warm one waits on the broker connection for several seconds.
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(logdir, ignore_errors=True)
