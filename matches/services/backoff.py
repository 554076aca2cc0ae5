"""Retries of read-only AWS calls (GetMatches, BatchGetProfile): throttling, 5xx and no-answer errors are tried again
with exponential backoff and jitter; anything else is raised at once. Never used for MergeProfiles."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from matches.aws import MatchdeskAwsError

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_DELAY_SECONDS = 60.0


class AwsRetriesExhausted(MatchdeskAwsError):
    """A retryable error persisted through every attempt."""

    def __init__(self, last: MatchdeskAwsError, attempts: int):
        super().__init__(
            f"Gave up after {attempts} attempts: {last.message}",
            code=last.code,
            aws_message=last.aws_message,
            status=last.status,
        )
        self.last = last
        self.attempts = attempts


def backoff_delay(attempt: int, *, base: float | None = None) -> float:
    """Delay before retry number `attempt` (1-based): base * 2^(attempt-1), half of it jittered."""
    base = settings.MATCHDESK["RETRY_BASE_DELAY"] if base is None else base
    ceiling = min(MAX_DELAY_SECONDS, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def call_with_backoff(
    call: Callable[[], T],
    *,
    what: str,
    max_attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`; retry `.retryable` AWS errors up to RETRY_MAX_ATTEMPTS attempts in all."""
    max_attempts = max_attempts or settings.MATCHDESK["RETRY_MAX_ATTEMPTS"]
    attempt = 1
    while True:
        try:
            return call()
        except MatchdeskAwsError as exc:
            if not exc.retryable:
                raise
            if attempt >= max_attempts:
                raise AwsRetriesExhausted(exc, attempt) from exc
            delay = backoff_delay(attempt)
            log.info("%s: %s; retry %d in %.3fs", what, exc.code, attempt, delay)
            sleep(delay)
            attempt += 1
