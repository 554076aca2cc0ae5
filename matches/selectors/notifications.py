"""Reads of notifications: each person's choices, the webhook endpoints, the delivery log
(docs/architecture.md, "Notifications")."""

from __future__ import annotations

from django.contrib.auth.models import User

from matches.models import NotificationDelivery, NotificationPreference, WebhookEndpoint

LOG_LIMIT = 100


def preferences_of(user: User) -> dict[str, bool]:
    """The kinds the user has chosen explicitly (the rest are on)."""
    return dict(NotificationPreference.objects.filter(user=user).values_list("kind", "email"))


def endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.select_related("domain", "created_by").order_by("name", "pk"))


def deliveries(*, status: str = "", endpoint: WebhookEndpoint | None = None) -> list[NotificationDelivery]:
    """The latest deliveries, newest first; narrowed to a status or one endpoint."""
    qs = NotificationDelivery.objects.select_related("user", "endpoint", "domain")
    if status:
        qs = qs.filter(status=status)
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    return list(qs.order_by("-created_at", "-pk")[:LOG_LIMIT])
