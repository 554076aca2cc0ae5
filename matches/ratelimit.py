"""Per-domain limit on MergeProfiles calls shared by every worker: at most N calls in any one-second window.

A sorted set in Redis holds one member per call; its score is Redis' own clock (so workers' clocks do not matter).
While a call is in flight its member is scored far in the future (it holds its slot); when the call returns, the
member is re-scored with the time it returned. A new call may start only when fewer than N members scored within the
last second remain, so the *arrival* of every call at AWS (between its start and its return) is at least one second
after the arrival of the call N places before it, whatever the network latency.

Redis errors (ConnectionError, TimeoutError) reach the caller before a call is sent; the merge executor defers the
job for them. After a call, releasing its slot is best effort: an unreleased slot only expires late (the limit errs
on the safe side), and the call's outcome must not be lost to a Redis hiccup.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from django.conf import settings

log = logging.getLogger(__name__)

WINDOW_US = 1_000_000
# A worker must not hang on an unreachable Redis: fail fast and let the caller defer.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0

# KEYS[1] the domain's set; ARGV: limit, window (us), member, hold (us, how long an unanswered call keeps its slot).
# Returns 0 when the slot is taken, otherwise the microseconds until the oldest slot frees.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil((hold + window) / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# Re-score a finished call with the time it returned (only if its member is still there).
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return now
"""


class RateLimitTimeout(Exception):
    """No slot became free within the caller's patience."""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork and reconnects, so one client per process is safe under Celery's prefork pool.
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT)


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def _key(name: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "matchdesk"
    return f"{prefix}:merge-rate:{name}"


def _hold_us() -> int:
    seconds = settings.MATCHDESK["AWS_CONNECT_TIMEOUT"] + settings.MATCHDESK["AWS_READ_TIMEOUT"] + 5
    return int(seconds * 1_000_000)


@contextmanager
def merge_call_slot(*, domain_name: str, per_second: int, patience: float = 60.0) -> Iterator[None]:
    """Block until this domain has a free MergeProfiles slot, hold it for the call, release it when the call returns."""
    client = _redis()
    key = _key(domain_name)
    member = uuid.uuid4().hex
    deadline = time.monotonic() + patience
    while True:
        wait_us = int(client.eval(_ACQUIRE, 1, key, max(1, per_second), WINDOW_US, member, _hold_us()))
        if wait_us == 0:
            break
        if time.monotonic() >= deadline:
            raise RateLimitTimeout(f"no MergeProfiles slot for domain '{domain_name}' within {patience:.0f} s")
        # A little jitter so that waiting workers do not all ask again in the same millisecond.
        time.sleep(min(wait_us / 1_000_000, 1.0) + random.uniform(0, 0.01))
    try:
        yield
    finally:
        try:
            client.eval(_RELEASE, 1, key, member)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("could not release MergeProfiles slot for %s (it expires on its own): %s", domain_name, exc)


def merge_calls_in_window(*, domain_name: str) -> int:
    """How many MergeProfiles calls hold a slot in this domain right now (for the admin page and tests)."""
    client = _redis()
    now_s, now_us = client.time()
    now = now_s * 1_000_000 + now_us
    return int(client.zcount(_key(domain_name), now - WINDOW_US, "+inf"))
