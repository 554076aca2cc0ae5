"""Support for merge-execution tests: an emulator over HTTP, a domain pointing at it, groups whose members exist in
both Postgres and the emulator, and an approved decision whose undo window has already ended."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from emulator.testing import EmulatorControl, EmulatorThread
from matches.models import Domain, MatchGroup, MergeJob
from matches.services.decisions import group_merge_approve, group_split
from matches.services.groups import bins_add
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, ensure_role_groups


@pytest.fixture(scope="session")
def merge_emulator(emulator: EmulatorThread) -> EmulatorThread:
    """The session's one in-process emulator (tests/emulator_fixtures.py)."""
    return emulator


@pytest.fixture
def merge_ctl(merge_emulator: EmulatorThread) -> Iterator[EmulatorControl]:
    control = EmulatorControl(merge_emulator.url)
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def merge_role_groups(transactional_db):
    """A transactional test starts from a flushed database: make sure the role groups exist."""
    ensure_role_groups()


@pytest.fixture
def fast_merges(settings):
    """Short waits so that re-checks and backoffs fit in a test."""
    settings.MATCHDESK = {
        **settings.MATCHDESK,
        "MERGE_RECHECK_DELAY": 0.05,
        "MERGE_BACKOFF_BASE": 0.2,
        "MERGE_BACKOFF_MAX": 1.0,
        "AWS_READ_TIMEOUT": 5.0,
    }
    return settings


@pytest.fixture
def merge_domain(db, merge_ctl, merge_emulator, fast_merges) -> Domain:
    name = f"merge-{uuid.uuid4().hex[:8]}"
    merge_ctl.create_domain(name, customers=0)
    return DomainFactory(name=name, endpoint_url=merge_emulator.url, undo_window_seconds=0)


def new_ids(n: int) -> list[str]:
    return sorted(uuid.uuid4().hex for _ in range(n))


def person(pid: str, i: int) -> dict:
    return {
        "ProfileId": pid,
        "FirstName": f"First{i}",
        "LastName": f"Last{i}",
        "EmailAddress": f"p{i}@example.com",
        "Attributes": {"tier": f"tier{i}", "n": str(i)},
    }


def make_group(merge_ctl: EmulatorControl, domain: Domain, size: int, *, score: float = 0.9) -> MatchGroup:
    """A group of `size` profiles that exist at the emulator and in the Profile cache."""
    ids = new_ids(size)
    merge_ctl.add_profiles(domain.name, [person(pid, i) for i, pid in enumerate(ids)])
    run = MatchRunFactory(domain=domain)
    group = MatchGroupFactory(run=run, profile_ids=ids, confidence_score=score)
    bins_add(run=run, scores=[score])
    for i, pid in enumerate(ids):
        ProfileFactory(domain=domain, profile_id=pid, attributes=person(pid, i))
    return group


def approve(group: MatchGroup, actor, *, main: str, field_sources: dict | None = None, keep: list[str] | None = None):
    """Approve (or split) and make the job due now; returns the job."""
    if keep is None:
        decision = group_merge_approve(group=group, actor=actor, main_profile_id=main, field_sources=field_sources)
    else:
        decision = group_split(
            group=group, actor=actor, keep_profile_ids=keep, main_profile_id=main, field_sources=field_sources
        )
    job = MergeJob.objects.get(decision=decision)
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    job.refresh_from_db()
    return job


def merge_calls(merge_ctl: EmulatorControl, domain: Domain) -> list[dict]:
    return [c for c in merge_ctl.calls(operation="MergeProfiles") if c["params"].get("DomainName") == domain.name]


def max_calls_in_any_second(times: list[float]) -> int:
    """Sliding window over recorded arrival times: the most calls inside any half-open one-second window."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def make_groups(ctl: EmulatorControl, domain: Domain, count: int, size: int) -> list[MatchGroup]:
    """Many small groups with one emulator call and one run."""
    run = MatchRunFactory(domain=domain)
    groups, people = [], []
    for _ in range(count):
        ids = new_ids(size)
        people += [person(pid, i) for i, pid in enumerate(ids)]
        groups.append(MatchGroupFactory(run=run, profile_ids=ids, confidence_score=0.9))
    ctl.add_profiles(domain.name, people)
    bins_add(run=run, scores=[g.confidence_score for g in groups])
    return groups


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a `manage.py` child that works on this test's database (transactional tests only)."""
    import os

    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1", **extra}
