"""moto's S3 server as a real HTTP endpoint for S3 ingestion (loaded by tests/conftest.py): `moto_s3` (one
`moto_server` subprocess per session, on a free port), `s3_settings` (Matchdesk pointed at it), and
`s3_domain(items, format=, parts=)` (an emulator domain that exports its job's results there, and its Domain)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import DomainFactory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoS3:
    """`moto_server -H 127.0.0.1 -p PORT` as a child process."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> MotoS3:
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "moto_server exited at start"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("moto_server did not open its port")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_settings(settings, moto_s3):
    settings.MATCHDESK = {**settings.MATCHDESK, "S3_ENDPOINT_URL": moto_s3.url}
    return settings


@pytest.fixture
def s3_domain(emulator, emu, moto_s3, s3_settings, db):
    """make(items, format="jsonl.gz", parts=3, name="") -> Domain reading its results from S3."""

    def make(items: list, *, format: str = "jsonl.gz", parts: int = 3, name: str = "", **fields):
        name = name or f"s3-{uuid.uuid4().hex[:10]}"
        emu.create_domain(
            name,
            run_job=False,
            exporting={"S3Exporting": {"S3BucketName": "matchdesk-exports", "S3KeyName": name}},
            export={"endpoint_url": moto_s3.url, "format": format, "parts": parts},
        )
        emu.set_matches(name, items)
        return DomainFactory(name=name, endpoint_url=emulator.url, results_source="s3", **fields)

    return make


class FaultyS3:
    """A real HTTP hop in front of moto's S3 that answers some requests as S3 does when it is unwell: every
    `fail_every`-th request a 503 SlowDown or a 500 InternalError (alternating), and every `cut_every`-th object body
    cut in the middle (the connection closes before Content-Length bytes): the faults the client must survive."""

    def __init__(self, upstream: str, *, fail_every: int = 0, cut_every: int = 0) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        self.fail_every, self.cut_every = fail_every, cut_every
        self.requests = self.failed = self.cut = 0
        lock = threading.Lock()
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    proxy.requests += 1
                    n = proxy.requests
                if proxy.fail_every and n % proxy.fail_every == 0:
                    with lock:
                        proxy.failed += 1
                    code, status = ("SlowDown", 503) if proxy.failed % 2 else ("InternalError", 500)
                    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>"
                    self._send(status, {"Content-Type": "application/xml"}, xml.encode())
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                out = {k: v for k, v in resp.getheaders() if k.lower() not in ("connection", "transfer-encoding")}
                out["Content-Length"] = str(len(data))
                is_object = self.command == "GET" and "list-type" not in self.path and len(data) > 64
                if is_object and proxy.cut_every and n % proxy.cut_every == 0 and resp.status == 200:
                    with lock:
                        proxy.cut += 1
                    self._send(resp.status, out, data[: len(data) // 2], close=True)
                    return
                self._send(resp.status, out, data)

            def _send(self, status: int, headers: dict, data: bytes, close: bool = False) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("server", "date"):
                        self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(data)))
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                if close:
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_s3(moto_s3, settings):
    """make(fail_every=, cut_every=) -> FaultyS3, with Matchdesk reading S3 through it (the emulator writes to moto)."""
    made: list[FaultyS3] = []

    def make(**faults) -> FaultyS3:
        proxy = FaultyS3(moto_s3.url, **faults)
        made.append(proxy)
        settings.MATCHDESK = {**settings.MATCHDESK, "S3_ENDPOINT_URL": proxy.url}
        return proxy

    yield make
    for proxy in made:
        proxy.stop()
