"""Sending one delivery (docs/architecture.md, "Notifications"): claim it with a conditional UPDATE, send it outside
any transaction, record the attempt. A failure that may pass is retried with backoff (`DeliveryRetry` tells the task
when); one that will not (a 4xx other than 408 and 429) or the last attempt fails the delivery with its error.

Webhook requests are a JSON POST with `X-Matchdesk-Delivery` (the idempotency key, the same on every attempt),
`X-Matchdesk-Event` (the kind), `X-Matchdesk-Timestamp` (Unix seconds at this attempt) and
`X-Matchdesk-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the endpoint's secret>`. The
timestamp is inside what is signed, so a receiver that refuses a timestamp older than five minutes stops replays."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import smtplib
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from email.utils import make_msgid
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from matches.models import NotificationDelivery, NotificationKind
from matches.services import enqueue

Status = NotificationDelivery.Status
Channel = NotificationDelivery.Channel

# A pending delivery whose next attempt is this far past is taken for a lost message and queued again.
LOST_GRACE_SECONDS = 60
REQUEUED_TTL = 10 * 60
ERROR_MAX = 500


class DeliveryRetry(Exception):
    """The attempt failed in a way that may pass: try again in `countdown` seconds."""

    def __init__(self, reason: str, countdown: float) -> None:
        super().__init__(reason)
        self.countdown = countdown


class Undeliverable(Exception):
    """The receiver refused in a way retrying will not change."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirected POST would lose its body: a 3xx is an answer, not a delivery


_opener = urllib.request.build_opener(_NoRedirect)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def webhook_body(delivery: NotificationDelivery) -> bytes:
    return json.dumps(
        {"id": str(delivery.delivery_id), **delivery.payload}, sort_keys=True, separators=(",", ":")
    ).encode()


def _post(delivery: NotificationDelivery) -> str:
    endpoint = delivery.endpoint
    assert endpoint is not None
    body = webhook_body(delivery)
    timestamp = int(time.time())
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Matchdesk-Webhook/1",
            "X-Matchdesk-Delivery": str(delivery.delivery_id),
            "X-Matchdesk-Event": delivery.kind,
            "X-Matchdesk-Timestamp": str(timestamp),
            "X-Matchdesk-Signature": signature(endpoint.secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=settings.NOTIFY["WEBHOOK_TIMEOUT"]) as answer:
            return f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        if exc.code in (408, 429) or exc.code >= 500:
            raise OSError(f"HTTP {exc.code} from the receiver") from exc
        raise Undeliverable(f"HTTP {exc.code} from the receiver (not retried)") from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        raise OSError(f"no answer from {endpoint.url}: {getattr(exc, 'reason', exc)}") from exc


def _mail(delivery: NotificationDelivery) -> str:
    payload = delivery.payload
    body = render_to_string(
        "notifications/email.txt",
        {
            "payload": payload,
            "kind_label": NotificationKind(delivery.kind).label,
            "facts": sorted((k, v) for k, v in payload.get("data", {}).items() if not isinstance(v, dict | list)),
            "settings_url": settings.NOTIFY["BASE_URL"].rstrip("/") + "/account/notifications/",
        },
        using="text",  # plain text: not HTML-escaped (settings.TEMPLATES)
    )
    message = EmailMessage(
        subject=delivery.subject,
        body=body,
        to=[delivery.address],
        headers={
            "Message-ID": make_msgid(idstring=str(delivery.delivery_id), domain="matchdesk"),
            "X-Matchdesk-Delivery": str(delivery.delivery_id),
            "X-Matchdesk-Event": delivery.kind,
        },
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    message.send()
    return f"accepted by {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"


def _still_wanted(delivery: NotificationDelivery) -> str:
    """Why the delivery should no longer be sent ("" if it should)."""
    from matches.services.notifications import email_wanted

    if delivery.channel == Channel.EMAIL:
        user = delivery.user
        if user is None or not user.is_active:
            return "the person is no longer active"
        if delivery.kind != NotificationKind.TEST and not email_wanted(user, delivery.kind):
            return "the person turned this kind off"
        return ""
    endpoint = delivery.endpoint
    if endpoint is None or not endpoint.enabled:
        return "the endpoint is disabled"
    return ""


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: doubling from the base, capped, with equal jitter."""
    base, cap = settings.NOTIFY["RETRY_BASE_DELAY"], settings.NOTIFY["RETRY_MAX_DELAY"]
    delay = min(cap, base * 2 ** min(attempt - 1, 20))
    return delay / 2 + random.uniform(0, delay / 2)


def _claim(pk: int, now: datetime) -> bool:
    lease = now + timedelta(seconds=max(settings.NOTIFY["WEBHOOK_TIMEOUT"], settings.EMAIL_TIMEOUT) * 3 + 30)
    return bool(
        NotificationDelivery.objects.filter(pk=pk, status=Status.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=lease, attempts=F("attempts") + 1)
    )


def delivery_attempt(*, delivery_pk: int) -> str:
    """Make one attempt at a pending delivery; returns its status after it. Raises DeliveryRetry when it should be
    tried again later (the task retries it then)."""
    now = timezone.now()
    if not _claim(delivery_pk, now):
        current = NotificationDelivery.objects.filter(pk=delivery_pk).values_list("status", flat=True).first()
        return current or "missing"  # delivered, given up, or another worker holds it
    delivery = NotificationDelivery.objects.select_related("user", "endpoint").get(pk=delivery_pk)
    skip = _still_wanted(delivery)
    if skip:
        return _record(delivery, status=Status.SKIPPED, ok=False, note=skip)
    try:
        note = _mail(delivery) if delivery.channel == Channel.EMAIL else _post(delivery)
    except Undeliverable as exc:
        return _record(delivery, status=Status.FAILED, ok=False, note=str(exc))
    except (OSError, smtplib.SMTPException) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        if delivery.attempts >= settings.NOTIFY["MAX_ATTEMPTS"]:
            note = f"{reason} (gave up after {delivery.attempts})"
            return _record(delivery, status=Status.FAILED, ok=False, note=note)
        wait = backoff(delivery.attempts)
        _record(delivery, status=Status.PENDING, ok=False, note=reason, retry_in=wait)
        raise DeliveryRetry(reason, wait) from exc
    return _record(delivery, status=Status.DELIVERED, ok=True, note=note)


def _record(delivery: NotificationDelivery, *, status: str, ok: bool, note: str, retry_in: float | None = None) -> str:
    now = timezone.now()
    entry = {"attempt": delivery.attempts, "at": now.isoformat(timespec="milliseconds"), "ok": ok, "note": note}
    with transaction.atomic(durable=True):
        NotificationDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            claimed_until=None,
            attempt_log=[*delivery.attempt_log, entry],
            last_error="" if ok else note,
            delivered_at=now if ok else None,
            next_attempt_at=now + timedelta(seconds=retry_in) if retry_in is not None else now,
        )
    return status


def deliveries_requeue_lost(*, now: datetime | None = None) -> list[int]:
    """The backstop (the hand-off sweep): queue again each pending delivery whose attempt is long overdue."""
    now = now or timezone.now()
    lost = (
        NotificationDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lt=now - timedelta(seconds=LOST_GRACE_SECONDS)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
    )
    queued = []
    for pk in lost.values_list("pk", flat=True)[:500]:
        key = f"delivery-requeued:{pk}"
        if cache.add(key, "requeued", REQUEUED_TTL):
            enqueue.notification(delivery_pk=pk, on_failure=partial(cache.delete, key))
            queued.append(pk)
    return queued
