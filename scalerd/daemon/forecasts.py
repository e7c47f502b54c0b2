"""`predictive` in the daemon: one `Forecaster` per metric of each predictive target, fed by the cycles.

The loop's hooks: `apply(config)` at the start of each cycle (the first one and after a reload), `observe` where a
target is decided, `wait_loaded` in `once`.

Keyed like the engine state, by the Deployment (namespace, name) and the metric's name, so a renamed target
keeps its metrics' history. A reload keeps a forecaster while its metric reads the same series with the same
`predictive` settings (a new threshold keeps it: the values are the same), and drops it when the target or the
metric goes away, or when what is read (query, URL, group, topics, ...) or `predictive` changes.

Each cycle feeds every forecaster the metric's value with the cycle's one wall-clock reading as its time (wall
time, so that a history loaded from Prometheus and the live samples share a timeline), put on the grid of the
loop's interval from the first cycle: cycles start a little late or early, and evenly spaced times cost the
forecaster almost no memory where jittered ones cost 12 bytes each (1.3 MB over 8 days of 15 s cycles). The loop
keeps its phase (a cycle is due one interval after the last was due), so the grid follows the cycles; a cycle that
lands on the same grid time as the one before adds no sample. A failed or held reading is a gap, never a zero. With too little history a forecaster has no forecast and the engine decides as without
`predictive`.

History at start (`load_history`): a prometheus metric loads `predictive.history` of its own query at
`HISTORY_STEP`; with `predictive.historyFrom.prometheus`, the other types (kafka, cpu, http) load what scalerd
itself exported of them (`scalerd_metric_value`, see `own_value_query`) at the loop's interval; otherwise they start
from their own samples. A load runs once, when the metric first appears (start or reload), in the background: the
cycles meanwhile forecast from their own samples, which the loaded forecaster is then fed too before it takes over.
A failed load is logged once (`forecast_history_failed`, with the metric and the error naming the endpoint) and
the metric goes on from its own samples alone.
"""
from __future__ import annotations

import concurrent.futures
import json
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import structlog

from scalerd.config.durations import format_duration
from scalerd.config.model import Config, Defaults, Metric, Predictive, Target
from scalerd.forecast import Forecast, Forecaster
from scalerd.health import METRIC_VALUE
from scalerd.metric_types.registry import metric_outcome
from scalerd.readings import Reading

log = structlog.get_logger()

HISTORY_STEP = 60.0
"""Seconds between the points of a loaded history (8 days: 11,520 points, two `query_range` chunks)."""
HISTORY_LOADERS = 2
"""Histories loaded at once: a reload adding many predictive targets must not crowd the cycles' own queries."""
THRESHOLD_FIELDS = frozenset({"name", "target_per_replica", "target_value", "lag_per_replica", "target_utilization"})
"""A metric's fields that change what its value asks for, not the value: a change keeps its history."""

ForecastKey = tuple[str, str, str]
"""(namespace, deployment, metric name)."""
Samples = Sequence[tuple[float, float]]
HistoryLoader = Callable[..., Samples | None]
"""`loader(defaults=, target=, metric=, start=, end=, interval=)`: the metric's past (time, value) samples,
ascending, or None when it has no history to load; raises on failure."""


@dataclass
class _Entry:
    settings: tuple
    """What the history is of (see `_settings_of`): a reload that changes it starts afresh."""
    forecaster: Forecaster
    last_time: float = float("-inf")
    loading: concurrent.futures.Future[tuple[Forecaster, float] | None] | None = None
    since_load: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=100_000))
    """The samples observed while the history loads: the loaded forecaster is fed them before it takes over."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class Forecasts:
    """The daemon's forecasters. `apply(config)` at start and on each reload; `observe` in each target's cycle."""

    def __init__(self, *, load_history: HistoryLoader | None = None, max_loaders: int = HISTORY_LOADERS) -> None:
        self._load_history = load_history
        self._config: Config | None = None
        self._grid: tuple[float, float] | None = None
        """(origin, interval) of the sample times: set by the first cycle, again when the interval changes."""
        self._entries: dict[ForecastKey, _Entry] = {}
        """Replaced whole on `apply` (never changed in place), so the target threads read it without a lock."""
        self._executor = None if load_history is None else concurrent.futures.ThreadPoolExecutor(
            max_workers=max_loaders, thread_name_prefix="history")

    def apply(self, config: Config, *, now: float, interval: float | None = None) -> None:
        """Keep, drop and create forecasters for `config` (each cycle's: nothing to do unless it is a new one);
        new ones with a loader start loading their history up to `now`, the time of the cycle's own samples.
        `interval`: the loop's (default: the configuration's)."""
        if config is self._config:
            return
        self._config = config
        interval = interval or config.defaults.interval
        if self._grid is None or self._grid[1] != interval:
            # Whole 1/1024 s: origin + k × interval is then exact for whole-second and binary-fraction intervals,
            # so that successive times are exactly one interval apart.
            self._grid = (math.floor(now * 1024) / 1024, interval)
        entries = {}
        for target in config.targets:
            if target.predictive is None:
                continue
            for metric in target.metrics:
                key = (target.namespace, target.deployment, metric.name)
                settings = _settings_of(target.predictive, metric)
                kept = self._entries.get(key)
                if kept is not None and kept.settings == settings:
                    entries[key] = kept
                    continue
                entry = entries[key] = _Entry(settings, _forecaster(target.predictive))
                if self._executor is not None:
                    entry.loading = self._executor.submit(
                        self._loaded, config.defaults, target=target, metric=metric, end=now,
                        interval=interval)
        dropped = sorted(":".join(key) for key, entry in self._entries.items() if entries.get(key) is not entry)
        if dropped:
            log.info("forecasts_dropped", metrics=dropped)
        self._entries = entries

    def observe(self, target: Target, readings: Sequence[Reading], *, current: int, now: float
                ) -> Mapping[str, Forecast]:
        """Feed this cycle's values (time `now`); each metric's forecast, for those that have one."""
        if target.predictive is None:
            return {}
        entries = self._entries
        if not entries:
            return {}
        origin, interval = self._grid
        at = origin + round((now - origin) / interval) * interval
        by_name = {reading.name: reading for reading in readings}
        forecasts = {}
        for metric in target.metrics:
            entry = entries.get((target.namespace, target.deployment, metric.name))
            if entry is None:  # the target arrived without `apply` (a reload raced this cycle): next cycle
                continue
            with entry.lock:
                self._take_loaded(entry)
                value = _value_of(metric, by_name.get(metric.name), current=current)
                if value is not None and at > entry.last_time:
                    entry.forecaster.observe(at, value)
                    entry.last_time = at
                    if entry.loading is not None:
                        entry.since_load.append((at, value))
                forecast = entry.forecaster.forecast()
            if forecast is not None:
                forecasts[metric.name] = forecast
        return forecasts

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Until every history load under way ended (`once`: its one cycle should see the history)."""
        loading = [entry.loading for entry in self._entries.values() if entry.loading is not None]
        concurrent.futures.wait(loading, timeout=timeout)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _loaded(self, defaults: Defaults, *, target: Target, metric: Metric, end: float, interval: float
                ) -> tuple[Forecaster, float] | None:
        """A forecaster fed the metric's history and the time of its last sample (None: it has none to load, or
        the load failed: logged)."""
        start = end - target.predictive.history
        try:
            samples = self._load_history(defaults=defaults, target=target, metric=metric, start=start, end=end,
                                         interval=interval)
            if samples is None:
                return None
            forecaster = _forecaster(target.predictive)
            for time, value in samples:
                forecaster.observe(time, value)  # ValueError on times out of order
        except Exception as error:  # any failure means reactive decisions until live history is enough
            log.warning("forecast_history_failed", target=target.name, metric=metric.name,
                        error=f"{type(error).__name__}: {error}")
            return None
        last = samples[-1][0] if samples else float("-inf")
        log.info("forecast_history_loaded", target=target.name, metric=metric.name, points=len(samples),
                 first=samples[0][0] if samples else None, last=samples[-1][0] if samples else None)
        return forecaster, last

    @staticmethod
    def _take_loaded(entry: _Entry) -> None:
        """Once the load ended: the loaded forecaster, fed the samples observed since, replaces the live one."""
        if entry.loading is None or not entry.loading.done():
            return
        loading, entry.loading = entry.loading, None
        loaded = None if loading.cancelled() else loading.result()
        live = list(entry.since_load)
        entry.since_load.clear()
        if loaded is None:
            return
        forecaster, last_time = loaded
        for time, value in live:
            if time > last_time:
                forecaster.observe(time, value)
                last_time = time
        entry.forecaster = forecaster
        entry.last_time = last_time


def load_history(*, defaults: Defaults, target: Target, metric: Metric, start: float, end: float, interval: float
                 ) -> Samples | None:
    """The metric's past from `start` to `end`: a prometheus metric's from its own query, another's from what
    scalerd exported of it when the target has `historyFrom`; None when there is nothing to load."""
    from scalerd.prometheus_history import RANGE_PATH, HistoryError, load_range
    from scalerd.sources.http_client import without_credentials
    from scalerd.sources.prometheus import credentials_of

    settings = defaults.prometheus
    if metric.type == "prometheus":
        return load_range(url=metric.url or settings.url, query=metric.query, start=start, end=end,
                          step=HISTORY_STEP, timeout=settings.timeout, credentials=credentials_of(settings))
    source = target.predictive.history_from
    if source is None:
        return None
    url = source.url or settings.url
    query = own_value_query(target, metric, labels=source.labels, step=interval)
    # Up to the last step before the cycle that asks: that cycle's own reading is the next sample (a point at
    # `end` would hold the previous instance's last value for the same moment: a double at the seam).
    answer = load_range(url=url, query=query, start=start, end=end - interval, step=interval,
                        timeout=settings.timeout, credentials=credentials_of(settings))
    samples = [(time, value) for time, value in answer if math.isfinite(value)]
    if not samples:
        raise HistoryError(f"no samples of {query} in the last {format_duration(target.predictive.history)}: "
                           "is scalerd's /metrics scraped by this Prometheus, and do historyFrom's labels match?",
                           url=without_credentials(url.rstrip("/") + RANGE_PATH))
    return samples


def own_value_query(target: Target, metric: Metric, *, labels: Sequence[tuple[str, str]], step: float) -> str:
    """The last value scalerd exported of the metric within each `step` ending at a point of the range, the
    largest over scalerd's instances (a restarted pod is a new series).

    The window is one millisecond short of the step, so that ranges that include both ends (Prometheus 2) tile
    time: every scraped sample counts at one point only, and a step with no scrape (scalerd down, or the metric
    failed or held: its series was absent) is no point, where a plain selector would repeat an older value for
    up to five minutes."""
    matchers = [("target", target.name), ("metric", metric.name), ("type", metric.type), *labels]
    selector = ",".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in matchers)
    window = max(1, round(step * 1000) - 1)
    return f"max(last_over_time({METRIC_VALUE}{{{selector}}}[{window}ms]))"


def _forecaster(predictive: Predictive) -> Forecaster:
    return Forecaster(lead_time=predictive.lead_time, history=predictive.history)


def _settings_of(predictive: Predictive, metric: Metric) -> tuple:
    return (predictive, metric.type,
            tuple((f.name, getattr(metric, f.name)) for f in fields(metric) if f.name not in THRESHOLD_FIELDS))


def _value_of(metric: Metric, reading: Reading | None, *, current: int) -> float | None:
    """The metric's value this cycle as the engine reads it (cpu: the utilization); None for a gap."""
    if reading is None or reading.failed or reading.hold:
        return None
    return metric_outcome(metric, reading, current=current, tolerance=0.0).value
