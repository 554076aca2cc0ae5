"""The fault suite's stack, started once per session: its own Postgres and redis-server (free ports, temporary
folders), the in-process emulator, gunicorn, and a Celery worker and beat each under scripts/supervise.py, as
`make demo` runs them. Select it with `-m faults`; it never touches the shared Postgres (5432) or Redis (6379)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from emulator.testing import EmulatorControl, EmulatorThread
from tests.faults.servers import ROOT, Child, PostgresServer, RedisServer, celery_args, free_port, wait_port

DB_NAME = "matchdesk_faults"
QUEUE = "matchdesk-faults"


def pytest_configure(config):
    config.addinivalue_line("markers", "faults: infrastructure faults against the suite's own Postgres and Redis")


def pytest_collection_modifyitems(items):
    """Every test on the fault stack is `faults` (and `slow`): `-m faults` selects the suite."""
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).is_relative_to(here) and "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.slow)


@dataclass
class Stack:
    workdir: Path
    pg: PostgresServer
    redis: RedisServer
    emulator: EmulatorThread
    env: dict[str, str]
    web_url: str = ""
    web: Child | None = None
    worker: Child | None = None
    beat: Child | None = None
    children: list[Child] = field(default_factory=list)

    @property
    def ctl(self) -> EmulatorControl:
        return EmulatorControl(self.emulator.url)

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.pg.url(DB_NAME), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def manage(self, *args: str, timeout: float = 300) -> str:
        command = [sys.executable, "manage.py", *args]
        out = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if out.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def seed(self, name: str, *, groups: int, stewards: int) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "tests.faults.seed", self.emulator.url, name, str(groups), str(stewards)],
            cwd=ROOT,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "reviewapp.settings"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("SEED=")), None)
        if line is None:
            raise RuntimeError(f"seed failed:\n{out.stdout}\n{out.stderr}")
        return json.loads(line[5:])

    def supervised(self, name: str, args: list[str]) -> Child:
        child = Child(name, [sys.executable, "scripts/supervise.py", name, "--", *args], self.env, self.workdir)
        self.children.append(child)
        return child.start()

    def supervised_pid(self, child: Child) -> int:
        """The pid of the process the supervisor runs now (its latest "started pid N")."""
        lines = [x for x in child.log().splitlines() if "supervise" in x and "started pid" in x]
        return int(lines[-1].rsplit(" ", 1)[1])

    def supervised_restarts(self, child: Child) -> int:
        return sum(1 for x in child.log().splitlines() if "supervise" in x and "restarting in" in x)


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def stack(tmp_path_factory, emulator: EmulatorThread) -> Iterator[Stack]:
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("faults")
    os.chmod(workdir, 0o755)
    pg = PostgresServer().init().start()
    pg.createdb(DB_NAME)
    redis = RedisServer(workdir).start()
    env = {
        **os.environ,
        "READ_DOT_ENV": "false",
        "SECRET_KEY": "faults-secret-key-not-for-production-0123456789abcdef",
        "AUDIT_HMAC_KEY": "faults-audit-key",
        "DATABASE_URL": pg.url(DB_NAME),
        "REDIS_URL": redis.url(0),
        "CELERY_QUEUE": QUEUE,
        "CACHE_KEY_PREFIX": "faults",
        "DEBUG": "false",
        "SECURE": "false",
        "MANIFEST_STATIC": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "60",
        "AWS_ACCESS_KEY_ID": "emulator",
        "AWS_SECRET_ACCESS_KEY": "emulator",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Short waits so that recovery fits in a test: a running job whose worker died is resumed after 10 s.
        "MATCHDESK_MERGE_STALE_SECONDS": "10",
        "MATCHDESK_MERGE_RECHECK_DELAY": "0.5",
        "MATCHDESK_MERGE_BACKOFF_BASE": "1",
        "MATCHDESK_MERGE_BACKOFF_MAX": "5",
        "MATCHDESK_HEARTBEAT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    s = Stack(workdir=workdir, pg=pg, redis=redis, emulator=emulator, env=env)
    try:
        s.manage("migrate", "--noinput", "-v", "0")
        port = free_port()
        s.web_url = f"http://127.0.0.1:{port}"
        s.web = s.supervised(
            "web",
            [sys.executable, "-m", "gunicorn", "reviewapp.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3",
             "--timeout", "60", "--access-logfile", "-"],
        )  # fmt: skip
        # The worker as `make demo` and docker-compose run it: gossip, mingle and remote control on.
        s.worker = s.supervised(
            "worker", celery_args("worker", "--concurrency", "2", "--loglevel", "INFO", "--hostname", "faults@%h")
        )
        s.beat = s.supervised("beat", celery_args("beat", "--loglevel", "INFO"))
        wait_port(port, 60)
        _wait_http(f"{s.web_url}/login/")
        s.worker.wait_log(" ready.", 90)
        s.beat.wait_log("beat: Starting", 60)
        print(f"\nfault stack up in {time.monotonic() - started:.1f} s: {workdir}")
        yield s
    finally:
        for child in reversed(s.children):
            child.stop()
        if redis.running:
            redis.stop()
        try:
            pg.stop()
        except subprocess.CalledProcessError:
            pass
        pg.remove()
