"""Personas and shared fixtures. Tests run against the real Postgres and Redis, on the Redis database, Celery queue and
closed AWS endpoint that reviewapp/settings_test.py sets (the pytest configuration names it)."""

import os

import pytest

from matches import roles
from tests.factories import DomainFactory, UserFactory

# Merge execution: emulator-backed fixtures (merge_emulator, merge_ctl, merge_domain, fast_merges); celery_worker.
# Ingestion: emulator, emu, emulated_domain, fast_retries, command_env (tests/emulator_fixtures.py).
# Single sign-on: oidc_provider (a real OpenID provider process), sso (settings pointed at it): tests/oidc_fixtures.py.
pytest_plugins = [
    "tests.merging",
    "tests.worker",
    "tests.emulator_fixtures",
    "tests.own_redis",
    "tests.notify_receivers",
    "tests.oidc_fixtures",
    "tests.s3_fixtures",
]

PASSWORD = "correct horse battery"


def pytest_configure(config):
    """Refuse to run on settings that skipped the test isolation (say, DJANGO_SETTINGS_MODULE exported by hand): the
    suite would empty a running demo's Celery queue and read its cache."""
    if os.environ.get("MATCHDESK_TEST_ISOLATION") not in ("applied", "off"):
        raise pytest.UsageError(
            f"Tests must run on reviewapp.settings_test (got {os.environ.get('DJANGO_SETTINGS_MODULE')}); "
            "unset DJANGO_SETTINGS_MODULE, or set MATCHDESK_TEST_ISOLATION=off to use the environment as it is."
        )


@pytest.fixture
def steward(db):
    return UserFactory(username="steward", roles=[roles.STEWARD])


@pytest.fixture
def steward2(db):
    return UserFactory(username="steward2", roles=[roles.STEWARD])


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", roles=[roles.ADMIN])


@pytest.fixture
def auditor(db):
    return UserFactory(username="auditor", roles=[roles.AUDITOR])


@pytest.fixture
def outsider(db):
    """Logged in, but holds no role."""
    return UserFactory(username="outsider")


@pytest.fixture
def domain(db):
    return DomainFactory(name="demo")


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


from tests.redis_queue import celery_queue  # noqa: E402,F401  (fixture: what was sent to the Celery queue)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas are created per test: PBKDF2's deliberate slowness would dominate the suite's run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
