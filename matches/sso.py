"""Single sign-on with OpenID Connect (mozilla-django-oidc): the authentication backends and the provider's logout
address. Design: docs/architecture.md, "Single sign-on and domain access". The accounts themselves are made and
updated by matches/services/sso.py; the addresses are matches/views/sso.py."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from matches.services import sso as sso_service

log = logging.getLogger(__name__)


def sso_enabled() -> bool:
    return bool(settings.SSO_ENABLED and settings.OIDC_OP_AUTHORIZATION_ENDPOINT and settings.OIDC_RP_CLIENT_ID)


class _AccessLoading:
    """The session's user comes with their domain access (one query, not two: access.limited_domain_ids)."""

    def get_user(self, user_id: Any) -> User | None:
        user = User._default_manager.select_related("matchdesk_access").filter(pk=user_id).first()
        return user if user is not None and ModelBackend().user_can_authenticate(user) else None


class LocalPasswordBackend(_AccessLoading, ModelBackend):
    """Django's username and password, unless settings.LOCAL_PASSWORDS is off (then no password logs anyone in;
    sessions already made still load, and permissions are checked here as ever)."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ):
        if not settings.LOCAL_PASSWORDS:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class SsoBackend(_AccessLoading, OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with accounts found by the provider's subject (never by a name or an email a
    provider's user could choose) and made or updated by matches/services/sso.py."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads its settings here; with SSO off they are empty, and nothing calls it.
        super().__init__(*args, **kwargs)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any):
        if not sso_enabled() or request is None or "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims: dict) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict):
        user = sso_service.user_for_subject(issuer=settings.OIDC_OP_ISSUER, subject=str(claims.get("sub", "")))
        return User.objects.filter(pk=user.pk) if user else User.objects.none()

    def _refused(self, exc: sso_service.SsoRefused) -> PermissionDenied:
        if self.request is not None:
            messages.error(self.request, str(exc))
        return PermissionDenied(str(exc))

    def create_user(self, claims: dict) -> User:
        try:
            return sso_service.user_create_from_sso(issuer=settings.OIDC_OP_ISSUER, claims=claims)
        except sso_service.SsoRefused as exc:
            raise self._refused(exc) from exc

    def update_user(self, user: User, claims: dict) -> User:
        if not user.is_active:
            return user  # refused by the callback; a deactivated account is not changed by its provider
        try:
            return sso_service.user_update_from_sso(user=user, claims=claims)
        except sso_service.SsoRefused as exc:
            raise self._refused(exc) from exc

    def verify_token(self, token: str, **kwargs: Any):
        try:
            return super().verify_token(token, **kwargs)
        except SuspiciousOperation as exc:
            log.warning("single sign-on: id_token refused: %s", exc)
            sso_service.refusal_record(claims={}, reason=f"id_token refused: {exc}")
            raise


def provider_logout_url(request: HttpRequest) -> str:
    """Where logging out sends the browser (settings.OIDC_OP_LOGOUT_URL_METHOD): the provider's end_session_endpoint
    with the id_token of this session, then back to the login page; the login page when there is none."""
    login = request.build_absolute_uri(reverse("login"))
    id_token = request.session.get("oidc_id_token")
    if not (sso_enabled() and settings.OIDC_OP_LOGOUT_ENDPOINT and id_token):
        return reverse("login")
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": login, "client_id": settings.OIDC_RP_CLIENT_ID}
    )
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{query}"
