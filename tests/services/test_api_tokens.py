"""Personal API tokens: stored hashed, shown once, found by prefix, revoked by owner or admin, audited; deactivating
a user revokes theirs."""

from __future__ import annotations

import pytest

from matches.models import ApiToken, AuditEvent
from matches.services import api_tokens, users


def test_a_token_is_stored_as_its_digest_and_only_its_prefix_is_readable(steward):
    token, secret = api_tokens.token_create(actor=steward, name="ci")

    row = ApiToken.objects.get(pk=token.pk)
    assert secret.startswith(row.prefix + "_") and len(secret) > 40
    assert row.digest == ApiToken.digest_of(secret) and secret not in (row.digest, row.prefix, row.name)
    assert api_tokens.token_authenticate(secret=secret) == steward


def test_creation_and_revocation_are_audited(steward):
    token, _ = api_tokens.token_create(actor=steward, name="ci")
    api_tokens.token_revoke(actor=steward, token=token)
    api_tokens.token_revoke(actor=steward, token=token)  # twice: nothing more

    events = list(AuditEvent.objects.filter(object_type="api_token").order_by("seq").values("action", "details"))
    assert [e["action"] for e in events] == [api_tokens.CREATED, api_tokens.REVOKED]
    assert events[0]["details"] == {"prefix": token.prefix, "name": "ci", "user": "steward"}
    assert events[1]["details"]["reason"] == "revoked"


def test_a_revoked_wrong_or_malformed_token_authenticates_no_one(steward):
    token, secret = api_tokens.token_create(actor=steward, name="ci")
    assert api_tokens.token_authenticate(secret=secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert api_tokens.token_authenticate(secret="mdk_") is None
    assert api_tokens.token_authenticate(secret="nonsense") is None
    api_tokens.token_revoke(actor=steward, token=token)
    assert api_tokens.token_authenticate(secret=secret) is None


def test_only_the_owner_or_an_admin_revokes_a_token(steward, steward2, admin):
    token, _ = api_tokens.token_create(actor=steward, name="ci")
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.token_revoke(actor=steward2, token=token)
    api_tokens.token_revoke(actor=admin, token=token)
    token.refresh_from_db()
    assert token.revoked_by == admin and not token.active


def test_deactivating_a_user_revokes_their_tokens_in_the_same_change(steward, admin):
    _, first = api_tokens.token_create(actor=steward, name="one")
    _, second = api_tokens.token_create(actor=steward, name="two")

    users.user_set_active(actor=admin, user=steward, active=False)

    assert ApiToken.objects.filter(user=steward, revoked_at=None).count() == 0
    assert api_tokens.token_authenticate(secret=first) is None
    reasons = AuditEvent.objects.filter(action=api_tokens.REVOKED).values_list("details__reason", flat=True)
    assert list(reasons) == ["user deactivated", "user deactivated"]
    users.user_set_active(actor=admin, user=steward, active=True)
    assert api_tokens.token_authenticate(secret=second) is None  # reactivation does not bring tokens back


def test_a_token_of_an_inactive_user_authenticates_no_one(steward):
    _, secret = api_tokens.token_create(actor=steward, name="ci")
    steward.is_active = False
    steward.save()
    assert api_tokens.token_authenticate(secret=secret) is None


def test_a_nameless_token_or_one_too_many_is_refused(steward, monkeypatch):
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.token_create(actor=steward, name="  ")
    monkeypatch.setattr(api_tokens, "MAX_ACTIVE", 1)
    api_tokens.token_create(actor=steward, name="one")
    with pytest.raises(api_tokens.TokenRefused, match="revoke one first"):
        api_tokens.token_create(actor=steward, name="two")
