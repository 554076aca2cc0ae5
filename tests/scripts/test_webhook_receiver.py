"""The demo's webhook receiver (scripts/webhook_receiver.py) as its own process: what Matchdesk signs and sends is
accepted and written to its folder; a wrong signature, a tampered body and a stale timestamp are refused with 401 and
nothing is written. The endpoint and its secret come from `manage.py add_webhook`, as in `make demo`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from matches import roles
from matches.models import NotificationDelivery, WebhookEndpoint
from matches.services import notifications
from matches.services.notifications import Kind
from matches.services.notifications.deliver import delivery_attempt, signature
from tests.factories import UserFactory
from tests.notify_receivers import free_port

ROOT = Path(__file__).resolve().parents[2]
Status = NotificationDelivery.Status


@dataclass
class Receiver:
    url: str
    folder: Path
    log: Path

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.json"))

    def post(self, body: bytes, timestamp: int, sig: str, delivery: str = "d-1") -> requests.Response:
        headers = {
            "Content-Type": "application/json",
            "X-Matchdesk-Delivery": delivery,
            "X-Matchdesk-Event": "test",
            "X-Matchdesk-Timestamp": str(timestamp),
            "X-Matchdesk-Signature": sig,
        }
        return requests.post(self.url, data=body, headers=headers, timeout=5)


@pytest.fixture
def start_receiver(tmp_path) -> Iterator[Callable[[str], Receiver]]:
    procs: list[subprocess.Popen] = []

    def start(secret: str) -> Receiver:
        port, folder, log = free_port(), tmp_path / "webhooks", tmp_path / "receiver.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "scripts/webhook_receiver.py", "--port", str(port), "--dir", str(folder)],
                cwd=ROOT,
                env={**os.environ, "WEBHOOK_SECRET": secret},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return Receiver(url, folder, log)
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the webhook receiver did not start:\n{log.read_text()}")
            time.sleep(0.05)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def admin(db):
    return UserFactory(username="ad", email="ad@example.com", roles=[roles.ADMIN])


def add_webhook(url: str, *args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("add_webhook", "demo receiver", "--url", url, "--actor", "ad", *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_a_delivery_the_app_signs_and_sends_is_accepted_and_written(admin, domain, start_receiver):
    port = free_port()
    secret = add_webhook(f"http://127.0.0.1:{port}/", "--send-test")
    endpoint = WebhookEndpoint.objects.get()
    assert secret.startswith("whsec_") and endpoint.secret == secret
    receiver = start_receiver(secret)
    endpoint.url = receiver.url
    endpoint.save(update_fields=["url"])
    (test,) = NotificationDelivery.objects.filter(endpoint=endpoint, kind=Kind.TEST)
    assert delivery_attempt(delivery_pk=test.pk) == Status.DELIVERED
    (row,) = [
        r
        for r in notifications.notify(kind=Kind.PULL_FAILED, domain=domain, context={"summary": "Pull failed"})
        if r.channel == "webhook"
    ]
    assert delivery_attempt(delivery_pk=row.pk) == Status.DELIVERED
    written = [json.loads(path.read_text()) for path in receiver.files()]
    assert [(w["delivery"], w["event"], w["body"]["kind"]) for w in written] == [
        (str(test.delivery_id), "test", "test"),
        (str(row.delivery_id), "pull_failed", "pull_failed"),
    ]
    assert written[1]["body"]["domain"] == "demo" and written[1]["body"]["id"] == str(row.delivery_id)
    first = receiver.files()[0]
    assert first.name == f"{written[0]['timestamp']}-1.json"
    assert abs(time.time() - written[0]["timestamp"]) < 60


def test_the_same_delivery_twice_is_written_once(admin, start_receiver):
    secret = add_webhook("http://127.0.0.1:9/")
    receiver = start_receiver(secret)
    body = json.dumps({"id": "d-1", "kind": "test"}).encode()
    for _ in range(2):
        now = int(time.time())
        answer = receiver.post(body, now, signature(secret, now, body), delivery="d-1")
        assert answer.status_code == 200
    assert len(receiver.files()) == 1


def test_a_wrong_signature_or_a_tampered_body_is_refused_and_nothing_is_written(admin, start_receiver):
    secret = add_webhook("http://127.0.0.1:9/")
    receiver = start_receiver(secret)
    body = json.dumps({"id": "d-1", "kind": "test", "summary": "hello"}).encode()
    now = int(time.time())
    wrong_key = receiver.post(body, now, signature("whsec_someone-else", now, body))
    tampered = receiver.post(body.replace(b"hello", b"HELLO"), now, signature(secret, now, body))
    unsigned = receiver.post(body, now, "")
    assert [wrong_key.status_code, tampered.status_code, unsigned.status_code] == [401, 401, 401]
    assert "Signature does not match" in wrong_key.text
    assert receiver.files() == []
    assert receiver.post(body, now, signature(secret, now, body)).status_code == 200  # the genuine one is taken
    assert len(receiver.files()) == 1


def test_a_stale_timestamp_is_refused_even_when_correctly_signed(admin, start_receiver):
    secret = add_webhook("http://127.0.0.1:9/")
    receiver = start_receiver(secret)
    body = json.dumps({"id": "d-1", "kind": "test"}).encode()
    stale = int(time.time()) - 6 * 60
    future = int(time.time()) + 6 * 60
    for ts in (stale, future):
        answer = receiver.post(body, ts, signature(secret, ts, body))
        assert answer.status_code == 401 and "from now" in answer.text
    assert receiver.files() == []
    recent = int(time.time()) - 4 * 60  # inside the five minutes
    assert receiver.post(body, recent, signature(secret, recent, body)).status_code == 200
    assert [p.name for p in receiver.files()] == [f"{recent}-1.json"]
