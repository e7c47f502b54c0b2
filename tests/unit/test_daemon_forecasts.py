"""`predictive` in the daemon: forecasters fed per cycle, history loaded at start, kept or dropped on reload."""
from __future__ import annotations

import math
import random
import threading
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from scalerd.config.model import HistoryFromPrometheus, Predictive
from scalerd.daemon.forecasts import Forecasts
from scalerd.forecast import Forecaster
from scalerd.readings import Reading
from tests.unit.daemon_fakes import WALL_START, Harness, make_config, rps_target

START = WALL_START  # the fake wall clock's start: the daemon's first cycle is at START
STEP = 60.0
LEAD = Predictive(lead_time=60.0, history=86400.0)


def rps_at(time: float) -> float:
    """A load with a 40-minute wave: the forecasters' experts have something to score."""
    return 5000.0 + 2000.0 * math.sin(2 * math.pi * (time - START) / 2400.0)


def predictive_target(**changes):
    return rps_target(predictive=LEAD, **changes)


def feed(forecasts: Forecasts, target, times, *, value=rps_at):
    """One observe per cycle at each time; the forecasts of the last."""
    result = {}
    for time in times:
        result = forecasts.observe(target, [Reading("rps", value=value(time))], current=5, now=time)
    return result


def cycles(count: int, *, first: float = START) -> list[float]:
    return [first + index * STEP for index in range(count)]


def direct(samples) -> Forecaster:
    return Forecaster.from_series([t for t, _ in samples], [v for _, v in samples], lead_time=60.0, history=86400.0)


def test_each_cycle_feeds_the_metric_value_at_the_cycle_time_and_too_little_history_gives_no_forecast():
    target = predictive_target()
    forecasts = Forecasts()
    forecasts.apply(make_config(target), now=START)

    assert feed(forecasts, target, cycles(30)) == {}
    result = feed(forecasts, target, cycles(90, first=START + 30 * STEP))

    times = cycles(120)
    assert result == {"rps": direct([(t, rps_at(t)) for t in times]).forecast()}
    assert result["rps"].expert in {"last value", "damped trend"}


def test_cycle_times_are_put_on_the_interval_grid_of_the_first_cycle():
    """A loop keeps its phase, so its cycles start within a little of first + k x interval; on that grid the
    forecaster stores its times as one evenly spaced run (no memory per sample)."""
    target = predictive_target()
    forecasts = Forecasts()
    first = START + 0.3  # any phase: the grid is the first cycle's, not the epoch's
    forecasts.apply(make_config(target, interval=STEP), now=first)
    late_or_early = random.Random(7)
    jittered = [time + late_or_early.uniform(-0.4, 0.4) * STEP for time in cycles(120, first=first)]
    jittered[0] = first
    result = feed(forecasts, target, jittered)

    origin = math.floor(first * 1024) / 1024  # whole 1/1024 s, so that every grid time is exact
    on_grid = [origin + index * STEP for index in range(120)]
    assert result == {"rps": direct(list(zip(on_grid, map(rps_at, jittered), strict=True))).forecast()}
    assert forecasts._entries[("apps", "api", "rps")].last_time == on_grid[-1]


def test_a_cycle_on_the_same_grid_time_as_the_one_before_adds_no_sample_and_a_new_interval_moves_the_grid():
    target = predictive_target()
    forecasts = Forecasts()
    config = make_config(target, interval=STEP)
    forecasts.apply(config, now=START)
    entry = forecasts._entries[("apps", "api", "rps")]

    def sample_times(*offsets: float) -> list[float]:
        """The time of the forecaster's last sample after each cycle."""
        times = []
        for offset in offsets:
            forecasts.observe(target, [Reading("rps", value=rps_at(START + offset))], current=5, now=START + offset)
            times.append(entry.last_time - START)
        return times

    # 85 s is nearest to 60 s, which the cycle before took: no second sample for it.
    assert sample_times(0, 60, 85, 130, 170) == [0, 60, 60, 120, 180]
    # A reload to 15 s cycles: the grid starts again at that cycle (in whole 1/1024 s), its samples 15 s apart.
    forecasts.apply(replace(config, defaults=replace(config.defaults, interval=15.0)), now=START + 200.6)
    origin = math.floor(200.6 * 1024) / 1024
    assert sample_times(200.6, 216.0, 229.1) == [origin, origin + 15, origin + 30]


@pytest.mark.parametrize("gap", [
    pytest.param(Reading("rps", error="prometheus source failed: timeout"), id="failed"),
    pytest.param(Reading("rps", hold=True), id="held"),
    pytest.param(None, id="no-reading"),
])
def test_a_reading_without_a_value_is_a_gap_never_a_zero(gap):
    target = predictive_target()
    forecasts = Forecasts()
    forecasts.apply(make_config(target), now=START)
    times = cycles(120)
    missing = times[100]
    for time in times:
        readings = [] if time == missing and gap is None else [gap if time == missing else Reading("rps", value=rps_at(time))]
        result = forecasts.observe(target, readings, current=5, now=time)

    assert result == {"rps": direct([(t, rps_at(t)) for t in times if t != missing]).forecast()}


@settings(max_examples=25)
@given(failed=st.lists(st.booleans(), min_size=130, max_size=130))
def test_per_cycle_feeding_equals_the_forecaster_fed_the_readings_that_had_a_value(failed):
    target = predictive_target()
    forecasts = Forecasts()
    forecasts.apply(make_config(target), now=START)
    times = cycles(len(failed))
    for time, fails in zip(times, failed):
        reading = Reading("rps", error="timeout") if fails else Reading("rps", value=rps_at(time))
        result = forecasts.observe(target, [reading], current=5, now=time)

    expected = direct([(t, rps_at(t)) for t, fails in zip(times, failed) if not fails]).forecast()
    assert result == ({} if expected is None else {"rps": expected})


def test_a_target_without_predictive_has_no_forecaster():
    target = rps_target()
    forecasts = Forecasts()
    forecasts.apply(make_config(target), now=START)

    assert feed(forecasts, target, cycles(120)) == {}


@pytest.mark.parametrize("change, kept", [
    pytest.param({"name": "renamed"}, True, id="target-renamed-same-deployment"),
    pytest.param({"metrics": (replace(rps_target().metrics[0], target_per_replica=50.0),)}, True, id="threshold"),
    pytest.param({"metrics": (replace(rps_target().metrics[0], query="sum(rate(y[1m]))"),)}, False, id="query"),
    pytest.param({"predictive": Predictive(lead_time=120.0, history=86400.0)}, False, id="lead-time"),
    pytest.param({"predictive": None}, False, id="predictive-removed"),
    pytest.param({"predictive": replace(LEAD, history_from=HistoryFromPrometheus())}, False,
                 id="history-from-added"),
    pytest.param({"deployment": "other"}, False, id="deployment"),
])
def test_a_reload_keeps_the_history_only_while_the_metric_reads_the_same_series_with_the_same_settings(change, kept):
    target = predictive_target()
    forecasts = Forecasts()
    forecasts.apply(make_config(target), now=START)
    feed(forecasts, target, cycles(119))
    changed = replace(target, **change)

    with capture_logs() as logs:
        forecasts.apply(make_config(changed), now=START + 119 * STEP)
    result = feed(forecasts, changed, [START + 119 * STEP])

    if kept:
        assert result == {"rps": direct([(t, rps_at(t)) for t in cycles(120)]).forecast()}
        assert logs == []
    else:
        assert result == {}
        assert logs == [{"event": "forecasts_dropped", "metrics": ["apps:api:rps"], "log_level": "info"}]


class BlockingLoader:
    """A history loader that answers `samples` (or raises `error`) once released; records what it was asked."""

    def __init__(self, samples=None, *, error: Exception | None = None) -> None:
        self.samples = samples
        self.error = error
        self.release = threading.Event()
        self.calls: list[dict] = []

    def __call__(self, *, defaults, target, metric, start, end, interval):
        self.calls.append({"target": target.name, "query": metric.query, "start": start, "end": end,
                           "interval": interval})
        self.release.wait(10)
        if self.error is not None:
            raise self.error
        return self.samples


def test_a_history_loaded_in_the_background_takes_over_fed_with_the_cycles_observed_meanwhile():
    history = [(START - 120 * STEP + index * STEP, rps_at(START - 120 * STEP + index * STEP)) for index in range(120)]
    loader = BlockingLoader(history)
    target = predictive_target()
    forecasts = Forecasts(load_history=loader)
    forecasts.apply(make_config(target), now=START)

    # The cycles do not wait for the load: meanwhile they forecast from their own samples (too few yet).
    assert feed(forecasts, target, cycles(3)) == {}
    loader.release.set()
    forecasts.wait_loaded(10)
    result = feed(forecasts, target, [START + 3 * STEP])

    assert loader.calls == [
        {"target": "api", "query": "sum(rate(x[1m]))", "start": START - 86400.0, "end": START, "interval": 1.0}]
    everything = history + [(t, rps_at(t)) for t in cycles(4)]
    assert result == {"rps": direct(everything).forecast()}
    forecasts.close()


@pytest.mark.parametrize("loader, error", [
    pytest.param(BlockingLoader(error=ConnectionError("http://127.0.0.1:9090/api/v1/query_range: connection refused")),
                 "ConnectionError: http://127.0.0.1:9090/api/v1/query_range: connection refused", id="unreachable"),
    pytest.param(BlockingLoader([(START - 60.0, 1.0), (START - 120.0, 2.0)]),
                 f"ValueError: sample time {START - 120.0} is before the previous sample's {START - 60.0}",
                 id="refused-by-the-forecaster"),
])
def test_a_failed_history_load_is_logged_once_and_the_metric_goes_on_from_its_own_samples(loader, error):
    loader.release.set()
    target = predictive_target()
    forecasts = Forecasts(load_history=loader)
    with capture_logs() as logs:
        forecasts.apply(make_config(target), now=START)
        forecasts.wait_loaded(10)
        reactive = feed(forecasts, target, cycles(30))
        later = feed(forecasts, target, cycles(90, first=START + 30 * STEP))

    assert reactive == {}
    assert logs == [{
        "event": "forecast_history_failed", "target": "api", "metric": "rps", "log_level": "warning", "error": error,
    }]
    assert later == {"rps": direct([(t, rps_at(t)) for t in cycles(120)]).forecast()}
    forecasts.close()


def test_the_daemon_passes_the_forecast_to_the_engine_and_once_waits_for_the_history():
    """The history covers the last two hours; the first cycle (as `once` runs it) already decides from it."""
    history = [(START - 120 * STEP + index * STEP, rps_at(START - 120 * STEP + index * STEP)) for index in range(120)]
    loader = BlockingLoader(history)
    loader.release.set()
    bed = Harness(make_config(predictive_target(max_replicas=1000)), history_loader=loader)
    bed.cluster.add("api", replicas=5)
    bed.set_rps(rps_at(START))
    daemon = bed.daemon
    try:
        with capture_logs() as logs:
            [result] = daemon.run_cycle(wait_for_every_target=True)
    finally:
        daemon.close()

    expected = direct(history + [(START, rps_at(START))]).forecast()
    [decision] = [line for line in logs if line["event"] == "decision"]
    assert expected is not None
    assert (expected.value, expected.margin, expected.expert) == pytest.approx((5267.59, 267.59, "last value"), abs=0.01)
    assert decision["message"].startswith(
        "prometheus rps forecast 5,268 within 60s (last value, +268 margin from the last 1.98 h of errors)"
        " → 527 replicas; live 5,000 → 500; forecast leads; proposal 527;")
    assert (result.current, result.desired) == (5, 10)  # the scale-up policies still bound the first step
