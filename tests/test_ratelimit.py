"""The shared per-domain MergeProfiles limit (matches/ratelimit.py), against the real Redis."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from django.core.exceptions import ValidationError

from matches.ratelimit import merge_call_slot, merge_calls_in_window
from tests.merging import max_calls_in_any_second


def hammer(domain_name: str, per_second: int, threads: int, each: int, hold: float = 0.0) -> list[tuple[float, float]]:
    """Many threads taking slots as fast as they can; returns (start, end) of every 'call'."""
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work():
        for _ in range(each):
            with merge_call_slot(domain_name=domain_name, per_second=per_second):
                start = time.time()
                time.sleep(hold)
                end = time.time()
            with lock:
                spans.append((start, end))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return spans


def test_no_one_second_window_holds_more_than_the_limit():
    name = f"rl-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    spans = hammer(name, per_second=10, threads=6, each=5)
    elapsed = time.monotonic() - started
    assert len(spans) == 30
    assert max_calls_in_any_second([s for s, _ in spans]) <= 10
    # Unlimited, 30 instant calls take milliseconds; at 10 per second the 21st cannot start before 2 s.
    assert elapsed >= 2.0


def test_a_slow_call_keeps_its_slot_until_it_returns():
    """A call's arrival at AWS can be anywhere between its start and its return: the window counts from the return."""
    name = f"rl-{uuid.uuid4().hex[:8]}"
    spans = hammer(name, per_second=2, threads=3, each=1, hold=0.5)
    spans.sort()
    # The third call starts at least a second after the first one *ended*, not after it started.
    assert spans[2][0] >= spans[0][1] + 0.99


def test_domains_do_not_share_a_limit():
    a, b = f"rl-{uuid.uuid4().hex[:8]}", f"rl-{uuid.uuid4().hex[:8]}"
    with merge_call_slot(domain_name=a, per_second=1):
        started = time.monotonic()
        with merge_call_slot(domain_name=b, per_second=1):
            pass
        assert time.monotonic() - started < 0.5
        assert merge_calls_in_window(domain_name=a) == 1


def test_each_operation_has_its_own_shared_limit_and_a_domain_can_size_it():
    from matches import ratelimit
    from matches.forms.admin import RatesField

    name = f"ops-{uuid.uuid4().hex[:8]}"
    with ratelimit.call_slot(operation="GetMatches", domain_name=name, per_second=1):
        # Another operation of the same domain is not held up by the GetMatches slot...
        with ratelimit.call_slot(operation="S3", domain_name=name, per_second=1, patience=0.0):
            assert ratelimit.calls_in_window(domain_name=name, operation="S3") == 1
        # ...but the same operation is, even from another caller, until its window passes.
        with pytest.raises(ratelimit.RateLimitTimeout):
            with ratelimit.call_slot(operation="GetMatches", domain_name=name, per_second=1, patience=0.0):
                pass
    assert ratelimit.rate_for(operation="GetMatches", merge_rate=2, overrides={"GetMatches": 9}) == 9
    assert ratelimit.rate_for(operation="GetMatches", merge_rate=2, overrides={"GetMatches": 0}) == 5
    assert ratelimit.rate_for(operation="MergeProfiles", merge_rate=3, overrides={}) == 3
    field = RatesField(required=False)
    assert field.clean("GetMatches=7, S3=300") == {"GetMatches": 7, "S3": 300}
    assert field.prepare_value({"S3": 300, "GetMatches": 7}) == "GetMatches=7, S3=300"
    for bad in ("Nope=3", "GetMatches=0", "GetMatches=x", "S3=100000"):
        with pytest.raises(ValidationError):
            field.clean(bad)


def test_a_read_goes_unlimited_when_the_limiter_cannot_reach_redis(settings):
    from matches import ratelimit

    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    with ratelimit.call_slot(operation="GetMatches", domain_name="x", per_second=1, fail_open=True):
        pass
    with pytest.raises(redis.ConnectionError):
        with ratelimit.call_slot(operation="MergeProfiles", domain_name="x", per_second=1):
            pass
