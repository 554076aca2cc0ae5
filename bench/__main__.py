"""`python -m bench <subcommand> [options]`. Subcommands register in COMMANDS: (help, add_arguments, run)."""

from __future__ import annotations

import argparse
import sys

from bench import ingest

COMMANDS = {
    "ingest": ingest.COMMAND,
}
# Internal: the measuring child processes (fresh interpreter, so ru_maxrss is theirs alone).
CHILDREN = {
    "_ingest-child": ingest.child_main,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CHILDREN:
        return CHILDREN[argv[0]](argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
