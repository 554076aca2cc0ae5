"""Personal API tokens (docs/architecture.md, "API"): made once and shown once, stored as a SHA-256 digest, found by
their prefix, revoked by their owner or an admin; every creation and revocation is audited. Deactivating a user
revokes their tokens (services/users.py)."""

from __future__ import annotations

import hmac
import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from matches import roles
from matches.models import ApiToken
from matches.services.audit import audit_log

CREATED = "api_token.created"
REVOKED = "api_token.revoked"
SCHEME = "mdk_"
MAX_ACTIVE = 20
# last_used_at is written at most this often per token: a busy client must not turn every read into a write.
TOUCH_SECONDS = 60


class TokenRefused(Exception):
    """The token cannot be made or revoked (a message for the person)."""


def _can_manage(actor: User, owner: User) -> bool:
    return actor.is_active and (actor.pk == owner.pk or actor.has_perm(roles.ADMINISTER))


def token_create(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for the actor; returns it with the secret, which is never shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenRefused("Give the token a name of 1 to 100 characters.")
    if not actor.is_active:
        raise TokenRefused("An inactive user cannot make tokens.")
    with transaction.atomic(durable=True):
        User.objects.select_for_update().filter(pk=actor.pk).first()  # one creation at a time per user
        if ApiToken.objects.filter(user=actor, revoked_at=None).count() >= MAX_ACTIVE:
            raise TokenRefused(f"You have {MAX_ACTIVE} active tokens: revoke one first.")
        prefix = SCHEME + secrets.token_hex(4)
        secret = f"{prefix}_{secrets.token_urlsafe(32)}"
        token = ApiToken.objects.create(user=actor, name=name, prefix=prefix, digest=ApiToken.digest_of(secret))
        audit_log(
            actor=actor,
            action=CREATED,
            object_type="api_token",
            object_id=token.pk,
            details={"prefix": prefix, "name": name, "user": actor.get_username()},
        )
    return token, secret


def token_revoke(*, actor: User, token: ApiToken) -> None:
    """Revoke a token (its owner, or an admin); revoking a revoked token changes nothing."""
    if not _can_manage(actor, token.user):
        raise TokenRefused("Only the token's owner or an admin can revoke it.")
    with transaction.atomic(durable=True):
        current = ApiToken.objects.select_for_update().get(pk=token.pk)
        if current.revoked_at is not None:
            return
        _revoke(current, actor=actor, reason="revoked")


def tokens_revoke_for_user_within(*, actor: User, user: User, reason: str) -> int:
    """Revoke every active token of `user` inside the caller's transaction (deactivation); returns how many."""
    revoked = 0
    for token in ApiToken.objects.select_for_update().filter(user=user, revoked_at=None).order_by("pk"):
        _revoke(token, actor=actor, reason=reason)
        revoked += 1
    return revoked


def _revoke(token: ApiToken, *, actor: User, reason: str) -> None:
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_log(
        actor=actor,
        action=REVOKED,
        object_type="api_token",
        object_id=token.pk,
        details={"prefix": token.prefix, "name": token.name, "user": token.user.get_username(), "reason": reason},
    )


def token_authenticate(*, secret: str) -> User | None:
    """The active user an active token belongs to, or None."""
    prefix, separator, rest = (
        secret[: ApiToken.PREFIX_LENGTH],
        secret[ApiToken.PREFIX_LENGTH : ApiToken.PREFIX_LENGTH + 1],
        secret[ApiToken.PREFIX_LENGTH + 1 :],
    )
    if not prefix.startswith(SCHEME) or separator != "_" or not rest:
        return None
    token = ApiToken.objects.select_related("user__matchdesk_access").filter(prefix=prefix, revoked_at=None).first()
    if token is None or not hmac.compare_digest(token.digest, ApiToken.digest_of(secret)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOUCH_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
