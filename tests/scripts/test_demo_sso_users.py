"""The demo's single sign-on users (scripts/demo_sso_users.py, as `make demo` runs it) against the real OpenID
provider (tests/oidc_fixtures.py): each logs in with the password printed for it and gets its role under Matchdesk's
default claim settings, the limited steward sees its one domain, and a wrong password signs no one in."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from matches import roles
from matches.access import visible_domains
from tests.factories import DomainFactory
from tests.oidc_fixtures import sso_login

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True)]


def generate(path: Path, domain: str) -> tuple[dict, dict[str, str]]:
    """Run the script as demo.sh does: the users file it writes, and login -> password as it prints them."""
    printed = subprocess.run(
        [sys.executable, "scripts/demo_sso_users.py", str(path), domain],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    passwords = {line.split()[0]: line.split()[1] for line in printed.splitlines() if line.strip()}
    return json.loads(path.read_text()), passwords


def test_each_demo_user_logs_in_with_its_printed_password_and_gets_its_role(live_server, sso, tmp_path):
    DomainFactory(name="demo")
    DomainFactory(name="other")
    users, passwords = generate(tmp_path / "oidc-users.json", "demo")
    assert stat.S_IMODE((tmp_path / "oidc-users.json").stat().st_mode) == 0o600
    assert set(passwords) == set(users) == {"sso-steward", "sso-admin", "sso-auditor", "sso-limited"}
    assert all(passwords[login] == user["password"] for login, user in users.items())
    sso.set_users(users)
    expected = {
        "sso-steward": ([roles.STEWARD], ["demo", "other"]),
        "sso-admin": ([roles.ADMIN], ["demo", "other"]),
        "sso-auditor": ([roles.AUDITOR], ["demo", "other"]),
        "sso-limited": ([roles.STEWARD], ["demo"]),
    }
    for login, (role_names, domains) in expected.items():
        _, page = sso_login(live_server, login, password=passwords[login])
        assert page.url == f"{live_server.url}/", (login, page.url)
        user = User.objects.get(username=login)
        assert sorted(user.groups.values_list("name", flat=True)) == role_names, login
        assert sorted(visible_domains(user).values_list("name", flat=True)) == domains, login


def test_a_wrong_password_at_the_provider_signs_no_one_in(live_server, sso, tmp_path):
    users, passwords = generate(tmp_path / "oidc-users.json", "demo")
    sso.set_users(users)
    session, page = sso_login(live_server, "sso-admin", password=passwords["sso-admin"] + "x")
    assert page.url.startswith(sso.url) and 'name="login"' in page.text  # the provider's sign-in form again
    assert not User.objects.filter(username="sso-admin").exists()
    assert session.get(f"{live_server.url}/", allow_redirects=False, timeout=10).status_code == 302
    # The same session then signs in with the right one.
    _, page = sso_login(live_server, "sso-admin", session, password=passwords["sso-admin"])
    assert page.url == f"{live_server.url}/"
    assert User.objects.get(username="sso-admin").groups.filter(name=roles.ADMIN).exists()


def test_every_run_makes_new_passwords(tmp_path):
    _, first = generate(tmp_path / "a.json", "demo")
    _, second = generate(tmp_path / "b.json", "demo")
    assert set(first) == set(second) and all(first[k] != second[k] for k in first)
