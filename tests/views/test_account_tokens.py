"""The API tokens page: a user makes a token (shown once) and revokes it; an admin sees and revokes anyone's."""

from __future__ import annotations

import re

from matches.models import ApiToken, AuditEvent
from matches.services import api_tokens


def test_a_new_token_is_shown_once_and_then_only_its_prefix(login, steward):
    client = login(steward)
    made = client.post("/account/tokens/", {"name": "laptop"})

    assert made.status_code == 200 and "no-store" in made["Cache-Control"]
    secret = re.search(r'<code id="token-secret">([^<]+)</code>', made.content.decode()).group(1)
    token = ApiToken.objects.get(user=steward)
    assert secret.startswith(token.prefix) and token.digest == ApiToken.digest_of(secret)
    later = client.get("/account/tokens/").content.decode()
    assert secret not in later and f"{token.prefix}…" in later and "laptop" in later
    assert AuditEvent.objects.filter(action=api_tokens.CREATED, actor=steward).count() == 1


def test_a_nameless_token_is_refused_on_the_page(login, steward):
    answer = login(steward).post("/account/tokens/", {"name": ""})
    assert answer.status_code == 400 and not ApiToken.objects.exists()


def test_the_owner_revokes_a_token_from_the_page(login, steward):
    token, secret = api_tokens.token_create(actor=steward, name="ci")
    answer = login(steward).post(f"/account/tokens/{token.pk}/revoke/")
    assert answer.status_code == 302 and answer["Location"] == "/account/tokens/"
    assert api_tokens.token_authenticate(secret=secret) is None


def test_someone_elses_token_cannot_be_revoked_by_a_steward(login, steward, steward2):
    token, secret = api_tokens.token_create(actor=steward2, name="ci")
    assert login(steward).post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert api_tokens.token_authenticate(secret=secret) == steward2


def test_an_admin_sees_and_revokes_a_users_tokens(login, admin, steward):
    token, secret = api_tokens.token_create(actor=steward, name="ci")
    client = login(admin)
    page = client.get(f"/admin/users/{steward.pk}/tokens/")
    assert page.status_code == 200 and f"{token.prefix}…" in page.content.decode()
    answer = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert answer["Location"] == f"/admin/users/{steward.pk}/tokens/"
    token.refresh_from_db()
    assert token.revoked_by == admin and api_tokens.token_authenticate(secret=secret) is None


def test_a_steward_cannot_open_the_admin_tokens_page(login, steward, steward2):
    assert login(steward).get(f"/admin/users/{steward2.pk}/tokens/").status_code == 403
