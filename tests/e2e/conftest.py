"""Real Chromium (Debian's package) driven by Playwright against pytest-django's live server."""

import os
import time
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around it are synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, django_db_blocker):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
    with django_db_blocker.unblock():
        _wait_for_live_server_requests()


def _wait_for_live_server_requests(timeout: float = 10.0, quiet: float = 0.3) -> None:
    """Closing the browser does not stop a request the live server is still answering (a poll, a decision).

    pytest-django flushes the database with TRUNCATE right after this fixture; a request still inside its
    transaction then deadlocks the flush and leaves the next test the rows of this one. Wait until no other
    connection to the test database has been in a statement or a transaction for `quiet` seconds: the pagehide
    beacon a closing tab sends (releasing its claim) reaches the server a moment after the tab is gone.
    """
    from django.db import connection

    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            busy = cursor.fetchone()[0]
        now = time.monotonic()
        if busy:
            quiet_since = now
        elif now - quiet_since >= quiet:
            return
        time.sleep(0.05)


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_a_late_request():
    """Retry pytest-django's end-of-test flush when a late request deadlocked it (CI caught one, stop 21).

    A request the live server starts after the wait above (a beacon from a tab a test closed itself) can still take
    a row lock the TRUNCATE needs while it waits for a table the TRUNCATE holds; Postgres then cancels one of the
    two. When it cancels the flush, the flush's transaction is rolled back whole, so trying again once the request
    has finished is safe; a flush that fails three times fails the test as before.
    """
    from django.core.management.base import CommandError
    from django.test.testcases import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        for attempt in range(3):
            try:
                return original(self)
            except CommandError:
                if attempt == 2:
                    raise
                time.sleep(0.5)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", _fixture_teardown)
        yield


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


@pytest.fixture
def browser_login(live_server):
    from tests.conftest import PASSWORD

    def _login(page, user):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return _login
