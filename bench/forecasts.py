"""`python -m bench.forecasts [--targets N]`: what `predictive` costs the daemon (issue #16, part 3).

- `forecaster_bytes`: tracemalloc bytes held by one metric's forecaster after 8 days of one-minute samples (11,520
  points, the default `history`), on a series with a daily and a weekly shape and noise, so that every expert
  (and its error windows) is active: the worst case. Goal: <= 100 KB. `steady_max_bytes` beside it: the most it
  holds, read every hour, while fed on to 14 days (the weekly expert's error windows fill up a day after it
  starts). numpy, which the forecaster imports with its first forecast, is imported before: once per process,
  not per metric (about 16 MB of RSS in a daemon with `predictive` targets).
- `live_forecaster_bytes`: the same 8 days fed as the daemon feeds its own readings (`Forecasts.observe`, one per
  60 s cycle, each cycle up to 1 s early or late as on a busy machine), which puts them on the interval's grid;
  `without_grid_bytes` beside it: a forecaster fed the cycles' own times.
- `predictive_cycle_seconds`: one daemon cycle (`Daemon.run_cycle`, the real loop, engine and forecasters; the
  cache, writer, history store and metric sources in memory, so the figure is scalerd's own work) at `--targets` predictive
  targets of two prometheus metrics each, every forecaster warmed with 2 days of samples (the daily expert on,
  its error windows full), next to the same cycle without `predictive`. Goal at 1,000 targets: < 1 s.

Prints one JSON object per figure and line, as `python -m bench` does.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import random
import statistics
import time
import tracemalloc
from dataclasses import replace
from types import MappingProxyType

from scalerd.config.model import Behavior, Config, Defaults, Predictive, Target
from scalerd.daemon.forecasts import Forecasts
from scalerd.daemon.history import History
from scalerd.daemon.loop import Daemon
from scalerd.forecast import Forecaster
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import WriteOutcome
from scalerd.logs import configure_logging
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading

STEP = 60.0
START = 1_700_000_000.0
MEMORY_POINTS = 8 * 1440
STEADY_POINTS = 14 * 1440
WARM_POINTS = 2 * 1440
TIMED_CYCLES = 5
PREDICTIVE = Predictive(lead_time=60.0)


def load(time: float, noise: random.Random) -> float:
    day, week = (time % 86400) / 86400, (time % 604800) / 604800
    return 1000 + 600 * math.sin(2 * math.pi * day) + 200 * math.sin(2 * math.pi * week) + noise.gauss(0, 40)


def samples(count: int, *, seed: int = 1) -> list[tuple[float, float]]:
    noise = random.Random(seed)
    return [(START + index * STEP, load(START + index * STEP, noise)) for index in range(count)]


def forecaster_bytes() -> dict:
    import numpy  # noqa: F401  (see the module's docstring)

    history = samples(STEADY_POINTS)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    forecaster = Forecaster(lead_time=PREDICTIVE.lead_time, history=PREDICTIVE.history)
    steady_max = 0
    for index, (time_, value) in enumerate(history, start=1):
        forecaster.observe(time_, value)
        if index == MEMORY_POINTS:
            held = tracemalloc.get_traced_memory()[0] - before
            forecast = forecaster.forecast()
        if index > MEMORY_POINTS and index % 60 == 0:
            steady_max = max(steady_max, tracemalloc.get_traced_memory()[0] - before)
    tracemalloc.stop()
    return {"name": "forecaster_bytes", "value": held, "unit": "bytes", "params": {
        "points": MEMORY_POINTS, "step_seconds": STEP, "lead_time_seconds": PREDICTIVE.lead_time,
        "expert": None if forecast is None else forecast.expert, "steady_max_bytes": steady_max,
        "steady_points": STEADY_POINTS, "goal": "<= 100 KB"}}


def live_forecaster_bytes() -> dict:
    import numpy  # noqa: F401  (see the module's docstring)

    history = samples(MEMORY_POINTS)
    late_or_early = random.Random(3)
    cycle_times = [time_ + late_or_early.uniform(-1.0, 1.0) for time_, _ in history]
    cycle_times[0] = START
    two_metrics = _config(1, predictive=True)
    target = replace(two_metrics.targets[0], metrics=two_metrics.targets[0].metrics[:1])  # one metric: "rps"
    config = replace(two_metrics, targets=(target,))
    warm_up = Forecasts()  # what the first cycle imports and caches is once per process, not per metric
    warm_up.apply(config, now=START, interval=STEP)
    warm_up.observe(target, [Reading("rps", value=1.0)], current=2, now=START)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    forecasts = Forecasts()
    forecasts.apply(config, now=START, interval=STEP)
    for cycle_time, (_, value) in zip(cycle_times, history, strict=True):
        forecasts.observe(target, [Reading("rps", value=value)], current=2, now=cycle_time)
    gc.collect()  # what is held, not what a collection has yet to free
    held = tracemalloc.get_traced_memory()[0] - before
    del forecasts
    before = tracemalloc.get_traced_memory()[0]
    forecaster = Forecaster(lead_time=PREDICTIVE.lead_time, history=PREDICTIVE.history)
    for cycle_time, (_, value) in zip(cycle_times, history, strict=True):
        forecaster.observe(cycle_time, value)
    gc.collect()
    without_grid = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"name": "live_forecaster_bytes", "value": held, "unit": "bytes", "params": {
        "points": MEMORY_POINTS, "interval_seconds": STEP, "cycle_jitter_seconds": 1.0,
        "without_grid_bytes": without_grid, "goal": "<= 100 KB"}}


class _Cluster:
    """Cache and writer in memory: every Deployment steady, every write applied."""

    def __init__(self, names: list[str]) -> None:
        self.views = {("bench", name): DeploymentView(
            namespace="bench", name=name, uid=name, resource_version="1", replicas=2, ready_replicas=2,
            selector=MappingProxyType({"app": name}), annotations=MappingProxyType({}), generation=1,
            observed_generation=1) for name in names}

    def synced(self) -> bool:
        return True

    def get(self, namespace: str, name: str):
        return self.views.get((namespace, name))

    refresh = get

    def set_deployments(self, deployments) -> None:
        pass

    def scale(self, *, view, replicas):
        self.views[(view.namespace, view.name)] = replace(view, replicas=replicas)
        return WriteOutcome(applied=True, status="applied", detail="", attempts=1, resource_version=None)

    def annotate(self, **_):
        return WriteOutcome(applied=True, status="applied", detail="", attempts=1, resource_version=None)

    event = remove_annotations = annotate


class _Store:
    """scalerd's history ConfigMaps in memory: every write applied."""

    def __init__(self) -> None:
        self.records = {}

    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        pass

    invalidate = load

    def record(self, key):
        return self.records.get(key)

    def put(self, key, record):
        self.records[key] = record
        return WriteOutcome(applied=True, status="applied", detail="", attempts=1, resource_version=None)

    def stage(self, key, record) -> None:
        self.records[key] = record

    def end_cycle(self, *, flush_all: bool = False) -> None:
        pass

    def has_staged(self) -> bool:
        return False


class _Sources:
    def __init__(self, value_of) -> None:
        self.value_of = value_of

    def submit_all(self, targets, *, at=None):
        import concurrent.futures

        readings = {}
        for target in targets:
            for metric in target.metrics:
                future = concurrent.futures.Future()
                future.set_result(Reading(metric.name, value=self.value_of(at)))
                readings[(target.name, metric.name)] = future
        return readings

    def close(self) -> None:
        pass


def _config(count: int, *, predictive: bool) -> Config:
    metrics = tuple(PrometheusMetric(name=name, query=f"sum(rate({name}[1m]))", target_per_replica=10_000.0)
                    for name in ("rps", "queue"))
    return Config(defaults=Defaults(interval=STEP), targets=tuple(
        Target(name=f"t-{index:05d}", namespace="bench", deployment=f"t-{index:05d}", min_replicas=2,
               max_replicas=10, timezone="UTC", metrics=metrics, behavior=Behavior(cooldown=0.0),
               predictive=PREDICTIVE if predictive else None)
        for index in range(count)))


def cycle_seconds(count: int, *, predictive: bool) -> tuple[list[float], list[float]]:
    """(wall-clock seconds, process CPU seconds) of each timed cycle: on a shared machine the CPU time is the
    steadier figure, the wall time the one the goal is about."""
    config = _config(count, predictive=predictive)
    cluster = _Cluster([target.deployment for target in config.targets])
    clock = {"wall": START + WARM_POINTS * STEP}
    noise = random.Random(2)
    daemon = Daemon(
        config=config, config_provider=None, cache=cluster, writer=cluster,
        history=History(_Store(), cluster, identity="bench"),
        sources_factory=lambda _config: _Sources(lambda at: load(at, noise)), elector=None,
        metrics=DaemonMetrics(), health=HealthState(monotonic=time.monotonic, interval=STEP),
        monotonic=lambda: clock["wall"] - START, wall=lambda: clock["wall"], max_concurrent_writes=8,
    )
    try:
        if predictive:
            _warm(daemon, config)
        seconds, cpu_seconds = [], []
        for _ in range(TIMED_CYCLES):
            started, cpu_started = time.perf_counter(), time.process_time()
            results = daemon.run_cycle(wait_for_every_target=True)
            seconds.append(time.perf_counter() - started)
            cpu_seconds.append(time.process_time() - cpu_started)
            if len(results) != count or any(result.error for result in results):
                raise RuntimeError(f"expected {count} decided targets, got {len(results)}")
            clock["wall"] += STEP
        if predictive and any(entry.forecaster.forecast() is None for entry in daemon._forecasts._entries.values()):
            raise RuntimeError("a warmed forecaster gave no forecast: the cycles measured the reactive path")
    finally:
        daemon.close()
    return seconds, cpu_seconds


def _warm(daemon: Daemon, config: Config) -> None:
    """Every forecaster starts as one warmed with 2 days (copies: warming each would take minutes)."""
    warm = Forecaster(lead_time=PREDICTIVE.lead_time, history=PREDICTIVE.history)
    for time_, value in samples(WARM_POINTS):
        warm.observe(time_, value)
    daemon._forecasts.apply(config, now=START + WARM_POINTS * STEP)
    for entry in daemon._forecasts._entries.values():
        entry.forecaster = copy.deepcopy(warm)
        entry.last_time = START + (WARM_POINTS - 1) * STEP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    arguments = parser.parse_args()
    # The decision lines go through the daemon's own pipeline (its default console format, redaction included)
    # and are written nowhere.
    configure_logging(log_format="console", stream=open(os.devnull, "w"))  # noqa: SIM115
    print(json.dumps(forecaster_bytes()), flush=True)
    print(json.dumps(live_forecaster_bytes()), flush=True)
    runs = {predictive: cycle_seconds(arguments.targets, predictive=predictive) for predictive in (True, False)}
    (wall, cpu), (plain_wall, plain_cpu) = runs[True], runs[False]
    print(json.dumps({"name": "predictive_cycle_seconds", "value": round(statistics.median(wall), 4), "unit": "s",
                      "params": {
        "targets": arguments.targets, "metrics_per_target": 2, "warm_history_points": WARM_POINTS,
        "statistic": f"median of {TIMED_CYCLES} cycles", "runs": [round(run, 4) for run in wall],
        "cpu_seconds": round(statistics.median(cpu), 4),
        "without_predictive": round(statistics.median(plain_wall), 4),
        "without_predictive_cpu_seconds": round(statistics.median(plain_cpu), 4),
        "load_average": round(os.getloadavg()[0], 2), "goal": "< 1 s at 1000 targets"}}), flush=True)


if __name__ == "__main__":
    main()
