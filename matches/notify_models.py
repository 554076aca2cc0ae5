"""Notification models (docs/architecture.md, "Notifications"): what each person chooses to get, the webhook endpoints
admins keep, and the delivery log. Kept beside models.py (which re-exports them) so that file stays under its limit."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from matches.models import Domain


class NotificationKind(models.TextChoices):
    """The events a person or a webhook can hear about (contract: the values are the webhook's `kind`)."""

    RUN_COMPLETED = "run_completed", "A new run was pulled"
    PULL_FAILED = "pull_failed", "A pull failed"
    MERGE_FAILED = "merge_failed", "A merge failed"
    OVERDUE = "overdue", "Review deadlines overdue"
    ASSIGNED = "assigned", "Work assigned to you"
    APPROVAL_AWAITING = "approval_awaiting", "An approval awaits you"
    TEST = "test", "Test delivery"


class NotificationPreference(models.Model):
    """One person's choice for one kind; no row means the kind's default (on)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs")
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notificationpref_user_kind")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} email={'on' if self.email else 'off'}"


class WebhookEndpoint(models.Model):
    """An admin-managed receiver of signed events, for one domain or (domain empty) all. The secret signs every body;
    it is shown once, when made or rotated, and never rendered again (`secret_hint` is what pages show)."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks")
    kinds = ArrayField(models.CharField(max_length=24, choices=NotificationKind.choices), default=list)
    secret = models.CharField(max_length=100)
    secret_hint = models.CharField(max_length=16)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook {self.name}"

    def hears(self, kind: str, domain_id: int | None) -> bool:
        return self.enabled and kind in self.kinds and (self.domain_id is None or self.domain_id == domain_id)


class NotificationDelivery(models.Model):
    """One message to one person (email) or one endpoint (webhook), written in the transaction of the event it tells
    of, so a delivery is never lost with a lost Celery message (the hand-off sweep queues it again). `delivery_id` is
    the idempotency key receivers see (X-Matchdesk-Delivery, the email's Message-ID): at least once, maybe twice."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after the last attempt
        SKIPPED = "skipped"  # nothing to send to any more (opted out, endpoint disabled, no address)

    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    domain = models.ForeignKey(Domain, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    address = models.CharField(max_length=500, blank=True, help_text="The email address or URL at the first attempt")
    subject = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    attempt_log = models.JSONField(default=list)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["-created_at"], name="delivery_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel="email", user__isnull=False)
                | models.Q(channel="webhook", endpoint__isnull=False),
                name="delivery_has_target",
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} ({self.status})"
