"""Single sign-on in real Chromium against the real OpenID provider (tests/oidc_fixtures.py): the login page's
button, the provider's sign-in form, back into Matchdesk with the roles of the groups claim; logging out signs out
at the provider too; with local passwords off the login page offers single sign-on only."""

import pytest
from django.contrib.auth.models import User

from matches import roles
from tests.factories import DomainFactory, MatchRunFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_steward_logs_in_through_the_provider_and_out_of_both(page, live_server, sso, screenshot):
    MatchRunFactory(domain=DomainFactory(name="demo"))
    sso.set_users({"jo": {"groups": ["Steward"], "domains": ["*"]}})
    page.goto(f"{live_server.url}/login/")
    page.click("#sso-login")
    page.wait_for_selector("input[name=login]")  # the provider's own sign-in page
    assert page.url.startswith(sso.url)
    page.fill("input[name=login]", "jo")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.wait_for_selector("text=demo")
    assert page.inner_text(".user") == "jo"
    assert sorted(User.objects.get(username="jo").groups.values_list("name", flat=True)) == [roles.STEWARD]
    screenshot(page, "sso-home")
    page.click("form[action='/logout/'] button")
    page.wait_for_selector("text=Yes, sign me out")  # the provider's end-session page
    page.click("text=Yes, sign me out")
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    page.wait_for_url(f"{live_server.url}/login/?next=/")
    page.click("#sso-login")
    page.wait_for_selector("input[name=login]")  # signed out at the provider too: it asks again


def test_with_local_passwords_off_the_login_page_offers_single_sign_on_only(
    page, live_server, sso, settings, screenshot
):
    settings.LOCAL_PASSWORDS = False
    page.goto(f"{live_server.url}/login/")
    page.wait_for_selector("#sso-login")
    screenshot(page, "sso-login-only")
    assert page.locator("input[name=password]").count() == 0
    assert page.inner_text("#sso-login") == settings.SSO_BUTTON_LABEL
