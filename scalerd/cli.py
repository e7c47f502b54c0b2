"""scalerd: an autoscaler for Kubernetes Deployments on Kafka lag, Prometheus, CPU and schedules.

Each command lives in `scalerd.commands.<name>`; a command module exposes `add_arguments(parser)` and `run(args) -> int` (the exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from scalerd.commands import exits

COMMANDS = {
    "validate": "check a configuration file",
    "run": "the daemon: leader election, loop, hot reload, /metrics, /healthz, /readyz",
    "once": "one cycle against the cluster; prints one decision per target",
    "metrics": "read every metric source and print values and raw proposals",
    "simulate": "replay a trace through the rule engine with a simulated clock",
    "status": "one line per target from scalerd's stored history and the Deployments' counts (no metric reads)",
    "import": "HorizontalPodAutoscalers and KEDA ScaledObjects in, an equivalent scalerd/v1 file out",
}
_MODULES = {"import": "import_"}
"""Command modules whose name is not the command's (`import` is a Python keyword)."""


# The contract's common flags. Every command takes them, before or after its name (`scalerd --log-format json run
# ...` and `scalerd run --log-format json ...`), so that one wrapper script can pass the same flags to any command;
# validate and simulate never talk to Kubernetes and leave --kubeconfig and --context unused.
COMMON_FLAGS = {
    "--log-format": {"choices": ("json", "console"), "default": "console", "help": "log line format (default: console)"},
    "--kubeconfig": {"metavar": "PATH", "default": None,
                     "help": "kubeconfig file (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)"},
    "--context": {"metavar": "NAME", "default": None, "help": "kubeconfig context (default: its current context)"},
}


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI, or with `only` the one command about to run: `validate` then never imports the
    kubernetes client that `run` needs, which keeps short commands fast."""
    parser = argparse.ArgumentParser(prog="scalerd", description=__doc__.splitlines()[0])
    _add_common_flags(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        # No defaults here: a subcommand's default would overwrite the same flag given before the command.
        _add_common_flags(command_parser, defaults=False)
        _command_module(name).add_arguments(command_parser)
    return parser


def _add_common_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    for flag, options in COMMON_FLAGS.items():
        options = dict(options)
        if not defaults:
            options["default"] = argparse.SUPPRESS
        parser.add_argument(flag, **options)


def _command_name(argv: list[str]) -> str | None:
    """The command in `argv`: its first word that is not a common flag or a common flag's value."""
    words = iter(argv)
    for word in words:
        if word in COMMON_FLAGS:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _command_module(name: str):
    return importlib.import_module(f"scalerd.commands.{_MODULES.get(name, name)}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(only=_command_name(argv)).parse_args(argv)
    try:
        return _command_module(args.command).run(args)
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    except BrokenPipeError:
        return exits.OK


if __name__ == "__main__":
    sys.exit(main())
