"""Settings come from the environment: a missing required value stops the start with its name, and production
settings pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "READ_DOT_ENV": "false",
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-of-sufficient-length-and-variety-123",
    "AUDIT_HMAC_KEY": "audit-key",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/matchdesk",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "matchdesk.example.com",
}


def _manage(*args, env):
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "AUDIT_HMAC_KEY"])
def test_a_missing_required_value_fails_at_start_with_its_name(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_settings_pass_the_deployment_checks():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_debug_settings_would_fail_the_deployment_checks():
    # The check is not vacuous: development settings are refused.
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "DEBUG": "true"})
    assert result.returncode != 0


# Test isolation: plain `pytest` runs as `make test` does (reviewapp/settings_test.py). --------------------------------


def _test_settings(env):
    """REDIS_URL, CELERY_TASK_DEFAULT_QUEUE, the cache prefix and the AWS endpoint a child sees on the test settings."""
    code = (
        "import os, django; from django.conf import settings; django.setup(); "
        "print(settings.REDIS_URL, settings.CELERY_TASK_DEFAULT_QUEUE, settings.CACHES['default']['KEY_PREFIX'], "
        "os.environ.get('AWS_ENDPOINT_URL_CUSTOMER_PROFILES'))"
    )
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings_test",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


DEV_SHELL = {**PRODUCTION, "CELERY_QUEUE": "matchdesk", "AWS_ENDPOINT_URL_CUSTOMER_PROFILES": "http://127.0.0.1:4566"}


def test_this_run_is_isolated_from_the_dev_redis_queue_and_aws():
    from django.conf import settings

    if os.environ.get("MATCHDESK_TEST_ISOLATION") == "off":
        pytest.skip("isolation switched off for this run")
    expected = {
        name: os.environ.get(f"MATCHDESK_TEST_{name}") or default
        for name, default in {
            "REDIS_URL": "redis://127.0.0.1:6379/1",
            "CELERY_QUEUE": "matchdesk-test",
            "CACHE_KEY_PREFIX": "matchdesk-test",
            "AWS_ENDPOINT_URL_CUSTOMER_PROFILES": "http://127.0.0.1:9",
        }.items()
    }
    assert settings.REDIS_URL == settings.CELERY_BROKER_URL == expected["REDIS_URL"]
    assert not settings.REDIS_URL.rstrip("/").endswith("/0") and settings.REDIS_URL.rsplit("/", 1)[-1].isdigit()
    assert settings.CELERY_TASK_DEFAULT_QUEUE == expected["CELERY_QUEUE"] != "matchdesk"
    assert settings.CACHES["default"]["KEY_PREFIX"] == expected["CACHE_KEY_PREFIX"] != "matchdesk"
    assert os.environ["AWS_ENDPOINT_URL_CUSTOMER_PROFILES"] == expected["AWS_ENDPOINT_URL_CUSTOMER_PROFILES"]


def test_test_settings_win_over_the_dev_environment():
    # As with a .env naming the dev Redis database 0, the demo's queue and the emulator.
    assert _test_settings(DEV_SHELL) == [
        "redis://127.0.0.1:6379/1",
        "matchdesk-test",
        "matchdesk-test",
        "http://127.0.0.1:9",
    ]


def test_a_parallel_run_names_its_own_values():
    env = {**DEV_SHELL, "MATCHDESK_TEST_REDIS_URL": "redis://127.0.0.1:6379/7", "MATCHDESK_TEST_CELERY_QUEUE": "q-7"}
    assert _test_settings(env)[:3] == ["redis://127.0.0.1:6379/7", "q-7", "matchdesk-test"]


def test_a_child_of_the_suite_keeps_what_its_test_gave_it():
    env = {
        **DEV_SHELL,
        "MATCHDESK_TEST_ISOLATION": "applied",
        "REDIS_URL": "redis://127.0.0.1:6379/1",
        "CELERY_QUEUE": "own",
    }
    assert _test_settings(env)[:2] == ["redis://127.0.0.1:6379/1", "own"]


def test_isolation_can_be_switched_off():
    assert _test_settings({**DEV_SHELL, "MATCHDESK_TEST_ISOLATION": "off"})[:2] == [
        "redis://127.0.0.1:6379/0",
        "matchdesk",
    ]
