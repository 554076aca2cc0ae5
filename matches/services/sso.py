"""Accounts from single sign-on (docs/architecture.md, "Single sign-on and domain access"): a login through the
OpenID provider creates or updates the account, its roles from the groups claim and its domains from the domains
claim, in one transaction with its audit rows. The provider is the authority for users who log in through it, with
one exception: a login that would take the Admin role from the last active admin is refused (audited), and the roles
stay as they were, so the desk never loses its last admin silently."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from matches import roles
from matches.models import UserAccess
from matches.services import users
from matches.services.audit import audit_log, audit_log_atomic

REFUSED = "auth.sso_refused"
ALL = "*"


class SsoRefused(Exception):
    """The login is refused (a message for the person)."""


def roles_from_claims(claims: Mapping[str, Any]) -> list[str]:
    """Matchdesk roles whose provider groups (settings.OIDC_ROLE_GROUPS) appear in the groups claim."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    held = {str(g) for g in groups if isinstance(g, str | int)}
    return sorted(
        role for role, names in settings.OIDC_ROLE_GROUPS.items() if role in roles.ROLES and held & set(names)
    )


def domains_from_claims(claims: Mapping[str, Any]) -> tuple[bool, list[str]] | None:
    """(all_domains, names) from the domains claim; None when SSO does not manage domains (no claim configured).
    A configured claim that is missing or not a list gives no domain at all (closed, not open)."""
    claim = settings.OIDC_DOMAINS_CLAIM
    if not claim:
        return None
    value = claims.get(claim)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return False, []
    names = [v for v in value if isinstance(v, str)]
    if ALL in names:
        return True, []
    return False, names


def username_from_claims(claims: Mapping[str, Any]) -> str:
    """A free username from the username claim (else the subject), at most 150 characters."""
    base = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or "sso-user")[:140].strip() or "sso-user"
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _sync_within(*, user: User, claims: Mapping[str, Any]) -> None:
    wanted = roles_from_claims(claims)
    before = sorted(user.groups.filter(name__in=roles.ROLES).values_list("name", flat=True))
    if before != wanted:
        Group.objects.select_for_update().filter(name=roles.ADMIN).first()
        if (
            roles.ADMIN in before
            and roles.ADMIN not in wanted
            and user.is_active
            and users._active_admin_ids() <= {user.pk}
        ):
            raise SsoRefused(
                "The identity provider no longer gives you the Admin role, and you are Matchdesk's last admin: "
                "another admin must log in first (their provider group makes them one)."
            )
        user.groups.remove(*Group.objects.filter(name__in=roles.ROLES).exclude(name__in=wanted))
        user.groups.add(*Group.objects.filter(name__in=wanted))
        audit_log(
            actor=None,
            action="user.roles_changed",
            object_type="user",
            object_id=user.pk,
            details={"username": user.get_username(), "before": before, "after": wanted, "source": "sso"},
        )
    domains = domains_from_claims(claims)
    if domains is not None:
        users.user_set_domains_within(
            actor=None, user=user, all_domains=domains[0], domain_names=domains[1], source="sso"
        )
    email = str(claims.get("email") or "")[:254]
    if email and email != user.email:
        user.email = email
        user.save(update_fields=["email"])


def user_for_subject(*, issuer: str, subject: str) -> User | None:
    access = UserAccess.objects.select_related("user").filter(oidc_issuer=issuer, oidc_subject=subject).first()
    return access.user if access else None


def user_create_from_sso(*, issuer: str, claims: Mapping[str, Any]) -> User:
    """The account of a first login through the provider, linked to its subject; refused without any role."""
    subject = str(claims.get("sub") or "")
    try:
        if not subject or len(subject) > 255:
            raise SsoRefused("The identity provider sent no usable subject.")
        if not roles_from_claims(claims):
            raise SsoRefused("The identity provider gives you no Matchdesk role: ask for one.")
        with transaction.atomic(durable=True):
            user = User.objects.create_user(username=username_from_claims(claims))  # no usable password
            UserAccess.objects.create(user=user, oidc_issuer=issuer, oidc_subject=subject, source="sso")
            audit_log(
                actor=None,
                action="user.created",
                object_type="user",
                object_id=user.pk,
                details={"username": user.get_username(), "roles": roles_from_claims(claims), "source": "sso"},
            )
            _sync_within(user=user, claims=claims)
    except SsoRefused as exc:
        refusal_record(claims=claims, reason=str(exc))
        raise
    return user


def user_update_from_sso(*, user: User, claims: Mapping[str, Any]) -> User:
    """A later login: roles and domains as the provider says now (a removed group ends that role at this login)."""
    try:
        with transaction.atomic(durable=True):
            User.objects.select_for_update().filter(pk=user.pk).first()
            _sync_within(user=user, claims=claims)
    except SsoRefused as exc:
        refusal_record(claims=claims, reason=str(exc), user=user)
        raise
    return user


def refusal_record(*, claims: Mapping[str, Any], reason: str, user: User | None = None) -> None:
    """Audit a refused login through the provider (its own transaction: the login's own changes were rolled back)."""
    audit_log_atomic(
        actor=None,
        action=REFUSED,
        object_type="user",
        object_id=user.pk if user else "",
        details={
            "subject": str(claims.get("sub", ""))[:255],
            "username": user.get_username() if user else "",
            "reason": reason[:500],
        },
    )
