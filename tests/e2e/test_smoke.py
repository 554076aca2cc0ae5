import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_steward_logs_in_and_sees_the_domains(page, live_server, browser_login, screenshot, steward):
    from tests.factories import DomainFactory

    DomainFactory(name="acme-retail")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    browser_login(page, steward)
    assert page.locator("h1").inner_text() == "Domains"
    assert page.locator("#domains").get_by_text("acme-retail").is_visible()
    assert page.locator(".who .user").inner_text() == "steward"
    screenshot(page, "home")


def test_wrong_password_shows_a_clear_message(page, live_server, steward):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "steward")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("That username and password did not match")
