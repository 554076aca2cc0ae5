"""Issue 14, "Done when": stewards keep deciding through a Redis outage, a Postgres restart and a worker killed -9;
afterwards the worker is alive (or was restarted), no page answered 500 for a reason other than the database being
down, merges resume, and nothing is lost or duplicated (the emulator records every MergeProfiles call).

Every scenario prints what it measured (pytest -s shows it)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.faults.conftest import Stack
from tests.faults.steward import Answer, Steward

PACE_SECONDS = 1.2  # between one steward's decisions: 6 stewards decide about 4 groups a second
DB_DOWN = ("OperationalError", "InterfaceError")


@dataclass
class Desk:
    """Stewards deciding a domain's groups in threads (merge three of four, reject the fourth) until told to stop."""

    stack: Stack
    seed: dict
    stewards: list[Steward]
    stop: threading.Event
    threads: list[threading.Thread]

    @classmethod
    def open(cls, stack: Stack, *, groups: int, stewards: int) -> Desk:
        seed = stack.seed(f"faults-{uuid.uuid4().hex[:8]}", groups=groups, stewards=stewards)
        people = [Steward(stack.web_url, name) for name in seed["stewards"]]
        for person in people:
            person.login()
        return cls(stack, seed, people, threading.Event(), [])

    def start(self) -> Desk:
        ids = self.seed["groups"]
        share = len(ids) // len(self.stewards)
        for i, person in enumerate(self.stewards):
            mine = ids[i * share : (i + 1) * share]
            self.threads.append(threading.Thread(target=self._decide, args=(person, mine), daemon=True))
        for t in self.threads:
            t.start()
        return self

    def _decide(self, person: Steward, groups: list[int]) -> None:
        for n, group_id in enumerate(groups):
            if self.stop.is_set():
                return
            person.decide(group_id, "reject" if n % 4 == 3 else "merge")
            time.sleep(PACE_SECONDS)

    def finish(self) -> list[Answer]:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return [a for p in self.stewards for a in p.answers]

    @property
    def domain_id(self) -> int:
        return self.seed["domain_id"]

    def jobs(self) -> Counter:
        rows = self.stack.sql(
            "SELECT j.status FROM matches_mergejob j JOIN matches_decision d ON d.id = j.decision_id "
            "JOIN matches_matchgroup g ON g.id = d.group_id JOIN matches_matchrun r ON r.id = g.run_id "
            "WHERE r.domain_id = %s",
            self.domain_id,
        )
        return Counter(status for (status,) in rows)

    def wait_merges_done(self, timeout: float) -> float:
        """Seconds until no job of this domain is scheduled or running (fails after `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            jobs = self.jobs()
            if not jobs["scheduled"] and not jobs["running"]:
                return time.monotonic() - started
            time.sleep(0.5)
        pytest.fail(f"merges still pending after {timeout} s: {dict(self.jobs())}")

    def failed_jobs(self) -> list[str]:
        rows = self.stack.sql(
            "SELECT j.last_error FROM matches_mergejob j JOIN matches_decision d ON d.id = j.decision_id "
            "JOIN matches_matchgroup g ON g.id = d.group_id JOIN matches_matchrun r ON r.id = g.run_id "
            "WHERE r.domain_id = %s AND j.status = 'failed'",
            self.domain_id,
        )
        return [error for (error,) in rows]

    def merges_saved(self, answers: list[Answer]) -> set[int]:
        actions = {g: a for p in self.stewards for g, a in p.actions.items()}
        return {g for g in decisions_answered(answers) if actions[g] == "merge"}

    def merges_decided(self, answers: list[Answer]) -> int:
        """Merge decisions in the database, after checking each one answered as saved is among them. A decision can
        commit and still answer 500 (the database going away before the next group was claimed): it counts, once."""
        rows = self.stack.sql(
            "SELECT d.group_id FROM matches_decision d JOIN matches_matchgroup g ON g.id = d.group_id "
            "JOIN matches_matchrun r ON r.id = g.run_id WHERE r.domain_id = %s AND d.action = 'merge'",
            self.domain_id,
        )
        merged = {group_id for (group_id,) in rows}
        assert self.merges_saved(answers) <= merged, "a merge answered as saved is not in the database"
        return len(merged)

    def decided_groups(self) -> Counter:
        rows = self.stack.sql(
            "SELECT d.group_id FROM matches_decision d JOIN matches_matchgroup g ON g.id = d.group_id "
            "JOIN matches_matchrun r ON r.id = g.run_id WHERE r.domain_id = %s AND d.action IN ('merge', 'reject')",
            self.domain_id,
        )
        return Counter(group_id for (group_id,) in rows)


def decisions_answered(answers: list[Answer]) -> set[int]:
    """Groups whose decision POST was answered as saved: redirected onwards (a refusal, such as a group another
    steward holds, redirects back to the group itself)."""
    saved = set()
    for a in answers:
        if a.method == "POST" and "/decide/" in a.path and a.status == 302:
            group = a.path.split("/")[2]
            if not a.location.startswith(f"/groups/{group}/"):
                saved.add(int(group))
    return saved


def first_merge_after(stack: Stack, domain: str, wall: float) -> float | None:
    """Seconds from `wall` (time.time()) to the first MergeProfiles call of the domain that arrived after it."""
    calls = [c for c in stack.ctl.calls(operation="MergeProfiles") if c["params"].get("DomainName") == domain]
    later = [c["at"] for c in calls if c["at"] > wall]
    return min(later) - wall if later else None


def merged_ids(stack: Stack, domain: str) -> Counter:
    """How many MergeProfiles calls named each profile to be merged away, for one domain."""
    calls = [c for c in stack.ctl.calls(operation="MergeProfiles") if c["params"].get("DomainName") == domain]
    # A call whose body never arrived whole (its sender killed mid-request) is refused unparsed: it merged nothing.
    return Counter(pid for c in calls for pid in c["params"].get("ProfileIdsToBeMerged", []))


def server_errors(stack: Stack, since: int) -> list[str]:
    """The exception of each 500 Django logged ("Internal Server Error: ..." and its traceback) since a log offset."""
    out = []
    lines = stack.web.log()[since:].splitlines()
    for i, line in enumerate(lines):
        if "Internal Server Error: " not in line:
            continue
        last = line
        for x in lines[i + 1 :]:
            if not x or x.startswith((" ", "\t", "Traceback", "During handling", "The above exception")):
                continue
            if not EXCEPTION_LINE.match(x):
                break
            last = x
        out.append(last)
    return out


EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?::|$)")  # psycopg.errors.AdminShutdown: ...


def assert_no_lost_or_duplicated(desk: Desk, answers: list[Answer]) -> None:
    saved = decisions_answered(answers)
    decided = desk.decided_groups()
    missing = saved - set(decided)
    if missing:
        rows = desk.stack.sql(
            "SELECT g.id, g.status, array_agg(d.action) FROM matches_matchgroup g "
            "LEFT JOIN matches_decision d ON d.group_id = g.id WHERE g.id = ANY(%s) GROUP BY g.id, g.status",
            list(missing),
        )
        where = {a.path: a.location for a in answers if a.method == "POST"}
        pytest.fail(f"answered as saved but not in the database: {rows}; redirected to {where}")
    assert all(n == 1 for n in decided.values()), f"decided twice: {[g for g, n in decided.items() if n > 1]}"
    twice = {pid: n for pid, n in merged_ids(desk.stack, desk_domain(desk)).items() if n > 1}
    assert not twice, f"profiles sent to MergeProfiles more than once: {twice}"


def desk_domain(desk: Desk) -> str:
    return desk.stack.sql("SELECT name FROM matches_domain WHERE id = %s", desk.domain_id)[0][0]


def summary(answers: list[Answer]) -> str:
    statuses = Counter(a.status for a in answers)
    slowest = max((a.seconds for a in answers), default=0.0)
    return f"{len(answers)} requests {dict(sorted(statuses.items()))}, slowest {slowest:.2f} s"


def test_redis_stopped_for_20_seconds_under_decisions_and_merges(stack: Stack):
    desk = Desk.open(stack, groups=96, stewards=6)
    worker_restarts = stack.supervised_restarts(stack.worker)
    log_mark = len(stack.web.log())
    desk.start()
    time.sleep(4)  # decisions and merges under way
    down = time.monotonic()
    stack.redis.stop()
    time.sleep(8)
    # Logging in needs no Redis either: a new session is a row in Postgres.
    newcomer = Steward(stack.web_url, desk.seed["stewards"][0])
    newcomer.login()
    home = newcomer.request("GET", "/")
    time.sleep(max(0.0, 20 - (time.monotonic() - down)))
    stack.redis.start()
    up, up_wall = time.monotonic(), time.time()
    time.sleep(5)
    answers = desk.finish()
    during = [a for a in answers if down <= a.at <= up]
    desk.wait_merges_done(timeout=180)
    recovery = time.monotonic() - up
    jobs = desk.jobs()
    print(
        f"\nredis down {up - down:.1f} s: {summary(answers)}; during the outage {summary(during)}; "
        f"first merge {first_merge_after(stack, desk_domain(desk), up_wall):.1f} s and "
        f"every merge done {recovery:.1f} s after Redis came back; jobs {dict(jobs)}; "
        f"worker restarts {stack.supervised_restarts(stack.worker) - worker_restarts}, "
        f"beat restarts {stack.supervised_restarts(stack.beat)}"
    )
    assert stack.worker.alive
    assert stack.supervised_restarts(stack.worker) == worker_restarts, "the worker died during the Redis outage"
    assert during, "no request was made while Redis was down"
    assert home == 200
    assert not [a for a in answers if a.status >= 500 or a.status == 0], server_errors(stack, log_mark)
    assert max(a.seconds for a in during) < 3.0, "a request waited on the broker"
    assert_no_lost_or_duplicated(desk, answers)
    failed = desk.failed_jobs()
    assert not [e for e in failed if "ConnectionError" not in e], failed
    assert jobs["succeeded"] + len(failed) == desk.merges_decided(answers)
    # ISSUE 14 ITEM 3 (arch-merges, merge executor): a merge that was running when Redis went away fails on the rate
    # limiter's ConnectionError on this branch; once an infrastructure error before MergeProfiles defers the job,
    # this holds and the xfail goes.
    if failed:
        pytest.xfail(f"issue 14 item 3 not on this branch: {len(failed)} merge(s) failed on Redis: {failed[0][:120]}")
    assert jobs["failed"] == 0


def test_postgres_restarted_under_decisions_and_merges(stack: Stack):
    desk = Desk.open(stack, groups=60, stewards=6)
    worker_restarts = stack.supervised_restarts(stack.worker)
    log_mark = len(stack.web.log())
    desk.start()
    time.sleep(4)
    down = time.monotonic()
    stack.pg.stop()
    time.sleep(5)
    stack.pg.start()
    up, up_wall = time.monotonic(), time.time()
    time.sleep(6)
    answers = desk.finish()
    recovery = desk.wait_merges_done(timeout=180)
    errors = server_errors(stack, log_mark)
    after = [a for a in answers if a.at > up + 2]
    print(
        f"\npostgres down {up - down:.1f} s: {summary(answers)}; 500s logged {Counter(errors)}; "
        f"after it was back {summary(after)}; first merge {first_merge_after(stack, desk_domain(desk), up_wall)} s, "
        f"merges done {time.monotonic() - up:.1f} s after restart "
        f"({recovery:.1f} s of waiting); jobs {dict(desk.jobs())}; "
        f"worker restarts {stack.supervised_restarts(stack.worker) - worker_restarts}"
    )
    assert stack.worker.alive
    assert not [a for a in answers if a.status == 0], "the web server stopped answering"
    assert all(any(kind in e for kind in DB_DOWN) for e in errors), errors
    assert len(errors) == sum(1 for a in answers if a.status >= 500)
    assert after and all(a.status < 500 for a in after), summary(after)
    assert_no_lost_or_duplicated(desk, answers)
    assert desk.jobs()["failed"] == 0, desk.failed_jobs()
    assert desk.jobs()["succeeded"] == desk.merges_decided(answers)
    # Pages work again for everyone: a fresh request per steward.
    assert all(p.request("GET", "/") == 200 for p in desk.stewards)


def test_worker_killed_mid_merge_is_restarted_and_the_merge_completes_once(stack: Stack):
    desk = Desk.open(stack, groups=12, stewards=2)
    # MergeProfiles merges at once and answers 4 s late: the worker dies while it waits for the answer.
    stack.ctl.set_faults(merge_response_delay_ms=4000, operations=["MergeProfiles"])
    restarts = stack.supervised_restarts(stack.worker)
    try:
        desk.start()
        deadline = time.monotonic() + 60
        while not stack.sql("SELECT 1 FROM matches_mergejob WHERE status = 'running' AND inflight_chunk IS NOT NULL"):
            assert time.monotonic() < deadline, "no merge started"
            time.sleep(0.1)
        mark = len(stack.worker.log())
        killed = time.monotonic()
        os.killpg(stack.supervised_pid(stack.worker), signal.SIGKILL)
        stack.worker.wait_log(" ready.", 90, after=mark)
        back = time.monotonic() - killed
    finally:
        stack.ctl.clear_faults()
    answers = desk.finish()
    done = desk.wait_merges_done(timeout=180)
    print(
        f"\nworker killed -9 mid-merge: restarted and ready {back:.1f} s later; "
        f"merges done {time.monotonic() - killed:.1f} s after the kill ({done:.1f} s of waiting); "
        f"{summary(answers)}; jobs {dict(desk.jobs())}"
    )
    assert stack.worker.alive
    assert stack.supervised_restarts(stack.worker) == restarts + 1
    assert not [a for a in answers if a.status >= 500 or a.status == 0]
    assert_no_lost_or_duplicated(desk, answers)
    jobs = desk.jobs()
    assert jobs["failed"] == 0, desk.failed_jobs()
    assert jobs["succeeded"] == desk.merges_decided(answers)
