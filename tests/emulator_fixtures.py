"""Emulator fixtures for tests that talk HTTP to the Customer Profiles stand-in (loaded by tests/conftest.py):
`emulator` (one in-process emulator per session), `emu` (its control client), `emulated_domain` (an emulator domain
and its Matchdesk Domain), `fast_retries` (tiny backoff), `command_env` (environment for a `manage.py` child on the
test database). Helpers: pid, match, generation."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings

from emulator.testing import EmulatorControl, EmulatorThread
from tests.factories import DomainFactory


@pytest.fixture(scope="session")
def emulator():
    """One in-process emulator for the session; tests keep apart by using their own domain names."""
    thread = EmulatorThread()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def emu(emulator) -> EmulatorControl:
    control = EmulatorControl(emulator.url)
    control.clear_faults()
    yield control
    control.clear_faults()


@pytest.fixture
def fast_retries(settings):
    settings.MATCHDESK = {**settings.MATCHDESK, "RETRY_BASE_DELAY": 0.001, "RETRY_MAX_ATTEMPTS": 10}


def pid(n: int | str) -> str:
    """A valid profile id (32 lowercase hex) derived from n."""
    return hashlib.md5(f"profile-{n}".encode()).hexdigest()


def match(n: int, size: int = 2, score: float = 0.8, *, match_id: str | None = None, base: int | None = None) -> dict:
    base = n * 10 if base is None else base
    return {
        "MatchId": match_id or f"m{n:06d}",
        "ProfileIds": [pid(base + i) for i in range(size)],
        "ConfidenceScore": score,
    }


def generation(day: int) -> str:
    return datetime(2026, 1, day, 3, 0, tzinfo=UTC).isoformat()


@pytest.fixture
def emulated_domain(emulator, emu, db):
    """make(items=None, bulk_groups=None, generation=None) -> Domain: an emulator domain and its Matchdesk Domain."""

    def make(*, items: list | None = None, bulk_groups: int | None = None, when: str | None = None, name: str = ""):
        name = name or f"d-{uuid.uuid4().hex[:10]}"
        if bulk_groups is not None:
            emu.create_domain(name, bulk_groups=bulk_groups, seed=11)
        else:
            emu.create_domain(name, run_job=False)
            emu.set_matches(name, items or [], generation=when or generation(1))
        return DomainFactory(name=name, endpoint_url=emulator.url)

    return make


@pytest.fixture
def command_env(transactional_db):
    """Environment for a child process on the test database, with tiny retry delays and a Celery queue of its own
    (dropped afterwards, so the follow-up tasks it queues reach no worker)."""
    from tests.merging import subprocess_env

    queue = f"matchdesk-test-{uuid.uuid4().hex[:10]}"
    env = subprocess_env(CONN_MAX_AGE="0", MATCHDESK_RETRY_BASE_DELAY="0.001", CELERY_QUEUE=queue)
    yield env
    redis.Redis.from_url(settings.REDIS_URL).delete(queue, f"_kombu.binding.{queue}")
