"""Replay a metric trace through the rule engine with a simulated clock (`scalerd simulate`).

The engine is the one the daemon runs; only the clock and the readings differ. The trace is streamed:
a step at time t reads the latest row with timestamp <= t, so only the current row and the next one
are ever held. Alongside the target the same trace drives a baseline (the HPA's default behavior, no
cooldown, no schedule) and an oracle (the raw metric proposal clipped to the bounds), so a policy can
be scored by cost (replica-seconds) against under-provisioning.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import os
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple, TextIO

from scalerd.config.model import Behavior, Target
from scalerd.engine import ROUNDING_SLACK, EngineState, decide
from scalerd.forecast import DEFAULT_QUANTILE, Forecaster
from scalerd.metric_types.cpu import CpuMetric
from scalerd.readings import Reading

DECISIONS_HEADER = ("timestamp", "metric_proposal", "desired", "replicas", "reason", "ready", "forecast_proposal")
SUMMARY_KEYS = (
    "steps",
    "replica_seconds",
    "underprovisioned_seconds",
    "scale_events",
    "oracle_replica_seconds",
    "baseline_replica_seconds",
    "baseline_underprovisioned_seconds",
    "startup_delay_seconds",
)
ACTUAL_SUMMARY_KEYS = ("actual_replica_seconds", "actual_underprovisioned_seconds")
"""Added to the summary when the replay knows what really ran."""
ACTUAL_COLUMN = "actual_replicas"
SLACK_SECONDS = 1e-6
"""Step times are first + k * interval, never accumulated, yet still rounded (7 * 0.1 is 0.7000000000000001,
and a float near 1.7e9 is only good to 2.4e-7 s): a row or a last step this close after a step time is at it."""
NO_CPU_SAMPLE = "no replica is running, so there is no CPU utilization to read"


class TraceError(ValueError):
    """A trace that cannot be replayed; the message names the file, line and column at fault."""


class TraceRow(NamedTuple):
    timestamp: float
    values: tuple[float, ...]
    """One value per metric of the target, in the order of `Target.metrics`."""


def read_trace(lines: Iterable[str], *, columns: Sequence[str], source: str = "trace") -> Iterator[TraceRow]:
    """Parse a trace CSV: a `timestamp` column (ascending seconds) and the named `columns`; extra columns are ignored.

    The header and the first row are checked at once (so nothing is written for a trace that cannot
    start); the other rows are parsed lazily as the replay reaches them. Raises TraceError naming
    `source` and the line for a missing column, a cell that is not a finite number, a timestamp that
    goes backwards, or a trace without rows.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise TraceError(f"{source}: empty file, expected a header row with 'timestamp'")
    header = [name.strip() for name in header]
    wanted = ["timestamp", *columns]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise TraceError(
            f"{source}:1: missing column(s) {', '.join(repr(name) for name in missing)}"
            f" (the header has {', '.join(repr(name) for name in header)})"
        )
    rows = _parse_rows(reader, positions=[header.index(name) for name in wanted], names=wanted, source=source)
    first = next(rows, None)
    if first is None:
        raise TraceError(f"{source}: no data rows after the header")
    return itertools.chain((first,), rows)


def _parse_rows(reader, *, positions: list[int], names: list[str], source: str) -> Iterator[TraceRow]:
    previous_timestamp = -math.inf
    for cells in reader:
        if not cells:
            continue
        try:
            numbers = [float(cells[position]) for position in positions]
        except (ValueError, IndexError):
            numbers = [math.nan]
        # One check for the whole row; the slow path below only runs to name the bad cell.
        if not math.isfinite(sum(numbers)):
            numbers = [_finite_number(cells, position, name=name, source=source, line=reader.line_num)
                       for position, name in zip(positions, names)]
        timestamp = numbers[0]
        if timestamp < previous_timestamp:
            raise TraceError(
                f"{source}:{reader.line_num}: timestamp {cells[positions[0]].strip()!r} is before the previous"
                " row's; timestamps must be ascending"
            )
        previous_timestamp = timestamp
        yield TraceRow(timestamp, tuple(numbers[1:]))


def _finite_number(cells: list[str], position: int, *, name: str, source: str, line: int) -> float:
    cell = cells[position].strip() if position < len(cells) else ""
    try:
        number = float(cell)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise TraceError(f"{source}:{line}: column {name!r}: not a finite number (got {cell!r})")
    return number


class Step(NamedTuple):
    """One simulated cycle of the target and of the baseline (a tuple: tens of thousands are made per run)."""

    timestamp: float
    loads: tuple[float, ...]
    """The trace's value of each metric at this step (for cpu: the demand, not the utilization)."""
    metric_proposal: int | None
    desired: int
    replicas: int
    """After the step: the simulator applies every change at once."""
    scaled: bool
    """The replicas changed at this step."""
    reason: str
    oracle: int
    baseline_metric_proposal: int | None
    baseline_replicas: int
    ready: int
    """The replicas serving after the step: those added at least the start-up delay ago."""
    baseline_ready: int
    forecast_proposal: int | None = None
    """The predictive proposal (None without `predictive`, or while its history is too short)."""


def baseline_of(target: Target) -> Target:
    """The same target as a plain HPA would run it: default behavior, no cooldown, no schedule, no forecast."""
    return replace(target, behavior=Behavior(cooldown=0.0), schedule=(), predictive=None)


def _row_readings(metrics: Sequence[tuple[str, bool]], values: tuple[float, ...]) -> tuple[Reading | None, ...]:
    """The readings that depend on the row alone (None for cpu, which depends on the replicas too).

    `metrics`: (name, is cpu) per metric of the target.
    """
    return tuple([None if is_cpu else Reading(name, value=value) for (name, is_cpu), value in zip(metrics, values)])


def _cpu_reading(name: str, demand: float, replicas: int) -> Reading:
    if replicas == 0:
        return Reading(name, error=NO_CPU_SAMPLE)
    # The trace gives demand in units of one replica's request, spread evenly over the pods. The HPA's
    # utilization is the integer percent sum(usage) * 100 // sum(requests), i.e. floor(demand / replicas);
    # the float quotient would also let ceil() overshoot (25 / 7 / 25 * 7 is 1.0000000000000002).
    return Reading(name, value=float(math.floor(demand / replicas)))


class _SimulatedTarget:
    """One target's replicas and engine state, advanced one step at a time.

    A replica added at t serves from t + startup_delay; a removal takes the replicas still starting first
    (the most recently added first), then serving ones, and takes effect at once.
    """

    def __init__(
        self, target: Target, *, replicas: int, startup_delay: float = 0.0, margin_quantile: float = DEFAULT_QUANTILE,
        rounding_slack: float = ROUNDING_SLACK,
    ) -> None:
        self.target = target
        predictive = target.predictive
        self._forecasters = {} if predictive is None else {
            metric.name: Forecaster(lead_time=predictive.lead_time, history=predictive.history, quantile=margin_quantile)
            for metric in target.metrics
        }
        self._rounding_slack = rounding_slack
        self.replicas = replicas
        self.state = EngineState()
        self._has_cpu = any(isinstance(metric, CpuMetric) for metric in target.metrics)
        self._startup_delay = startup_delay
        self._starting: deque[list] = deque()
        """[serving from, count] of replicas still starting, oldest first."""
        self._starting_count = 0

    def ready(self, now: float) -> int:
        """The replicas serving at `now`."""
        starting = self._starting
        while starting and starting[0][0] <= now + SLACK_SECONDS:
            self._starting_count -= starting.popleft()[1]
        return self.replicas - self._starting_count

    def _apply(self, *, now: float, desired: int) -> None:
        change = desired - self.replicas
        if change > 0:
            if self._startup_delay > 0:
                self._starting.append([now + self._startup_delay, change])
                self._starting_count += change
        else:
            removed = -change
            starting = self._starting
            while removed and starting:
                taken = min(removed, starting[-1][1])
                starting[-1][1] -= taken
                self._starting_count -= taken
                removed -= taken
                if not starting[-1][1]:
                    starting.pop()
        self.replicas = desired

    def step(self, *, now: float, wall_time: datetime, row: TraceRow, row_readings: tuple[Reading | None, ...]):
        current = self.replicas
        readings = row_readings
        if self._has_cpu:
            readings = tuple(
                _cpu_reading(metric.name, demand, current) if reading is None else reading
                for metric, demand, reading in zip(self.target.metrics, row.values, row_readings)
            )
        forecasts = None
        if self._forecasters:
            forecasts = {}
            for reading in readings:
                forecaster = self._forecasters[reading.name]
                if reading.value is not None:
                    forecaster.observe(now, reading.value)
                forecast = forecaster.forecast()
                if forecast is not None:
                    forecasts[reading.name] = forecast
        decision, self.state = decide(
            self.target,
            current=current,
            readings=readings,
            now=now,
            wall_time=wall_time,
            state=self.state,
            forecasts=forecasts,
            rounding_slack=self._rounding_slack,
        )
        if decision.desired != current:
            self.state = self.state.with_change(now=now, from_replicas=current, to_replicas=decision.desired)
            self._apply(now=now, desired=decision.desired)
        return decision


def replay(
    target: Target, *, interval: float, rows: Iterable[TraceRow], initial_replicas: int | None = None,
    startup_delay: float = 0.0, margin_quantile: float = DEFAULT_QUANTILE, rounding_slack: float = ROUNDING_SLACK,
) -> Iterator[Step]:
    """Run the engine every `interval` seconds from the first row's timestamp to the last row's.

    `initial_replicas` defaults to the target's minReplicas (all serving at the start); a replica added at t
    serves from t + `startup_delay`, for the target and the baseline alike. A `predictive` target forecasts each
    metric from the values it read at the earlier steps (`margin_quantile`: see `scalerd.forecast`;
    `rounding_slack`: see `scalerd.engine.ROUNDING_SLACK`).
    Yields one Step per cycle.
    """
    if not interval > 0:
        raise ValueError(f"interval must be > 0 (got {interval})")
    if not startup_delay >= 0:
        raise ValueError(f"startup_delay must be >= 0 (got {startup_delay})")
    start_replicas = target.min_replicas if initial_replicas is None else initial_replicas
    simulated = _SimulatedTarget(
        target, replicas=start_replicas, startup_delay=startup_delay, margin_quantile=margin_quantile,
        rounding_slack=rounding_slack,
    )
    baseline_target = baseline_of(target)
    # A target that already is its own baseline would only repeat every decision: run it once.
    baseline = (
        None if baseline_target == target
        else _SimulatedTarget(baseline_target, replicas=start_replicas, startup_delay=startup_delay)
    )
    lowest, highest = target.min_replicas, target.max_replicas

    row_iterator = iter(rows)
    row = next(row_iterator, None)
    if row is None:
        return
    upcoming = next(row_iterator, None)
    metric_kinds = tuple((metric.name, isinstance(metric, CpuMetric)) for metric in target.metrics)
    row_readings = _row_readings(metric_kinds, row.values)
    first_timestamp = row.timestamp
    index = 0
    while True:
        now = first_timestamp + index * interval
        if upcoming is not None and upcoming.timestamp <= now + SLACK_SECONDS:
            while upcoming is not None and upcoming.timestamp <= now + SLACK_SECONDS:
                row, upcoming = upcoming, next(row_iterator, None)
            row_readings = _row_readings(metric_kinds, row.values)
        if upcoming is None and now > row.timestamp + SLACK_SECONDS:
            return
        wall_time = datetime.fromtimestamp(now, UTC)
        replicas_before = simulated.replicas
        decision = simulated.step(now=now, wall_time=wall_time, row=row, row_readings=row_readings)
        ready = simulated.ready(now)
        if baseline is None:
            baseline_decision, baseline_replicas, baseline_ready = decision, simulated.replicas, ready
        else:
            baseline_decision = baseline.step(now=now, wall_time=wall_time, row=row, row_readings=row_readings)
            baseline_replicas, baseline_ready = baseline.replicas, baseline.ready(now)
        proposal = decision.metric_proposal
        yield Step(
            now,
            row.values,
            proposal,
            decision.desired,
            simulated.replicas,
            simulated.replicas != replicas_before,
            decision.reason,
            # Without a metric proposal (a schedule-only target) the cheapest admissible count is the floor.
            lowest if proposal is None else min(max(proposal, lowest), highest),
            baseline_decision.metric_proposal,
            baseline_replicas,
            ready,
            baseline_ready,
            decision.forecast_proposal,
        )
        index += 1


@dataclass
class Summary:
    """The scores of one replay; every step counts `interval` seconds."""

    interval: float
    steps: int = 0
    replica_seconds: float = 0.0
    underprovisioned_seconds: float = 0.0
    scale_events: int = 0
    oracle_replica_seconds: float = 0.0
    baseline_replica_seconds: float = 0.0
    baseline_underprovisioned_seconds: float = 0.0
    startup_delay_seconds: float = 0.0
    actual_replica_seconds: float | None = None
    """With what really ran (`simulate --actual-replicas-query`): its cost and under-provisioned time."""
    actual_underprovisioned_seconds: float | None = None

    def add(self, step: Step) -> None:
        interval = self.interval
        self.steps += 1
        self.replica_seconds += step.replicas * interval
        self.oracle_replica_seconds += step.oracle * interval
        self.baseline_replica_seconds += step.baseline_replicas * interval
        if step.metric_proposal is not None and step.metric_proposal > step.ready:
            self.underprovisioned_seconds += interval
        if step.baseline_metric_proposal is not None and step.baseline_metric_proposal > step.baseline_ready:
            self.baseline_underprovisioned_seconds += interval
        if step.scaled:
            self.scale_events += 1

    def add_actual(self, step: Step, actual: float) -> None:
        """What really ran at this step: `actual` replicas, all taken as serving."""
        self.actual_replica_seconds = (self.actual_replica_seconds or 0.0) + actual * self.interval
        self.actual_underprovisioned_seconds = self.actual_underprovisioned_seconds or 0.0
        if step.metric_proposal is not None and step.metric_proposal > actual:
            self.actual_underprovisioned_seconds += self.interval

    def as_dict(self) -> dict[str, int | float]:
        numbers = {key: plain_number(getattr(self, key)) for key in SUMMARY_KEYS}
        if self.actual_replica_seconds is not None:
            numbers |= {key: plain_number(getattr(self, key)) for key in ACTUAL_SUMMARY_KEYS}
        return numbers


def plain_number(number: float) -> int | float:
    """Whole numbers as ints (15 s x 4 replicas is 60, not 60.0); others rounded past float noise."""
    rounded = round(number, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


@dataclass
class Series:
    """The per-step numbers the plot draws, kept compactly (8 bytes a value)."""

    metric_names: tuple[str, ...]
    timestamps: array = field(default_factory=lambda: array("d"))
    interleaved_loads: array = field(default_factory=lambda: array("d"))
    """Each step's loads one after the other (one C call a step): see `loads`."""
    replicas: array = field(default_factory=lambda: array("l"))
    baseline: array = field(default_factory=lambda: array("l"))
    oracle: array = field(default_factory=lambda: array("l"))
    actual: array = field(default_factory=lambda: array("d"))
    """What really ran at each step, when known (empty otherwise)."""

    @property
    def loads(self) -> tuple[array, ...]:
        """One column of loads per metric, in the order of `metric_names`."""
        width = len(self.metric_names)
        return tuple(self.interleaved_loads[index::width] for index in range(width))

    def add(self, step: Step) -> None:
        self.timestamps.append(step.timestamp)
        self.interleaved_loads.extend(step.loads)
        self.replicas.append(step.replicas)
        self.baseline.append(step.baseline_replicas)
        self.oracle.append(step.oracle)


@dataclass(frozen=True)
class SimulationResult:
    summary: Summary
    series: Series
    decisions_path: str
    summary_path: str


def simulate_to_directory(
    target: Target, *, interval: float, trace: TextIO, out_dir: str,
    initial_replicas: int | None = None, trace_name: str = "trace", startup_delay: float = 0.0,
    margin_quantile: float = DEFAULT_QUANTILE,
) -> SimulationResult:
    """Replay `trace` (an open text stream) and write decisions.csv and summary.json into `out_dir`.

    The plot is left to the caller (`scalerd.plot.write_plot(result.series, ...)`), so that timing the
    replay never includes matplotlib. Raises TraceError for a bad trace.
    """
    rows = read_trace(trace, columns=[metric.name for metric in target.metrics], source=trace_name)
    return replay_to_directory(target, interval=interval, rows=rows, out_dir=out_dir,
                               initial_replicas=initial_replicas, startup_delay=startup_delay,
                               margin_quantile=margin_quantile)


def replay_to_directory(
    target: Target, *, interval: float, rows: Iterable[TraceRow], out_dir: str, initial_replicas: int | None = None,
    startup_delay: float = 0.0, actual: LatestValue | None = None, margin_quantile: float = DEFAULT_QUANTILE,
) -> SimulationResult:
    """Replay `rows` and write decisions.csv and summary.json into `out_dir`.

    `actual`: what really ran (replicas over time); decisions.csv then ends with an `actual_replicas` column and the
    summary adds `actual_replica_seconds` and `actual_underprovisioned_seconds`.
    """
    summary = Summary(interval=interval, startup_delay_seconds=startup_delay)
    series = Series(metric_names=tuple(metric.name for metric in target.metrics))
    os.makedirs(out_dir, exist_ok=True)
    decisions_path = os.path.join(out_dir, "decisions.csv")
    with open(decisions_path, "w", newline="", encoding="utf-8") as decisions_file:
        writer = csv.writer(decisions_file, lineterminator="\n")
        writer.writerow(DECISIONS_HEADER + ((ACTUAL_COLUMN,) if actual is not None else ()))
        steps = replay(
            target, interval=interval, rows=rows, initial_replicas=initial_replicas, startup_delay=startup_delay,
            margin_quantile=margin_quantile,
        )
        for step in steps:
            timestamp = step.timestamp
            row = [
                int(timestamp) if timestamp.is_integer() else plain_number(timestamp),
                "" if step.metric_proposal is None else step.metric_proposal,
                step.desired,
                step.replicas,
                step.reason,
                step.ready,
                "" if step.forecast_proposal is None else step.forecast_proposal,
            ]
            summary.add(step)
            series.add(step)
            if actual is not None:
                ran = actual.at(timestamp)
                row.append(plain_number(ran))
                summary.add_actual(step, ran)
                series.actual.append(ran)
            writer.writerow(row)
    summary_path = os.path.join(out_dir, "summary.json")
    with open(summary_path, "w", encoding="utf-8") as summary_file:
        json.dump(summary.as_dict(), summary_file, indent=2)
        summary_file.write("\n")
    return SimulationResult(summary=summary, series=series, decisions_path=decisions_path, summary_path=summary_path)


class LatestValue:
    """The latest of ascending (timestamp, value) samples at or before each time asked, asked in ascending order.

    Asked before the first sample, it gives the first sample's value (a history starts where its data starts).
    """

    def __init__(self, samples: Sequence[tuple[float, float]]) -> None:
        if not samples:
            raise ValueError("no samples")
        self._samples = samples
        self._index = 0

    def at(self, timestamp: float) -> float:
        samples, index = self._samples, self._index
        while index + 1 < len(samples) and samples[index + 1][0] <= timestamp + SLACK_SECONDS:
            index += 1
        self._index = index
        return samples[index][1]
