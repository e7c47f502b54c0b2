"""`scalerd simulate`: replay a trace through the rule engine and write decisions, a summary and a plot."""
from __future__ import annotations

import argparse
import os
import sys

from scalerd.commands import exits
from scalerd.commands.flag_types import duration
from scalerd.config import ConfigError, load_config_file
from scalerd.config.model import Config, Target
from scalerd.simulate import (
    SimulationResult,
    TraceError,
    plain_number,
    simulate_to_directory,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="scalerd configuration (YAML)")
    parser.add_argument("--trace", required=True, metavar="CSV",
                        help="a header with `timestamp` (Unix seconds, ascending) and one column per metric name")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory for decisions.csv, summary.json and plot.png (created if needed)")
    parser.add_argument("--target", metavar="NAME", help="the target to replay (needed when the file has several)")
    parser.add_argument("--initial-replicas", type=_non_negative_int, metavar="N",
                        help="replicas at the start (default: the target's minReplicas)")
    parser.add_argument("--startup-delay", type=duration(positive=False), default=0.0, metavar="D",
                        help="a replica added at t serves from t + D (a duration like 60s or 1m; default 0s)")


def _non_negative_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 (got {text!r})") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 (got {number})")
    return number


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config_file(args.config)
    except ConfigError as error:
        return exits.report_config_error(error)
    try:
        target = choose_target(config, args.target)
    except LookupError as error:
        print(f"{args.config}: {error.args[0]}", file=sys.stderr)
        return exits.INVALID_INPUT
    try:
        # utf-8-sig: spreadsheets save CSV with a byte-order mark, which would hide the `timestamp` header.
        with open(args.trace, newline="", encoding="utf-8-sig") as trace:
            result = simulate_to_directory(
                target, interval=config.defaults.interval, trace=trace, out_dir=args.out,
                initial_replicas=args.initial_replicas, trace_name=args.trace, startup_delay=args.startup_delay,
            )
    except (OSError, TraceError) as error:
        print(str(error), file=sys.stderr)
        return exits.INVALID_INPUT
    except UnicodeDecodeError as error:
        print(f"{args.trace}: not a UTF-8 text file ({error.reason})", file=sys.stderr)
        return exits.INVALID_INPUT

    from scalerd.plot import write_plot

    plot_path = os.path.join(args.out, "plot.png")
    write_plot(result.series, path=plot_path,
               title=f"scalerd simulate: {target.name} on {os.path.basename(args.trace)}")
    print(_human_summary(result, plot_path=plot_path))
    return exits.OK


def choose_target(config: Config, name: str | None) -> Target:
    """The named target, or the only one; a LookupError names the choices otherwise."""
    names = ", ".join(target.name for target in config.targets)
    if name is not None:
        for target in config.targets:
            if target.name == name:
                return target
        raise LookupError(f"no target named {name!r}; the targets are: {names}")
    if len(config.targets) > 1:
        raise LookupError(f"{len(config.targets)} targets, choose one with --target: {names}")
    return config.targets[0]


def _human_summary(result: SimulationResult, *, plot_path: str) -> str:
    numbers = result.summary.as_dict()
    return "\n".join((
        f"wrote {result.decisions_path}, {result.summary_path}, {plot_path}",
        f"steps: {numbers['steps']} of {plain_number(result.summary.interval)} s; scale events: {numbers['scale_events']}",
        (f"replica-seconds: {numbers['replica_seconds']}"
         f" (baseline {numbers['baseline_replica_seconds']}, oracle {numbers['oracle_replica_seconds']})"),
        (f"under-provisioned seconds: {numbers['underprovisioned_seconds']}"
         f" (baseline {numbers['baseline_underprovisioned_seconds']})"
         + (f", replicas serving {numbers['startup_delay_seconds']} s after they are added"
            if result.summary.startup_delay_seconds else "")),
    ))

