"""What people and admins configure (docs/architecture.md, "Notifications"): each person's choices, and the webhook
endpoints with their secrets. Every change is one durable transaction with its audit event; a secret is returned
once, to be shown once, and never written to the audit log."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from matches import roles
from matches.models import Domain, NotificationDelivery, NotificationKind, NotificationPreference, WebhookEndpoint
from matches.services import enqueue
from matches.services.audit import audit_log

PREFERENCES_CHANGED = "notification.preferences_changed"
WEBHOOK_CREATED = "webhook.created"
WEBHOOK_UPDATED = "webhook.updated"
WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"
WEBHOOK_TEST_SENT = "webhook.test_sent"

SECRET_SCHEME = "whsec_"
MAX_ENDPOINTS = 50


class NotificationRefused(Exception):
    """The change cannot be made (a message for the person)."""


def _admin(actor: User) -> None:
    if not actor.is_active or not actor.has_perm(roles.ADMINISTER):
        raise NotificationRefused("Only an admin manages webhooks.")


def preferences_set(*, actor: User, email: dict[str, bool]) -> dict[str, bool]:
    """Record the actor's email choice for each kind they may choose; returns the choices that changed."""
    from matches.services.notifications import email_wanted, kinds_for

    allowed = set(kinds_for(actor))
    if set(email) - allowed:
        raise NotificationRefused("You cannot choose those notifications.")
    with transaction.atomic(durable=True):
        User.objects.select_for_update().filter(pk=actor.pk).first()
        changed = {kind: on for kind, on in sorted(email.items()) if email_wanted(actor, kind) != on}
        for kind, on in changed.items():
            NotificationPreference.objects.update_or_create(user=actor, kind=kind, defaults={"email": on})
        if changed:
            audit_log(
                actor=actor,
                action=PREFERENCES_CHANGED,
                object_type="user",
                object_id=actor.pk,
                details={"user": actor.get_username(), "email": changed},
            )
    return changed


def _new_secret() -> str:
    return SECRET_SCHEME + secrets.token_urlsafe(32)


def _described(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "url": endpoint.url,
        "domain": endpoint.domain.name if endpoint.domain else None,
        "kinds": sorted(endpoint.kinds),
        "enabled": endpoint.enabled,
        "secret_hint": endpoint.secret_hint,
    }


def _audit(actor: User, action: str, endpoint: WebhookEndpoint, **extra: Any) -> None:
    audit_log(
        actor=actor,
        action=action,
        object_type="webhook",
        object_id=endpoint.pk,
        domain=endpoint.domain or "",
        details={**_described(endpoint), **extra},
    )


def _check(kinds: list[str]) -> list[str]:
    from matches.services.notifications import WEBHOOK_KINDS

    unknown = set(kinds) - set(WEBHOOK_KINDS)
    if unknown or not kinds:
        raise NotificationRefused("Choose at least one kind of event.")
    return sorted(set(kinds))


def webhook_create(
    *, actor: User, name: str, url: str, domain: Domain | None, kinds: list[str]
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; returns it with its secret, which is shown once and never again."""
    _admin(actor)
    kinds = _check(kinds)
    with transaction.atomic(durable=True):
        if WebhookEndpoint.objects.count() >= MAX_ENDPOINTS:
            raise NotificationRefused(f"There are {MAX_ENDPOINTS} endpoints already: remove or reuse one.")
        secret = _new_secret()
        endpoint = WebhookEndpoint.objects.create(
            name=name.strip(),
            url=url,
            domain=domain,
            kinds=kinds,
            secret=secret,
            secret_hint=secret[: len(SECRET_SCHEME) + 4],
            created_by=actor,
        )
        _audit(actor, WEBHOOK_CREATED, endpoint)
    return endpoint, secret


def webhook_update(
    *,
    actor: User,
    endpoint: WebhookEndpoint,
    name: str,
    url: str,
    domain: Domain | None,
    kinds: list[str],
    enabled: bool,
) -> WebhookEndpoint:
    """Change an endpoint's name, address, scope, kinds or whether it is enabled (the secret stays)."""
    _admin(actor)
    kinds = _check(kinds)
    with transaction.atomic(durable=True):
        current = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("domain").get(pk=endpoint.pk)
        before = _described(current)
        current.name, current.url, current.domain, current.kinds, current.enabled = (
            name.strip(),
            url,
            domain,
            kinds,
            enabled,
        )
        current.save(update_fields=["name", "url", "domain", "kinds", "enabled"])
        after = _described(current)
        changes = {key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]}
        if changes:
            _audit(actor, WEBHOOK_UPDATED, current, changes=changes)
    return current


def webhook_rotate_secret(*, actor: User, endpoint: WebhookEndpoint) -> str:
    """Replace the endpoint's secret at once; returns the new one, shown once. Deliveries from now on carry it."""
    _admin(actor)
    with transaction.atomic(durable=True):
        current = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("domain").get(pk=endpoint.pk)
        secret = _new_secret()
        previous_hint = current.secret_hint
        current.secret, current.secret_hint = secret, secret[: len(SECRET_SCHEME) + 4]
        current.secret_rotated_at = timezone.now()
        current.save(update_fields=["secret", "secret_hint", "secret_rotated_at"])
        _audit(actor, WEBHOOK_SECRET_ROTATED, current, previous_secret_hint=previous_hint)
    return secret


def webhook_send_test(*, actor: User, endpoint: WebhookEndpoint) -> NotificationDelivery:
    """Queue a `test` delivery to the endpoint (whatever kinds it hears), to check its address and secret."""
    _admin(actor)
    with transaction.atomic(durable=True):
        endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("domain").get(pk=endpoint.pk)
        if not endpoint.enabled:
            raise NotificationRefused("Enable the endpoint before sending it a test.")
        now = timezone.now()
        delivery = NotificationDelivery.objects.create(
            kind=NotificationKind.TEST,
            channel=NotificationDelivery.Channel.WEBHOOK,
            domain=endpoint.domain,
            endpoint=endpoint,
            address=endpoint.url,
            subject="[Matchdesk] Test delivery",
            payload={
                "kind": NotificationKind.TEST.value,
                "domain": endpoint.domain.name if endpoint.domain else None,
                "summary": f"Test delivery to {endpoint.name}, sent by {actor.get_username()}",
                "url": "",
                "created_at": now.isoformat(),
                "data": {"sent_by": actor.get_username()},
            },
            next_attempt_at=now,
        )
        _audit(actor, WEBHOOK_TEST_SENT, endpoint, delivery_id=str(delivery.delivery_id))
        enqueue.notification(delivery_pk=delivery.pk)
    return delivery
