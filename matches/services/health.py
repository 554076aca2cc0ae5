"""Readiness: can this process reach what it needs (the database, Redis, the Celery broker)? Each check has a short
timeout so a probe answers quickly even when a dependency hangs (docs/architecture.md, "Operations")."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import kombu
import redis
from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def _timeout() -> float:
    return float(settings.READYZ_TIMEOUT)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=_timeout(), socket_timeout=_timeout())
    try:
        client.ping()
    finally:
        client.close()


def _broker() -> None:
    timeout = _timeout()
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0}
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=max(1, round(timeout)))


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis, "broker": _broker}


def readiness() -> list[Check]:
    """Run every check; a failing one reports its error instead of raising."""
    results = []
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; the probe names it
            results.append(Check(name, False, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:300]))
        else:
            results.append(Check(name, True, time.monotonic() - started))
    return results
