"""The login settings of issue 17 without a provider: single sign-on off answers 404 at its addresses, local
passwords off refuses every password, and deactivating a user ends their live sessions and API tokens (audited)."""

from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from matches.models import ApiToken, AuditEvent
from matches.services import api_tokens
from tests.conftest import PASSWORD


def test_with_sso_off_its_addresses_are_404_and_the_login_page_has_no_button(client, db):
    assert client.get(reverse("oidc-login")).status_code == 404
    assert client.get(reverse("oidc-callback"), {"code": "x", "state": "y"}).status_code == 404
    page = client.get(reverse("login")).content.decode()
    assert 'id="sso-login"' not in page and 'name="password"' in page


def test_with_local_passwords_off_no_password_logs_in(client, steward, settings):
    settings.LOCAL_PASSWORDS = False
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "matchdesk"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "http://127.0.0.1:9/auth"
    page = client.get(reverse("login")).content.decode()
    assert 'id="sso-login"' in page and 'name="password"' not in page
    response = client.post(reverse("login"), {"username": "steward", "password": PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect home
    assert client.get(reverse("home")).status_code == 302
    assert not AuditEvent.objects.filter(action="auth.login").exists()
    # The provider's start answers a redirect to it, with state, nonce and a PKCE challenge.
    start = client.get(reverse("oidc-login"))
    assert start.status_code == 302 and start.url.startswith("http://127.0.0.1:9/auth?")
    assert "code_challenge=" in start.url and "nonce=" in start.url


def test_deactivating_a_user_ends_their_sessions_and_tokens(steward, admin, domain):
    browsers = [Client(), Client()]
    for browser in browsers:
        assert browser.post(reverse("login"), {"username": "steward", "password": PASSWORD}).status_code == 302
        assert browser.get(reverse("home")).status_code == 200
    bystander = Client()
    bystander.force_login(admin)
    _, secret = api_tokens.token_create(actor=steward, name="script")
    assert Session.objects.count() == 3
    response = bystander.post(reverse("admin-user-active", args=[steward.pk]), {"active": "0"})
    assert response.status_code == 302
    for browser in browsers:
        assert browser.get(reverse("home")).status_code == 302  # back to login
    assert Session.objects.count() == 1  # the admin's own
    assert not ApiToken.objects.filter(user=steward, revoked_at=None).exists()
    assert Client().get("/api/v1/domains", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    event = AuditEvent.objects.get(action="user.deactivated")
    assert event.details == {"username": "steward", "tokens_revoked": 1, "sessions_ended": 2}
    assert bystander.get(reverse("home")).status_code == 200
