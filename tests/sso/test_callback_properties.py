"""The OpenID callback with single sign-on on answers any query without a server error and logs no one in: garbage
codes, states (the session's real one among them, so the code exchange itself runs and fails), errors and NULs.
The provider's endpoints point at a closed port: an exchange that reaches them gets no answer (a network failure)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.properties.strategies import HOSTILE

CLOSED = "http://127.0.0.1:9"
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300), st.sampled_from(["", "x", "0"]))


@pytest.fixture
def sso_off_the_network(settings):
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "matchdesk"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_ISSUER = CLOSED
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{CLOSED}/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{CLOSED}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{CLOSED}/me"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{CLOSED}/jwks"
    settings.OIDC_TIMEOUT = 1.0


# The fixtures only set settings and open the database: nothing a drawn example changes needs resetting.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(st.sampled_from(["code", "state", "error", "iss", "session_state"]), text, max_size=5),
    real_state=st.booleans(),
)
def test_the_callback_never_answers_a_server_error(db, sso_off_the_network, fields, real_state):
    client = Client()
    start = client.get(reverse("oidc-login"))
    assert start.status_code == 302
    if real_state:
        fields = {**fields, "state": next(iter(client.session["oidc_states"])), "code": fields.get("code", "c")}
    response = client.get(reverse("oidc-callback"), fields)
    assert response.status_code < 500
    assert client.get(reverse("home")).status_code == 302  # still not logged in


def test_a_provider_that_does_not_answer_ends_on_the_login_page_with_a_message(db, sso_off_the_network):
    client = Client()
    client.get(reverse("oidc-login"))
    state = next(iter(client.session["oidc_states"]))
    response = client.get(reverse("oidc-callback"), {"code": "c", "state": state}, follow=True)
    assert response.redirect_chain[0] == (reverse("login") + "?sso=failed", 302)
    assert "could not be reached" in response.content.decode()
