from django.http import HttpRequest

from matches import roles


def navigation(request: HttpRequest) -> dict:
    """What the layout shows or hides for the logged-in user's roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    names = roles.role_names(user)
    return {
        "user_roles": names,
        "can_decide": user.has_perm(roles.DECIDE),
        "can_administer": user.has_perm(roles.ADMINISTER),
        "can_view_audit": user.has_perm(roles.VIEW_AUDIT),
    }


def sign_in(request: HttpRequest) -> dict:
    """What the login page offers: single sign-on, local passwords, or both (settings.SSO_ENABLED, LOCAL_PASSWORDS)."""
    from django.conf import settings

    from matches.sso import sso_enabled

    return {
        "sso_enabled": sso_enabled(),
        "sso_button_label": settings.SSO_BUTTON_LABEL,
        "local_passwords": settings.LOCAL_PASSWORDS,
    }
