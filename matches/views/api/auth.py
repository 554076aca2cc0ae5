"""Bearer tokens for the API. Only the Authorization header authenticates: a session cookie never does, so no API
call can be forged cross-site and the API needs no CSRF token."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from matches.services import api_tokens


class TokenAuth(HttpBearer):
    openapi_description = "A personal API token (Account → API tokens): `Authorization: Bearer mdk_…`"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if "\x00" in token or len(token) > 200:
            return None
        user = api_tokens.token_authenticate(secret=token)
        if user is None:
            return None
        request.user = user  # what the services and the permission checks read
        return user
