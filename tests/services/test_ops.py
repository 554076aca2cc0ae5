from datetime import timedelta

import pytest
from django.utils import timezone

from matches.models import AuditEvent, Heartbeat, MatchRun, QuarantinedMatch
from matches.services.ops import PullRefused, pull_request, quarantine_acknowledge
from tests.factories import MatchRunFactory


def test_pull_now_is_audited_and_enqueued_after_commit(domain, admin, celery_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pull_request(domain=domain, actor=admin)
    assert celery_queue("matches.tasks.pull_matches_task") == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert celery_queue("matches.tasks.pull_matches_task") == [[domain.pk]]
    event = AuditEvent.objects.get(action="pull.requested")
    assert event.actor == admin and event.domain == domain.name


def test_pull_now_is_refused_while_a_pull_runs(domain, admin, celery_queue, django_capture_on_commit_callbacks):
    run = MatchRunFactory(domain=domain, status=MatchRun.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PullRefused, match=f"run {run.pk}"):
        pull_request(domain=domain, actor=admin)
    assert celery_queue("matches.tasks.pull_matches_task") == []
    assert not AuditEvent.objects.filter(action="pull.requested").exists()


def test_a_quarantined_item_is_acknowledged_once_and_audited(domain, admin):
    run = MatchRunFactory(domain=domain)
    item = QuarantinedMatch.objects.create(run=run, raw={"MatchId": "x"}, raw_hash="h", reason="bad profile id")
    assert quarantine_acknowledge(actor=admin, item=item)
    assert not quarantine_acknowledge(actor=admin, item=item)
    item.refresh_from_db()
    assert item.acknowledged_by == admin and item.acknowledged_at is not None
    assert AuditEvent.objects.filter(action="quarantine.acknowledged").count() == 1


def test_the_heartbeat_task_records_the_worker_and_when_beat_sent_it(db):
    from matches.tasks import heartbeat

    sent = timezone.now() - timedelta(seconds=3)
    heartbeat.apply(kwargs={"sent_at": sent.isoformat()})
    beat = Heartbeat.objects.get(kind="beat")
    assert beat.name == "beat" and beat.last_seen == sent
    assert beat.details["lag_seconds"] == pytest.approx(3, abs=2)
    worker = Heartbeat.objects.get(kind="worker")
    assert (timezone.now() - worker.last_seen).total_seconds() < 5


def test_publishing_the_heartbeat_stamps_when_it_was_sent(celery_queue):
    import base64
    import json

    import redis
    from celery import current_app
    from django.conf import settings

    before = timezone.now()
    current_app.send_task("matches.tasks.heartbeat")
    raw = redis.Redis.from_url(settings.REDIS_URL).lindex(settings.CELERY_TASK_DEFAULT_QUEUE, 0)
    _args, kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
    from datetime import datetime

    assert before <= datetime.fromisoformat(kwargs["sent_at"]) <= timezone.now()
