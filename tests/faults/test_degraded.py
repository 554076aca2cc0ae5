"""What needs Redis degrades instead of failing: the cache reads as a miss and drops writes, and a broker that is away
costs a request little time before the on-commit hand-off gives up (the sweeps are the backstop)."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from django.conf import settings
from kombu import Connection

from reviewapp.cache import TolerantRedisCache
from tests.faults.servers import free_port


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there: connections are refused at once


@pytest.fixture
def silent_port():
    """A server that accepts connections and never answers, like a paused Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for s in held:
        s.close()
    server.close()


def tolerant_cache(port: int) -> TolerantRedisCache:
    options = settings.CACHES["default"]["OPTIONS"]
    return TolerantRedisCache(f"redis://127.0.0.1:{port}/0", {"KEY_PREFIX": "t", "OPTIONS": options})


@pytest.mark.parametrize("which", ["closed_port", "silent_port"])
def test_an_unreachable_cache_is_a_miss_and_drops_writes(request, which, caplog, monkeypatch):
    monkeypatch.setattr("reviewapp.cache._last_warning", None)  # the warning is throttled per process
    cache = tolerant_cache(request.getfixturevalue(which))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="reviewapp.cache"):
        assert cache.get("k", "fallback") == "fallback"
        assert cache.set("k", 1) is None
        assert cache.add("k", 1) is False
        assert cache.delete("k") is False
        assert cache.get_many(["a", "b"]) == {}
        assert cache.set_many({"a": 1}) == ["a"]
        assert cache.get_or_set("k", 5) == 5
    assert time.monotonic() - started < 20  # seven calls; a silent server costs the 1 s socket timeout each
    assert "cache unavailable" in caplog.text


def test_the_configured_cache_is_the_tolerant_one():
    from django.core.cache import caches

    assert isinstance(caches["default"], TolerantRedisCache)
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


@pytest.mark.parametrize("which, within", [("closed_port", 1.5), ("silent_port", 6.0)])
def test_publishing_to_a_broker_that_is_away_gives_up_quickly(request, which, within):
    """What a request waits, after its commit, when the broker is away: refused at once, or silent (a paused Redis)."""
    from reviewapp.celery import app

    url = f"redis://127.0.0.1:{request.getfixturevalue(which)}/0"
    started = time.monotonic()
    with Connection(url, transport=settings.CELERY_BROKER_TRANSPORT) as conn:
        conn.transport_options.update(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        with pytest.raises(Exception):  # noqa: B017  (kombu's OperationalError; the hand-off logs it and moves on)
            app.send_task("matches.tasks.heartbeat", connection=conn)
    took = time.monotonic() - started
    print(f"\npublish to a {which.replace('_', ' ')} gave up after {took:.2f} s")
    assert took < within
