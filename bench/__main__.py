"""`python -m bench [<subcommand> [options]]`: one benchmark, or all of them with their defaults.
Subcommands register in COMMANDS as (help, add_arguments, run)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import db, figures, ingest


def _admin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the bench domain for the next run")


def _admin_run(args: argparse.Namespace) -> int:
    """bench.admin in its own bench database (kept between runs, so --keep can reuse the 1M-group run)."""
    name = f"{db.bench_name()}_admin"
    db.ensure_template(template=name)
    argv = ["--groups", str(args.groups), "--iterations", str(args.iterations)] + (["--keep"] if args.keep else [])
    return subprocess.run(
        [sys.executable, "-m", "bench", "_admin-child", *argv], cwd=db.ROOT, env=db.child_env(name)
    ).returncode


def _admin_child(argv: list[str]) -> int:
    from bench import admin

    admin.run(argv)
    return 0


def _passthrough(module: str) -> tuple:
    """A benchmark module with its own `run(argv)`, run in a child process on its own bench database."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help=f"options of bench.{module} (see --help)")

    def run(args: argparse.Namespace) -> int:
        code = (
            "import json, sys\n"
            f"from bench import {module}\n"
            f"result = {module}.run(sys.argv[1:])\n"
            "if isinstance(result, dict): print(json.dumps(result, indent=2, default=str))\n"
            "sys.exit(result if isinstance(result, int) else 0 if result.get('ok', True) else 1)\n"
        )
        env = db.child_env(f"{db.bench_name()}_{module}")
        return subprocess.run([sys.executable, "-c", code, *args.args], cwd=db.ROOT, env=env).returncode

    return add_arguments, run


def _calibration_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs=argparse.REMAINDER, help="options of bench.calibration (see --help)")


def _calibration_run(args: argparse.Namespace) -> int:
    """In this process: pure functions and the emulator's generator, no database."""
    from bench import calibration

    return calibration.run(args.args)


COMMANDS = {
    "ingest": ingest.COMMAND,
    "admin": ("threshold preview latency on a 1,000,000-group run", _admin_arguments, _admin_run),
    "review": ("queue, group and decision latency (p50, p95) with 1,000,000 groups", *_passthrough("review")),
    "audit": ("streaming CSV export of 100,000 audit events: memory stays flat", *_passthrough("audit")),
    "calibration": (
        "suggested thresholds against the emulator's truth: coverage, true shares, review workload",
        _calibration_arguments,
        _calibration_run,
    ),
    "completion": ("a run's completion at 200,000 and 1,000,000 groups, old way and new", *_passthrough("completion")),
    "s3": ("S3 ingestion groups/s for 1, 2, 4 workers beside the GetMatches path and raw parse", *_passthrough("s3")),
}
PASSTHROUGH = ("review", "audit", "calibration", "completion", "s3")
# Internal: the measuring child processes (fresh interpreter on a bench database; ru_maxrss is theirs alone).
CHILDREN = {
    "_ingest-child": ingest.child_main,
    "_admin-child": _admin_child,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CHILDREN:
        return CHILDREN[argv[0]](argv[1:])
    if os.environ.get(figures.ENV):  # an outer `python -m bench` collects the figures
        return _dispatch(argv)
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        path = Path(tmp) / "figures.jsonl"
        os.environ[figures.ENV] = str(path)  # children inherit it and append their figures
        try:
            exits = _dispatch(argv, collect=True)
        finally:
            del os.environ[figures.ENV]
        if isinstance(exits, int):
            return exits  # --help or a usage error: nothing was measured
        return figures.summary(figures.read(path), exits)


def _dispatch(argv: list[str], collect: bool = False) -> int | dict[str, int]:
    """Run one benchmark or all of them; with `collect`, their exit statuses by name (for the summary)."""
    if argv and argv[0] in PASSTHROUGH:  # their options are their modules' own: hand them over untouched
        code = COMMANDS[argv[0]][2](argparse.Namespace(args=argv[1:]))
        return {argv[0]: code} if collect else code
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is not None:
        code = COMMANDS[args.command][2](args)
        return {args.command: code} if collect else code
    # `make bench` without BENCH_ARGS: every benchmark with its defaults (SCALE=N shrinks those that take it).
    exits = {}
    for name in COMMANDS:
        print(f"== {name}", flush=True)
        exits[name] = COMMANDS[name][2](parser.parse_args([name]))
    return exits if collect else int(any(exits.values()))


if __name__ == "__main__":
    sys.exit(main())
