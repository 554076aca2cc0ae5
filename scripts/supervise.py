"""Keep one process running: start it, and start it again whenever it exits, until told to stop.

    python scripts/supervise.py NAME -- COMMAND [ARGS...]

`make demo` runs the web server, the Celery worker and beat under it, so a worker that dies (killed, out of memory, an
unrecoverable error) is back within seconds. The child runs in its own process group; SIGTERM or SIGINT to the
supervisor stops the whole group (SIGTERM first, so Celery finishes its task at hand; SIGKILL after STOP_TIMEOUT) and
then the supervisor exits. Restarts back off from 1 s, doubling to 30 s while the child keeps dying within a minute of
starting, and every start and exit is logged with the time, so the log says when and why a process was restarted.
Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
HEALTHY_AFTER = 60.0  # a child that ran this long resets the backoff
STOP_TIMEOUT = float(os.environ.get("SUPERVISE_STOP_TIMEOUT", "25"))


def say(name: str, text: str) -> None:
    print(f"[{datetime.now(UTC):%Y-%m-%d %H:%M:%S} supervise {name}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    name, command = argv[0], argv[2:]
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = BACKOFF_FIRST
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(command, start_new_session=True)
        say(name, f"started pid {child.pid}")
        while child.poll() is None:
            try:
                child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if stopping:
                try:
                    child.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    say(name, f"pid {child.pid} still running {STOP_TIMEOUT:.0f} s after SIGTERM: SIGKILL")
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
        code = child.returncode
        if stopping:
            say(name, f"stopped (exit {code})")
            break
        ran = time.monotonic() - started
        backoff = BACKOFF_FIRST if ran >= HEALTHY_AFTER else backoff
        say(name, f"pid {child.pid} exited with {code} after {ran:.0f} s; restarting in {backoff:.0f} s")
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        backoff = min(backoff * 2, BACKOFF_MAX)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
