"""Settings of the test suite (pytest's DJANGO_SETTINGS_MODULE, so plain `pytest` and `make test` run alike): the
deployment settings on a Redis database, a Celery queue and a cache prefix of the tests' own, apart from a running demo,
with boto3 pointed at a closed port unless a test names its own endpoint (the emulator it started).

The values go into the environment before the settings read it: they win over `.env`, and every child a test starts
(a Celery worker, `manage.py`) inherits them. A run beside others picks its own with `MATCHDESK_TEST_<NAME>`, e.g.
`MATCHDESK_TEST_REDIS_URL=redis://127.0.0.1:6379/5`; `MATCHDESK_TEST_ISOLATION=off` keeps the environment as it is.
Contract: docs/architecture.md, "Settings"."""

import os
from collections.abc import MutableMapping

# The names the Makefile's TEST_ENV used to set, with its values.
ISOLATED = {
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "CELERY_QUEUE": "matchdesk-test",
    "CACHE_KEY_PREFIX": "matchdesk-test",
    "AWS_ENDPOINT_URL_CUSTOMER_PROFILES": "http://127.0.0.1:9",
}
SWITCH = "MATCHDESK_TEST_ISOLATION"


def isolate(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Put the test values into `environ` and return them; nothing when switched off or done by a parent process
    (a child keeps what its test gave it, such as a queue of its own)."""
    if environ.get(SWITCH, "on").lower() in ("off", "applied"):
        return {}
    values = {name: environ.get(f"MATCHDESK_TEST_{name}") or default for name, default in ISOLATED.items()}
    environ.update(values)
    environ[SWITCH] = "applied"
    return values


TEST_ISOLATION = isolate(os.environ)

from reviewapp.settings import *  # noqa: E402,F403
