"""`python -m emulator serve|report`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
import urllib.request
from typing import Any

from emulator.api import make_server, serve_in_thread
from emulator.bulk import SCENARIOS
from emulator.export import export_options
from emulator.state import Emulator
from emulator.store import build_domain


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local Customer Profiles stand-in")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    _data_args(serve)
    serve.add_argument(
        "--state-file", help="JSON state, loaded at start, saved on shutdown and on POST /_emulator/save"
    )
    serve.add_argument("--verbose", action="store_true")
    serve.add_argument("--s3-endpoint-url", help="S3 to write job results to (moto's server) for --export-bucket")
    serve.add_argument("--export-bucket", help="give the --domain domains an ExportingConfig with this bucket")
    serve.add_argument("--export-format", default="jsonl.gz", help="jsonl, jsonl.gz, csv or csv.gz")
    serve.add_argument("--export-parts", type=int, default=4, help="objects per job export")

    report = sub.add_parser("report", help="print the truth report of a generated domain (or of a running emulator)")
    _data_args(report)
    report.add_argument("--url", help="ask a running emulator instead of generating locally")
    report.add_argument("--json", action="store_true")
    return parser


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--domain", action="append", default=[], help="domain to create (repeatable)")
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--bulk-groups", type=int, help="generate this many match groups directly (benchmarks)")
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="default",
        help="linkage: scores like a record-linkage benchmark (matches 0.3-1.0, non-matches 0.0-0.65)",
    )
    parser.add_argument("--nonmatch-share", type=float, help="share of groups that are not one person (linkage: 0.35)")


def _exporting(args: argparse.Namespace) -> dict[str, Any]:
    if not args.export_bucket:
        return {}
    if not args.s3_endpoint_url:
        raise SystemExit("--export-bucket needs --s3-endpoint-url")
    options = {"endpoint_url": args.s3_endpoint_url, "format": args.export_format, "parts": args.export_parts}
    return {
        "exporting": {"S3Exporting": {"S3BucketName": args.export_bucket, "S3KeyName": "identity-resolution"}},
        "export": export_options(options),
    }


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    emu = Emulator(state_file=args.state_file)
    loaded = emu.load()
    for name in args.domain:
        if name in emu.domains:
            continue  # the state file wins: that is what surviving a restart means
        started = time.perf_counter()
        emu.domains[name] = build_domain(
            name,
            seed=args.seed,
            customers=None if args.bulk_groups else args.customers,
            bulk_groups=args.bulk_groups,
            scenario=args.scenario,
            nonmatch_share=args.nonmatch_share,
            generator=emu.generator,
            **_exporting(args),
        )
        print(
            f"domain {name}: {emu.domains[name].profile_count()} profiles, {len(emu.domains[name].matches)} groups "
            f"in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    server = make_server(emu, args.host, args.port)
    # The first stdout line is a contract: EmulatorProcess parses it to find an ephemeral port.
    print(f"EMULATOR_URL={server.url}", flush=True)
    if loaded:
        print(f"state loaded from {args.state_file}", file=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serve_in_thread(server)
    stop.wait()
    server.shutdown()
    server.server_close()
    if emu.save():
        print(f"state saved to {args.state_file}", file=sys.stderr)
    return 0


def report(args: argparse.Namespace) -> int:
    name = (args.domain or ["demo"])[0]
    if args.url:
        with urllib.request.urlopen(f"{args.url.rstrip('/')}/_emulator/domains/{name}/truth") as resp:
            data = json.load(resp)
    else:
        dom = build_domain(
            name,
            seed=args.seed,
            customers=None if args.bulk_groups else args.customers,
            bulk_groups=args.bulk_groups,
            scenario=args.scenario,
            nonmatch_share=args.nonmatch_share,
        )
        data = dom.truth_report()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"domain {name}: {data['groups']} groups, {data['true_pairs']} true duplicate pairs")
    print(f"{'cut-off':>8} {'groups':>7} {'true':>6} {'precision':>9} {'recall':>7}")
    for row in data["cutoffs"]:
        precision = "-" if row["precision"] is None else f"{row['precision']:.3f}"
        recall = "-" if row["recall"] is None else f"{row['recall']:.3f}"
        print(f"{row['score']:>8.2f} {row['groups']:>7} {row['true_groups']:>6} {precision:>9} {recall:>7}")
    print(f"{'band':>11} {'true':>6} {'false':>6}")
    for band in data["bands"]:
        print(f"{band['lo']:.2f}-{band['hi']:.2f} {band['true']:>6} {band['false']:>6}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return serve(args) if args.command == "serve" else report(args)


if __name__ == "__main__":
    sys.exit(main())
