"""Users and roles: every change audited; the last admin cannot be removed."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from matches import roles
from matches.models import Domain, UserAccess
from matches.services import api_tokens
from matches.services.audit import audit_log

NO_ROLE = "Give the user at least one role: without one they can log in but see nothing."


class LastAdminError(Exception):
    """The change would leave no active admin."""


def _active_admin_ids() -> set[int]:
    return set(User.objects.filter(is_active=True, groups__name=roles.ADMIN).values_list("pk", flat=True))


def user_set_roles(*, actor: User, user: User, role_names: list[str]) -> None:
    """Give `user` exactly these roles."""
    unknown = set(role_names) - set(roles.ROLES)
    if unknown:
        raise ValueError(f"Unknown role: {', '.join(sorted(unknown))}")
    with transaction.atomic(durable=True):
        # Serialise role changes so two admins cannot demote each other into having none.
        Group.objects.select_for_update().filter(name=roles.ADMIN).first()
        before = sorted(user.groups.filter(name__in=roles.ROLES).values_list("name", flat=True))
        if roles.ADMIN in before and roles.ADMIN not in role_names and _active_admin_ids() <= {user.pk}:
            raise LastAdminError("This is the last admin: make someone else an admin first.")
        user.groups.remove(*Group.objects.filter(name__in=roles.ROLES).exclude(name__in=role_names))
        user.groups.add(*Group.objects.filter(name__in=role_names))
        audit_log(
            actor=actor,
            action="user.roles_changed",
            object_type="user",
            object_id=user.pk,
            details={"username": user.get_username(), "before": before, "after": sorted(role_names)},
        )


def user_set_active(*, actor: User, user: User, active: bool) -> None:
    """Deactivate or reactivate a user (users are never deleted: decisions and audit events point at them);
    deactivating revokes their API tokens in the same transaction (a reactivated user makes new ones)."""
    with transaction.atomic(durable=True):
        Group.objects.select_for_update().filter(name=roles.ADMIN).first()
        if not active and _active_admin_ids() <= {user.pk} and user.groups.filter(name=roles.ADMIN).exists():
            raise LastAdminError("This is the last admin: make someone else an admin first.")
        user.is_active = active
        user.save(update_fields=["is_active"])
        details: dict = {"username": user.get_username()}
        if not active:
            details["tokens_revoked"] = api_tokens.tokens_revoke_for_user_within(
                actor=actor, user=user, reason="user deactivated"
            )
            details["sessions_ended"] = sessions_end_for_user_within(user=user)
        audit_log(
            actor=actor,
            action="user.activated" if active else "user.deactivated",
            object_type="user",
            object_id=user.pk,
            details=details,
        )


def user_create(*, actor: User, username: str, password: str, role_names: list[str], email: str = "") -> User:
    """Create a user with at least one role and a password Django's validators accept."""
    if not role_names:
        raise ValidationError({"roles": NO_ROLE})
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    with transaction.atomic(durable=True):
        user = User.objects.create_user(username=username, password=password, email=email)
        user.groups.add(*Group.objects.filter(name__in=role_names))
        audit_log(
            actor=actor,
            action="user.created",
            object_type="user",
            object_id=user.pk,
            details={"username": username, "roles": sorted(role_names)},
        )
    return user


def sessions_end_for_user_within(*, user: User) -> int:
    """Delete every live session of `user` (sessions live in the database: settings.SESSION_ENGINE), inside the
    caller's transaction; returns how many. Sessions carry no user column, so each live one is decoded: fine for the
    hundreds a review desk has (docs/architecture.md, "Single sign-on and domain access")."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            ended.append(session.pk)
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def domain_access_of(user: User) -> tuple[bool, list[str]]:
    """(all_domains, the names of the domains a limited user may see)."""
    access = UserAccess.objects.filter(user=user).first()
    if access is None or access.all_domains:
        return True, []
    return False, sorted(access.domains.values_list("name", flat=True))


def user_set_domains_within(
    *, actor: User | None, user: User, all_domains: bool, domain_names: list[str], source: str
) -> bool:
    """Limit `user` to these domains (or none: `all_domains`), inside the caller's transaction; audited when it
    changes anything. Names of no domain are ignored. Returns whether it changed."""
    before = domain_access_of(user)
    names = (
        [] if all_domains else sorted(set(Domain.objects.filter(name__in=domain_names).values_list("name", flat=True)))
    )
    if before == (all_domains, names):
        return False
    access, _ = UserAccess.objects.select_for_update().get_or_create(user=user)
    access.all_domains = all_domains
    access.source = source
    access.save(update_fields=["all_domains", "source"])
    access.domains.set(Domain.objects.filter(name__in=names))
    audit_log(
        actor=actor,
        action="user.domains_changed",
        object_type="user",
        object_id=user.pk,
        details={
            "username": user.get_username(),
            "source": source,
            "before": "all" if before[0] else before[1],
            "after": "all" if all_domains else names,
        },
    )
    return True


def user_set_domains(*, actor: User, user: User, all_domains: bool, domain_names: list[str]) -> None:
    """The user admin page: limit a steward or auditor to some domains (admins see every domain whatever this says)."""
    with transaction.atomic(durable=True):
        user_set_domains_within(
            actor=actor, user=user, all_domains=all_domains, domain_names=domain_names, source="admin"
        )
