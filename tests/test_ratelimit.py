"""The shared per-domain MergeProfiles limit (matches/ratelimit.py), against the real Redis."""

from __future__ import annotations

import threading
import time
import uuid

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
