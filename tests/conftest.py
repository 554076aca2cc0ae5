"""Personas and shared fixtures. Tests run against the real Postgres and Redis named in the environment."""

import pytest

from matches import roles
from tests.factories import DomainFactory, UserFactory

# Shared fixture modules: the emulator over HTTP, a real Celery worker.
pytest_plugins = ["tests.emulator_fixtures", "tests.worker"]

PASSWORD = "correct horse battery"


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
