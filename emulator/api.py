"""HTTP front end: REST-JSON like the real service for AWS operations, plain JSON under /_emulator/."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from emulator import control, model
from emulator.operations import OPERATIONS
from emulator.state import Emulator
from emulator.store import ApiError

log = logging.getLogger("emulator")
ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazonaws.profile/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms delayed-ACK stalls
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        arrived = time.time()
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        raw = self._read_body()
        if path.startswith("/_emulator/"):
            self._control(method, path, query, raw)
        else:
            self._aws(method, path, query, raw, arrived)

    def _control(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> None:
        emu = self.server.emulator
        for route_method, pattern, handler in control.ROUTES:
            m = pattern.match(path)
            if m and route_method == method:
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    self._send(400, {"error": "body is not JSON"})
                    return
                try:
                    with emu.lock:
                        kwargs = {k: unquote(v) for k, v in m.groupdict().items()}
                        if handler is control.calls:
                            kwargs["query"] = query  # type: ignore[assignment]
                        result = handler(emu, body, **kwargs)
                except control.ControlError as exc:
                    self._send(exc.status, {"error": exc.message})
                    return
                except Exception as exc:  # a broken control call must say why, not hang the test
                    log.exception("control call failed")
                    self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
                    return
                self._send(200, result)
                return
        self._send(404, {"error": f"no control route {method} {path}"})

    def _aws(self, method: str, path: str, query: dict[str, list[str]], raw: bytes, arrived: float) -> None:
        emu = self.server.emulator
        found = model.match_route(method, path)
        if found is None:
            self._send(
                404, {"Message": f"No operation at {method} {path}"}, {"x-amzn-ErrorType": "UnknownOperationException"}
            )
            return
        route, path_params = found
        path_params = {k: unquote(v) for k, v in path_params.items()}
        params: dict[str, Any] = {}
        try:
            status, payload, headers = 200, self._run(route, path_params, query, raw, params), {}
        except ApiError as err:
            status, payload = err.status, {"Message": err.message}
            headers = {"x-amzn-ErrorType": err.code + ERROR_TYPE_SUFFIX}
        # Record before answering, so a test that asserts on calls right after a response sees this one.
        with emu.lock:
            emu.record(route.operation, arrived, params, status)
        self._send(status, payload, headers)

    def _run(
        self,
        route: model.Route,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        raw: bytes,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """Run one AWS operation; `params` is filled in place so the caller can record it."""
        emu = self.server.emulator
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            params.update(path_params)
            raise ApiError("BadRequestException", "The request body is not valid JSON.") from None
        try:
            params.update(model.parse_input(route, path_params, query, body))
        except model.ValidationError as exc:
            params.update(path_params)
            raise ApiError("BadRequestException", str(exc)) from None
        with emu.lock:
            decision = emu.faults.decide(route.operation)
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000.0)
        if decision.fault is not None:
            raise ApiError(decision.fault.code, decision.fault.message)
        handler = OPERATIONS.get(route.operation)
        if handler is None:
            raise ApiError("BadRequestException", f"{route.operation} is not supported by the Matchdesk emulator.")
        try:
            if route.input_shape:
                model.validate(route.input_shape, params)
            with emu.lock:
                result = handler(emu, params)
                merge_500 = route.operation == "MergeProfiles" and emu.faults.take_merge_500()
                slow_answer = emu.faults.config.merge_response_delay_ms if route.operation == "MergeProfiles" else 0
            if slow_answer:
                # After the merge and outside the lock: a client timing out here has still merged.
                time.sleep(float(slow_answer) / 1000.0)
            if merge_500:
                raise ApiError("InternalServerException", "An internal error occurred. Try again later.")
        except model.ValidationError as exc:
            raise ApiError("BadRequestException", str(exc)) from None
        except ApiError:
            raise
        except Exception:  # an emulator bug must look like a real 500, not a dropped connection
            log.exception("%s failed", route.operation)
            raise ApiError("InternalServerException", "Internal error in the emulator.") from None
        return result


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, Handler)
        self.emulator = emulator

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    return EmulatorServer((host, port), emulator)


def serve_in_thread(server: EmulatorServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="emulator-http", daemon=True)
    thread.start()
    return thread
