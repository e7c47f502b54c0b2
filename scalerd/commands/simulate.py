"""`scalerd simulate`: replay a trace through the rule engine and write decisions, a summary and a plot."""
from __future__ import annotations

import argparse
import os
import sys
import time

from scalerd.commands import exits
from scalerd.commands.flag_types import duration
from scalerd.config import ConfigError, load_config_file
from scalerd.config.durations import format_duration
from scalerd.config.model import Config, Target
from scalerd.simulate import (
    LatestValue,
    SimulationResult,
    TraceError,
    plain_number,
    replay_to_directory,
    simulate_to_directory,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="scalerd configuration (YAML)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", metavar="CSV",
                        help="a header with `timestamp` (Unix seconds, ascending) and one column per metric name")
    source.add_argument("--from-prometheus", action="store_true",
                        help="replay the metrics' real history from Prometheus (query_range) instead of a trace")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory for decisions.csv, summary.json and plot.png (created if needed)")
    parser.add_argument("--target", metavar="NAME", help="the target to replay (needed when the file has several)")
    parser.add_argument("--initial-replicas", type=_non_negative_int, metavar="N",
                        help="replicas at the start (default: the target's minReplicas)")
    parser.add_argument("--startup-delay", type=duration(positive=False), default=0.0, metavar="D",
                        help="a replica added at t serves from t + D (a duration like 60s or 1m; default 0s)")
    history = parser.add_argument_group("--from-prometheus")
    history.add_argument("--since", type=duration(positive=True), default=7 * 86400.0, metavar="D",
                         help="how far back from now (default 7d)")
    history.add_argument("--step", type=duration(positive=True), metavar="D",
                         help="the history's resolution (default: defaults.interval)")
    history.add_argument("--actual-replicas-query", metavar="Q",
                         help="what really ran, e.g. kube_deployment_spec_replicas{deployment=\"api\"}: the summary, "
                              "decisions.csv and the plot add it, and one line compares")
    history.add_argument("--metric-query", action="append", default=[], metavar="NAME=QUERY",
                         help="the history of a metric that is not a prometheus one (kafka lag, cpu demand, http); "
                              "repeatable")


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
    if args.from_prometheus:
        return _from_prometheus(args, config=config, target=target)
    try:
        # utf-8-sig: spreadsheets save CSV with a byte-order mark, which would hide the `timestamp` header.
        trace = open(args.trace, newline="", encoding="utf-8-sig")  # noqa: SIM115 - the with below closes it
    except OSError as error:
        print(_trace_problem(args.trace, error), file=sys.stderr)
        return exits.INVALID_INPUT
    try:
        with trace:
            problem = _out_problem(args.out)
            if problem is not None:
                print(problem, file=sys.stderr)
                return exits.INVALID_INPUT
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
    return _plot_and_print(result, args=args,
                           title=f"scalerd simulate: {target.name} on {os.path.basename(args.trace)}")


def _from_prometheus(args: argparse.Namespace, *, config: Config, target: Target) -> int:
    from scalerd import whatif
    from scalerd.prometheus_history import HistoryError

    try:
        overrides = dict(_name_and_query(text) for text in args.metric_query)
        queries = whatif.history_queries(target, defaults=config.defaults, overrides=overrides)
    except (LookupError, ValueError) as error:
        print(f"{args.config}: {error}", file=sys.stderr)
        return exits.INVALID_INPUT
    step = args.step or config.defaults.interval
    # On the step grid, so that the same command asks Prometheus the same points.
    end = time.time() // step * step
    start = end - args.since
    extra = [args.actual_replicas_query] if args.actual_replicas_query else []
    try:
        histories = whatif.load_histories(queries, defaults=config.defaults, start=start, end=end, step=step,
                                          extra=extra)
        actual = None
        if args.actual_replicas_query:
            actual_samples = histories.pop()
            if not actual_samples:
                raise LookupError(f"--actual-replicas-query: no samples in the range ({args.actual_replicas_query})")
            actual = LatestValue(actual_samples)
        names = [query.metric for query in queries]
        if queries:
            rows, gaps = whatif.merge(histories, names=names,
                                      not_before=actual_samples[0][0] if actual is not None else None)
        else:
            rows, gaps = whatif.grid_rows(start=start, end=end), {}
    except (HistoryError, LookupError) as error:
        print(f"--from-prometheus: {error}", file=sys.stderr)
        return exits.FAILED
    for name, missing in gaps.items():
        if missing:
            print(f"{name}: no sample at {missing} of {len(rows)} steps; the previous value was used", file=sys.stderr)
    result = replay_to_directory(target, interval=config.defaults.interval, rows=rows, out_dir=args.out,
                                 initial_replicas=args.initial_replicas, startup_delay=args.startup_delay,
                                 actual=actual)
    since = format_duration(args.since)
    code = _plot_and_print(result, args=args,
                           title=f"scalerd simulate: {target.name} over the last {since} of Prometheus")
    if actual is not None:
        print(whatif.comparison(result.summary))
    return code


def _name_and_query(text: str) -> tuple[str, str]:
    name, separator, query = text.partition("=")
    if not separator or not name.strip() or not query.strip():
        raise ValueError(f"--metric-query: expected NAME=QUERY (got {text!r})")
    return name.strip(), query.strip()


def _plot_and_print(result: SimulationResult, *, args: argparse.Namespace, title: str) -> int:
    """plot.png beside the files already written, and the summary; without matplotlib, say how to get it."""
    from scalerd.plot import PlotUnavailable, write_plot

    plot_path = os.path.join(args.out, "plot.png")
    try:
        write_plot(result.series, path=plot_path, title=title)
    except PlotUnavailable as missing:
        print(_human_summary(result, plot_path=None))
        print(f"error: {missing}", file=sys.stderr)
        return exits.FAILED
    print(_human_summary(result, plot_path=plot_path))
    return exits.OK


def _out_problem(out: str) -> str | None:
    """--out must be a directory, or a path where one can be made; what to do otherwise."""
    try:
        os.makedirs(out, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return (f"--out {out}: a file is in the way, not a directory: pass a directory for decisions.csv, "
                "summary.json and plot.png (created if missing), or move the file")
    except OSError as error:
        return f"--out {out}: cannot create the directory ({error.strerror}): pass a directory you may write to"
    return None


def _trace_problem(path: str, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return (f"--trace {path}: no such file: pass the path of a CSV trace (a `timestamp` column and one column "
                "per metric name)")
    if isinstance(error, IsADirectoryError):
        return f"--trace {path}: is a directory: pass the path of the CSV trace file in it"
    return f"--trace {path}: cannot read ({error.strerror}): pass a CSV trace file you may read"


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


def _human_summary(result: SimulationResult, *, plot_path: str | None) -> str:
    numbers = result.summary.as_dict()
    written = ", ".join(path for path in (result.decisions_path, result.summary_path, plot_path) if path)
    return "\n".join((
        f"wrote {written}",
        f"steps: {numbers['steps']} of {plain_number(result.summary.interval)} s; scale events: {numbers['scale_events']}",
        (f"replica-seconds: {numbers['replica_seconds']}"
         f" (baseline {numbers['baseline_replica_seconds']}, oracle {numbers['oracle_replica_seconds']})"),
        (f"under-provisioned seconds: {numbers['underprovisioned_seconds']}"
         f" (baseline {numbers['baseline_underprovisioned_seconds']})"
         + (f", replicas serving {numbers['startup_delay_seconds']} s after they are added"
            if result.summary.startup_delay_seconds else "")),
        *((f"what ran: replica-seconds {numbers['actual_replica_seconds']}, under-provisioned seconds "
           f"{numbers['actual_underprovisioned_seconds']}",) if result.summary.actual_replica_seconds is not None
          else ()),
    ))

