"""Single sign-on against a real OpenID provider (tests/sso/conftest.py): log in, roles from the groups claim, a
removed group at the next login, domains from the domains claim, the last admin kept, logout at both ends, tokens
that fail validation refused, and deactivation ending live sessions."""

from __future__ import annotations

import base64

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.exceptions import SuspiciousOperation

from matches import roles
from matches.models import ApiToken, AuditEvent, UserAccess
from matches.services import api_tokens, users
from tests.factories import DomainFactory, MatchRunFactory, UserFactory
from tests.oidc_fixtures import form_of, matchdesk_post, sso_login

pytestmark = [pytest.mark.django_db(transaction=True)]


def role_names(username: str) -> list[str]:
    return sorted(User.objects.get(username=username).groups.values_list("name", flat=True))


def sessions_of(user: User) -> list[Session]:
    return [s for s in Session.objects.all() if str(s.get_decoded().get("_auth_user_id")) == str(user.pk)]


def logged_in(live_server, session: requests.Session) -> bool:
    response = session.get(f"{live_server.url}/", allow_redirects=False, timeout=10)
    return response.status_code == 200


def test_a_first_login_creates_the_user_with_the_roles_of_the_groups_claim(live_server, sso):
    sso.set_users({"alice": {"groups": ["Steward", "unrelated-group"], "email": "alice@example.test"}})
    session, page = sso_login(live_server, "alice")
    assert page.url == f"{live_server.url}/"
    assert page.status_code == 200 and "alice" in page.text
    user = User.objects.get(username="alice")
    assert role_names("alice") == [roles.STEWARD]
    assert user.email == "alice@example.test" and not user.has_usable_password()
    access = UserAccess.objects.get(user=user)
    assert (access.oidc_issuer, access.oidc_subject, access.source) == (sso.url, "alice", "sso")
    created = AuditEvent.objects.get(action="user.created")
    assert created.details == {"username": "alice", "roles": ["Steward"], "source": "sso"}
    assert AuditEvent.objects.filter(action="auth.login", actor=user).exists()


def test_a_removed_group_takes_effect_at_the_next_login(live_server, sso):
    sso.set_users({"bea": {"groups": ["Steward", "Auditor"]}})
    session, _ = sso_login(live_server, "bea")
    assert role_names("bea") == [roles.AUDITOR, roles.STEWARD]
    assert session.get(f"{live_server.url}/audit/", timeout=10).status_code == 200
    sso.set_users({"bea": {"groups": ["Steward"]}})
    # A new login (the provider remembers bea: no sign-in form this time, the claims are read afresh).
    _, page = sso_login(live_server, "bea", session)
    assert page.url == f"{live_server.url}/"
    assert role_names("bea") == [roles.STEWARD]
    assert session.get(f"{live_server.url}/audit/", allow_redirects=False, timeout=10).status_code == 403
    change = AuditEvent.objects.filter(action="user.roles_changed").latest("seq")
    assert change.details == {
        "username": "bea",
        "before": ["Auditor", "Steward"],
        "after": ["Steward"],
        "source": "sso",
    }


def test_a_user_the_provider_gives_no_role_is_refused(live_server, sso):
    sso.set_users({"carl": {"groups": ["somewhere-else"]}})
    session, page = sso_login(live_server, "carl")
    assert page.url.startswith(f"{live_server.url}/login/")
    assert "no Matchdesk role" in page.text
    assert not User.objects.filter(username="carl").exists()
    assert not logged_in(live_server, session)
    assert AuditEvent.objects.get(action="auth.sso_refused").details["subject"] == "carl"


def test_the_domains_claim_limits_the_user(live_server, sso):
    for name in ("alpha", "beta"):
        MatchRunFactory(domain=DomainFactory(name=name))
    sso.set_users({"dana": {"groups": ["Auditor"], "domains": ["alpha"]}})
    session, home = sso_login(live_server, "dana")
    assert "alpha" in home.text and "beta" not in home.text
    assert session.get(f"{live_server.url}/d/beta/queue/review/", timeout=10).status_code == 404
    assert session.get(f"{live_server.url}/d/alpha/queue/review/", timeout=10).status_code == 200
    sso.set_users({"dana": {"groups": ["Auditor"], "domains": ["*"]}})
    sso_login(live_server, "dana", session)
    assert session.get(f"{live_server.url}/d/beta/queue/review/", timeout=10).status_code == 200
    sso.set_users({"dana": {"groups": ["Auditor"]}})  # the claim missing: no domain (closed, not open)
    sso_login(live_server, "dana", session)
    assert session.get(f"{live_server.url}/d/alpha/queue/review/", timeout=10).status_code == 404
    events = AuditEvent.objects.filter(action="user.domains_changed").order_by("seq")
    assert [e.details["after"] for e in events] == [["alpha"], "all", []]


def test_sso_does_not_take_the_admin_role_from_the_last_admin(live_server, sso):
    sso.set_users({"erin": {"groups": ["Admin"]}})
    sso_login(live_server, "erin")
    assert role_names("erin") == [roles.ADMIN]
    sso.set_users({"erin": {"groups": ["Steward"]}})
    session, page = sso_login(live_server, "erin")
    assert page.url.startswith(f"{live_server.url}/login/")
    assert "last admin" in page.text
    assert role_names("erin") == [roles.ADMIN] and not logged_in(live_server, session)
    assert "last admin" in AuditEvent.objects.filter(action="auth.sso_refused").latest("seq").details["reason"]
    # With another admin, the provider's word stands.
    UserFactory(username="other-admin", roles=[roles.ADMIN])
    session, page = sso_login(live_server, "erin")
    assert page.url == f"{live_server.url}/" and role_names("erin") == [roles.STEWARD]


def test_logout_ends_the_session_here_and_at_the_provider(live_server, sso):
    sso.set_users({"finn": {"groups": ["Steward"]}})
    session, _ = sso_login(live_server, "finn")
    finn = User.objects.get(username="finn")
    assert len(sessions_of(finn)) == 1
    out = matchdesk_post(live_server, session, "/logout/", allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"].startswith(f"{sso.url}/session/end?")
    assert "id_token_hint=" in out.headers["Location"]
    assert sessions_of(finn) == [] and not logged_in(live_server, session)
    confirm = session.get(out.headers["Location"], timeout=10)
    assert "sign me out" in confirm.text  # the provider asks, as it would a person
    action, fields = form_of(confirm)
    back = session.post(action, data={**fields, "logout": "yes"}, timeout=10)
    assert back.url == f"{live_server.url}/login/"
    # The provider's session is gone too: the next login asks for the sign-in form again.
    again = session.get(f"{live_server.url}/oidc/login/", timeout=10)
    assert again.url.startswith(sso.url) and 'name="login"' in again.text


def _id_token_of(user: User) -> str:
    (session,) = sessions_of(user)
    return session.get_decoded()["oidc_id_token"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_tampered_id_token_is_refused_by_the_librarys_validation(live_server, sso):
    from matches.sso import SsoBackend

    sso.set_users({"gus": {"groups": ["Steward"]}})
    sso_login(live_server, "gus")
    token = _id_token_of(User.objects.get(username="gus"))
    header, payload, signature = token.split(".")
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    backend = SsoBackend()
    assert backend.verify_token(token, nonce=claims["nonce"])["sub"] == "gus"  # the genuine one passes
    forged = dict(claims, sub="alice-the-admin")
    tampered_claims = f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0xFF
    tampered_signature = f"{header}.{payload}.{_b64(bytes(raw))}"
    for bad in (tampered_claims, tampered_signature):
        with pytest.raises(SuspiciousOperation):
            backend.verify_token(bad, nonce=claims["nonce"])
    assert AuditEvent.objects.filter(action="auth.sso_refused").count() == 2


def test_a_token_signed_with_another_key_is_refused_at_the_callback(live_server, sso, settings):
    # The relying party trusts a key set the provider did not sign with (same key id, another RSA key): the
    # provider's genuine id_token now fails the signature check inside the real login.
    settings.OIDC_OP_JWKS_ENDPOINT = f"{sso.url}/wrong-jwks"
    sso.set_users({"hal": {"groups": ["Admin"]}})
    session, page = sso_login(live_server, "hal")
    assert page.url.startswith(f"{live_server.url}/login/")
    assert "was refused" in page.text
    assert not User.objects.filter(username="hal").exists()
    assert not logged_in(live_server, session)
    assert "id_token refused" in AuditEvent.objects.get(action="auth.sso_refused").details["reason"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?code=x",
        "?code=x&state=y",
        "?error=access_denied",
        "?state=%00&code=%ff",
        "?code=" + "a" * 5000 + "&state=1",
    ],
)
def test_the_callback_answers_garbage_without_a_server_error_or_a_login(live_server, sso, query):
    session = requests.Session()
    session.get(f"{live_server.url}/oidc/login/", timeout=10)  # a real state in the session, not the one sent
    response = session.get(f"{live_server.url}/oidc/callback/{query}", allow_redirects=False, timeout=10)
    assert 300 <= response.status_code < 500
    assert not logged_in(live_server, session)


def test_deactivating_a_user_ends_their_sso_session_and_tokens_and_refuses_the_next_login(live_server, sso):
    sso.set_users({"ida": {"groups": ["Steward"]}})
    session, _ = sso_login(live_server, "ida")
    ida = User.objects.get(username="ida")
    _, secret = api_tokens.token_create(actor=ida, name="script")
    admin = UserFactory(username="boss", roles=[roles.ADMIN])
    users.user_set_active(actor=admin, user=ida, active=False)
    assert sessions_of(ida) == [] and not logged_in(live_server, session)
    assert not ApiToken.objects.filter(user=ida, revoked_at=None).exists()
    api = requests.get(f"{live_server.url}/api/v1/domains", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert api.status_code == 401
    event = AuditEvent.objects.get(action="user.deactivated")
    assert (event.details["sessions_ended"], event.details["tokens_revoked"]) == (1, 1)
    _, page = sso_login(live_server, "ida", session)
    assert page.url.startswith(f"{live_server.url}/login/") and not logged_in(live_server, session)


def test_a_provider_user_never_takes_over_a_local_account_of_the_same_name(live_server, sso):
    local = UserFactory(username="kim", roles=[roles.AUDITOR])
    sso.set_users({"kim": {"groups": ["Admin"]}})
    _, page = sso_login(live_server, "kim")
    assert page.url == f"{live_server.url}/"
    linked = UserAccess.objects.get(oidc_subject="kim").user
    assert linked.pk != local.pk and linked.username == "kim-2"
    assert role_names("kim") == [roles.AUDITOR] and role_names("kim-2") == [roles.ADMIN]
