"""History records as the witness of a merge (services/merges/witness.py): after an uncertain MergeProfiles
outcome, "gone" counts as merged only when AWS's ListProfileHistoryRecords says so."""

from __future__ import annotations

from django.utils import timezone

from matches.models import AuditEvent, MatchGroup, MergeJob
from matches.services.merges import merge_jobs_run_due
from tests.merging import approve, make_group, merge_calls

Status = MatchGroup.Status
JobStatus = MergeJob.Status


def history_messages(job: MergeJob) -> list[dict]:
    return [m for m in job.aws_messages if m["operation"] == "ListProfileHistoryRecords"]


def test_a_500_after_merging_is_confirmed_by_merged_and_deleted_by_merge_records(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(merge_500_after_merge=1)

    assert merge_jobs_run_due().succeeded == [job.pk]

    job.refresh_from_db()
    [witnessed] = history_messages(job)
    assert witnessed["ok"] and witnessed["message"].startswith("2 witnessed merged")
    assert len(merge_calls(merge_ctl, merge_domain)) == 1


def test_a_profile_deleted_by_its_customer_during_an_unclear_call_sends_the_job_back(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 4)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 500}])
    assert merge_jobs_run_due().deferred == [job.pk]
    # Before the next attempt the customer asked AWS to delete one of them: gone, but not by this merge.
    merge_ctl.delete_profile(merge_domain.name, group.profile_ids[2])
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())

    assert merge_jobs_run_due().sent_back == [job.pk]

    job.refresh_from_db()
    group.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and group.status == Status.OPEN
    assert f"{group.profile_ids[2]}: DELETED_BY_CUSTOMER" in job.last_error
    assert "vanished at AWS for another reason" in group.status_reason
    assert [c["status"] for c in merge_calls(merge_ctl, merge_domain)] == [500]  # nothing more was sent
    event = AuditEvent.objects.filter(action="merge.sent_back", object_id=str(job.pk)).get()
    assert "DELETED_BY_CUSTOMER" in event.details["reason"]


def test_a_profile_merged_elsewhere_before_the_job_started_is_not_taken_for_this_merge(
    merge_ctl, merge_domain, steward
):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(fail_next=[{"operation": "MergeProfiles", "status": 500}])
    assert merge_jobs_run_due().deferred == [job.pk]
    other_main = group.profile_ids[1]
    merge_ctl.delete_profile(merge_domain.name, group.profile_ids[2], action="DELETED_BY_MERGE", main=other_main)
    # As if the record were from long before this job: its start moves to after the record.
    MergeJob.objects.filter(pk=job.pk).update(
        not_before=timezone.now(), started_at=timezone.now() + timezone.timedelta(minutes=10)
    )

    assert merge_jobs_run_due().sent_back == [job.pk]
    job.refresh_from_db()
    assert "before this merge job started" in job.last_error


def test_history_that_cannot_be_read_leaves_the_recheck_to_decide_and_says_so(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(
        merge_500_after_merge=1, fail_next=[{"operation": "ListProfileHistoryRecords", "status": 403, "count": 5}]
    )

    assert merge_jobs_run_due().succeeded == [job.pk]
    job.refresh_from_db()
    [refused] = history_messages(job)
    assert not refused["ok"] and refused["code"] == "AccessDeniedException"


def test_a_throttled_history_call_defers_and_the_next_attempt_confirms(merge_ctl, merge_domain, steward):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, steward, main=group.profile_ids[0])
    merge_ctl.set_faults(
        merge_500_after_merge=1, fail_next=[{"operation": "ListProfileHistoryRecords", "status": 429, "count": 1}]
    )
    assert merge_jobs_run_due().deferred == [job.pk]
    job.refresh_from_db()
    assert "history records that witness" in job.last_error and job.inflight_chunk == 0
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now())

    assert merge_jobs_run_due().succeeded == [job.pk]
    assert len(merge_calls(merge_ctl, merge_domain)) == 1  # never sent twice


def test_the_profile_timeline_shows_aws_history_records_beside_the_decision(
    merge_ctl, merge_domain, steward, auditor, client
):
    group = make_group(merge_ctl, merge_domain, 2)
    main, other = group.profile_ids
    job = approve(group, steward, main=main)
    assert merge_jobs_run_due().succeeded == [job.pk]
    client.force_login(auditor)

    page = client.get(f"/profiles/{merge_domain.name}/{other}/").content.decode()
    main_page = client.get(f"/profiles/{merge_domain.name}/{main}/").content.decode()

    history = page[page.index('id="aws-history"') :]
    assert "DELETED_BY_MERGE" in history and "arn:aws:iam::000000000000:user/matchdesk" in history
    assert "MERGED" in main_page[main_page.index('id="aws-history"') :]
    assert "Merge" in page[: page.index('id="aws-history"')]  # Matchdesk's decision, in the timeline above
