"""Retries of read-only AWS calls (GetMatches, BatchGetProfile): throttling, 5xx and no-answer errors are tried again
with exponential backoff and jitter; anything else is raised at once. Never used for MergeProfiles."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings

from matches import ratelimit
from matches.aws import AwsThrottled, MatchdeskAwsError

if TYPE_CHECKING:
    from matches.models import Domain

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


def domain_rate(domain: Domain, operation: str) -> int:
    """Calls per second the domain allows `operation`, shared by all workers (matches/ratelimit.py)."""
    return ratelimit.rate_for(operation=operation, merge_rate=domain.merge_rate_per_second, overrides=domain.aws_rates)


def aws_read(domain: Domain, operation: str, call: Callable[[], T], *, max_attempts: int | None = None) -> T:
    """A read-only AWS call under the domain's shared limiter for `operation`, retried with backoff. A limiter that
    keeps every slot busy past its patience counts as throttling; a limiter without Redis lets the call through."""

    def limited() -> T:
        try:
            slot = ratelimit.call_slot(
                operation=operation, domain_name=domain.name, per_second=domain_rate(domain, operation), fail_open=True
            )
            with slot:
                return call()
        except ratelimit.RateLimitTimeout as exc:
            raise AwsThrottled(f"{operation} on domain '{domain.name}': {exc} (Matchdesk's own limiter)") from exc

    return call_with_backoff(limited, what=f"{operation} {domain.name}", max_attempts=max_attempts)
