"""Counters shared by every web and worker process: a Redis hash per counter, read by the /metrics collector.

prometheus_client's own counters live in one process's memory; AWS errors and merge outcomes happen in Celery workers,
which /metrics (served by the web) never sees. A Redis HINCRBY is atomic across processes and hosts, and a scrape
reads one hash. Counting never breaks the work it counts: a Redis that cannot be reached drops the increment."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

import redis
from django.conf import settings

log = logging.getLogger(__name__)

AWS_ERRORS = "aws_errors"  # fields: "<operation>|<code>"
MERGE_OUTCOMES = "merge_outcomes"  # fields: "<domain>|<outcome>"
SEPARATOR = "|"
TIMEOUT = 0.5  # seconds: counting must never slow the work down

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    with _lock:
        return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)


def _key(counter: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "matchdesk")
    return f"{prefix}:counter:{counter}"


def count(counter: str, *labels: str, by: int = 1) -> None:
    """Add `by` to the counter's labelled value; a Redis error is logged and dropped."""
    field = SEPARATOR.join(label.replace(SEPARATOR, "_") for label in labels)
    try:
        _client(settings.REDIS_URL).hincrby(_key(counter), field, by)
    except redis.RedisError as exc:
        log.warning("counter %s not counted: %s", counter, exc)


def read(counter: str) -> dict[tuple[str, ...], int]:
    """Every labelled value of the counter (raises redis.RedisError when Redis cannot be reached)."""
    raw: dict[bytes, bytes] = _client(settings.REDIS_URL).hgetall(_key(counter))  # type: ignore[assignment]
    return {tuple(field.decode().split(SEPARATOR)): int(value) for field, value in raw.items()}


def reset(counter: str) -> None:
    """Drop the counter (tests)."""
    _client(settings.REDIS_URL).delete(_key(counter))
