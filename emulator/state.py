"""The emulator's whole state: domains, faults, the record of calls, and the optional state file."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

from emulator.faults import Faults
from emulator.generator import Generator
from emulator.store import Domain

MAX_RECORDED_CALLS = 50_000  # newest kept: a benchmark run must not grow memory without end


class Emulator:
    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        # One lock for everything: requests are short, and it keeps merges and job runs atomic.
        self.lock = threading.RLock()
        self.domains: dict[str, Domain] = {}
        self.faults = Faults()
        self.calls: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_CALLS)
        self.generator = Generator()
        self.state_file = Path(state_file) if state_file else None

    def record(self, operation: str, at: float, params: Any, status: int) -> None:
        self.calls.append({"operation": operation, "at": at, "params": params, "status": status})

    def reset(self) -> None:
        with self.lock:
            self.domains.clear()
            self.faults = Faults()
            self.calls.clear()

    # -- persistence --------------------------------------------------------------------------------------------
    def save(self) -> Path | None:
        if self.state_file is None:
            return None
        with self.lock:
            payload = {"version": 1, "domains": [d.to_state() for d in self.domains.values()]}
            # Write then rename, so a kill mid-save leaves the previous state intact.
            fd, tmp = tempfile.mkstemp(dir=self.state_file.parent or Path("."), prefix=".emulator-state-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh)
            os.replace(tmp, self.state_file)
        return self.state_file

    def load(self) -> bool:
        if self.state_file is None or not self.state_file.exists():
            return False
        with self.lock, self.state_file.open(encoding="utf-8") as fh:
            payload = json.load(fh)
            self.domains = {d["name"]: Domain.from_state(d) for d in payload.get("domains", [])}
        return True
