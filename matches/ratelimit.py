"""Per-domain, per-operation limits on AWS calls shared by every worker: at most N calls in any one-second window.

One limiter per (domain, operation): MergeProfiles (the domain's `merge_rate_per_second`), and the reads (GetMatches,
BatchGetProfile, ListProfileHistoryRecords, the identity-resolution job calls, S3 ListObjectsV2/GetObject) at
DEFAULT_RATES unless the domain's `aws_rates` says otherwise (`rate_for`). AWS publishes no per-API request rates for
these Customer Profiles operations (docs/scaling.md, "Calls to AWS"): the defaults are deliberately modest guesses,
and throttling is still retried with backoff.

A sorted set in Redis holds one member per call; its score is Redis' own clock (so workers' clocks do not matter).
While a call is in flight its member is scored far in the future (it holds its slot); when the call returns, the
member is re-scored with the time it returned. A new call may start only when fewer than N members scored within the
last second remain, so the *arrival* of every call at AWS (between its start and its return) is at least one second
after the arrival of the call N places before it, whatever the network latency.

Redis errors (ConnectionError, TimeoutError) reach the caller before a call is sent; the merge executor defers the
job for them. Reads pass `fail_open=True`: without Redis they go unlimited (AWS's throttling, retried with backoff,
is the backstop), so a pull never stops for the limiter. After a call, releasing its slot is best effort: an
unreleased slot only expires late (the limit errs on the safe side), and the call's outcome must not be lost to a
Redis hiccup.
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


MERGE = "MergeProfiles"
# Calls per second per domain when the domain sets none (AWS publishes no per-API rates for these operations).
DEFAULT_RATES: dict[str, int] = {
    "GetMatches": 5,
    "ListRuleBasedMatches": 5,
    "GetSimilarProfiles": 10,  # the rule-based pull reads one match per call
    "BatchGetProfile": 10,
    "ListProfileHistoryRecords": 10,
    "GetIdentityResolutionJob": 5,
    "ListIdentityResolutionJobs": 5,
    "S3": 100,  # ListObjectsV2 and GetObject: S3 documents 5,500 GET per second per prefix
}
MAX_RATE = 1000


def rate_for(*, operation: str, merge_rate: int, overrides: dict[str, object] | None) -> int:
    """The calls per second a domain allows an operation: its own `aws_rates` entry, else the default."""
    value = (overrides or {}).get(operation)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RATE:
        return value
    if operation == MERGE:
        return merge_rate
    return DEFAULT_RATES.get(operation, 5)


def _key(name: str, operation: str = MERGE) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "matchdesk"
    if operation == MERGE:
        return f"{prefix}:merge-rate:{name}"  # the key the merge limiter always had
    return f"{prefix}:rate:{operation}:{name}"


def _hold_us() -> int:
    seconds = settings.MATCHDESK["AWS_CONNECT_TIMEOUT"] + settings.MATCHDESK["AWS_READ_TIMEOUT"] + 5
    return int(seconds * 1_000_000)


@contextmanager
def merge_call_slot(*, domain_name: str, per_second: int, patience: float = 60.0) -> Iterator[None]:
    """Block until this domain has a free MergeProfiles slot, hold it for the call, release it when the call returns."""
    with call_slot(operation=MERGE, domain_name=domain_name, per_second=per_second, patience=patience):
        yield


@contextmanager
def call_slot(
    *, operation: str, domain_name: str, per_second: int, patience: float = 60.0, fail_open: bool = False
) -> Iterator[None]:
    """Block until this domain has a free slot for `operation`, hold it for the call, release it when it returns.
    With `fail_open`, a Redis that cannot be reached lets the call go unlimited (logged) instead of raising."""
    client = _redis()
    key = _key(domain_name, operation)
    member = uuid.uuid4().hex
    deadline = time.monotonic() + patience
    while True:
        try:
            wait_us = int(client.eval(_ACQUIRE, 1, key, max(1, per_second), WINDOW_US, member, _hold_us()))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not fail_open:
                raise
            log.warning("rate limiter unreachable; %s for %s goes unlimited: %s", operation, domain_name, exc)
            yield
            return
        if wait_us == 0:
            break
        if time.monotonic() >= deadline:
            raise RateLimitTimeout(f"no {operation} slot for domain '{domain_name}' within {patience:.0f} s")
        # A little jitter so that waiting workers do not all ask again in the same millisecond.
        time.sleep(min(wait_us / 1_000_000, 1.0) + random.uniform(0, 0.01))
    try:
        yield
    finally:
        try:
            client.eval(_RELEASE, 1, key, member)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("could not release %s slot for %s (it expires on its own): %s", operation, domain_name, exc)


def merge_calls_in_window(*, domain_name: str) -> int:
    """How many MergeProfiles calls hold a slot in this domain right now (for the admin page and tests)."""
    return calls_in_window(domain_name=domain_name, operation=MERGE)


def calls_in_window(*, domain_name: str, operation: str) -> int:
    """How many calls of `operation` hold a slot in this domain right now."""
    client = _redis()
    now_s, now_us = client.time()
    now = now_s * 1_000_000 + now_us
    return int(client.zcount(_key(domain_name, operation), now - WINDOW_US, "+inf"))
