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
