"""S3 ingestion (services/pulls/s3.py) against the emulator and moto's S3 server over HTTP: the same groups,
quarantine and histogram as a GetMatches pull, every object once, layouts detected by content, reconciliation."""

from __future__ import annotations

import gzip

import boto3
import pytest
from botocore.config import Config
from django.db.models import Sum

from matches import aws
from matches.models import ExportObject, MatchGroup, MatchRun, QuarantinedMatch, RunScoreBin
from matches.services import enqueue
from matches.services.pulls import pull_domain
from matches.services.pulls.s3 import export_object_ingest
from tests.emulator_fixtures import match

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def queued(monkeypatch):
    """The door to Celery, recorded: the object ids a pull hands to workers."""
    ids: list[int] = []
    monkeypatch.setattr(enqueue, "s3_objects", lambda *, object_ids: ids.extend(object_ids))
    return ids


def items_with_faults(n: int) -> list[dict]:
    items = [match(i, size=2 + i % 3, score=(i % 97) / 97) for i in range(n)]
    items.insert(5, {"MatchId": "bad-1", "ProfileIds": ["nope"], "ConfidenceScore": 0.5})
    items.insert(9, {**items[2], "ConfidenceScore": 0.01})  # a conflicting copy of a MatchId
    items.insert(12, dict(items[3]))  # an identical repeat
    return items


def snapshot(run: MatchRun) -> dict:
    return {
        "groups": {
            (m, tuple(p), s, z)
            for m, p, s, z in MatchGroup.objects.filter(run=run).values_list(
                "match_id", "profile_ids", "confidence_score", "size"
            )
        },
        "bins": set(RunScoreBin.objects.filter(run=run).values_list("bin", "total", "open")),
        "quarantined": QuarantinedMatch.objects.filter(run=run).count(),
    }


def drain(ids: list[int]) -> list[str]:
    """Run the queued object tasks in order, as workers would (each call is one task)."""
    done = []
    while ids:
        done.append(export_object_ingest(object_id=ids.pop(0)))
    return done


def s3_client(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(s3={"addressing_style": "path"}),
    )


def location(domain) -> tuple[str, str]:
    job = aws.list_identity_resolution_jobs(domain)[0]
    found = aws.s3_location(aws.get_identity_resolution_job(domain, job_id=job["JobId"]).get("ExportingLocation"))
    assert found is not None
    return found


@pytest.mark.django_db(transaction=True)
def test_an_s3_pull_stores_exactly_what_a_get_matches_pull_stores(s3_domain, emulated_domain, queued):
    items = items_with_faults(300)
    domain, twin = s3_domain(items, parts=4), emulated_domain(items=items)

    started = pull_domain(domain=domain)
    assert started.status == "ingesting"
    assert len(queued) == 4
    assert drain(queued) == ["done"] * 4

    run = MatchRun.objects.get(pk=started.run_id)
    reference = MatchRun.objects.get(pk=pull_domain(domain=twin).run_id)
    assert run.status == "completed" and run.source == "s3"
    assert snapshot(run) == snapshot(reference)
    assert (run.groups_seen, run.groups_stored, run.quarantined) == (303, 300, 2)
    assert run.reconciliation["ok"] is False  # one identical repeat: read, not stored
    assert run.reconciliation["potential_matches"] == run.reconciliation["matches_found"] == 303
    assert run.reconciliation["mismatches"] == ["1 of 303 records are repeats of a MatchId already stored"]
    assert set(ExportObject.objects.filter(run=run).values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl"])
def test_each_layout_is_detected_by_content_and_reconciles(s3_domain, queued, fmt):
    items = [match(i, size=2 + i % 4, score=0.5 + (i % 50) / 100) for i in range(120)]
    domain = s3_domain(items, format=fmt, parts=2)

    run_id = pull_domain(domain=domain).run_id
    drain(queued)

    run = MatchRun.objects.get(pk=run_id)
    assert run.status == "completed" and run.groups_stored == 120 and run.quarantined == 0
    assert run.reconciliation["ok"] is True, run.reconciliation
    layout = "csv" if fmt.startswith("csv") else "jsonl"
    assert set(ExportObject.objects.filter(run=run).values_list("layout", flat=True)) == {layout}
    assert MatchGroup.objects.filter(run=run).aggregate(n=Sum("size"))["n"] == sum(2 + i % 4 for i in range(120))


@pytest.mark.django_db(transaction=True)
def test_an_object_of_another_layout_is_quarantined_with_its_reason(s3_domain, queued, moto_s3):
    domain = s3_domain([match(i) for i in range(40)], parts=2)
    bucket, prefix = location(domain)
    s3_client(moto_s3.url).put_object(Bucket=bucket, Key=f"{prefix}zz-notes.txt", Body=b"hello, world\nnot a layout")
    s3_client(moto_s3.url).put_object(Bucket=bucket, Key=f"{prefix}zz-cut.json.gz", Body=gzip.compress(b"{}\n")[:-6])

    run_id = pull_domain(domain=domain).run_id
    drain(queued)

    run = MatchRun.objects.get(pk=run_id)
    reasons = sorted(QuarantinedMatch.objects.filter(run=run).values_list("reason", flat=True))
    assert run.status == "completed" and run.groups_stored == 40
    assert "ends before its end marker" in reasons[0] and "zz-cut.json.gz" in reasons[0]
    assert "neither JSON Lines" in reasons[1] and "'hello, world'" in reasons[1]


@pytest.mark.django_db(transaction=True)
def test_a_missing_object_shows_as_a_mismatch_with_the_figures(s3_domain, queued, moto_s3, admin_client):
    domain = s3_domain([match(i) for i in range(90)], parts=3)
    bucket, prefix = location(domain)
    s3_client(moto_s3.url).delete_object(Bucket=bucket, Key=f"{prefix}part-00001.json.gz")

    run_id = pull_domain(domain=domain).run_id
    drain(queued)

    run = MatchRun.objects.get(pk=run_id)
    assert run.status == "completed" and run.groups_stored == 60
    assert run.reconciliation["mismatches"] == [
        "60 records read from the export, PotentialMatches says 90",
        "60 records read from the export, JobStats.NumberOfMatchesFound says 90",
    ]
    page = admin_client.get(f"/admin/runs/{run.pk}/").content.decode()
    assert "does not reconcile" in page and "JobStats.NumberOfMatchesFound says 90" in page


@pytest.mark.django_db(transaction=True)
def test_an_object_is_read_once_however_often_its_task_runs(s3_domain, queued):
    domain = s3_domain([match(i) for i in range(50)], parts=2)
    run_id = pull_domain(domain=domain).run_id
    first, second = queued

    assert export_object_ingest(object_id=first) == "done"
    assert export_object_ingest(object_id=first) == "finished"
    assert export_object_ingest(object_id=second) == "done"
    assert export_object_ingest(object_id=second) == "finished"
    run = MatchRun.objects.get(pk=run_id)
    assert run.status == "completed" and run.groups_seen == 50 and run.groups_stored == 50


@pytest.mark.django_db(transaction=True)
def test_a_second_pull_of_the_same_job_is_unchanged_and_a_job_without_export_pages_get_matches(
    s3_domain, emulated_domain, queued
):
    domain = s3_domain([match(i) for i in range(30)], parts=1)
    pull_domain(domain=domain)
    drain(queued)
    assert pull_domain(domain=domain).status == "unchanged"

    plain = emulated_domain(items=[match(i) for i in range(30)])
    plain.results_source = "s3"
    plain.save()
    result = pull_domain(domain=plain)
    assert result.status == "completed" and queued == []
    assert MatchRun.objects.get(pk=result.run_id).source == "get_matches"


@pytest.mark.django_db(transaction=True)
def test_throttling_and_5xx_on_the_job_calls_are_retried(s3_domain, queued, emu):
    domain = s3_domain([match(i) for i in range(60)], parts=2)
    emu.set_faults(
        fail_next=[
            {"operation": "GetIdentityResolutionJob", "status": 429, "count": 2},
            {"operation": "ListIdentityResolutionJobs", "status": 500, "count": 2},
            {"operation": "GetMatches", "status": 429, "count": 3},
        ]
    )

    run_id = pull_domain(domain=domain).run_id
    drain(queued)

    run = MatchRun.objects.get(pk=run_id)
    assert run.status == "completed" and run.groups_stored == 60 and run.reconciliation["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_s3_throttling_5xx_and_bodies_cut_mid_stream_store_every_group_once(s3_domain, queued, faulty_s3, settings):
    items = items_with_faults(2000)
    domain = s3_domain(items, parts=3)
    proxy = faulty_s3(fail_every=3, cut_every=4)
    settings.MATCHDESK = {**settings.MATCHDESK, "S3_RECORDS_PER_TRANSACTION": 150}

    run_id = pull_domain(domain=domain).run_id
    drain(queued)

    run = MatchRun.objects.get(pk=run_id)
    assert proxy.failed > 0 and proxy.cut > 0
    assert run.status == "completed"
    assert (run.groups_seen, run.groups_stored, run.quarantined) == (2003, 2000, 2)
    assert MatchGroup.objects.filter(run=run).count() == 2000
    assert RunScoreBin.objects.filter(run=run).aggregate(n=Sum("total"))["n"] == 2000


@pytest.mark.django_db(transaction=True)
def test_s3_failing_through_every_retry_leaves_the_object_for_the_task_to_retry(s3_domain, queued, faulty_s3):
    from matches.services.backoff import AwsRetriesExhausted

    domain = s3_domain([match(i) for i in range(40)], parts=1)
    proxy = faulty_s3()
    run_id = pull_domain(domain=domain).run_id
    [object_id] = queued
    proxy.fail_every = 1  # S3 answers nothing but SlowDown and InternalError now

    with pytest.raises(AwsRetriesExhausted):
        export_object_ingest(object_id=object_id)
    assert ExportObject.objects.get(pk=object_id).status == "pending"
    assert MatchRun.objects.get(pk=run_id).status == "running"

    proxy.fail_every = 0
    assert export_object_ingest(object_id=object_id) == "done"
    assert MatchRun.objects.get(pk=run_id).status == "completed"
