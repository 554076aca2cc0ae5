"""Notifications (matches/services/notifications/): mail reaches a real SMTP listener, webhooks reach a real HTTP
receiver signed with the endpoint's secret, a failed attempt is retried until delivered once, and a person who turned a
kind off gets nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.db import transaction

from matches import roles
from matches.models import AuditEvent, Domain, NotificationDelivery, NotificationPreference
from matches.services import notifications
from matches.services.notifications import Kind
from matches.services.notifications.config import (
    NotificationRefused,
    preferences_set,
    webhook_create,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)
from matches.services.notifications.deliver import DeliveryRetry, delivery_attempt
from tests.factories import DomainFactory, UserFactory

Status = NotificationDelivery.Status


def deliver_all(rows: list[NotificationDelivery]) -> list[str]:
    return [delivery_attempt(delivery_pk=row.pk) for row in rows]


def verify(secret: str, hit) -> dict:
    """What a receiver does: check the timestamp is fresh and the signature covers timestamp and body."""
    timestamp = hit.headers["x-matchdesk-timestamp"]
    assert abs(time.time() - int(timestamp)) < 300
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-matchdesk-signature"], f"sha256={expected}")
    return json.loads(hit.body)


@pytest.fixture
def people(db):
    return {
        "steward": UserFactory(username="st", email="st@example.com", roles=[roles.STEWARD]),
        "admin": UserFactory(username="ad", email="ad@example.com", roles=[roles.ADMIN]),
        "auditor": UserFactory(username="au", email="au@example.com", roles=[roles.AUDITOR]),
        "nobody": UserFactory(username="no", email="no@example.com"),
    }


def test_a_new_run_is_mailed_to_everyone_with_a_role_through_a_real_smtp_listener(smtp_inbox, people, domain):
    rows = notifications.notify(
        kind=Kind.RUN_COMPLETED,
        domain=domain,
        context={"summary": "New run of demo: 1,234 groups pulled (run 7)", "url": "/", "run_id": 7},
    )
    assert deliver_all(rows) == [Status.DELIVERED] * 3
    received = smtp_inbox.wait_for(3)
    assert sorted(r for m in received for r in m.rcpt_tos) == ["ad@example.com", "au@example.com", "st@example.com"]
    message = received[0].message
    assert message["Subject"] == "[Matchdesk] New run of demo: 1,234 groups pulled (run 7)"
    body = message.get_content()
    assert "Domain: demo" in body and "run_id: 7" in body and "http://127.0.0.1:8000/" in body
    assert message["X-Matchdesk-Delivery"] in {str(row.delivery_id) for row in rows}
    row = NotificationDelivery.objects.get(pk=rows[0].pk)
    assert (row.attempts, row.last_error, row.attempt_log[0]["ok"]) == (1, "", True)


def test_a_plain_text_mail_says_what_happened_verbatim_not_html_escaped(smtp_inbox, people, domain):
    summary = 'Merge failed: "Ann & Bob <ann@example.com>" (O\'Neil)'
    rows = notifications.notify(kind=Kind.RUN_COMPLETED, domain=domain, context={"summary": summary, "url": "/"})
    deliver_all(rows)
    body = smtp_inbox.wait_for(3)[0].message.get_content()
    assert body.splitlines()[0] == summary
    assert "&amp;" not in body and "&lt;" not in body and "&#x27;" not in body


def test_a_person_who_turned_a_kind_off_gets_nothing(smtp_inbox, people, domain):
    assert preferences_set(actor=people["steward"], email={Kind.RUN_COMPLETED: False}) == {Kind.RUN_COMPLETED: False}
    event = AuditEvent.objects.get(action="notification.preferences_changed")
    assert event.details["email"] == {"run_completed": False}
    rows = notifications.notify(kind=Kind.RUN_COMPLETED, domain=domain, context={"summary": "New run"})
    deliver_all(rows)
    assert sorted(r for m in smtp_inbox.wait_for(2) for r in m.rcpt_tos) == ["ad@example.com", "au@example.com"]
    assert preferences_set(actor=people["steward"], email={Kind.RUN_COMPLETED: False}) == {}  # nothing changed


def test_turning_a_kind_off_after_the_event_stops_the_mail_not_yet_sent(smtp_inbox, people, domain):
    (row,) = notifications.notify(
        kind=Kind.ASSIGNED, users=[people["steward"]], domain=domain, context={"summary": "3 groups for you"}
    )
    preferences_set(actor=people["steward"], email={Kind.ASSIGNED: False})
    assert delivery_attempt(delivery_pk=row.pk) == Status.SKIPPED
    assert smtp_inbox.messages == []


def test_admin_only_kinds_go_to_admins_and_roles_limit_what_a_person_may_choose(smtp_inbox, people, domain):
    rows = notifications.notify(kind=Kind.PULL_FAILED, domain=domain, context={"summary": "Pull of demo failed"})
    assert [row.address for row in rows] == ["ad@example.com"]
    assert Kind.PULL_FAILED not in notifications.kinds_for(people["steward"])
    assert notifications.kinds_for(people["nobody"]) == []
    with pytest.raises(NotificationRefused):
        preferences_set(actor=people["steward"], email={Kind.PULL_FAILED: False})


def test_nothing_is_mailed_while_email_is_off(settings, people, domain):
    settings.NOTIFY = {**settings.NOTIFY, "EMAIL": False}
    assert notifications.notify(kind=Kind.RUN_COMPLETED, domain=domain, context={"summary": "x"}) == []


def test_a_webhook_is_signed_with_its_secret_over_timestamp_and_body(webhook_receiver, people, domain):
    endpoint, secret = webhook_create(
        actor=people["admin"], name="ops", url=webhook_receiver.url, domain=None, kinds=[Kind.PULL_FAILED]
    )
    assert secret.startswith("whsec_") and secret not in json.dumps(AuditEvent.objects.last().details)
    (row,) = [
        r
        for r in notifications.notify(
            kind=Kind.PULL_FAILED, domain=domain, context={"summary": "Pull of demo failed", "error": "403"}
        )
        if r.channel == "webhook"
    ]
    assert delivery_attempt(delivery_pk=row.pk) == Status.DELIVERED
    (hit,) = webhook_receiver.wait_for(1)
    body = verify(secret, hit)
    assert hit.headers["x-matchdesk-delivery"] == body["id"] == str(row.delivery_id)
    assert (hit.headers["x-matchdesk-event"], body["kind"], body["domain"]) == ("pull_failed", "pull_failed", "demo")
    assert body["data"] == {"error": "403"}
    # A body replayed with a new timestamp does not verify: the timestamp is inside what is signed.
    forged = type(hit)(hit.path, {**hit.headers, "x-matchdesk-timestamp": str(int(time.time()) + 1)}, hit.body)
    with pytest.raises(AssertionError):
        verify(secret, forged)
    with pytest.raises(AssertionError):
        verify("whsec_wrong", hit)


def test_a_500_is_retried_and_the_delivery_arrives_once_with_every_attempt_logged(webhook_receiver, people, domain):
    webhook_receiver.script = [500]
    endpoint, secret = webhook_create(
        actor=people["admin"], name="ops", url=webhook_receiver.url, domain=domain, kinds=[Kind.MERGE_FAILED]
    )
    (row,) = notifications.notify(
        kind=Kind.MERGE_FAILED, users=[], domain=domain, context={"summary": "A merge failed"}
    )
    with pytest.raises(DeliveryRetry) as retry:
        delivery_attempt(delivery_pk=row.pk)
    assert retry.value.countdown > 0
    row.refresh_from_db()
    assert (row.status, row.attempts, "500" in row.last_error) == (Status.PENDING, 1, True)
    assert delivery_attempt(delivery_pk=row.pk) == Status.DELIVERED
    assert delivery_attempt(delivery_pk=row.pk) == Status.DELIVERED  # a second message sends nothing more
    hits = webhook_receiver.wait_for(2)
    assert len(hits) == 2 and hits[0].headers["x-matchdesk-delivery"] == hits[1].headers["x-matchdesk-delivery"]
    row.refresh_from_db()
    assert [(e["attempt"], e["ok"]) for e in row.attempt_log] == [(1, False), (2, True)]
    assert (row.status, row.last_error) == (Status.DELIVERED, "")


def test_a_refusal_is_not_retried_and_the_last_attempt_gives_up(webhook_receiver, people, domain, settings):
    settings.NOTIFY = {**settings.NOTIFY, "MAX_ATTEMPTS": 2}
    webhook_receiver.script = [401, 503, 503]
    webhook_create(actor=people["admin"], name="a", url=webhook_receiver.url, domain=None, kinds=[Kind.OVERDUE])
    (refused,) = notifications.notify(kind=Kind.OVERDUE, users=[], domain=domain, context={"summary": "late"})
    assert delivery_attempt(delivery_pk=refused.pk) == Status.FAILED
    (flaky,) = notifications.notify(kind=Kind.OVERDUE, users=[], domain=domain, context={"summary": "late"})
    with pytest.raises(DeliveryRetry):
        delivery_attempt(delivery_pk=flaky.pk)
    assert delivery_attempt(delivery_pk=flaky.pk) == Status.FAILED
    flaky.refresh_from_db()
    assert flaky.attempts == 2 and "gave up after 2" in flaky.last_error


def test_an_endpoint_hears_only_its_domain_and_kinds(webhook_receiver, people, domain):
    other = DomainFactory(name="other")
    webhook_create(actor=people["admin"], name="a", url=webhook_receiver.url, domain=other, kinds=[Kind.PULL_FAILED])
    assert notifications.notify(kind=Kind.PULL_FAILED, users=[], domain=domain, context={"summary": "x"}) == []
    assert notifications.notify(kind=Kind.MERGE_FAILED, users=[], domain=other, context={"summary": "x"}) == []
    assert len(notifications.notify(kind=Kind.PULL_FAILED, users=[], domain=other, context={"summary": "x"})) == 1


def test_a_rotated_secret_signs_what_follows_and_a_disabled_endpoint_gets_nothing(webhook_receiver, people, domain):
    admin = people["admin"]
    endpoint, old = webhook_create(actor=admin, name="a", url=webhook_receiver.url, domain=None, kinds=[Kind.TEST])
    new = webhook_rotate_secret(actor=admin, endpoint=endpoint)
    assert new != old
    test = webhook_send_test(actor=admin, endpoint=endpoint)
    assert delivery_attempt(delivery_pk=test.pk) == Status.DELIVERED
    assert verify(new, webhook_receiver.wait_for(1)[0])["kind"] == "test"
    webhook_update(
        actor=admin, endpoint=endpoint, name="a", url=endpoint.url, domain=None, kinds=[Kind.TEST], enabled=False
    )
    with pytest.raises(NotificationRefused):
        webhook_send_test(actor=admin, endpoint=endpoint)
    actions = list(AuditEvent.objects.filter(object_type="webhook").values_list("action", flat=True).order_by("seq"))
    assert actions == ["webhook.created", "webhook.secret_rotated", "webhook.test_sent", "webhook.updated"]
    assert all(new not in json.dumps(e.details) for e in AuditEvent.objects.filter(object_type="webhook"))


def test_only_an_admin_manages_webhooks(people):
    with pytest.raises(NotificationRefused):
        webhook_create(actor=people["steward"], name="a", url="http://x.test/", domain=None, kinds=[Kind.TEST])


def test_a_notification_that_cannot_be_written_never_undoes_the_change(people, domain, webhook_receiver):
    webhook_create(actor=people["admin"], name="a", url=webhook_receiver.url, domain=None, kinds=[Kind.ASSIGNED])
    with transaction.atomic():
        NotificationPreference.objects.create(user=people["steward"], kind=Kind.RUN_COMPLETED, email=False)
        unsaved = Domain(name="unsaved")  # a row pointing at it cannot be written
        assert notifications.notify(kind=Kind.ASSIGNED, users=[], domain=unsaved, context={"summary": "x"}) == []
        assert NotificationPreference.objects.count() == 1  # the caller's transaction goes on
    assert NotificationPreference.objects.count() == 1
    with pytest.raises(ValueError):
        notifications.notify(kind="nonsense", context={})


def test_the_handoff_sweep_queues_a_delivery_whose_message_was_lost(people, domain, webhook_receiver, celery_queue):
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from matches.services.ops import handoffs_sweep

    webhook_create(actor=people["admin"], name="a", url=webhook_receiver.url, domain=None, kinds=[Kind.OVERDUE])
    (row,) = notifications.notify(kind=Kind.OVERDUE, users=[], domain=domain, context={"summary": "late"})
    cache.delete(f"delivery-requeued:{row.pk}")  # left by an earlier run of the suite on the same ids
    assert handoffs_sweep().delivery_ids == []  # not late yet: its own message may still come
    later = timezone.now() + timedelta(minutes=5)
    swept = handoffs_sweep(now=later)
    assert swept.delivery_ids == [row.pk] and "notification deliveries" in swept.line()
    assert handoffs_sweep(now=later).delivery_ids == []  # queued once, not every sweep
    NotificationDelivery.objects.filter(pk=row.pk).update(status=Status.DELIVERED)
    assert handoffs_sweep(now=later + timedelta(minutes=20)).delivery_ids == []


def test_an_smtp_server_that_is_down_is_retried(settings, people, domain):
    from tests.notify_receivers import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    settings.NOTIFY = {**settings.NOTIFY, "EMAIL": True}
    (row,) = notifications.notify(kind=Kind.ASSIGNED, users=[people["steward"]], context={"summary": "for you"})
    with pytest.raises(DeliveryRetry):
        delivery_attempt(delivery_pk=row.pk)
    row.refresh_from_db()
    assert row.status == Status.PENDING and "ConnectionRefusedError" in row.last_error


def test_a_receiver_that_does_not_answer_in_time_is_retried(settings, webhook_receiver, people, domain):
    import threading

    settings.NOTIFY = {**settings.NOTIFY, "WEBHOOK_TIMEOUT": 0.5}
    release = threading.Event()
    webhook_receiver.stall = release
    webhook_create(actor=people["admin"], name="a", url=webhook_receiver.url, domain=None, kinds=[Kind.ASSIGNED])
    (row,) = notifications.notify(kind=Kind.ASSIGNED, users=[], domain=domain, context={"summary": "for you"})
    try:
        with pytest.raises(DeliveryRetry):
            delivery_attempt(delivery_pk=row.pk)
    finally:
        release.set()
    row.refresh_from_db()
    assert row.status == Status.PENDING and "no answer" in row.last_error
    assert delivery_attempt(delivery_pk=row.pk) == Status.DELIVERED
