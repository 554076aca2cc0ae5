"""The notification pages: each person chooses what they get; admins add, edit, rotate and test webhooks and read the
delivery log. Roles are enforced on the server and a secret is shown once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from matches.models import AuditEvent, NotificationDelivery, NotificationPreference, WebhookEndpoint
from matches.services.notifications.config import webhook_create


@pytest.fixture
def endpoint(admin):
    endpoint, _ = webhook_create(
        actor=admin, name="ops", url="https://hooks.example.com/md", domain=None, kinds=["test"]
    )
    return endpoint


def test_a_steward_turns_a_kind_off_and_on_again(login, steward):
    client = login(steward)
    page = client.get(reverse("account-notifications"))
    assert page.status_code == 200
    assert b'value="approval_awaiting"' in page.content and b'value="pull_failed"' not in page.content  # admins only
    keep = ["assigned", "approval_awaiting", "merge_failed", "overdue"]
    answer = client.post(reverse("account-notifications"), {"email": keep})
    assert answer.status_code == 302
    assert dict(NotificationPreference.objects.filter(user=steward).values_list("kind", "email")) == {
        "run_completed": False
    }
    assert AuditEvent.objects.get(action="notification.preferences_changed").details["email"] == {
        "run_completed": False
    }
    client.post(reverse("account-notifications"), {"email": [*keep, "run_completed"]})
    assert NotificationPreference.objects.get(user=steward, kind="run_completed").email is True


def test_a_kind_the_role_cannot_choose_is_refused(login, steward):
    answer = login(steward).post(reverse("account-notifications"), {"email": ["pull_failed"]})
    assert answer.status_code == 400
    assert not NotificationPreference.objects.exists()


def test_webhook_pages_are_for_admins_only(login, steward, auditor, endpoint, client):
    for user in (steward, auditor):
        c = login(user)
        assert c.get(reverse("admin-webhooks")).status_code == 403
        assert c.get(reverse("admin-webhook", args=[endpoint.pk])).status_code == 403
        assert c.post(reverse("admin-webhook-rotate", args=[endpoint.pk])).status_code == 403
        assert c.post(reverse("admin-webhook-test", args=[endpoint.pk])).status_code == 403
    client.logout()
    assert client.get(reverse("admin-webhooks")).status_code == 302


def test_the_secret_is_shown_once_on_creation_and_once_on_rotation(login, admin):
    client = login(admin)
    answer = client.post(
        reverse("admin-webhooks"), {"name": "ops", "url": "https://hooks.example.com/md", "kinds": ["merge_failed"]}
    )
    endpoint = WebhookEndpoint.objects.get()
    assert answer.status_code == 200 and endpoint.secret.encode() in answer.content
    assert "no-store" in answer["Cache-Control"]
    assert endpoint.secret.encode() not in client.get(reverse("admin-webhook", args=[endpoint.pk])).content
    assert endpoint.secret.encode() not in client.get(reverse("admin-webhooks")).content
    old = endpoint.secret
    rotated = client.post(reverse("admin-webhook-rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret.encode() in rotated.content
    assert endpoint.secret.encode() not in client.get(reverse("admin-webhook", args=[endpoint.pk])).content


def test_an_address_that_is_not_http_is_refused(login, admin):
    answer = login(admin).post(
        reverse("admin-webhooks"), {"name": "x", "url": "javascript:alert(1)", "kinds": ["test"]}
    )
    assert answer.status_code == 400 and not WebhookEndpoint.objects.exists()


def test_an_admin_disables_an_endpoint_and_a_test_is_then_refused(login, admin, endpoint):
    client = login(admin)
    data = {"name": "ops", "url": endpoint.url, "kinds": ["test", "pull_failed"]}  # enabled unchecked
    assert client.post(reverse("admin-webhook", args=[endpoint.pk]), data).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.kinds) == (False, ["pull_failed", "test"])
    client.post(reverse("admin-webhook-test", args=[endpoint.pk]))
    assert not NotificationDelivery.objects.exists()


def test_send_test_queues_a_delivery_that_the_log_shows(login, admin, endpoint, django_capture_on_commit_callbacks):
    client = login(admin)
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(reverse("admin-webhook-test", args=[endpoint.pk])).status_code == 302
    assert len(callbacks) == 1  # the hand-off to Celery, after commit
    delivery = NotificationDelivery.objects.get()
    NotificationDelivery.objects.filter(pk=delivery.pk).update(status="failed", last_error="HTTP 410 from the receiver")
    page = client.get(reverse("admin-webhooks"), {"status": "failed"})
    assert str(delivery.delivery_id).encode() in page.content and b"HTTP 410 from the receiver" in page.content
    delivered = client.get(reverse("admin-webhooks"), {"status": "delivered"})
    assert str(delivery.delivery_id).encode() not in delivered.content
    assert client.get(reverse("admin-webhooks"), {"status": "\x00nonsense"}).status_code in (200, 400)
    assert str(delivery.delivery_id).encode() in client.get(reverse("admin-webhook", args=[endpoint.pk])).content
