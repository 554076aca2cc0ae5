"""A real Celery worker (a child process) working on this test's database: for behaviour that depends on Celery
(eta tasks, the periodic sweep). Use with `django_db(transaction=True)` so the worker sees committed rows."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class CeleryWorker:
    def __init__(self, env: dict[str, str], concurrency: int = 2) -> None:
        self.args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewapp",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname=test-{time.monotonic_ns()}@%h",
        ]
        self.env = env
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        ready: queue.Queue[bool] = queue.Queue()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if " ready." in line:
                    ready.put(True)
            ready.put(False)

        threading.Thread(target=pump, daemon=True).start()
        try:
            ok = ready.get(timeout=timeout)
        except queue.Empty:
            ok = False
        if not ok:
            self.stop()
            raise RuntimeError("celery worker did not start:\n" + "".join(self.lines[-40:]))
        return self

    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the task at hand
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[CeleryWorker]:
    """A worker on this helper's queue, emptied first so that tasks left by earlier tests do not run."""
    from reviewapp.celery import app
    from tests.merging import subprocess_env

    app.control.purge()
    worker = CeleryWorker(subprocess_env())
    worker.start()
    yield worker
    worker.stop()
