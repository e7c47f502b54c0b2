"""How long `scalerd simulate` takes for one week at 10 s steps (60,480 steps), plotting excluded.

The timed part is everything `scalerd simulate` does before the plot: parsing the CSV, running the engine
for the target and for the baseline at every step, writing decisions.csv and summary.json. The trace is
synthetic (a daily wave with noise and bursts, one row per step) so that the figure needs no data files.

    python -m bench.simulate_bench            # best of 3 runs
    python -m bench.simulate_bench --profile  # where the time goes (cProfile, by cumulative time)
    python -m bench.simulate_bench --predictive  # the same week with `predictive: {leadTime: 60s}`, as a ratio
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import random
import tempfile
import time
from dataclasses import dataclass, replace

from bench.figures import Figure
from scalerd.config.model import DailyEntry, Predictive, Target
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.simulate import simulate_to_directory

WEEK_STEPS = 60_480
STEP_SECONDS = 10.0
BUDGET_SECONDS = 2.0


def synthetic_week_trace(*, steps: int = WEEK_STEPS, step_seconds: float = STEP_SECONDS, seed: int = 2018) -> str:
    """CSV text `timestamp,rps`: a daily wave between about 50 and 450 requests/s, noise, and a burst now and then."""
    randomness = random.Random(seed)
    lines = ["timestamp,rps"]
    burst_left = 0
    for index in range(steps):
        timestamp = index * step_seconds
        wave = 250 + 200 * math.sin(2 * math.pi * timestamp / 86400)
        if burst_left == 0 and randomness.random() < 0.0005:
            burst_left = randomness.randint(30, 180)
        burst = 300 if burst_left else 0
        burst_left = max(0, burst_left - 1)
        lines.append(f"{timestamp:g},{max(0.0, wave + burst + randomness.gauss(0, 15)):.3f}")
    return "\n".join(lines) + "\n"


def bench_target() -> Target:
    """A typical target: one Prometheus metric, a day/night schedule floor, the contract's default behavior."""
    return Target(
        name="bench",
        namespace="default",
        deployment="bench",
        min_replicas=1,
        max_replicas=30,
        timezone="Europe/Berlin",
        metrics=(PrometheusMetric(name="rps", query="sum(rate(http_requests_total[1m]))", target_per_replica=25.0),),
        schedule=(DailyEntry(minute_of_day=8 * 60, replicas=6), DailyEntry(minute_of_day=20 * 60, replicas=2)),
    )


@dataclass(frozen=True)
class SimulateBenchResult:
    steps: int
    best_seconds: float
    """Wall-clock seconds of the fastest run: the figure held against the budget."""
    runs_seconds: tuple[float, ...]
    best_cpu_seconds: float
    """CPU seconds of the process in the fastest run; close to best_seconds unless the machine is busy."""
    budget_seconds: float = BUDGET_SECONDS

    @property
    def microseconds_per_step(self) -> float:
        return self.best_seconds / self.steps * 1e6

    @property
    def within_budget(self) -> bool:
        return self.best_seconds < self.budget_seconds


def _simulate_once(trace_text: str, out_dir: str, target: Target | None = None) -> int:
    result = simulate_to_directory(
        target or bench_target(), interval=STEP_SECONDS, trace=io.StringIO(trace_text), out_dir=out_dir,
        trace_name="synthetic",
    )
    return result.summary.steps


PREDICTIVE_BUDGET_RATIO = 5.0


def measure_simulate_week(*, repeats: int = 3, target: Target | None = None) -> SimulateBenchResult:
    """Time the week-long replay `repeats` times (fresh engine state each time); the best run is the figure."""
    trace_text = synthetic_week_trace()
    runs, cpu_runs = [], []
    steps = 0
    with tempfile.TemporaryDirectory(prefix="scalerd-bench-") as out_dir:
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            steps = _simulate_once(trace_text, out_dir, target)
            runs.append(time.perf_counter() - started)
            cpu_runs.append(time.process_time() - cpu_started)
    return SimulateBenchResult(
        steps=steps, best_seconds=min(runs), runs_seconds=tuple(runs), best_cpu_seconds=min(cpu_runs)
    )


def simulate_figure(*, repeats: int = 3) -> Figure:
    """`simulate_seconds` for `python -m bench`: the best of `repeats` week-long replays."""
    result = measure_simulate_week(repeats=repeats)
    return Figure("simulate_seconds", round(result.best_seconds, 4), "s", {
        "steps": result.steps, "step_seconds": STEP_SECONDS, "statistic": "best run",
        "runs": [round(seconds, 4) for seconds in result.runs_seconds],
        "cpu_seconds": round(result.best_cpu_seconds, 4),
        "microseconds_per_step": round(result.microseconds_per_step, 1), "goal": f"< {BUDGET_SECONDS:g} s",
        "baseline_value": None, "ratio": None,
        "baseline": "none: the seed had no simulator (each step also replays the HPA-default baseline target)",
    })


def profile_simulate_week(*, top: int = 20) -> str:
    """cProfile of one week-long replay: the `top` functions by cumulative time, as text."""
    trace_text = synthetic_week_trace()
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="scalerd-bench-") as out_dir:
        profiler.runcall(_simulate_once, trace_text, out_dir)
    report = io.StringIO()
    pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(top)
    return report.getvalue()


def predictive_ratio(*, repeats: int = 3) -> tuple[SimulateBenchResult, SimulateBenchResult, float]:
    """(HPA mode, predictive mode, CPU-time ratio) of the same week, measured one after the other in one run."""
    reactive = measure_simulate_week(repeats=repeats)
    predictive = measure_simulate_week(
        repeats=repeats, target=replace(bench_target(), predictive=Predictive(lead_time=60.0))
    )
    return reactive, predictive, predictive.best_cpu_seconds / reactive.best_cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print a cProfile report instead of timing")
    parser.add_argument("--predictive", action="store_true", help="time HPA mode and predictive mode, print the ratio")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.profile:
        print(profile_simulate_week())
        return
    if args.predictive:
        reactive, predictive, ratio = predictive_ratio(repeats=args.repeats)
        verdict = "within" if ratio <= PREDICTIVE_BUDGET_RATIO else "OVER"
        print(f"simulate one week ({reactive.steps} steps): HPA mode {reactive.best_cpu_seconds:.3f} s of CPU,"
              f" predictive {predictive.best_cpu_seconds:.3f} s: {ratio:.2f}x ({verdict} the"
              f" {PREDICTIVE_BUDGET_RATIO:g}x budget; best of {args.repeats} each)")
        return
    result = measure_simulate_week(repeats=args.repeats)
    verdict = "within" if result.within_budget else "OVER"
    print(f"simulate one week: {result.steps} steps in {result.best_seconds:.3f} s"
          f" ({result.microseconds_per_step:.1f} us/step, {verdict} the {result.budget_seconds:g} s budget;"
          f" {result.best_cpu_seconds:.3f} s of CPU);"
          f" runs: {', '.join(f'{seconds:.3f}' for seconds in result.runs_seconds)} s")


if __name__ == "__main__":
    main()
