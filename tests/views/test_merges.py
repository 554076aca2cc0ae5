"""The Merges page: who sees and does what (roles enforced on the server), filters, htmx partials."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from matches.models import AuditEvent, MatchGroup, MergeJob, OpsSwitch
from matches.services.decisions import group_merge_approve
from matches.services.groups import bins_add, groups_set_status
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id

JobStatus = MergeJob.Status


def scheduled_job(domain, actor, n: int = 0, seconds: int = 120) -> MergeJob:
    run = MatchRunFactory(domain=domain)
    ids = sorted(hex_id(1000 * (n + 1) + i) for i in range(3))
    group = MatchGroupFactory(run=run, profile_ids=ids)
    bins_add(run=run, scores=[group.confidence_score])
    for pid in ids:
        ProfileFactory(domain=domain, profile_id=pid)
    decision = group_merge_approve(group=group, actor=actor, main_profile_id=ids[0])
    job = MergeJob.objects.get(decision=decision)
    MergeJob.objects.filter(pk=job.pk).update(not_before=timezone.now() + timedelta(seconds=seconds))
    job.refresh_from_db()
    return job


def fail(job: MergeJob, reason: str) -> MergeJob:
    MergeJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED,
        last_error=reason,
        attempts=1,
        finished_at=timezone.now(),
        aws_messages=[
            {
                "at": timezone.now().isoformat(),
                "attempt": 1,
                "operation": "MergeProfiles",
                "chunk": 0,
                "ids": ["a" * 32],
                "ok": False,
                "code": "BadRequestException",
                "message": "<b>Profiles not found</b>",
            }
        ],
    )
    groups_set_status(queryset=MatchGroup.objects.filter(pk=job.decision.group_id), status="failed", reason=reason)
    job.refresh_from_db()
    return job


@pytest.fixture
def job(domain, steward):
    return scheduled_job(domain, steward)


@pytest.mark.parametrize("persona", ["steward", "admin", "auditor"])
def test_every_role_reads_the_merges_page(request, login, job, persona):
    client = login(request.getfixturevalue(persona))
    response = client.get(reverse("merges"))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="job-{job.pk}"' in body and "merges in 1 m" in body
    assert 'hx-trigger="every 5s"' in body  # the countdown refreshes itself


def test_outsider_and_anonymous_cannot_read(client, login, outsider, job):
    assert client.get(reverse("merges")).status_code == 302
    assert login(outsider).get(reverse("merges")).status_code == 403


def test_failed_job_shows_its_reason_and_escaped_aws_messages(login, auditor, job):
    fail(job, "The main profile x no longer exists at AWS")
    body = login(auditor).get(reverse("merges"), {"status": "failed"}).content.decode()
    assert "The main profile x no longer exists at AWS" in body
    assert "&lt;b&gt;Profiles not found&lt;/b&gt;" in body and "<b>Profiles not found</b>" not in body
    assert "Retry" not in body  # auditors do not retry


def test_filters_by_status_and_domain(login, admin, steward, domain):
    other = DomainFactory(name="other")
    mine = scheduled_job(domain, steward, 1)
    theirs = scheduled_job(other, steward, 2)
    failed = fail(scheduled_job(domain, steward, 3), "boom")
    client = login(admin)
    body = client.get(reverse("merges"), {"domain": "other"}).content.decode()
    assert f'id="job-{theirs.pk}"' in body and f'id="job-{mine.pk}"' not in body
    body = client.get(reverse("merges"), {"status": "failed"}).content.decode()
    assert f'id="job-{failed.pk}"' in body and f'id="job-{mine.pk}"' not in body
    htmx = client.get(reverse("merges"), {"status": "scheduled"}, HTTP_HX_REQUEST="true").content.decode()
    assert htmx.lstrip().startswith('<div id="merge-jobs">') and "<html" not in htmx


def test_page_queries_do_not_grow_with_jobs(login, admin, steward, domain, django_assert_max_num_queries):
    for n in range(15):
        scheduled_job(domain, steward, n)
    client = login(admin)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("merges")).status_code == 200


def test_the_approver_undoes_from_the_merges_page(login, steward, job):
    response = login(steward).post(reverse("merge-undo", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert MatchGroup.objects.get(pk=job.decision.group_id).status == "open"


def test_another_steward_cannot_undo_but_an_admin_can(login, steward2, admin, job):
    response = login(steward2).post(reverse("merge-undo", args=[job.pk]), follow=True)
    assert "Only the steward who approved this merge, or an admin" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED
    login(admin).post(reverse("merge-undo", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_auditor_cannot_undo(login, auditor, job):
    assert login(auditor).post(reverse("merge-undo", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED


def test_undo_with_htmx_returns_the_row(login, steward, job):
    response = login(steward).post(reverse("merge-undo", args=[job.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="job-{job.pk}"')
    assert "undone" in body and "back in its queue" in body
    assert "hx-trigger" not in body  # a finished job stops polling


def test_undo_button_only_for_the_approver_or_an_admin(login, steward, steward2, admin, job):
    undo = reverse("merge-undo", args=[job.pk])
    assert undo in login(steward).get(reverse("merges")).content.decode()
    assert undo not in login(steward2).get(reverse("merges")).content.decode()
    assert undo in login(admin).get(reverse("merges")).content.decode()


def test_admin_retries_a_failed_job_and_it_is_audited(login, admin, job):
    fail(job, "AWS refused")
    response = login(admin).post(reverse("merge-retry", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.SCHEDULED and job.not_before <= timezone.now()
    assert MatchGroup.objects.get(pk=job.decision.group_id).status == "approved"
    event = AuditEvent.objects.get(action="merge.retried")
    assert event.actor == admin and event.details["previous_error"] == "AWS refused"


@pytest.mark.parametrize("persona", ["steward", "auditor"])
def test_only_admins_retry(request, login, job, persona):
    fail(job, "AWS refused")
    assert login(request.getfixturevalue(persona)).post(reverse("merge-retry", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_retrying_a_job_that_did_not_fail_is_refused(login, admin, job):
    response = login(admin).post(reverse("merge-retry", args=[job.pk]), follow=True)
    assert "Only a failed merge can be retried" in response.content.decode()


def test_admin_pauses_and_resumes_a_domain(login, admin, domain):
    client = login(admin)
    client.post(reverse("merges-pause-domain", args=[domain.name]), {"paused": "1"})
    domain.refresh_from_db()
    assert domain.merges_paused
    client.post(reverse("merges-pause-domain", args=[domain.name]), {"paused": "0"})
    domain.refresh_from_db()
    assert not domain.merges_paused
    assert list(AuditEvent.objects.filter(object_type="domain").values_list("action", flat=True)) == [
        "merges.paused",
        "merges.resumed",
    ]


def test_admin_pauses_all_merges(login, admin):
    body = login(admin).post(reverse("merges-pause-all"), {"paused": "1"}, follow=True).content.decode()
    assert OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    assert "All merges paused" in body and "Resume all merges" in body


@pytest.mark.parametrize("persona", ["steward", "auditor"])
def test_only_admins_pause(request, login, domain, persona):
    client = login(request.getfixturevalue(persona))
    assert client.post(reverse("merges-pause-domain", args=[domain.name]), {"paused": "1"}).status_code == 403
    assert client.post(reverse("merges-pause-all"), {"paused": "1"}).status_code == 403
    domain.refresh_from_db()
    assert not domain.merges_paused and not OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    assert "Pause all merges" not in client.get(reverse("merges")).content.decode()


def test_countdown_partial_for_the_group_page(login, steward, job):
    body = login(steward).get(reverse("merge-countdown", args=[job.pk])).content.decode()
    assert f'id="merge-countdown-{job.pk}"' in body and "merges in 1 m" in body
    assert reverse("merge-countdown", args=[job.pk]) in body  # it polls itself while waiting


def test_next_must_stay_on_this_site(login, admin, domain):
    response = login(admin).post(
        reverse("merges-pause-domain", args=[domain.name]), {"paused": "1", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("merges")


def test_a_paused_domain_reads_paused_not_due_now_and_rows_name_the_customer(login, steward, domain):
    job = scheduled_job(domain, steward, 1, seconds=-30)
    MatchGroup.objects.filter(pk=job.decision.group_id).update(display_names="Ann Lee · A. Lee")
    client = login(steward)
    row = client.get(reverse("merges")).content.decode().split(f'id="job-{job.pk}"')[1].split("</tr>")[0]
    assert "due now" in row and "Ann Lee · A. Lee" in row
    domain.merges_paused = True
    domain.save(update_fields=["merges_paused"])
    for url in (reverse("merges"), reverse("merge-row", args=[job.pk]), reverse("merge-countdown", args=[job.pk])):
        html = client.get(url).content.decode()
        assert "due now" not in html and ">paused</span>" in html
    # One meaning for the time a row shows: when it was approved (the status says what comes next).
    page = client.get(reverse("merges")).content.decode()
    assert "<th>When</th>" not in page and "<th>Approved</th>" in page
