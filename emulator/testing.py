"""Helpers for test suites: run the emulator (subprocess or thread), drive its control API, get a boto3 client.

No Django here, and nothing from `matches/`.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from emulator.api import EmulatorServer, make_server, serve_in_thread
from emulator.state import Emulator
from emulator.store import build_domain

PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class EmulatorError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class EmulatorProcess:
    """`python -m emulator serve --port 0 ...` as a child process, so a test can SIGKILL it or the app apart."""

    def __init__(
        self,
        *,
        seed: int = 7,
        domains: Iterable[str] = (),
        customers: int | None = None,
        bulk_groups: int | None = None,
        scenario: str | None = None,
        state_file: str | os.PathLike[str] | None = None,
        extra_args: Iterable[str] = (),
        startup_timeout: float = 120.0,
        python: str = sys.executable,
    ) -> None:
        self.args = [python, "-m", "emulator", "serve", "--host", "127.0.0.1", "--port", "0", "--seed", str(seed)]
        for name in domains:
            self.args += ["--domain", name]
        if customers is not None:
            self.args += ["--customers", str(customers)]
        if bulk_groups is not None:
            self.args += ["--bulk-groups", str(bulk_groups)]
        if scenario is not None:
            self.args += ["--scenario", scenario]
        if state_file is not None:
            self.args += ["--state-file", str(state_file)]
        self.args += list(extra_args)
        self.startup_timeout = startup_timeout
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self.output: list[str] = []

    def start(self) -> EmulatorProcess:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")])),
        }
        env["PYTHONUNBUFFERED"] = "1"
        self._stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            first = lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            first = None
        if not first or not first.startswith("EMULATOR_URL="):
            self.kill()
            raise RuntimeError(f"emulator did not start: {first!r}\n{self.stderr()}")
        self.url = first.strip().split("=", 1)[1]
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM: the server saves its state file (if any) and exits."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no chance to save."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._stderr is not None:
            self._stderr.close()


class EmulatorThread:
    """The emulator in this process, on an ephemeral port: fast unit tests, direct access to `.emulator`."""

    def __init__(
        self,
        *,
        seed: int = 7,
        domains: Iterable[str] = (),
        customers: int | None = None,
        bulk_groups: int | None = None,
        scenario: str = "default",
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.emulator = Emulator(state_file=state_file)
        self.emulator.load()
        for name in domains:
            if name not in self.emulator.domains:
                self.emulator.domains[name] = build_domain(
                    name,
                    seed=seed,
                    customers=customers,
                    bulk_groups=bulk_groups,
                    scenario=scenario,
                    generator=self.emulator.generator,
                )
        self.server: EmulatorServer = make_server(self.emulator, "127.0.0.1", 0)
        self.url = self.server.url
        self._thread = serve_in_thread(self.server)

    def stop(self) -> None:
        """Stop serving; like the process on SIGTERM, write the state file if one was given."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
        self.emulator.save()

    def __enter__(self) -> EmulatorThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmulatorControl:
    """Thin urllib client over /_emulator/."""

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_emulator{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise EmulatorError(exc.code, detail) from None

    @staticmethod
    def _q(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def create_domain(self, name: str, **options: Any) -> dict[str, Any]:
        return self._call("POST", "/domains", {"name": name, **options})

    def add_profiles(self, domain: str, profiles: list[dict[str, Any]]) -> list[str]:
        return self._call("POST", f"/domains/{self._q(domain)}/profiles", {"profiles": profiles})["profile_ids"]

    def delete_profile(
        self, domain: str, profile_id: str, action: str | None = None, main: str | None = None
    ) -> dict[str, Any]:
        """Delete a profile outside Matchdesk; its history record says DELETED_BY_CUSTOMER unless `action` says
        EXPIRED or DELETED_BY_MERGE (into `main`, which gets the MERGED record)."""
        body = {"action": action, **({"main": main} if main else {})} if action else None
        return self._call("DELETE", f"/domains/{self._q(domain)}/profiles/{self._q(profile_id)}", body)

    def get_profile(self, domain: str, profile_id: str) -> dict[str, Any] | None:
        """The stored profile, or None when it does not exist (merged away, deleted)."""
        try:
            return self._call("GET", f"/domains/{self._q(domain)}/profiles/{self._q(profile_id)}")
        except EmulatorError as exc:
            if exc.status == 404:
                return None
            raise

    def set_matches(
        self, domain: str, matches: list[Any], generation: str | float | None = None, job_status: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"matches": matches}
        if generation is not None:
            body["generation"] = generation
        if job_status is not None:
            body["job_status"] = job_status
        return self._call("POST", f"/domains/{self._q(domain)}/matches", body)

    def run_job(self, domain: str, status: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/domains/{self._q(domain)}/run-job", {"status": status} if status else {})

    def truth(self, domain: str) -> dict[str, Any]:
        return self._call("GET", f"/domains/{self._q(domain)}/truth")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return self._call("POST", "/faults", faults)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "/faults")

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        suffix = f"?operation={self._q(operation)}" if operation else ""
        return self._call("GET", f"/calls{suffix}")["calls"]

    def clear_calls(self) -> dict[str, Any]:
        return self._call("DELETE", "/calls")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/reset")

    def save(self) -> dict[str, Any]:
        return self._call("POST", "/save")


def boto_client(url: str, region: str = "us-east-1", max_attempts: int = 1, read_timeout: float = 60.0) -> Any:
    """A customer-profiles client with dummy credentials; `max_attempts` counts the first try, so 1 = no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "customer-profiles",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=read_timeout,
        ),
    )
