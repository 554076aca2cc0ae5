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
