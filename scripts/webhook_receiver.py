"""The demo's webhook receiver: checks each Matchdesk delivery as a receiver should (docs/architecture.md,
"Notifications") and writes the ones it accepts to a folder.

    WEBHOOK_SECRET=whsec_... python scripts/webhook_receiver.py [--port 8768] [--dir var/webhooks]

A POST is accepted (200) when `X-Matchdesk-Timestamp` is within five minutes of now and `X-Matchdesk-Signature` is
`sha256=` and the hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the endpoint's secret (the timestamp is signed
too, so an old delivery cannot be replayed with a new timestamp). A missing, stale or future timestamp or a signature
that does not match is refused with 401 and nothing is written. Each accepted delivery becomes
DIR/<timestamp>-<n>.json (n counts from 1 in each second), holding its delivery id, event, timestamp and body; a
delivery id already accepted (Matchdesk sends at least once) is answered 200 and not written again. GET / answers 200:
the receiver is up. `make demo` (scripts/demo.sh) starts it with the secret of the endpoint it adds; the port is
WEBHOOK_PORT (8768) when --port is not given. Standard library only, and nothing of Matchdesk: a receiver elsewhere
would not have it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOLERANCE_SECONDS = 5 * 60
MAX_BODY = 1024 * 1024


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def refusal(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str:
    """Why the delivery is refused ("" when it is genuine and fresh)."""
    if not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        return "no X-Matchdesk-Timestamp (Unix seconds)"
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return f"timestamp {timestamp} is more than {TOLERANCE_SECONDS} s from now"
    if not signature or not hmac.compare_digest(signature, expected_signature(secret, timestamp, body)):
        return "X-Matchdesk-Signature does not match"
    return ""


class Receiver:
    def __init__(self, secret: str, folder: Path) -> None:
        self.secret = secret
        self.folder = folder
        self.lock = threading.Lock()
        self.seen: set[str] = set()

    def store(self, delivery: str, event: str, timestamp: str, body: object) -> Path | None:
        """Write one accepted delivery; None when this delivery id was written already."""
        with self.lock:
            if delivery and delivery in self.seen:
                return None
            self.seen.add(delivery)
            n = 1
            while (self.folder / f"{timestamp}-{n}.json").exists():
                n += 1
            path = self.folder / f"{timestamp}-{n}.json"
            record = {
                "delivery": delivery,
                "event": event,
                "timestamp": int(timestamp),
                "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "body": body,
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            tmp.replace(path)
            return path


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "MatchdeskDemoWebhooks/1"

        def answer(self, status: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.answer(200, "Matchdesk demo webhook receiver: POST deliveries here")

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self.answer(413, "body missing a length or over 1 MiB")
                return
            body = self.rfile.read(length)
            timestamp = self.headers.get("X-Matchdesk-Timestamp")
            why = refusal(receiver.secret, timestamp, self.headers.get("X-Matchdesk-Signature"), body, time.time())
            if why:
                self.log_message("refused: %s", why)
                self.answer(401, f"refused: {why}")
                return
            try:
                payload = json.loads(body)
            except ValueError:
                self.answer(400, "the body is not JSON")
                return
            delivery = self.headers.get("X-Matchdesk-Delivery") or ""
            assert timestamp is not None
            path = receiver.store(delivery, self.headers.get("X-Matchdesk-Event") or "", timestamp, payload)
            if path is None:
                self.log_message("delivery %s again: already written", delivery)
                self.answer(200, "already received")
            else:
                self.log_message("delivery %s (%s) written to %s", delivery, payload.get("kind"), path)
                self.answer(200, "received")

    return Handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEBHOOK_PORT") or 8768))
    parser.add_argument("--dir", type=Path, default=Path("var/webhooks"), help="where accepted deliveries go")
    args = parser.parse_args(argv)
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        print("WEBHOOK_SECRET is required: the endpoint's secret, shown when it was added", file=sys.stderr)
        return 2
    args.dir.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(Receiver(secret, args.dir)))
    print(f"webhook receiver on http://{args.host}:{args.port}/, writing to {args.dir}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
