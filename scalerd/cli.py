"""Command-line entry point: `scalerd <command>`; each command lives in `scalerd.commands.<name>`.

A command module exposes `add_arguments(parser)` and `run(args) -> int` (the exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "validate": "check a configuration file",
    "run": "the daemon: leader election, loop, hot reload, /metrics, /healthz, /readyz",
    "once": "one cycle against the cluster; prints one decision per target",
    "metrics": "read every metric source and print values and raw proposals",
    "simulate": "replay a trace through the rule engine with a simulated clock",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scalerd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.add_argument(
            "--log-format", choices=("json", "console"), default="console",
            help="log line format (default: console)",
        )
        _command_module(name).add_arguments(command_parser)
    return parser


def _command_module(name: str):
    return importlib.import_module(f"scalerd.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _command_module(args.command).run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
