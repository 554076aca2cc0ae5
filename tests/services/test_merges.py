"""Merge execution against the emulator over HTTP (matches/services/merges.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from matches.models import AuditEvent, MatchGroup, MergeJob, OpsSwitch, Profile
from matches.services.decisions import decision_undo
from matches.services.domains import domain_set_merges_paused
from matches.services.merges import (
    MergeRefused,
    MergeRoleRefused,
    NotRetryable,
    chunk_field_sources,
    merge_job_retry,
    merge_jobs_run_due,
    merge_plan,
    merges_set_paused_all,
)
from tests.factories import MatchGroupFactory
from tests.merging import approve, make_group, merge_calls

Status = MatchGroup.Status
JobStatus = MergeJob.Status


def test_25_profiles_merge_in_two_calls_keeping_every_chosen_field(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 25)
    ids = group.profile_ids
    main, last = ids[3], ids[-1]
    chosen = {"FirstName": last, "LastName": ids[10], "EmailAddress": main, "Attributes.tier": ids[-2]}
    job = approve(group, steward, main=main, field_sources=chosen)

    summary = merge_jobs_run_due()

    assert summary.succeeded == [job.pk] and not summary.failed
    calls = merge_calls(merge_ctl, merge_domain)
    assert [len(c["params"]["ProfileIdsToBeMerged"]) for c in calls] == [20, 4]
    assert {c["params"]["MainProfileId"] for c in calls} == {main}
    first, second = calls
    assert {last, ids[10], ids[-2]} <= set(first["params"]["ProfileIdsToBeMerged"])
    assert first["params"]["FieldSourceProfileIds"] == {
        "FirstName": last,
        "LastName": ids[10],
        "EmailAddress": main,
        "Attributes": {"tier": ids[-2]},
    }
    # Later calls name the main profile for every decided field, so they cannot overwrite the choices.
    assert second["params"]["FieldSourceProfileIds"] == {
        "FirstName": main,
        "LastName": main,
        "EmailAddress": main,
        "Attributes": {"tier": main},
    }
    merged_ids = first["params"]["ProfileIdsToBeMerged"] + second["params"]["ProfileIdsToBeMerged"]
    assert sorted(merged_ids) == sorted(set(ids) - {main})

    survivor = merge_ctl.get_profile(merge_domain.name, main)
    assert survivor["FirstName"] == f"First{len(ids) - 1}"
    assert survivor["LastName"] == "Last10"
    assert survivor["EmailAddress"] == "p3@example.com"
    assert survivor["Attributes"]["tier"] == f"tier{len(ids) - 2}"
    assert all(merge_ctl.get_profile(merge_domain.name, pid) is None for pid in merged_ids)

    job.refresh_from_db()
    group.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.chunks_done == 2 and job.inflight_chunk is None
    assert [m["ok"] for m in job.aws_messages if m["operation"] == "MergeProfiles"] == [True, True]
    assert group.status == Status.MERGED
    merged_rows = Profile.objects.filter(domain=merge_domain, profile_id__in=merged_ids)
    assert {p.merged_into for p in merged_rows} == {main} and all(p.merged_at for p in merged_rows)
    assert Profile.objects.get(domain=merge_domain, profile_id=main).attributes["FirstName"] == f"First{len(ids) - 1}"
    actions = list(AuditEvent.objects.filter(object_type="merge_job").order_by("seq").values_list("action", flat=True))
    assert actions == ["merge.started", "merge.chunk", "merge.chunk", "merge.succeeded"]


def test_plan_is_deterministic_and_puts_field_sources_first(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 45)
    ids = group.profile_ids
    job = approve(group, steward, main=ids[0], field_sources={"FirstName": ids[-1], "LastName": ids[30]})
    plan = merge_plan(job.decision)
    assert plan == merge_plan(MergeJob.objects.get(pk=job.pk).decision)
    assert [len(c) for c in plan] == [20, 20, 4]
    assert ids[-1] in plan[0] and ids[30] in plan[0]
    assert sorted(pid for c in plan for pid in c) == ids[1:]
    assert chunk_field_sources(job.decision, 1, set(ids)) == {"FirstName": ids[0], "LastName": ids[0]}


def test_other_open_groups_holding_merged_profiles_become_stale(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    other = MatchGroupFactory(run=group.run, profile_ids=sorted([group.profile_ids[1], "f" * 32]))
    untouched = MatchGroupFactory(run=group.run, profile_ids=sorted([group.profile_ids[0], "e" * 32]))
    approve(group, steward, main=group.profile_ids[0])
    merge_jobs_run_due()
    other.refresh_from_db()
    untouched.refresh_from_db()
    assert other.status == Status.STALE and group.profile_ids[0] in other.status_reason
    assert untouched.status == Status.OPEN  # it holds only the main profile, which survives


def test_undo_inside_the_window_means_no_call(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now() + timezone.timedelta(seconds=60))
    decision_undo(decision=job.decision, actor=steward, reason="wrong person")
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())  # the window has long passed
    summary = merge_jobs_run_due()
    assert summary.total == 0
    assert merge_calls(merge_ctl, merge_domain) == []
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_a_job_is_not_run_before_its_window_ends(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 2)
    job = approve(group, steward, main=group.profile_ids[0])
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now() + timezone.timedelta(seconds=60))
    assert merge_jobs_run_due().total == 0
    assert merge_calls(merge_ctl, merge_domain) == []


def test_paused_domain_makes_no_call_until_resumed(merge_ctl, merge_domain, steward, admin):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    domain_set_merges_paused(actor=admin, domain=merge_domain, paused=True)
    assert merge_jobs_run_due().total == 0
    assert merge_calls(merge_ctl, merge_domain) == []
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED
    domain_set_merges_paused(actor=admin, domain=merge_domain, paused=False)
    assert merge_jobs_run_due().succeeded == [job.pk]
    assert len(merge_calls(merge_ctl, merge_domain)) == 1


def test_pause_all_makes_no_call_until_resumed(merge_ctl, merge_domain, steward, admin):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merges_set_paused_all(actor=admin, paused=True)
    assert OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    assert merge_jobs_run_due().total == 0
    assert merge_calls(merge_ctl, merge_domain) == []
    merges_set_paused_all(actor=admin, paused=False)
    assert merge_jobs_run_due().succeeded == [job.pk]
    events = AuditEvent.objects.filter(object_type="ops_switch").order_by("seq")
    assert [(e.action, e.actor_name, e.details["scope"]) for e in events] == [
        ("merges.paused", "admin", "all"),
        ("merges.resumed", "admin", "all"),
    ]


def test_pausing_between_chunks_stops_and_resume_continues_with_the_rest(merge_ctl, merge_domain, steward, admin):
    group = make_group(merge_ctl, merge_domain, 45)
    job = approve(group, steward, main=group.profile_ids[0])
    # Simulate a pause arriving after chunk 1: the emulator answers chunk 1, then we pause before chunk 2.
    from matches.services import merges

    original = merges.JobExecution._chunk_done

    def pause_after_first(self, chunk, **kw):
        original(self, chunk, **kw)
        if chunk.index == 0:
            domain_set_merges_paused(actor=admin, domain=merge_domain, paused=True)

    merges.JobExecution._chunk_done = pause_after_first
    try:
        summary = merge_jobs_run_due()
    finally:
        merges.JobExecution._chunk_done = original
    assert summary.deferred == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and job.chunks_done == 1
    assert len(merge_calls(merge_ctl, merge_domain)) == 1
    domain_set_merges_paused(actor=admin, domain=merge_domain, paused=False)
    assert merge_jobs_run_due().succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert [len(c["params"]["ProfileIdsToBeMerged"]) for c in calls] == [20, 20, 4]
    assert len({pid for c in calls for pid in c["params"]["ProfileIdsToBeMerged"]}) == 44


def test_500_after_the_merge_succeeds_on_recheck_without_a_second_call(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 4)
    job = approve(group, steward, main=group.profile_ids[0], field_sources={"FirstName": group.profile_ids[3]})
    merge_ctl.set_faults(merge_500_after_merge=1)
    summary = merge_jobs_run_due()
    assert summary.succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert len(calls) == 1 and calls[0]["status"] == 500
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.chunks_done == 1
    assert [m["code"] for m in job.aws_messages if not m["ok"]] == ["InternalServerException"]
    assert merge_ctl.get_profile(merge_domain.name, group.profile_ids[0])["FirstName"] == "First3"


def test_500_before_the_merge_defers_and_the_next_attempt_sends_only_what_is_left(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 4)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 500}])
    assert merge_jobs_run_due().deferred == [job.pk]
    job.refresh_from_db()
    group.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and job.inflight_chunk == 0 and "still exist" in job.last_error
    assert group.status == Status.APPROVED
    # Meanwhile one of them went (AWS finished part of it asynchronously, say): its history says merged.
    merge_ctl.delete_profile(
        merge_domain.name, group.profile_ids[2], action="DELETED_BY_MERGE", main=group.profile_ids[0]
    )
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    assert merge_jobs_run_due().succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert [c["status"] for c in calls] == [500, 200]
    assert calls[1]["params"]["ProfileIdsToBeMerged"] == [group.profile_ids[1], group.profile_ids[3]]
    job.refresh_from_db()
    assert job.gone_profile_ids == []  # it was in the chunk in flight: counted as merged, not as gone before


def test_throttling_puts_the_job_back_not_a_failure(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 429}])
    before = timezone.now()
    assert merge_jobs_run_due().deferred == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and job.inflight_chunk is None
    assert job.not_before > before
    assert "throttled" in job.last_error
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    assert merge_jobs_run_due().succeeded == [job.pk]
    assert [c["status"] for c in merge_calls(merge_ctl, merge_domain)] == [429, 200]


def test_deleted_member_the_rest_merge_and_the_gone_one_is_recorded(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 4)
    main, gone = group.profile_ids[0], group.profile_ids[2]
    job = approve(group, steward, main=main)
    merge_ctl.delete_profile(merge_domain.name, gone)
    assert merge_jobs_run_due().succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert len(calls) == 1
    assert calls[0]["params"]["ProfileIdsToBeMerged"] == [group.profile_ids[1], group.profile_ids[3]]
    job.refresh_from_db()
    group.refresh_from_db()
    assert job.gone_profile_ids == [gone]
    assert group.status == Status.MERGED and gone in group.status_reason
    row = Profile.objects.get(domain=merge_domain, profile_id=gone)
    assert row.missing and row.merged_into == ""


def test_deleted_main_profile_fails_with_a_clear_reason(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    main = group.profile_ids[1]
    job = approve(group, steward, main=main)
    merge_ctl.delete_profile(merge_domain.name, main)
    summary = merge_jobs_run_due()
    assert summary.failed == [job.pk]
    assert merge_calls(merge_ctl, merge_domain) == []
    job.refresh_from_db()
    group.refresh_from_db()
    expected = (
        f"The main profile {main} no longer exists at AWS (merged or deleted since the decision); nothing was merged."
    )
    assert job.status == JobStatus.FAILED and job.last_error == expected
    assert group.status == Status.FAILED and group.status_reason == expected
    assert group.decisions.filter(action="merge").exists()  # the decision stays
    assert AuditEvent.objects.get(action="merge.failed").details["reason"] == expected


def test_deleted_field_source_sends_the_group_back_to_review(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    main, source = group.profile_ids[0], group.profile_ids[2]
    job = approve(group, steward, main=main, field_sources={"FirstName": source, "LastName": main})
    merge_ctl.delete_profile(merge_domain.name, source)
    assert merge_jobs_run_due().sent_back == [job.pk]
    assert merge_calls(merge_ctl, merge_domain) == []
    job.refresh_from_db()
    group.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and source in job.last_error and "FirstName" in job.last_error
    assert group.status == Status.OPEN and "back in review" in group.status_reason
    event = AuditEvent.objects.get(action="merge.sent_back")
    assert event.details["reason"] == job.last_error


def test_split_merges_only_the_kept_subset_and_stays_split(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 4)
    keep = group.profile_ids[:3]
    job = approve(group, steward, main=keep[0], keep=keep)
    assert merge_jobs_run_due().succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert calls[0]["params"]["ProfileIdsToBeMerged"] == keep[1:]
    assert merge_ctl.get_profile(merge_domain.name, group.profile_ids[3]) is not None
    group.refresh_from_db()
    assert group.status == Status.SPLIT


def test_bad_request_fails_and_an_admin_retry_rechecks_first(merge_ctl, merge_domain, steward, admin):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 400, "message": "Nope"}])
    assert merge_jobs_run_due().failed == [job.pk]
    job.refresh_from_db()
    group.refresh_from_db()
    assert "Nope" in job.last_error and group.status == Status.FAILED
    with pytest.raises(MergeRoleRefused) as refused:
        merge_job_retry(job=job, actor=steward)
    assert isinstance(refused.value, MergeRefused)
    merge_job_retry(job=job, actor=admin)
    group.refresh_from_db()
    assert group.status == Status.APPROVED
    assert AuditEvent.objects.filter(action="merge.retried", actor=admin).count() == 1
    assert merge_jobs_run_due().succeeded == [job.pk]
    assert [c["status"] for c in merge_calls(merge_ctl, merge_domain)] == [400, 200]
    with pytest.raises(NotRetryable, match="Only a failed merge"):
        merge_job_retry(job=job, actor=admin)


def test_later_chunks_wait_until_aws_has_really_merged_the_field_source_chunk(
    merge_ctl, merge_domain, steward, monkeypatch
):
    """MergeProfiles may answer before it has merged. Sending chunk 2 (main named as every source) before chunk 1
    has landed could lock in the main profile's old values, so chunk 2 waits for BatchGetProfile to confirm."""
    from matches import aws

    group = make_group(merge_ctl, merge_domain, 25)
    ids = group.profile_ids
    main = ids[0]
    job = approve(group, steward, main=main, field_sources={"FirstName": ids[-1]})
    real = aws.merge_profiles
    accepted = []

    def answers_before_merging(domain, **kwargs):
        if not accepted:
            accepted.append(kwargs)
            return "Accepted: merging"
        return real(domain, **kwargs)

    monkeypatch.setattr(aws, "merge_profiles", answers_before_merging)
    assert merge_jobs_run_due().deferred == [job.pk]
    job.refresh_from_db()
    assert job.chunks_done == 1 and job.inflight_chunk == 0 and "still exist" in job.last_error
    assert merge_calls(merge_ctl, merge_domain) == []  # chunk 2 was not sent

    real(merge_domain, **accepted[0])  # AWS finishes chunk 1 in its own time
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    assert merge_jobs_run_due().succeeded == [job.pk]
    calls = merge_calls(merge_ctl, merge_domain)
    assert len(calls) == 2 and len(calls[1]["params"]["ProfileIdsToBeMerged"]) == 4  # chunk 1 never sent twice
    assert merge_ctl.get_profile(merge_domain.name, main)["FirstName"] == "First24"


def test_run_due_merges_command_fails_when_a_job_failed(merge_ctl, merge_domain, steward):
    from django.core.management import CommandError, call_command

    ok = make_group(merge_ctl, merge_domain, 2)
    bad = make_group(merge_ctl, merge_domain, 2)
    approve(ok, steward, main=ok.profile_ids[0])
    failing = approve(bad, steward, main=bad.profile_ids[0])
    merge_ctl.delete_profile(merge_domain.name, bad.profile_ids[0])
    with pytest.raises(CommandError, match=f"1 merge job\\(s\\) failed: {failing.pk}"):
        call_command("run_due_merges")
    assert MergeJob.objects.filter(status=JobStatus.SUCCEEDED).count() == 1
    call_command("run_due_merges")  # nothing due any more: success


def test_a_worker_that_lost_its_claim_stops_before_calling(merge_ctl, merge_domain, steward):
    from matches.services.merges import merge_job_claim, merge_job_execute

    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    claimed, token = merge_job_claim(worker_id="slow")
    # Presumed dead, its job was taken over by another worker.
    MergeJob.objects.filter(pk=job.pk).update(worker="fresh:abc")
    assert merge_job_execute(job=claimed, token=token) == "lost"
    assert merge_calls(merge_ctl, merge_domain) == []
    assert MergeJob.objects.get(pk=job.pk).worker == "fresh:abc"


def test_only_a_running_job_with_a_stale_heartbeat_is_taken_over(merge_ctl, merge_domain, steward, settings):
    from matches.services.merges import merge_job_claim

    group = make_group(merge_ctl, merge_domain, 2)
    job = approve(group, steward, main=group.profile_ids[0])
    assert merge_job_claim(worker_id="first") is not None
    assert merge_job_claim(worker_id="second") is None  # alive: its heartbeat is fresh
    stale = timezone.now() - timezone.timedelta(seconds=settings.MATCHDESK["MERGE_STALE_SECONDS"] + 1)
    MergeJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    taken, token = merge_job_claim(worker_id="second")
    assert taken.pk == job.pk and token.startswith("second:") and taken.attempts == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("merge_role_groups")
def test_two_workers_claiming_at_once_get_one_job_each_never_the_same(merge_ctl, merge_domain, steward):
    import threading

    from django.db import connection

    from matches.services.merges import merge_job_claim

    groups = [make_group(merge_ctl, merge_domain, 2) for _ in range(6)]
    jobs = [approve(g, steward, main=g.profile_ids[0]) for g in groups]
    barrier = threading.Barrier(4)
    got: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            barrier.wait()
            while (claimed := merge_job_claim(worker_id=f"w{n}")) is not None:
                with lock:
                    got.append(claimed[0].pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(j.pk for j in jobs)  # each claimed exactly once
    assert set(MergeJob.objects.values_list("attempts", flat=True)) == {1}


def test_more_field_sources_than_one_call_takes_fails_with_a_reason():
    from matches.models import Decision
    from matches.services.merges import MergePlanError
    from tests.merging import new_ids

    ids = new_ids(23)
    decision = Decision(
        main_profile_id=ids[0],
        merged_profile_ids=ids[1:],
        field_sources={f"Attributes.k{i}": pid for i, pid in enumerate(ids[1:22])},
    )
    with pytest.raises(MergePlanError, match="21 different profiles are chosen as field sources"):
        merge_plan(decision)
    decision.field_sources = {f"Attributes.k{i}": pid for i, pid in enumerate(ids[1:21])}
    plan = merge_plan(decision)
    assert plan == [sorted(ids[1:21]), ids[21:]]


def test_aws_unreachable_defers_the_job_without_a_call(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 2)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_domain.endpoint_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    merge_domain.save()
    assert merge_jobs_run_due().deferred == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and "Could not re-check the profiles" in job.last_error
    assert job.aws_messages[-1]["operation"] == "BatchGetProfile" and not job.aws_messages[-1]["ok"]
    assert merge_calls(merge_ctl, merge_domain) == []
    assert MatchGroup.objects.get(pk=group.pk).status == Status.APPROVED
