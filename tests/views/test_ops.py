"""/healthz, /readyz and /metrics: no login; readiness against a redis-server the test stops; metrics as real
Prometheus text, parsed by prometheus_client's own parser."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from matches import aws
from matches.models import MatchRun, MergeJob, RunScoreBin
from matches.observability import counters
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory

TOKEN = "metrics-test-token-0123456789"


@pytest.fixture
def fresh_counters():
    for name in (counters.AWS_ERRORS, counters.MERGE_OUTCOMES):
        counters.reset(name)
    yield
    for name in (counters.AWS_ERRORS, counters.MERGE_OUTCOMES):
        counters.reset(name)


def scrape(client, **extra) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_when_database_redis_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["down"] == [] and set(body["checks"]) == {"database", "redis", "broker"}


@pytest.mark.django_db
def test_readyz_names_redis_and_broker_when_their_server_stops_and_answers_quickly(client, settings, own_redis):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = own_redis.url
    assert client.get("/readyz").status_code == 200  # the test's own server answers: the checks really use it

    own_redis.stop()
    started = time.monotonic()
    response = client.get("/readyz")
    took = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["down"] == ["redis", "broker"]
    assert body["checks"]["database"]["ok"] is True
    assert "Error" in body["checks"]["redis"]["error"]
    assert took < 3 * settings.READYZ_TIMEOUT + 1, took


@pytest.mark.django_db
def test_readyz_names_a_broker_that_does_not_answer_even_when_redis_does(client, settings, own_redis):
    own_redis.stop()
    settings.CELERY_BROKER_URL = own_redis.url
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["down"] == ["broker"]


@pytest.mark.django_db
def test_metrics_refuse_a_caller_outside_the_allowed_networks_without_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    # A forwarded header is written by the client: it never lets anyone in.
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 401


@pytest.mark.django_db
def test_metrics_without_a_token_setting_only_serve_the_allowed_networks(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 200
    )  # the test client is 127.0.0.1
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.django_db
def test_metrics_give_queue_sizes_per_domain_from_the_score_histogram(client, settings, django_assert_max_num_queries):
    settings.METRICS_TOKEN = TOKEN
    domain = DomainFactory(name="north")  # default policy: merge from 0.95, reject below 0.60
    old = MatchRunFactory(domain=domain)
    RunScoreBin.objects.create(run=old, bin=990, total=50, open=50)  # an older run does not count
    run = MatchRunFactory(domain=domain)
    MatchRun.objects.filter(pk=old.pk).update(finished_at="2026-01-01T00:00:00Z")
    MatchRun.objects.filter(pk=run.pk).update(finished_at="2026-02-01T00:00:00Z")
    RunScoreBin.objects.create(run=run, bin=960, total=4, open=3)
    RunScoreBin.objects.create(run=run, bin=700, total=2, open=2)
    RunScoreBin.objects.create(run=run, bin=100, total=9, open=4)
    DomainFactory(name="south")  # no run yet: zeros

    with django_assert_max_num_queries(12):
        samples = scrape(client)

    queues = samples["matchdesk_queue_open_groups"]
    assert queues[(("domain", "north"), ("queue", "merge"))] == 3
    assert queues[(("domain", "north"), ("queue", "review"))] == 2
    assert queues[(("domain", "north"), ("queue", "reject"))] == 4
    assert queues[(("domain", "south"), ("queue", "review"))] == 0
    assert samples["matchdesk_metrics_source_up"][(("source", "database"),)] == 1
    assert "django_http_requests_total_by_method_total" in samples  # django-prometheus' own


@pytest.mark.django_db
def test_metrics_show_the_progress_of_a_running_pull_only(client, settings):
    settings.METRICS_TOKEN = TOKEN
    running = MatchRunFactory(
        domain=DomainFactory(name="east"),
        status=MatchRun.Status.RUNNING,
        pages=7,
        groups_stored=650,
        groups_seen=700,
        potential_matches=1200,
    )
    MatchRunFactory(domain=DomainFactory(name="west"), pages=99)
    samples = scrape(client)
    labels = (("domain", "east"), ("run", str(running.pk)))
    assert samples["matchdesk_pull_pages"] == {labels: 7}
    assert samples["matchdesk_pull_groups_stored"] == {labels: 650}
    assert samples["matchdesk_pull_potential_matches"] == {labels: 1200}


@pytest.mark.django_db
def test_metrics_count_aws_errors_by_code_where_aws_py_translates_them(client, settings, fresh_counters, domain):
    settings.METRICS_TOKEN = TOKEN
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetMatches")
    for _ in range(3):
        assert isinstance(aws.translate(throttled, operation="GetMatches", domain=domain), aws.AwsThrottled)
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "MergeProfiles")
    aws.translate(denied, operation="MergeProfiles", domain=domain)

    errors = scrape(client)["matchdesk_aws_errors_total"]
    assert errors == {
        (("code", "ThrottlingException"), ("operation", "GetMatches")): 3,
        (("code", "AccessDeniedException"), ("operation", "MergeProfiles")): 1,
    }


@pytest.mark.django_db
def test_metrics_count_merge_outcomes_and_jobs_waiting(client, settings, fresh_counters, steward):
    from matches.services.decisions import group_merge_approve

    settings.METRICS_TOKEN = TOKEN
    group = MatchGroupFactory(run=MatchRunFactory(domain=DomainFactory(name="merging")))
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0], field_sources={})
    counters.count(counters.MERGE_OUTCOMES, "merging", "succeeded")
    counters.count(counters.MERGE_OUTCOMES, "merging", "deferred", by=2)

    samples = scrape(client)
    assert MergeJob.objects.get(decision=decision).status == MergeJob.Status.SCHEDULED
    assert samples["matchdesk_merge_jobs"][(("domain", "merging"), ("status", "scheduled"))] == 1
    outcomes = samples["matchdesk_merge_outcomes_total"]
    assert outcomes[(("domain", "merging"), ("outcome", "succeeded"))] == 1
    assert outcomes[(("domain", "merging"), ("outcome", "deferred"))] == 2


@pytest.mark.django_db
def test_metrics_still_answer_when_redis_is_down(client, settings, own_redis):
    settings.METRICS_TOKEN = TOKEN
    own_redis.stop()
    settings.REDIS_URL = own_redis.url
    samples = scrape(client)
    assert samples["matchdesk_metrics_source_up"] == {(("source", "database"),): 1, (("source", "redis"),): 0}
    assert "matchdesk_aws_errors_total" not in samples


def test_a_merge_job_run_counts_its_outcome(merge_ctl, merge_domain, steward, fresh_counters):
    from matches.services.merges import merge_jobs_run_due
    from tests.merging import approve, make_group

    group = make_group(merge_ctl, merge_domain, 2)
    approve(group, steward, main=group.profile_ids[0])
    summary = merge_jobs_run_due()

    assert summary.succeeded and not summary.failed
    assert counters.read(counters.MERGE_OUTCOMES) == {(merge_domain.name, "succeeded"): len(summary.succeeded)}


def test_probes_are_not_redirected_to_https_when_the_rest_is(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/login/").status_code == 301
