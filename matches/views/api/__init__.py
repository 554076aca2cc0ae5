"""The REST API (django-ninja) at /api/v1/, its OpenAPI document at /api/v1/openapi.json (docs/architecture.md, "API").

Only personal bearer tokens authenticate it (auth.py); views here, like every view, call services and selectors."""

from __future__ import annotations

from typing import Any

from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.errors import HttpError

from matches.views.api import common, reads, writes
from matches.views.api.auth import TokenAuth

api = NinjaAPI(
    title="Matchdesk API",
    version="1",
    description="Read the review desk's domains, runs, queues, groups, decisions and audit log; claim and decide "
    "groups as the browser does. Authenticate with a personal API token: `Authorization: Bearer mdk_…`.",
    auth=TokenAuth(),
    docs_url=None,  # the Swagger page loads scripts from a CDN; the document itself is at openapi.json
    urls_namespace="api",
)
api.add_router("", reads.router)
api.add_router("", writes.router)


@api.exception_handler(common.Refused)
def refused(request: HttpRequest, exc: common.Refused) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message, "code": exc.code}, status=exc.status_code)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(DataError)
def bad_data(request: HttpRequest, exc: DataError) -> HttpResponse:
    # A value the database cannot hold (say, a NUL character the schema let through): the input's fault.
    return api.create_response(request, {"detail": "A value in the request cannot be stored or searched."}, status=400)


def urlpatterns() -> list[Any]:
    """The API's URL patterns, each marked login_not_required: the bearer token is the API's login, and the session
    middleware's redirect to the login page would be the wrong answer to a machine."""
    patterns, _app, _namespace = api.urls
    for pattern in patterns:
        _open(pattern)
    return patterns


def _open(pattern: URLPattern | URLResolver) -> None:
    if isinstance(pattern, URLResolver):
        for inner in pattern.url_patterns:
            _open(inner)
    else:
        pattern.callback.login_required = False
