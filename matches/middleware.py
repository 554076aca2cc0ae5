"""Request and response rules every page follows: security headers, refusals before any view, the session ending."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL_MESSAGE = (
    "The address or the form contained a NUL character (%00), which no Matchdesk name, id or text can hold. "
    "Remove it and try again."
)


class NoStoreForAuthenticatedMiddleware:
    """`Cache-Control: no-store` (with Django's never-cache set) on every answer to a logged-in user: pages show
    customer profiles, and neither a shared cache nor the back button's disk cache may keep them. Static files are
    answered by WhiteNoise before this runs and stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Read before the view runs: logging out ends the session, and that answer must not be cached either.
        authenticated = request.user.is_authenticated
        response = self.get_response(request)
        if authenticated or request.user.is_authenticated:
            add_never_cache_headers(response)
        return response


class RefuseNulMiddleware:
    """A NUL character in the path, the query or a form field is answered 400 with a message, before any view.

    Postgres text cannot hold NUL, so a NUL that reached a query or an insert was a server error; no Matchdesk value
    (domain names, profile ids, reasons, filters) may contain one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            return render(request, "400.html", {"message": NUL_MESSAGE}, status=400)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if NUL in request.path_info:
        return True
    queries = [request.GET]
    if request.method == "POST" and request.content_type in FORM_TYPES:
        queries.append(request.POST)
    for query in queries:
        for key, values in query.lists():
            if NUL in key or any(NUL in v for v in values):
                return True
    return False


SESSION_ENDED_MESSAGE = "Your session ended, so nothing was decided or saved. Log in to go back to the page."


class SessionEndedMiddleware:
    """When the session has ended, a request that is not a plain page visit is sent to login with `next=` the page
    the person was on (htmx's HX-Current-URL, or the Referer of a form post), never the POST's own URL, which a GET
    after login would answer 405. htmx gets HX-Redirect so that the whole page goes to login instead of a login form
    being swapped into a panel. Nothing is done on the person's behalf: they see the page again and act again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = request.headers.get("HX-Request") == "true"
        if request.user.is_authenticated or not (htmx or request.method != "GET") or not _to_login(response):
            return response
        back = _page_of(request, request.headers.get("HX-Current-URL") if htmx else request.headers.get("Referer"))
        login = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}"
        messages.info(request, SESSION_ENDED_MESSAGE)
        if htmx:
            redirect = HttpResponse(status=200)
            redirect["HX-Redirect"] = login
            return redirect
        return HttpResponseRedirect(login)


def _to_login(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlsplit(response.get("Location", "")).path == resolve_url(settings.LOGIN_URL)


def _page_of(request: HttpRequest, url: str | None) -> str:
    """The path (and query) of `url` when it is one of ours, else the home page."""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        parts = urlsplit(url)
        if parts.path and parts.path != resolve_url(settings.LOGIN_URL):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"
