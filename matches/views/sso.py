"""The single sign-on addresses (docs/architecture.md, "Single sign-on and domain access"): start a login at the
provider, its callback, and logging out (of the provider too when the session came from it). 404 while SSO is off."""

from __future__ import annotations

import logging

import requests
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from matches.sso import provider_logout_url, sso_enabled

log = logging.getLogger(__name__)
FAILED = "Single sign-on did not log you in."


def _require_sso() -> None:
    if not sso_enabled():
        raise Http404("Single sign-on is not turned on.")


@login_not_required
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """Off to the provider's login (state, nonce and PKCE verifier kept in the session)."""
    _require_sso()
    return OIDCAuthenticationRequestView.as_view()(request)


@login_not_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Back from the provider: the code is exchanged and the id_token checked by the library. Anything refused (a
    stale or forged state, a token that fails validation, a provider error) ends on the login page with a message."""
    _require_sso()
    try:
        return OIDCAuthenticationCallbackView.as_view()(request)
    except SuspiciousOperation as exc:
        log.warning("single sign-on refused: %s", exc)
        messages.error(request, f"{FAILED} The answer from the identity provider was refused.")
    except requests.RequestException as exc:
        log.warning("single sign-on: the identity provider failed: %s", exc)
        messages.error(request, f"{FAILED} The identity provider could not be reached or refused the login.")
    return redirect(reverse("login") + "?sso=failed")


@login_not_required
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Log out here (the session row is deleted) and, for a session that came from the provider, there too
    (RP-initiated logout: the provider's end_session_endpoint, then back to the login page)."""
    target = provider_logout_url(request)
    response = auth_views.LogoutView.as_view()(request)
    if target.startswith("http"):
        return HttpResponseRedirect(target)
    return response
