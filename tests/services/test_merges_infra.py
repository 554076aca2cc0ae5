"""Infrastructure faults during merge execution (issue 14): Redis, the database or the broker failing is not an answer
from AWS, so the job is deferred with backoff, never failed; only AWS's own refusals fail a job. Real Redis clients
throughout: a closed port, and a redis-server of the test's own that is killed mid-call."""

from __future__ import annotations

import threading
import time

import redis
from django.db import OperationalError
from django.utils import timezone

from matches import ratelimit
from matches.models import AuditEvent, MatchGroup, MergeJob
from matches.services import merges
from matches.services.merges import merge_jobs_run_due
from tests.merging import approve, make_group, merge_calls
from tests.own_redis import free_port

Status = MatchGroup.Status
JobStatus = MergeJob.Status


def test_redis_unreachable_before_the_call_defers_and_the_job_merges_once_it_is_back(
    merge_ctl, merge_domain, steward, settings
):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    shared = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: connection refused

    before = timezone.now()
    summary = merge_jobs_run_due()

    assert summary.deferred == [job.pk] and not summary.failed
    job.refresh_from_db()
    group.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and job.not_before > before and job.worker == ""
    assert "Infrastructure error" in job.last_error and "ConnectionError" in job.last_error
    assert job.inflight_chunk is None and job.chunks_done == 0
    assert group.status == Status.APPROVED  # still waiting on its merge, not failed
    assert merge_calls(merge_ctl, merge_domain) == []
    deferred = AuditEvent.objects.get(action="merge.deferred", object_id=str(job.pk))
    assert "ConnectionError" in deferred.details["reason"]

    settings.REDIS_URL = shared
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    assert merge_jobs_run_due().succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert len(calls) == 1 and calls[0]["status"] == 200
    job.refresh_from_db()
    group.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.last_error == "" and group.status == Status.MERGED


def test_redis_dying_while_the_call_is_in_flight_keeps_the_answer(
    merge_ctl, merge_domain, steward, settings, own_redis
):
    """The slot cannot be released, but the call was answered: the chunk is recorded as merged, sent once."""
    proc, url = own_redis.proc, own_redis.url
    settings.REDIS_URL = url
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(latency_ms=1500, operations=["MergeProfiles"])
    key = ratelimit._key(merge_domain.name)
    watcher = redis.Redis.from_url(url)

    def kill_redis_once_the_slot_is_taken() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if watcher.zcard(key):
                proc.kill()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_redis_once_the_slot_is_taken)
    killer.start()
    try:
        summary = merge_jobs_run_due()
    finally:
        killer.join()
        merge_ctl.clear_faults()
    assert proc.poll() is not None  # Redis really went away during the call

    assert summary.succeeded == [job.pk], MergeJob.objects.get(pk=job.pk).last_error
    assert len(merge_calls(merge_ctl, merge_domain)) == 1
    job.refresh_from_db()
    assert job.chunks_done == 1 and job.inflight_chunk is None


def test_a_database_error_after_the_call_defers_and_the_rerun_rechecks_instead_of_sending_again(
    merge_ctl, merge_domain, steward, monkeypatch
):
    """The answer arrived but could not be recorded: the chunk stays in flight, so the next attempt looks first."""
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    original = merges.JobExecution._chunk_done
    failures = iter([OperationalError("server closed the connection unexpectedly")])

    def lose_the_database_once(self, chunk, **kw):
        error = next(failures, None)
        if error is not None and kw.get("called"):
            raise error
        return original(self, chunk, **kw)

    monkeypatch.setattr(merges.JobExecution, "_chunk_done", lose_the_database_once)
    assert merge_jobs_run_due().deferred == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and job.inflight_chunk == 0 and job.chunks_done == 0
    assert "OperationalError" in job.last_error

    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    assert merge_jobs_run_due().succeeded == [job.pk]
    assert len(merge_calls(merge_ctl, merge_domain)) == 1  # re-checked: gone at AWS, so never sent again
    job.refresh_from_db()
    assert job.chunks_done == 1 and job.status == JobStatus.SUCCEEDED


def test_aws_refusing_the_call_still_fails_the_job(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 400}])
    assert merge_jobs_run_due().failed == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "MergeProfiles refused" in job.last_error
