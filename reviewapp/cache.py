"""Django's Redis cache, tolerant of Redis being away: Redis is a cache and a broker here, never a store of truth.

A read that cannot reach Redis is a miss, a write is dropped, and a warning is logged (at most once every 30 seconds per
process, so an outage does not flood the log). Nothing Matchdesk keeps in the cache is needed for correctness: the
queued-pull marker only avoids sending the same pull twice, and a pull cannot be sent while Redis is away anyway.
`incr`/`decr` are left as they are: a counter cannot honestly degrade.
"""

from __future__ import annotations

import functools
import logging
import time

import redis
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)

UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
WARN_EVERY_SECONDS = 30.0
_last_warning: float | None = None


def _warn(operation: str, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if _last_warning is None or now - _last_warning >= WARN_EVERY_SECONDS:
        _last_warning = now
        log.warning("cache unavailable, %s degraded (%s: %s)", operation, type(exc).__name__, exc)


def _degrades_to(fallback):
    """Run the cache operation; when Redis cannot be reached, log and return `fallback(*args, **kwargs)`."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNREACHABLE as exc:
                _warn(method.__name__, exc)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _default(key, default=None, *args, **kwargs):
    return default


def _none(*args, **kwargs):
    return None


def _false(*args, **kwargs):
    return False


def _empty(*args, **kwargs):
    return {}


def _all_keys_failed(data, *args, **kwargs):
    return list(data)


class TolerantRedisCache(RedisCache):
    get = _degrades_to(_default)(RedisCache.get)
    set = _degrades_to(_none)(RedisCache.set)
    add = _degrades_to(_false)(RedisCache.add)
    touch = _degrades_to(_false)(RedisCache.touch)
    delete = _degrades_to(_false)(RedisCache.delete)
    has_key = _degrades_to(_false)(RedisCache.has_key)
    get_many = _degrades_to(_empty)(RedisCache.get_many)
    set_many = _degrades_to(_all_keys_failed)(RedisCache.set_many)
    delete_many = _degrades_to(_none)(RedisCache.delete_many)
    clear = _degrades_to(_false)(RedisCache.clear)
