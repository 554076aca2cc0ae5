"""Response headers every authenticated page carries."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

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
