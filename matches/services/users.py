"""Users and roles: every change audited; the last admin cannot be removed."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from matches import roles
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
        if not active:
            api_tokens.tokens_revoke_for_user_within(actor=actor, user=user, reason="user deactivated")
        audit_log(
            actor=actor,
            action="user.activated" if active else "user.deactivated",
            object_type="user",
            object_id=user.pk,
            details={"username": user.get_username()},
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
