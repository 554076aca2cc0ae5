"""A real Celery worker delivers notifications end to end: the event's transaction commits, the hand-off queues the
deliveries, the worker mails a real SMTP listener and posts to a real webhook receiver, retrying the one that answered
500 until it is delivered once."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from matches import roles
from matches.models import NotificationDelivery
from matches.services import notifications
from matches.services.notifications.config import webhook_create
from tests.factories import DomainFactory, UserFactory
from tests.merging import subprocess_env
from tests.worker import CeleryWorker


def wait_until(condition, timeout: float = 60.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture
def notify_worker(transactional_db, smtp_inbox):
    from reviewapp.celery import app

    app.control.purge()
    env = subprocess_env(
        NOTIFY_EMAIL="true",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_inbox.port),
        NOTIFY_RETRY_BASE_DELAY="0.2",
        NOTIFY_RETRY_MAX_DELAY="1",
    )
    worker = CeleryWorker(env, concurrency=1).start()
    yield worker
    worker.stop()


def test_a_worker_mails_and_posts_and_retries_a_500_until_delivered(notify_worker, smtp_inbox, webhook_receiver):
    webhook_receiver.script = [500]
    admin = UserFactory(username="ad", email="ad@example.com", roles=[roles.ADMIN])
    domain = DomainFactory(name="demo")
    endpoint, secret = webhook_create(
        actor=admin, name="ops", url=webhook_receiver.url, domain=None, kinds=["pull_failed"]
    )
    with transaction.atomic():
        rows = notifications.notify(kind="pull_failed", domain=domain, context={"summary": "Pull of demo failed"})
    assert sorted(r.channel for r in rows) == ["email", "webhook"]

    (mail,) = smtp_inbox.wait_for(1)
    assert mail.rcpt_tos == ["ad@example.com"] and mail.message["Subject"] == "[Matchdesk] Pull of demo failed"
    hook = NotificationDelivery.objects.get(channel="webhook")
    wait_until(lambda: NotificationDelivery.objects.filter(pk=hook.pk, status="delivered").exists())
    hits = webhook_receiver.wait_for(2)
    assert len(hits) == 2 and {h.headers["x-matchdesk-delivery"] for h in hits} == {str(hook.delivery_id)}
    hook.refresh_from_db()
    assert [e["ok"] for e in hook.attempt_log] == [False, True] and hook.attempts == 2
    assert NotificationDelivery.objects.get(channel="email").status == "delivered"
