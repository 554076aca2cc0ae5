"""Every figure a benchmark measures against its target, collected for the summary table `python -m bench` ends with.

A benchmark (in whatever child process it runs) calls `record(...)`; the figures go, one JSON line each, to the file
named by BENCH_FIGURES, which `python -m bench` sets for its children and reads back at the end (`summary`)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = "BENCH_FIGURES"


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    measured: str
    target: str
    ok: bool | None  # None: reported for sizing, no target


def record(bench: str, name: str, measured: str, target: str = "", ok: bool | None = None) -> None:
    """Add one figure to the run's summary (a no-op when the benchmark runs outside `python -m bench`)."""
    path = os.environ.get(ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(Figure(bench, name, measured, target, ok))) + "\n")


def read(path: Path) -> list[Figure]:
    if not path.exists():
        return []
    return [Figure(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def summary(figures: list[Figure], exits: dict[str, int]) -> int:
    """Print the table of every figure against its target; 1 when one missed or a benchmark failed, else 0."""
    rows = [(f.bench, f.name, f.measured, f.target or "-", _verdict(f.ok)) for f in figures]
    for bench, code in exits.items():
        if code and not any(f.bench == bench and f.ok is False for f in figures):
            rows.append((bench, "(exit status)", str(code), "0", "FAILED"))
    head = ("benchmark", "figure", "measured", "target", "result")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print("\n== summary" + (f" (load average {os.getloadavg()[0]:.1f})" if hasattr(os, "getloadavg") else ""))
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    missed = [r for r in rows if r[4] in ("MISSED", "FAILED")]
    if missed:
        names = ", ".join(f"{r[0]}: {r[1]}" for r in missed)
        print(f"\n{len(missed)} figure(s) missed their target: {names}. Exit status 1.")
        return 1
    print("\nEvery figure met its target.")
    return 0


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else "ok" if ok else "MISSED"
