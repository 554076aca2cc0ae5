"""Fixtures for the emulator's tests. No Django: run with `pytest -p no:django tests/emulator`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.testing import EmulatorControl, EmulatorThread, boto_client


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorThread]:
    with EmulatorThread() as srv:
        yield srv


@pytest.fixture
def ctl(server: EmulatorThread) -> Iterator[EmulatorControl]:
    control = EmulatorControl(server.url)
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def client(server: EmulatorThread, ctl: EmulatorControl) -> Any:
    return boto_client(server.url)


@pytest.fixture
def small(ctl: EmulatorControl) -> dict[str, Any]:
    """A generated domain big enough to have groups of every kind, small enough to build in a blink."""
    return ctl.create_domain("small", seed=3, customers=150)


class Raw:
    """Plain HTTP, to send what boto3's client-side validation would never let through."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


@pytest.fixture
def raw(server: EmulatorThread, ctl: EmulatorControl) -> Raw:
    return Raw(server.url)
