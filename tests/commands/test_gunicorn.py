"""The web as production and `make demo` run it: gunicorn with the project's gunicorn.conf.py, static files served by
WhiteNoise (issue 17, "Operations"). A real gunicorn on a free port, fetched over HTTP, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.own_redis import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited {proc.returncode}\n{log.read_text()[-3000:]}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"gunicorn did not answer {url}\n{log.read_text()[-3000:]}")


@pytest.fixture
def gunicorn(tmp_path):
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    port = free_port()
    env = {
        **os.environ,
        "READ_DOT_ENV": "false",
        "DEBUG": "true",  # as the demo's .env has it; WhiteNoise serves the static files either way
        "SECRET_KEY": "gunicorn-test",
        "AUDIT_HMAC_KEY": "gunicorn-test",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
    }
    (tmp_path / "prometheus").mkdir()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "reviewapp.wsgi", "--config", "gunicorn.conf.py", "--bind",
             f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=handle, stderr=handle, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(f"{url}/healthz", proc, log)
        yield url, proc, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_gunicorn_serves_the_site_and_its_static_files_and_stops_on_sigterm(gunicorn):
    url, proc, log = gunicorn
    status, headers, body = _get(f"{url}/healthz")
    assert status == 200 and headers["server"].startswith("gunicorn")
    status, _, login = _get(f"{url}/login/")
    assert status == 200
    # Every script and stylesheet the login page names is served, byte for byte the file in static/.
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', login.decode())
    assert any(a.endswith("app.css") for a in assets) and any("htmx" in a for a in assets)
    for asset in assets:
        status, headers, content = _get(f"{url}{asset}")
        assert status == 200, asset
        assert content == (ROOT / "static" / asset.removeprefix("/static/")).read_bytes(), asset
        kind = "text/css" if asset.endswith(".css") else "text/javascript"
        assert headers["content-type"].startswith(kind), asset
    assert "request_id=" in log.read_text()  # gunicorn.conf.py's access log line
    workers = [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", log.read_text())]
    assert len(workers) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "Shutting down: Master" in log.read_text()
    for pid in workers:  # no worker left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
