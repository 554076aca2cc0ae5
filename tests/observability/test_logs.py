"""Request ids on responses and log records; JSON log lines a machine can read back."""

from __future__ import annotations

import json
import logging

import pytest

from matches.observability.logs import JsonFormatter, RequestIdFilter

log = logging.getLogger("matches.test_logs")


@pytest.fixture
def json_lines():
    """A handler configured as LOG_FORMAT=json configures the console, collecting its lines."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lines
    root.removeHandler(handler)


def test_a_response_carries_a_new_request_id_when_none_was_given(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_a_given_request_id_is_kept_and_an_unsafe_one_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "edge-1234.abc"})["X-Request-ID"] == "edge-1234.abc"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\r\nX-Evil: 1"})["X-Request-ID"]
    assert replaced != "bad id\r\nX-Evil: 1" and len(replaced) == 32


@pytest.mark.django_db
def test_log_lines_of_a_request_are_json_with_its_request_id(client, json_lines, admin):
    client.force_login(admin)
    client.get("/no-such-page/", headers={"X-Request-ID": "trace-42"})  # Django logs the 404 as a warning

    entries = [json.loads(line) for line in json_lines]
    mine = [e for e in entries if e["request_id"] == "trace-42"]
    assert mine and mine[0]["logger"] == "django.request" and mine[0]["level"] == "WARNING"
    assert "Not Found" in mine[0]["message"] and mine[0]["time"].endswith("+00:00")


def test_json_lines_carry_extra_fields_and_exceptions_and_no_request_id_outside_a_request(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"run_id": 7})
    entry = json.loads(json_lines[-1])
    assert entry["message"] == "failed" and entry["run_id"] == 7 and entry["request_id"] == ""
    assert "ValueError: boom" in entry["exception"]


def test_settings_switch_the_console_to_json_with_log_format():
    import subprocess
    import sys

    code = (
        "import django, logging; django.setup(); "
        "from django.conf import settings; h = settings.LOGGING['handlers']['console']; "
        "print(h['formatter'], h['filters'])"
    )
    import os

    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "reviewapp.settings_test"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "json" and "request_id" in out


def test_a_task_queued_during_a_request_carries_its_request_id_into_the_worker():
    from celery import Celery

    from matches.observability import propagation
    from matches.observability.logs import request_id

    app = Celery("propagation-test", set_as_current=False)
    app.conf.task_always_eager = False
    seen: list[str] = []

    @app.task
    def probe():
        seen.append(request_id.get())

    headers: dict = {}
    token = request_id.set("req-77")
    try:
        propagation._publish(headers=headers)
    finally:
        request_id.reset(token)
    assert headers == {propagation.HEADER: "req-77"}

    probe.push_request(**headers)  # what the worker does with the message's headers
    try:
        propagation._prerun(task=probe)
        probe.run()
        propagation._postrun()
    finally:
        probe.pop_request()
    assert seen == ["req-77"] and request_id.get() == ""
