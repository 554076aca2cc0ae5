"""`manage.py add_webhook` (docs/architecture.md, "Commands (contract)"): an endpoint through the admin's form and
service, its secret alone on stdout; adding it again points it anew with a new secret; refusals are errors."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from matches import roles
from matches.models import AuditEvent, NotificationDelivery, WebhookEndpoint
from tests.factories import UserFactory


@pytest.fixture
def admin(db):
    return UserFactory(username="ad", email="ad@example.com", roles=[roles.ADMIN])


def add_webhook(*args: str) -> str:
    out = io.StringIO()
    call_command("add_webhook", "demo receiver", "--actor", "ad", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_the_endpoint_hears_everything_and_its_secret_is_printed_alone(admin):
    secret = add_webhook("--url", "http://127.0.0.1:8768/", "--send-test")
    endpoint = WebhookEndpoint.objects.get()
    assert secret.startswith("whsec_") and endpoint.secret == secret and "\n" not in secret
    assert endpoint.domain is None and "run_completed" in endpoint.kinds and "test" in endpoint.kinds
    assert AuditEvent.objects.get(action="webhook.created").actor == admin
    assert NotificationDelivery.objects.filter(endpoint=endpoint, kind="test").count() == 1


def test_adding_the_endpoint_again_rotates_its_secret(admin, domain):
    first = add_webhook("--url", "http://127.0.0.1:8768/")
    second = add_webhook("--url", "http://127.0.0.1:8868/", "--domain", "demo", "--kind", "run_completed")
    endpoint = WebhookEndpoint.objects.get()
    assert second != first and endpoint.secret == second
    assert (endpoint.url, endpoint.domain, endpoint.kinds) == ("http://127.0.0.1:8868/", domain, ["run_completed"])
    with pytest.raises(CommandError, match="No active user"):
        call_command("add_webhook", "x", "--url", "http://127.0.0.1:1/", "--actor", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError, match="url"):
        call_command("add_webhook", "x", "--url", "ftp://127.0.0.1/", "--actor", "ad", stdout=io.StringIO())
    with pytest.raises(CommandError, match="domain"):
        call_command("add_webhook", "x", "--url", "http://127.0.0.1:1/", "--actor", "ad", "--domain", "nowhere")
    assert WebhookEndpoint.objects.count() == 1
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1
