"""X-Request-ID: taken from the request when it is a sane token (a proxy or a client set it), made otherwise; put on
every log record of the request and sent back on the response, so one id follows a request across services."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from matches.observability.logs import request_id

HEADER = "X-Request-ID"
# Ids are echoed into logs and headers: anything else (spaces, control characters, a megabyte) is replaced.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _clear(**_: object) -> None:
    request_id.set("")


class RequestIdMiddleware:
    """The id stays set until the request is finished (not when this middleware returns): Django logs a 4xx/5xx
    ("Not Found: ...") after the whole middleware chain has answered, and that line must carry the id too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        request_finished.connect(_clear, dispatch_uid="matchdesk-request-id")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        rid = given if _SANE.fullmatch(given) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response
