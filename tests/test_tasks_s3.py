"""S3 ingestion through real Celery: the pull hands one task per export object to the workers (a prefork worker with
two processes here), which read them in parallel into one run, and the last one completes it."""

from __future__ import annotations

import time

import pytest

from matches.models import ExportObject, MatchRun
from matches.services.pulls import pull_domain
from tests.emulator_fixtures import match
from tests.worker import CeleryWorker


def wait_for(predicate, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_workers_read_the_objects_of_an_export_and_the_last_completes_the_run(s3_domain, moto_s3, fast_retries):
    from reviewapp.celery import app
    from tests.merging import subprocess_env

    app.control.purge()
    worker = CeleryWorker(subprocess_env(MATCHDESK_S3_ENDPOINT_URL=moto_s3.url), concurrency=2).start()
    try:
        domain = s3_domain([match(i, score=(i % 50) / 50) for i in range(900)], parts=6)
        run_id = pull_domain(domain=domain).run_id

        assert wait_for(lambda: MatchRun.objects.get(pk=run_id).status == "completed"), worker.log()
    finally:
        worker.stop()
    run = MatchRun.objects.get(pk=run_id)
    assert (run.pages, run.groups_stored, run.reconciliation["ok"]) == (6, 900, True)
    assert list(ExportObject.objects.filter(run=run).values_list("attempts", flat=True)) == [1] * 6
    assert worker.log().count("s3_object_task") >= 6
