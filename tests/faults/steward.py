"""A steward over HTTP, as a browser would be: logs in, opens groups and decides them; every answer is recorded."""

from __future__ import annotations

import http.cookiejar
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

PASSWORD = "correct horse battery"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A POST's own answer is what counts (302: saved), not the page it redirects to."""

    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Answer:
    at: float  # time.monotonic() when the request was sent
    seconds: float
    method: str
    path: str
    status: int  # 0: no answer (connection refused or reset); redirects are not followed
    location: str = ""


@dataclass
class Steward:
    base: str
    username: str
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.actions: dict[int, str] = {}
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def _csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, method: str, path: str, data: dict | None = None, timeout: float = 30.0) -> int:
        body = None
        headers = {}
        if method == "POST":
            body = urllib.parse.urlencode({**(data or {}), "csrfmiddlewaretoken": self._csrf()}).encode()
            headers["X-CSRFToken"] = self._csrf()
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        sent = time.monotonic()
        location = ""
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status, location = exc.code, exc.headers.get("Location", "")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = 0
        self.answers.append(Answer(sent, time.monotonic() - sent, method, path, status, location))
        return status

    def login(self) -> None:
        self.request("GET", "/login/")
        status = self.request("POST", "/login/", {"username": self.username, "password": PASSWORD})
        if status != 302 or not any(c.name == "sessionid" for c in self.jar):
            raise RuntimeError(f"{self.username} could not log in ({status})")

    def decide(self, group_id: int, action: str) -> int:
        """Open the group, then decide it; the decision's answer (after its redirect) is returned."""
        self.request("GET", f"/groups/{group_id}/")
        self.actions[group_id] = action
        return self.request("POST", f"/groups/{group_id}/decide/", {"action": action})
