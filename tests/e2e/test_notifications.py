"""Notifications in real Chromium: a steward turns a kind off with the keyboard; an admin adds a webhook pointing at a
real receiver, copies the secret shown once, sends a test and reads the delivery in the log."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from matches.models import NotificationDelivery, NotificationPreference, WebhookEndpoint
from matches.services.notifications.deliver import delivery_attempt

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_steward_turns_new_runs_off_with_the_keyboard(page, live_server, browser_login, steward):
    browser_login(page, steward)
    page.goto(f"{live_server.url}/account/notifications/")
    box = page.locator("input[name=email][value=run_completed]")
    assert box.is_checked()
    box.focus()
    page.keyboard.press("Space")
    assert not box.is_checked()
    page.locator("#preferences button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg-success")
    assert not page.locator("input[name=email][value=run_completed]").is_checked()
    assert NotificationPreference.objects.get(user=steward, kind="run_completed").email is False


def test_an_admin_adds_a_webhook_sees_its_secret_once_and_sends_a_test(
    page, live_server, browser_login, screenshot, admin, webhook_receiver
):
    browser_login(page, admin)
    page.goto(f"{live_server.url}/admin/webhooks/")
    page.fill("input[name=name]", "ops channel")
    page.fill("input[name=url]", webhook_receiver.url)
    page.check("input[name=kinds][value=pull_failed]")
    page.check("input[name=kinds][value=test]")
    page.click("button:has-text('Add endpoint')")
    page.wait_for_selector("#webhook-secret")
    secret = page.locator("#webhook-secret").inner_text()
    endpoint = WebhookEndpoint.objects.get()
    assert secret == endpoint.secret
    page.click("button:has-text('Send test')")
    page.wait_for_selector(".msg-success")
    assert page.locator("#webhook-secret").count() == 0  # shown once
    delivery = NotificationDelivery.objects.get()
    assert delivery_attempt(delivery_pk=delivery.pk) == "delivered"  # what the worker does
    (hit,) = webhook_receiver.wait_for(1)
    timestamp = hit.headers["x-matchdesk-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["x-matchdesk-signature"] == f"sha256={expected}"
    page.reload()
    row = page.locator(f"#delivery-{delivery.pk}")
    assert "delivered" in row.inner_text() and str(delivery.delivery_id) in row.inner_text()
    screenshot(page, "admin_webhook")
