from decimal import Decimal

import pytest
from django.urls import reverse

from matches import roles
from matches.models import AuditEvent, BulkJob, Decision, Domain, MatchRun, OpsSwitch, QuarantinedMatch
from matches.services.qa import qa_sample_draw
from tests.admin_helpers import bulk_evidence, run_with_scores
from tests.factories import MatchRunFactory, UserFactory

# Every admin page and action: (method, url name, kwargs).
ADMIN_ENDPOINTS = [
    ("get", "admin-domains", {}),
    ("post", "admin-domain-add", {}),
    ("get", "admin-domain-edit", {"name": "demo"}),
    ("post", "admin-domain-edit", {"name": "demo"}),
    ("post", "admin-domain-test", {"name": "demo"}),
    ("get", "admin-domain-auto-merging", {"name": "demo"}),
    ("get", "admin-domain-drift", {"name": "demo"}),
    ("get", "admin-thresholds", {"name": "demo"}),
    ("get", "admin-thresholds-preview", {"name": "demo"}),
    ("post", "admin-thresholds-save", {"name": "demo"}),
    ("post", "admin-qa-draw", {"name": "demo"}),
    ("get", "admin-bulk", {"name": "demo", "queue": "merge"}),
    ("post", "admin-bulk", {"name": "demo", "queue": "reject"}),
    ("get", "admin-bulk-job", {"pk": 1}),
    ("post", "admin-pull", {"name": "demo"}),
    ("post", "merges-pause-domain", {"name": "demo"}),
    ("get", "admin-runs", {}),
    ("get", "admin-run", {"pk": 1}),
    ("post", "admin-quarantine-ack", {"pk": 1}),
    ("get", "admin-operations", {}),
    ("post", "merges-pause-all", {}),
    ("get", "admin-users", {}),
    ("post", "admin-user-add", {}),
    ("post", "admin-user-roles", {"pk": 1}),
    ("post", "admin-user-active", {"pk": 1}),
]
IDS = [f"{m}-{name}" for m, name, _ in ADMIN_ENDPOINTS]


@pytest.mark.parametrize(("method", "name", "kwargs"), ADMIN_ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("persona", ["steward", "auditor", "outsider"])
def test_non_admins_are_refused_every_admin_page_and_action(request, login, domain, persona, method, name, kwargs):
    client = login(request.getfixturevalue(persona))
    response = getattr(client, method)(reverse(name, kwargs=kwargs), {"paused": "1", "on": "1"})
    assert response.status_code == 403
    assert not AuditEvent.objects.exclude(action__startswith="auth.").exists()
    assert not OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    assert not Domain.objects.get(name="demo").merges_paused


@pytest.mark.parametrize(("method", "name", "kwargs"), ADMIN_ENDPOINTS, ids=IDS)
def test_anonymous_is_sent_to_login(client, domain, method, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(("name", "kwargs"), [(n, k) for m, n, k in ADMIN_ENDPOINTS if m == "get"])
def test_admin_reaches_every_page(login, admin, domain, name, kwargs, django_assert_max_num_queries):
    run, _ = run_with_scores(domain, [0.1, 0.7, 0.97])
    QuarantinedMatch.objects.create(run=run, raw={"MatchId": "<b>x</b>"}, raw_hash="h", reason="bad")
    job = BulkJob.objects.create(
        domain=domain, run=run, queue="merge", action="merge", threshold_policy=domain.policy(),
        score_min=0.95, score_below=2, total=1, created_by=admin,
    )  # fmt: skip
    kwargs = {**kwargs, **({"pk": run.pk} if name == "admin-run" else {}), **({"pk": job.pk} if "job" in name else {})}
    client = login(admin)
    with django_assert_max_num_queries(40):
        response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code in (200, 302)


def test_admin_nav_link_shows_for_admins_only(login, admin, steward, domain):
    assert b'href="/admin/domains/"' in login(admin).get(reverse("home")).content
    assert b'href="/admin/domains/"' not in login(steward).get(reverse("home")).content


# Domains -----------------------------------------------------------------------------------------------------------


def _domain_post(**overrides):
    data = {
        "name": "acme_retail-1",
        "region": "eu-west-2",
        "endpoint_url": "",
        "role_arn": "",
        "undo_window_seconds": "0",
        "merge_rate_per_second": "3",
        "enabled": "on",
    }
    return {**data, **overrides}


def test_admin_adds_a_domain_with_an_undo_window_of_zero(login, admin):
    response = login(admin).post(reverse("admin-domain-add"), _domain_post())
    assert response.status_code == 302
    domain = Domain.objects.get(name="acme_retail-1")
    assert (domain.region, domain.undo_window_seconds, domain.merge_rate_per_second) == ("eu-west-2", 0, 3)
    assert domain.policy() is not None
    assert AuditEvent.objects.get(action="domain.created").actor == admin


@pytest.mark.parametrize("bad", ["has space", "dots.not.allowed", "x" * 65, "ünï"])
def test_a_bad_domain_name_is_refused_with_aws_pattern(login, admin, bad):
    response = login(admin).post(reverse("admin-domain-add"), _domain_post(name=bad))
    assert response.status_code == 400
    assert "AWS&#x27;s pattern ^[a-zA-Z0-9_-]{1,64}$" in response.content.decode()
    assert not Domain.objects.exists()


def test_admin_edits_a_domain_and_the_change_is_audited(login, admin, domain):
    data = _domain_post(name="ignored", role_arn="arn:aws:iam::123456789012:role/md", blind_review_enforced="on")
    response = login(admin).post(reverse("admin-domain-edit", args=["demo"]), data)
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.name == "demo"  # the name is not editable
    assert domain.role_arn.endswith("role/md") and domain.blind_review_enforced and domain.undo_window_seconds == 0
    changes = AuditEvent.objects.get(action="domain.updated").details["changes"]
    assert changes["region"] == ["us-east-1", "eu-west-2"]


def test_test_connection_shows_matching_schedule_and_aws_auto_merging(login, admin):
    from emulator.testing import EmulatorControl, EmulatorThread

    with EmulatorThread() as emu:
        EmulatorControl(emu.url).create_domain(
            "conn",
            customers=5,
            job_schedule={"DayOfTheWeek": "SUNDAY", "Time": "03:30"},
            auto_merging={"Enabled": True, "MinAllowedConfidenceScoreForMerging": 0.98},
        )
        Domain.objects.create(name="conn", endpoint_url=emu.url)
        response = login(admin).post(reverse("admin-domain-test", args=["conn"]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="connection"' in html and "<html" not in html
    assert "matching on" in html
    assert "Sunday at 03:30 UTC" in html
    assert "AWS merges profiles itself when a match scores at least 0.98" in html


def test_test_connection_shows_aws_error_message(login, admin):
    from emulator.testing import EmulatorThread

    with EmulatorThread() as emu:
        Domain.objects.create(name="unknown-here", endpoint_url=emu.url)
        response = login(admin).post(reverse("admin-domain-test", args=["unknown-here"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "ResourceNotFoundException" in html
    assert "Check the domain name and region" in html


# Thresholds ----------------------------------------------------------------------------------------------------------


def test_saving_thresholds_writes_a_policy_and_shows_it(login, admin, domain):
    client = login(admin)
    response = client.post(
        reverse("admin-thresholds-save", args=["demo"]), {"merge_min": "0.97", "reject_below": "0.4", "note": "n1"}
    )
    assert response.status_code == 302
    assert (domain.policy().merge_min, domain.policy().reject_below) == (Decimal("0.970"), Decimal("0.400"))
    page = client.get(reverse("admin-thresholds", args=["demo"])).content.decode()
    assert "n1" in page and "0.970" in page


def test_invalid_thresholds_are_shown_and_not_saved(login, admin, domain):
    response = login(admin).post(
        reverse("admin-thresholds-save", args=["demo"]), {"merge_min": "0.5", "reject_below": "0.7"}
    )
    assert response.status_code == 400
    assert "cannot be higher than merge from" in response.content.decode()
    assert domain.threshold_policies.count() == 1


def test_the_htmx_preview_returns_only_the_chart_and_counts(login, admin, domain):
    run_with_scores(domain, [0.1, 0.5, 0.65, 0.9, 0.96, 0.99])
    url = reverse("admin-thresholds-preview", args=["demo"])
    response = login(admin).get(url, {"merge_min": "0.9", "reject_below": "0.6"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and "<svg" in html
    assert 'data-q="before-merge">2<' in html and 'data-q="after-merge">3<' in html
    assert 'data-q="before-reject">2<' in html and 'data-q="after-reject">2<' in html
    assert 'data-q="after-review">1<' in html
    bad = login(admin).get(url, {"merge_min": "0.9", "reject_below": "0.95"}, HTTP_HX_REQUEST="true")
    assert "cannot be higher" in bad.content.decode()


def test_without_javascript_the_preview_button_reloads_the_page_with_the_proposal(login, admin, domain):
    run_with_scores(domain, [0.1, 0.5, 0.65, 0.9, 0.96, 0.99])
    client = login(admin)
    html = client.get(reverse("admin-thresholds", args=["demo"]), {"merge_min": "0.9", "reject_below": "0.6"})
    html = html.content.decode()
    assert (
        'data-q="after-merge">3<' in html
        and 'name="merge_min" id="merge_min" min="0" max="1" step="0.001" value="0.900"' in html
    )
    # The sliders carry no name: the form submits one value per threshold.
    assert html.count('name="merge_min"') == 1 and html.count('name="reject_below"') == 1
    # The htmx endpoint, opened directly, sends the browser to the full page.
    response = client.get(reverse("admin-thresholds-preview", args=["demo"]), {"merge_min": "0.9"})
    assert response.status_code == 302 and "merge_min=0.9" in response.url


def test_thresholds_page_shows_evidence_and_qa_precision(login, admin, steward, domain):
    run, groups = run_with_scores(domain, [0.96, 0.97, 0.4])
    qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("1"), seed=5)
    from matches.services.decisions import group_merge_approve, group_reject

    group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    group_reject(group=groups[2], actor=steward)
    html = login(admin).get(reverse("admin-thresholds", args=["demo"])).content.decode()
    # Issue 12: the band table gave way to queue-level estimates; the page says which decisions count.
    assert "2 decisions count:" in html and f"2 from run {run.pk}" in html
    assert 'id="qa-samples"' in html and "(1 to go)" in html


# Bulk ----------------------------------------------------------------------------------------------------------------


def test_bulk_confirmation_states_the_count_and_warns_without_a_qa_sample(login, admin, domain):
    run, _ = run_with_scores(domain, [0.96, 0.97, 0.98, 0.5])
    bulk_evidence(run, admin, queues=["merge"])
    client = login(admin)
    response = client.post(reverse("admin-bulk", args=["demo", "merge"]), {"step": "confirm", "scope": "all"})
    html = response.content.decode()
    assert "Confirm: approve merges 3 groups" in html
    assert "No QA sample of this queue has been checked" in html
    assert not Decision.objects.filter(bulk=True).exists()


def test_bulk_run_decides_each_group_and_shows_the_job(login, admin, steward, domain):
    run, groups = run_with_scores(domain, [0.96, 0.97, 0.98, 0.99, 0.5])
    bulk_evidence(run, steward, queues=["merge"])
    qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.25"), seed=1)
    from matches.models import QASampleItem
    from matches.services.decisions import group_merge_approve

    sampled = QASampleItem.objects.get().group
    group_merge_approve(group=sampled, actor=steward, main_profile_id=sampled.profile_ids[0])
    client = login(admin)
    confirm = client.post(reverse("admin-bulk", args=["demo", "merge"]), {"step": "confirm", "scope": "all"})
    assert "1 of 1</strong> decided groups agreed" in confirm.content.decode()
    response = client.post(
        reverse("admin-bulk", args=["demo", "merge"]),
        {"step": "run", "scope": "selected", "group": [g.pk for g in groups[:4]], "policy_id": domain.policy().pk},
    )
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin-bulk-job", args=[job.pk])
    assert (job.status, job.done, job.skipped) == ("done", 3, 1)
    assert Decision.objects.filter(bulk=True).count() == 3
    page = client.get(response.url).content.decode()
    assert "3 decided, 1 skipped" in page and "1 already decided" in page


# Runs and operations -------------------------------------------------------------------------------------------------


def test_pull_now_redirects_to_the_runs_page_with_a_message(login, admin, domain, celery_queue):
    response = login(admin).post(reverse("admin-pull", args=["demo"]), follow=True)
    assert "Pull of demo queued" in response.content.decode()
    assert AuditEvent.objects.filter(action="pull.requested").count() == 1


def test_a_running_pull_shows_live_progress_and_quarantine_escaped(login, admin, domain):
    run = MatchRunFactory(
        domain=domain, status=MatchRun.Status.RUNNING, potential_matches=1000, pages=3, groups_seen=300
    )
    item = QuarantinedMatch.objects.create(
        run=run, raw={"MatchId": "<script>alert(1)</script>"}, raw_hash="h", reason="bad id"
    )
    client = login(admin)
    runs = client.get(reverse("admin-runs")).content.decode()
    assert 'hx-trigger="every 2s"' in runs and "300 of 1000 groups" in runs and "30%" in runs
    detail = client.get(reverse("admin-run", args=[run.pk])).content.decode()
    assert "<script>alert(1)</script>" not in detail and "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    response = client.post(reverse("admin-quarantine-ack", args=[item.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "admin" in response.content.decode()
    item.refresh_from_db()
    assert item.acknowledged_by == admin


def test_operations_pauses_a_domain_and_all_merges(login, admin, domain):
    client = login(admin)
    # The Operations page's earlier addresses of the two pause actions keep working (one view each, `paused` field).
    client.post("/admin/domains/demo/pause/", {"paused": "1"})
    client.post("/admin/operations/pause-all/", {"paused": "1"})
    domain.refresh_from_db()
    assert domain.merges_paused and OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    paused = AuditEvent.objects.filter(action="merges.paused")
    assert sorted(paused.values_list("object_type", "details__scope")) == [("domain", "domain"), ("ops_switch", "all")]
    html = client.get(reverse("admin-operations")).content.decode()
    assert "All merges paused" in html and "No heartbeat yet" in html


@pytest.mark.parametrize("persona", ["steward", "auditor", "outsider"])
def test_non_admins_are_refused_the_earlier_pause_addresses(request, login, domain, persona):
    client = login(request.getfixturevalue(persona))
    assert client.post("/admin/domains/demo/pause/", {"paused": "1"}).status_code == 403
    assert client.post("/admin/operations/pause-all/", {"paused": "1"}).status_code == 403
    assert not OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES) and not Domain.objects.get(name="demo").merges_paused


def test_operations_page_pauses_and_comes_back(login, admin, domain):
    response = login(admin).post(
        reverse("merges-pause-domain", args=["demo"]), {"paused": "1", "next": reverse("admin-operations")}
    )
    assert response["Location"] == reverse("admin-operations")


def test_operations_warns_about_a_stale_heartbeat(login, admin):
    from datetime import timedelta

    from django.utils import timezone

    from matches.services.ops import heartbeat_record

    heartbeat_record(name="beat", kind="beat", at=timezone.now() - timedelta(minutes=3))
    heartbeat_record(name="worker:w1", kind="worker", at=timezone.now())
    html = login(admin).get(reverse("admin-operations")).content.decode()
    assert html.count("stale: silent for over 120 s") == 1 and "alive" in html
    assert "No worker has been heard from" not in html  # one worker is alive


def test_operations_says_when_the_last_worker_stopped(login, admin):
    from datetime import timedelta

    from django.utils import timezone

    from matches.services.ops import heartbeat_record

    stopped = timezone.now() - timedelta(minutes=5)
    heartbeat_record(name="worker:w1", kind="worker", at=stopped - timedelta(minutes=10))
    heartbeat_record(name="worker:w2", kind="worker", at=stopped)
    heartbeat_record(name="beat", kind="beat", at=timezone.now())
    html = login(admin).get(reverse("admin-operations")).content.decode()
    assert f"No worker has been heard from since {timezone.localtime(stopped):%Y-%m-%d %H:%M:%S}" in html


# Users ---------------------------------------------------------------------------------------------------------------


def test_admin_creates_a_user_and_assigns_roles(login, admin):
    client = login(admin)
    response = client.post(
        reverse("admin-user-add"),
        {"username": "newbie", "password": "a long enough pass", "roles": [roles.STEWARD]},
    )
    assert response.status_code == 302
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="newbie")
    assert roles.role_names(user) == [roles.STEWARD]
    client.post(reverse("admin-user-roles", args=[user.pk]), {"roles": [roles.AUDITOR, roles.ADMIN]})
    user = get_user_model().objects.get(pk=user.pk)
    assert roles.role_names(user) == [roles.ADMIN, roles.AUDITOR]
    client.post(reverse("admin-user-active", args=[user.pk]), {"active": "0"})
    user.refresh_from_db()
    assert not user.is_active


def test_removing_the_last_admin_is_refused_clearly(login, admin):
    client = login(admin)
    response = client.post(reverse("admin-user-roles", args=[admin.pk]), {"roles": [roles.STEWARD]}, follow=True)
    assert "This is the last admin" in response.content.decode()
    assert roles.ADMIN in roles.role_names(type(admin).objects.get(pk=admin.pk))
    response = client.post(reverse("admin-user-active", args=[admin.pk]), {"active": "0"}, follow=True)
    assert "This is the last admin" in response.content.decode()


def test_a_duplicate_username_is_refused(login, admin):
    UserFactory(username="taken")
    response = login(admin).post(reverse("admin-user-add"), {"username": "Taken", "password": "a long enough pass"})
    assert response.status_code == 400 and "exists already" in response.content.decode()
