"""Merge execution under faults, with real separate processes: a worker SIGKILLed mid-job, two workers sharing one
per-domain rate limit. `manage.py run_due_merges` runs as a child process against this test's database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matches.models import MergeJob
from tests.merging import (
    approve,
    make_group,
    make_groups,
    max_calls_in_any_second,
    merge_calls,
    subprocess_env,
)

ROOT = Path(__file__).resolve().parents[2]
JobStatus = MergeJob.Status
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("merge_role_groups")]


def run_due_merges(**env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_due_merges"],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_after_the_first_chunk_rerun_merges_only_the_rest(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 45)
    ids = group.profile_ids
    main = ids[0]
    job = approve(group, steward, main=main, field_sources={"FirstName": ids[-1], "LastName": ids[5]})
    merge_ctl.set_faults(latency_ms=1500, operations=["MergeProfiles"])

    worker = run_due_merges()
    # Chunk 1 answered and recorded, chunk 2 sent (the emulator is sitting on it): kill the worker there.
    wait_for(
        lambda: MergeJob.objects.filter(pk=job.pk, chunks_done=1, inflight_chunk=1).exists(),
        what="chunk 1 done and chunk 2 in flight",
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.chunks_done == 1
    # The emulator still finishes the call it had started, as AWS would; the kill only lost the answer.
    wait_for(lambda: len(merge_calls(merge_ctl, merge_domain)) == 2, what="the in-flight call to be recorded")
    merge_ctl.clear_faults()

    time.sleep(1.2)  # the dead worker's heartbeat goes stale (1 s in the rerun's settings)
    rerun = run_due_merges(MATCHDESK_MERGE_STALE_SECONDS="1")
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert "1 succeeded" in err

    calls = merge_calls(merge_ctl, merge_domain)
    plan = MergeJob.objects.get(pk=job.pk).plan
    assert [c["params"]["ProfileIdsToBeMerged"] for c in calls] == plan  # chunk 2 never sent again
    sent = [pid for c in calls for pid in c["params"]["ProfileIdsToBeMerged"]]
    assert len(sent) == len(set(sent)) == 44
    survivor = merge_ctl.get_profile(merge_domain.name, main)
    assert survivor["FirstName"] == "First44" and survivor["LastName"] == "Last5"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.chunks_done == 3 and job.attempts == 2
    assert job.gone_profile_ids == []
    recheck = [m for m in job.aws_messages if m["chunk"] == 1 and m["operation"] == "BatchGetProfile"]
    assert recheck and "nothing left to send" in recheck[0]["message"]


def test_50_due_jobs_two_workers_never_exceed_the_domain_rate(merge_ctl, merge_domain, steward):
    merge_domain.merge_rate_per_second = 5
    merge_domain.save()
    groups = make_groups(merge_ctl, merge_domain, 50, 2)
    jobs = [approve(g, steward, main=g.profile_ids[0]) for g in groups]

    workers = [run_due_merges(), run_due_merges()]
    outputs = [w.communicate(timeout=180) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    statuses = set(MergeJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True))
    assert statuses == {JobStatus.SUCCEEDED}
    assert not MergeJob.objects.filter(pk__in=[j.pk for j in jobs], attempts__gt=1).exists()  # no throttle deferral
    calls = merge_calls(merge_ctl, merge_domain)
    assert len(calls) == 50 and {c["status"] for c in calls} == {200}
    assert len({c["params"]["MainProfileId"] for c in calls}) == 50  # each job called exactly once
    times = sorted(c["at"] for c in calls)
    busiest = max_calls_in_any_second(times)
    print(f"50 calls over {times[-1] - times[0]:.1f} s; busiest one-second window: {busiest}")
    assert busiest <= 5
    # Both workers took part (the claim hands each job to exactly one of them).
    assert all("succeeded" in err and not err.count(" 0 succeeded") for _, err in outputs), outputs
