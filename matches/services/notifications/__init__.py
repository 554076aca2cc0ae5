"""Notifications (docs/architecture.md, "Notifications"): email through Django's mail and HMAC-signed webhooks.

How a notification is never lost: `notify` writes one `NotificationDelivery` row per person (email) and per webhook
endpoint inside the transaction of the event it tells of, and hands each to Celery only after that commits
(services/enqueue.py). A worker claims a row with a conditional UPDATE, sends it, and records the attempt; a failure
that may pass (SMTP down, a 5xx, a timeout) is retried with backoff up to `NOTIFY_MAX_ATTEMPTS`; the hand-off sweep
queues a pending row whose message was lost. At least once: the row's `delivery_id` travels as `X-Matchdesk-Delivery`
(and as the email's Message-ID) so a receiver can drop a second copy.

Hooks call `notify(kind=..., users=..., domain=..., context=...)` where the event happens: a run completed
(services/pulls/carry_over.py), a pull failed (services/pulls/run.py), a merge failed (services/merges/outcomes.py),
an approval awaiting a second person (services/approvals.py). ASSIGNED and OVERDUE have their kinds and preferences;
the assignment and deadline code calls `notify` with the people concerned (see `work_assigned` and
`reviews_overdue`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from matches import roles
from matches.access import visible_domains
from matches.models import Domain, NotificationDelivery, NotificationKind, NotificationPreference, WebhookEndpoint
from matches.services import enqueue

log = logging.getLogger(__name__)

Kind = NotificationKind
Channel = NotificationDelivery.Channel


@dataclass(frozen=True)
class KindInfo:
    """Who hears of a kind when the caller names nobody (`audience`, a permission, or None: only those named), and
    who may choose it on their notifications page (`chooser`, a permission)."""

    audience: str | None
    chooser: str


KINDS: dict[str, KindInfo] = {
    Kind.RUN_COMPLETED: KindInfo(audience=roles.VIEW_QUEUES, chooser=roles.VIEW_QUEUES),
    Kind.PULL_FAILED: KindInfo(audience=roles.ADMINISTER, chooser=roles.ADMINISTER),
    Kind.MERGE_FAILED: KindInfo(audience=roles.ADMINISTER, chooser=roles.DECIDE),
    Kind.OVERDUE: KindInfo(audience=roles.ADMINISTER, chooser=roles.DECIDE),
    Kind.ASSIGNED: KindInfo(audience=None, chooser=roles.DECIDE),
    Kind.APPROVAL_AWAITING: KindInfo(audience=None, chooser=roles.DECIDE),
}
PERSONAL_KINDS = tuple(KINDS)  # what a person can choose; TEST is for webhooks only
WEBHOOK_KINDS = (*PERSONAL_KINDS, Kind.TEST)


def kinds_for(user: User) -> list[str]:
    """The kinds `user` may choose on their notifications page (those their role can hear of)."""
    return [kind for kind in PERSONAL_KINDS if user.is_active and user.has_perm(KINDS[kind].chooser)]


def email_wanted(user: User, kind: str) -> bool:
    """The user's choice for `kind` (on unless they turned it off)."""
    choice = NotificationPreference.objects.filter(user=user, kind=kind).values_list("email", flat=True).first()
    return True if choice is None else choice


def audience(kind: str) -> list[User]:
    """The active users a kind goes to when the caller names nobody."""
    perm = KINDS[kind].audience
    return [] if perm is None else audience_for(perm)


def absolute(path: str) -> str:
    return settings.NOTIFY["BASE_URL"].rstrip("/") + path if path.startswith("/") else path


def _recipients(kind: str, users: Iterable[User] | None, domain: Domain | None) -> list[User]:
    people = audience(kind) if users is None else list(users)
    off = set(
        NotificationPreference.objects.filter(kind=kind, email=False, user__in=[u.pk for u in people]).values_list(
            "user_id", flat=True
        )
    )
    seen: set[int] = set()
    chosen = []
    for user in people:
        if user.pk in seen or user.pk in off or not user.is_active or not user.email:
            continue
        seen.add(user.pk)
        if domain is not None and not visible_domains(user).filter(pk=domain.pk).exists():
            continue
        chosen.append(user)
    return chosen


def _payload(kind: str, domain: Domain | None, context: dict[str, Any]) -> dict[str, Any]:
    plain = json.loads(json.dumps(context, default=str))
    return {
        "kind": str(kind),
        "domain": domain.name if domain is not None else None,
        "summary": str(plain.pop("summary", Kind(kind).label)),
        "url": absolute(str(plain.pop("url", "/"))),
        "created_at": timezone.now().isoformat(),
        "data": plain,
    }


def notify(
    *, kind: str, users: Iterable[User] | None = None, domain: Domain | None = None, context: dict[str, Any]
) -> list[NotificationDelivery]:
    """Queue `kind` for the people named (or the kind's audience) who want it, and for the webhooks that hear it.

    `context` carries `summary` (one line: the email's subject), `url` (a path of this site) and any JSON-able facts
    for the webhook's `data`. Runs inside the caller's transaction, in a savepoint: a notification that cannot be
    written is logged and never undoes the change it tells of."""
    if kind not in KINDS and kind != Kind.TEST:
        raise ValueError(f"unknown notification kind {kind!r}")
    try:
        with transaction.atomic():
            return _write(kind=kind, users=users, domain=domain, context=context)
    except Exception:
        log.exception("could not queue %s notifications", kind)
        return []


def _write(
    *, kind: str, users: Iterable[User] | None, domain: Domain | None, context: dict[str, Any]
) -> list[NotificationDelivery]:
    payload = _payload(kind, domain, context)
    now = timezone.now()
    subject = f"[Matchdesk] {payload['summary']}"[:200]
    rows = []
    if settings.NOTIFY["EMAIL"] and kind in KINDS:
        rows += [
            NotificationDelivery(
                kind=kind,
                channel=Channel.EMAIL,
                domain=domain,
                user=user,
                address=user.email,
                subject=subject,
                payload=payload,
                next_attempt_at=now,
            )
            for user in _recipients(kind, users, domain)
        ]
    if settings.NOTIFY["WEBHOOKS"]:
        named = [u.get_username() for u in users] if users is not None else None
        hook_payload = {**payload, "users": named} if named is not None else payload
        domain_id = domain.pk if domain is not None else None
        endpoints = WebhookEndpoint.objects.filter(enabled=True, kinds__contains=[kind])
        rows += [
            NotificationDelivery(
                kind=kind,
                channel=Channel.WEBHOOK,
                domain=domain,
                endpoint=endpoint,
                address=endpoint.url,
                subject=subject,
                payload=hook_payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints.order_by("pk")
            if endpoint.hears(kind, domain_id)
        ]
    created = NotificationDelivery.objects.bulk_create(rows)
    for row in created:
        enqueue.notification(delivery_pk=row.pk)
    return created


# The hooks for assignment and deadlines (built elsewhere): call these where those events happen. -------------------


def work_assigned(*, users: Iterable[User], domain: Domain | None, summary: str, url: str, **facts: Any) -> None:
    """Tell people that work was assigned to them (the assignment service calls this in its transaction)."""
    notify(kind=Kind.ASSIGNED, users=users, domain=domain, context={"summary": summary, "url": url, **facts})


def reviews_overdue(
    *, users: Iterable[User] | None, domain: Domain | None, summary: str, url: str, **facts: Any
) -> None:
    """Tell people (admins when None) that review deadlines passed. Hook: when deadlines exist, a periodic task
    finds the groups past their deadline not yet told of and calls this once for each (docs/architecture.md,
    "Notifications")."""
    notify(kind=Kind.OVERDUE, users=users, domain=domain, context={"summary": summary, "url": url, **facts})


def approvers_of(*, domain: Domain, requested_by: User, bulk: bool) -> list[User]:
    """Who may approve a request: an active steward or admin (an admin for a bulk job), never the one who asked."""
    perm = roles.ADMINISTER if bulk else roles.DECIDE
    return [user for user in audience_for(perm) if user.pk != requested_by.pk]


def audience_for(perm: str) -> list[User]:
    """The active users holding `perm` (through their role, or superusers)."""
    app, codename = perm.split(".")
    granted = Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app)
    return list(User.objects.filter(granted | Q(is_superuser=True), is_active=True).distinct().order_by("pk"))
