"""Response headers every authenticated page carries."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


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
