"""A real OpenID provider for the single sign-on tests (tests/sso/, tests/e2e/test_sso_login.py):
scripts/oidc_provider.mjs (the npm `oidc-provider` package, installed by scripts/ensure_oidc_provider.sh; `make demo`
runs the same script) in its own Node process, its users in a JSON file a test rewrites, and Matchdesk's settings
pointed at it. Nothing of the protocol is mocked: the browser or a `requests` session follows every redirect between
pytest-django's live server and the provider."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import time
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "oidc_provider.mjs"
CLIENT_ID = "matchdesk"
CLIENT_SECRET = "matchdesk-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Provider:
    def __init__(self, url: str, users_file: Path, log: Path):
        self.url = url
        self.users_file = users_file
        self.log = log

    def set_users(self, users: dict) -> None:
        """The provider re-reads this at every sign-in: a changed group shows at the user's next login."""
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(users))
        tmp.replace(self.users_file)


@pytest.fixture(scope="session")
def oidc_provider(live_server, tmp_path_factory):
    if shutil.which("node") is None or not (ROOT / "node_modules" / "oidc-provider").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_oidc_provider.sh")], check=True)
    folder = tmp_path_factory.mktemp("oidc")
    users = folder / "users.json"
    users.write_text("{}")
    log = folder / "provider.log"
    port = _free_port()
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_USERS_FILE": str(users),
        "OIDC_REDIRECT_URIS": f"{live_server.url}/oidc/callback/",
        "OIDC_POST_LOGOUT_URIS": f"{live_server.url}/login/",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(["node", str(SCRIPT)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the OpenID provider did not start:\n{log.read_text()}")
        time.sleep(0.1)
    try:
        yield Provider(url, users, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def sso(oidc_provider, settings):
    """Single sign-on turned on against the provider, with the role groups present (a transactional test's flush
    drops them)."""
    from matches import roles

    roles.ensure_role_groups()
    url = oidc_provider.url
    discovery = requests.get(f"{url}/.well-known/openid-configuration", timeout=5).json()
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = discovery["issuer"]
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = discovery["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = discovery["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = discovery["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = discovery["jwks_uri"]
    settings.OIDC_OP_LOGOUT_ENDPOINT = discovery["end_session_endpoint"]
    # As reviewapp/settings.py does when SSO_ENABLED is set: logout's redirect to the provider is a form action.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(url)
    settings.CONTENT_SECURITY_POLICY = policy
    oidc_provider.set_users({})
    return oidc_provider


FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)


def form_of(response: requests.Response, index: int = 0) -> tuple[str, dict[str, str]]:
    """The action (absolute) and hidden fields of a form on a page."""
    forms = FORM.findall(response.text)
    assert forms, f"no form at {response.url}: {response.text[:500]}"
    action, body = forms[index]
    return urljoin(response.url, unescape(action)), {n: unescape(v) for n, v in HIDDEN.findall(body)}


def sso_login(
    live_server, login: str, session: requests.Session | None = None, password: str = "any"
) -> tuple[requests.Session, requests.Response]:
    """Log in through the provider as a browser would, following every redirect: Matchdesk's /oidc/login/, the
    provider's sign-in form (any password for a known login without one in the users file), the callback. Returns the
    session and the last page."""
    session = session or requests.Session()
    response = session.get(f"{live_server.url}/oidc/login/", timeout=10)
    if 'name="login"' in response.text:  # the provider's own sign-in (skipped while its session lasts)
        action, fields = form_of(response)
        response = session.post(action, data={**fields, "login": login, "password": password}, timeout=10)
    return session, response


def matchdesk_post(live_server, session: requests.Session, path: str, **kwargs) -> requests.Response:
    """A POST to Matchdesk with the session's CSRF token (Django's csrftoken cookie)."""
    token = session.cookies.get("csrftoken", domain="localhost.local") or session.cookies.get("csrftoken")
    return session.post(
        f"{live_server.url}{path}",
        data={"csrfmiddlewaretoken": token, **kwargs.pop("data", {})},
        headers={"Referer": f"{live_server.url}/"},
        timeout=10,
        **kwargs,
    )
