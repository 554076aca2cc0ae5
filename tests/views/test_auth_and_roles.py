import pytest
from django.urls import reverse

from matches.models import AuditEvent
from tests.conftest import PASSWORD


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["steward", "admin", "auditor"])
def test_each_role_reaches_the_home_page(request, login, persona, domain):
    client = login(request.getfixturevalue(persona))
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"demo" in response.content


def test_a_user_without_a_role_is_refused(login, outsider):
    response = login(outsider).get(reverse("home"))
    assert response.status_code == 403


def test_login_and_logout_are_audited(client, steward):
    response = client.post(reverse("login"), {"username": "steward", "password": PASSWORD})
    assert response.status_code == 302
    client.post(reverse("logout"))
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["auth.login", "auth.logout"]


def test_failed_login_is_audited_and_repeated_failures_are_locked_out(client, steward, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "steward", "password": "wrong"})
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.count() == settings.AXES_FAILURE_LIMIT
    assert failed.first().details["username"] == "steward"
    # Now even the right password is refused until the cool-off passes.
    response = client.post(reverse("login"), {"username": "steward", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_login_page_is_csrf_protected(db):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
