"""`python -m bench [--quick] [--output json|table] [--only NAME] [--dir DIR]`: every figure of issue 8.

JSON output: one object per figure and line, `{"name", "value", "unit", "params"}`, printed as soon as it is
measured; progress goes to stderr. `--quick` runs small sizes for the CI smoke test (no thresholds anywhere).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, table
from bench.stage import FULL, QUICK, Scale, Stage
from tests.testbed.processes import StopRequested, stop_on_signals


@dataclass(frozen=True)
class Benchmark:
    names: tuple[str, ...]
    needs_stage: bool
    run: Callable[[Scale, Stage | None], list[Figure]]


def _cycles(scale: Scale, stage: Stage | None) -> list[Figure]:
    from bench.cycle import measure_cycles

    figures = []
    for targets in scale.target_counts:
        _progress(f"cycle at {targets} targets (scalerd, then the naive loop)")
        figures += measure_cycles(stage, targets=targets)
    return figures


def _reaction(scale: Scale, stage: Stage | None) -> list[Figure]:
    from bench.reaction import measure_reaction

    _progress(f"reaction time, {scale.reaction_trials} trials each for scalerd run and the naive loop")
    return measure_reaction(stage, trials=scale.reaction_trials)


def _rss(scale: Scale, stage: Stage | None) -> list[Figure]:
    from bench.memory import measure_rss

    _progress(f"memory of scalerd run with {scale.rss_targets} targets after {scale.rss_cycles} cycles")
    return measure_rss(stage)


def _simulate(scale: Scale, _stage: Stage | None) -> list[Figure]:
    from bench.simulate_bench import simulate_figure

    _progress("simulate one week at 10 s steps")
    return [simulate_figure(repeats=scale.repeats)]


def _validate(scale: Scale, _stage: Stage | None) -> list[Figure]:
    from bench.validate_bench import measure_validate

    _progress(f"validate a {scale.validate_targets}-target configuration")
    return measure_validate(scale=scale)


BENCHMARKS = (
    Benchmark(("cycle_seconds", "k8s_requests_per_steady_cycle", "prometheus_requests_per_cycle",
               "kafka_requests_per_cycle"), needs_stage=True, run=_cycles),
    Benchmark(("reaction_seconds_p50", "reaction_seconds_p95"), needs_stage=True, run=_reaction),
    Benchmark(("rss_mb",), needs_stage=True, run=_rss),
    Benchmark(("simulate_seconds",), needs_stage=False, run=_simulate),
    Benchmark(("validate_seconds",), needs_stage=False, run=_validate),
)
FIGURE_NAMES = tuple(name for benchmark in BENCHMARKS for name in benchmark.names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of seconds, not figures")
    parser.add_argument("--output", choices=("json", "table"), default="json")
    parser.add_argument("--only", action="append", choices=FIGURE_NAMES, metavar="NAME",
                        help=f"only this figure (repeatable): {', '.join(FIGURE_NAMES)}")
    parser.add_argument("--dir", type=Path,
                        help="keep the test bed's files and the daemons' logs in a new subdirectory of DIR")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    wanted = set(args.only or FIGURE_NAMES)
    chosen = [benchmark for benchmark in BENCHMARKS if wanted & set(benchmark.names)]
    _progress(f"load average before: {_load()}")
    stop_on_signals()
    try:
        with tempfile.TemporaryDirectory(prefix="scalerd-bench-") as scratch:
            # A fresh directory each run: Prometheus would otherwise serve an earlier run's series beside this one's.
            directory = (args.dir / time.strftime("%Y%m%dT%H%M%S") if args.dir else Path(scratch)).resolve()
            figures = _run(chosen, scale=scale, directory=directory, wanted=wanted, output=args.output)
    except StopRequested as stop:
        _progress(f"stopped by {stop}; the test bed is stopped")
        return 128 + stop.signum
    _progress(f"load average after: {_load()}")
    if args.output == "table":
        print(table(figures))
    return 0


def _run(chosen: list[Benchmark], *, scale: Scale, directory: Path, wanted: set[str], output: str) -> list[Figure]:
    figures: list[Figure] = []

    def measure(benchmark: Benchmark, stage: Stage | None) -> None:
        started = time.monotonic()
        for figure in benchmark.run(scale, stage):
            if figure.name in wanted:
                figures.append(figure)
                if output == "json":
                    print(figure.to_json(), flush=True)
        _progress(f"  done in {time.monotonic() - started:.1f} s")

    for benchmark in (b for b in chosen if not b.needs_stage):
        measure(benchmark, None)
    live = [b for b in chosen if b.needs_stage]
    if live:
        _progress(f"starting the test bed in {directory}")
        from scalerd.logs import configure_logging

        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "daemon-in-process.log").open("a") as daemon_log, \
                Stage(directory, scale=scale) as stage:
            # The in-process daemon logs every decision, as in production; to a file, not into the figures.
            configure_logging(log_format="json", stream=daemon_log)
            for benchmark in live:
                measure(benchmark, stage)
    return figures


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
