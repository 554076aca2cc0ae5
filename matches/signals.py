"""Signal receivers: Django's auth signals (every login, logout and failed login is audited) and post_migrate
(the role groups are kept after every migrate and flush)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from matches import roles
from matches.services.audit import audit_log_atomic


def _client(request) -> dict:
    if request is None:
        return {}
    return {"ip": request.META.get("REMOTE_ADDR", ""), "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200]}


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    audit_log_atomic(actor=user, action="auth.login", object_type="user", object_id=user.pk, details=_client(request))


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_log_atomic(
            actor=user, action="auth.logout", object_type="user", object_id=user.pk, details=_client(request)
        )


@receiver(user_login_failed)
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_log_atomic(
        action="auth.login_failed",
        object_type="user",
        object_id=username,
        details={"username": username, **_client(request)},
    )


# Roles ---------------------------------------------------------------------------------------------------------------


@receiver(post_migrate)
def ensure_roles(sender, app_config=None, using="default", **kwargs) -> None:
    """Keep the role groups after every migrate and flush (a test database flush would otherwise drop them)."""
    if app_config is None or app_config.label != "matches":
        return
    roles.ensure_role_groups(using)
