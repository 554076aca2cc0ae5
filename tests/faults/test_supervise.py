"""scripts/supervise.py, which `make demo` runs web, worker and beat under: a child that dies is started again, and
stopping the supervisor stops its child first (what `make stop` relies on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(600)"


def started_pids(log: Path) -> list[int]:
    return [int(x.rsplit(" ", 1)[1]) for x in log.read_text().splitlines() if "started pid" in x]


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_child_is_restarted_and_stopping_the_supervisor_stops_the_child(tmp_path):
    log = tmp_path / "supervise.log"
    with open(log, "w") as out:
        sup = subprocess.Popen(
            [sys.executable, "scripts/supervise.py", "demo", "--", sys.executable, "-c", CHILD],
            cwd=ROOT, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: len(started_pids(log)) == 1)
        first = started_pids(log)[0]
        os.killpg(first, signal.SIGKILL)  # the child and anything it started, as a kill -9 or the OOM killer would
        wait_for(lambda: len(started_pids(log)) == 2)
        second = started_pids(log)[1]
        assert second != first
        assert "exited with -9" in log.read_text()
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(30) == 0
        wait_for(lambda: _gone(second))
        assert "stopped (exit" in log.read_text()  # the child got SIGTERM (handled or not) before the supervisor left
    finally:
        if sup.poll() is None:
            sup.kill()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
