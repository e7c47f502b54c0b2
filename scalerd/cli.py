"""scalerd: an autoscaler for Kubernetes Deployments on Kafka lag, Prometheus, CPU and schedules.

Each command lives in `scalerd.commands.<name>`; a command module exposes `add_arguments(parser)` and `run(args) -> int` (the exit code).
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


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI, or with `only` the one command about to run: `validate` then never imports the
    kubernetes client that `run` needs, which keeps short commands fast."""
    parser = argparse.ArgumentParser(prog="scalerd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        command_parser.add_argument(
            "--log-format", choices=("json", "console"), default="console",
            help="log line format (default: console)",
        )
        _command_module(name).add_arguments(command_parser)
    return parser


def _command_module(name: str):
    return importlib.import_module(f"scalerd.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only=chosen).parse_args(argv)
    try:
        return _command_module(args.command).run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
