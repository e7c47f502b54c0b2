"""`predictive.historyFrom.prometheus`: a kafka, cpu or http metric loads, at start, what scalerd itself exported of
it (`scalerd_metric_value`) from a Prometheus that scraped it, against a real HTTP server standing in for that
Prometheus, with the fake clock of the daemon tests."""
from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from scalerd.config.model import Behavior, HistoryFromPrometheus, Predictive, PrometheusSettings, Target
from scalerd.daemon.forecasts import HISTORY_STEP, Forecasts, load_history, own_value_query
from scalerd.forecast import Forecaster
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.prometheus_history import MAX_POINTS_PER_QUERY, HistoryError
from scalerd.readings import Reading
from tests.recording_server import Answer, RecordingServer, serve
from tests.unit.daemon_fakes import WALL_START, Harness, make_config

START = WALL_START  # the first cycle's wall time
INTERVAL = 15.0
LAG = KafkaMetric(name="lag", group="orders", topics=("orders",), lag_per_replica=100.0)


def lag_at(time: float) -> float:
    """A backlog with a 40-minute wave."""
    return 1000.0 + 400.0 * math.sin(2 * math.pi * (time - START) / 2400.0)


def matrix(points: list[tuple[float, float]]) -> Answer:
    values = [[time, "NaN" if math.isnan(value) else f"{value!r}"] for time, value in points]
    result = [{"metric": {}, "values": values}] if points else []
    return 200, "application/json", json.dumps({"status": "success", "data": {"resultType": "matrix",
                                                                              "result": result}})


@pytest.fixture
def prometheus() -> Iterator[RecordingServer]:
    yield from serve(RecordingServer(key=lambda _path, params: params.get("start", ""), default=matrix([])))


def orders(url: str | None, *, history: float = 7200.0, labels=(("job", "scalerd"),), **changes) -> Target:
    target = Target(
        name="orders", namespace="apps", deployment="orders", min_replicas=1, max_replicas=100, timezone="UTC",
        metrics=(LAG,), behavior=Behavior(cooldown=0.0),
        predictive=Predictive(lead_time=60.0, history=history,
                              history_from=HistoryFromPrometheus(url=url, labels=labels)),
    )
    return replace(target, **changes)


def previous_instance(*, until: float, gap: tuple[float, float] | None = None, nan_at: float | None = None
                      ) -> list[tuple[float, float]]:
    """What Prometheus keeps of the previous scalerd: a point every interval for two hours up to `until`, none
    while it was down (`gap`, both ends included), NaN at `nan_at`."""
    times = [until - index * INTERVAL for index in range(int(7200 / INTERVAL) - 1, -1, -1)]
    return [(time, math.nan if time == nan_at else lag_at(time)) for time in times
            if gap is None or not gap[0] <= time <= gap[1]]


def direct(samples) -> Forecaster:
    return Forecaster.from_series([t for t, _ in samples], [v for _, v in samples], lead_time=60.0, history=7200.0)


@pytest.mark.parametrize("target_name, metric, labels, step, query", [
    pytest.param("orders", LAG, (("job", "scalerd"),), 15.0,
                 'max(last_over_time(scalerd_metric_value{target="orders",metric="lag",type="kafka",job="scalerd"}'
                 '[14999ms]))', id="kafka-with-job"),
    pytest.param("team-a/workers", CpuMetric(name="cpu", target_utilization=70.0), (), 0.5,
                 'max(last_over_time(scalerd_metric_value{target="team-a/workers",metric="cpu",type="cpu"}[499ms]))',
                 id="policy-target-half-second-interval"),
    pytest.param("orders", LAG, (("instance", 'a"b\\c'), ("job", "scalerd")), 60.0,
                 'max(last_over_time(scalerd_metric_value{target="orders",metric="lag",type="kafka",'
                 'instance="a\\"b\\\\c",job="scalerd"}[59999ms]))', id="quoted-label-value"),
])
def test_the_query_selects_the_target_metric_and_type_and_the_given_labels_within_one_step(
        target_name, metric, labels, step, query):
    target = replace(orders(None), name=target_name, metrics=(metric,))
    assert own_value_query(target, metric, labels=labels, step=step) == query


def test_the_history_is_asked_in_chunks_with_the_credentials_up_to_the_step_before_the_first_cycle(
        prometheus, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    history = 2 * 86400.0  # 11,520 steps of 15 s: two queries
    start = START - history
    second = start + MAX_POINTS_PER_QUERY * INTERVAL
    prometheus.answers = {
        f"{start:.0f}": matrix([(start, 5.0), (start + 15, math.nan), (start + 60, 7.0)]),
        f"{second:.0f}": matrix([(second, 8.0), (START - 15, 9.0)]),
    }
    defaults = make_config(interval=INTERVAL, prometheus=PrometheusSettings(
        url="http://127.0.0.1:1", bearer_token_file=str(token))).defaults

    samples = load_history(defaults=defaults, target=orders(prometheus.url, history=history), metric=LAG,
                           start=start, end=START, interval=INTERVAL)

    # NaN is no sample; the steps without a point stay gaps (start + 30, + 45 were not answered).
    assert samples == [(start, 5.0), (start + 60, 7.0), (second, 8.0), (START - 15, 9.0)]
    query = own_value_query(orders(None), LAG, labels=(("job", "scalerd"),), step=INTERVAL)
    assert [request["params"] for request in prometheus.requests] == [
        {"query": query, "start": "1699827200", "end": "1699992185", "step": "15"},
        {"query": query, "start": "1699992200", "end": "1699999985", "step": "15"},
    ]
    assert {request["headers"]["Authorization"] for request in prometheus.requests} == {"Bearer s3cret"}


def test_an_answer_without_samples_is_an_error_naming_the_endpoint_the_query_and_what_to_check(prometheus):
    prometheus.default = matrix([(START - 60, math.nan)])
    target = orders(prometheus.url + "/")

    with pytest.raises(HistoryError) as raised:
        load_history(defaults=make_config().defaults, target=target, metric=LAG, start=START - 7200, end=START,
                     interval=INTERVAL)

    assert str(raised.value) == (
        f"{prometheus.url}/api/v1/query_range: no samples of {own_value_query(target, LAG, labels=(('job', 'scalerd'),), step=INTERVAL)}"
        " in the last 2h: is scalerd's /metrics scraped by this Prometheus, and do historyFrom's labels match?")


def test_without_history_from_a_kafka_metric_loads_nothing_and_a_prometheus_metric_its_own_query(prometheus):
    rps = PrometheusMetric(name="rps", query="sum(rate(x[1m]))", target_per_replica=10.0)
    defaults = make_config(prometheus=PrometheusSettings(url=prometheus.url)).defaults
    plain = replace(orders(None), predictive=Predictive(lead_time=60.0, history=7200.0))

    assert load_history(defaults=defaults, target=plain, metric=LAG, start=START - 7200, end=START,
                        interval=INTERVAL) is None
    assert prometheus.requests == []
    # historyFrom is for the other types: a prometheus metric keeps its own query, at its own step.
    load_history(defaults=defaults, target=orders("http://127.0.0.1:1", metrics=(LAG, rps)), metric=rps,
                 start=START - 7200, end=START, interval=INTERVAL)
    assert [request["params"] for request in prometheus.requests] == [
        {"query": "sum(rate(x[1m]))", "start": "1699992800", "end": "1700000000", "step": f"{HISTORY_STEP:.0f}"}]


class Gate:
    """`load_history` once released: the cycles go on meanwhile."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, **arguments):
        self.release.wait(10)
        return load_history(**arguments)


def test_the_loaded_history_keeps_its_gaps_and_the_live_samples_follow_it_without_a_double(prometheus):
    down = (START - 3600, START - 3000)  # the previous instance was down ten minutes, an hour ago
    loaded = previous_instance(until=START - INTERVAL, gap=down, nan_at=START - 1800)
    prometheus.default = matrix(loaded)
    gate = Gate()
    target = orders(prometheus.url)
    forecasts = Forecasts(load_history=gate)
    live_times = [START + index * INTERVAL for index in range(4)]
    try:
        with capture_logs() as logs:
            forecasts.apply(make_config(target, interval=INTERVAL), now=START)
            # The first cycles do not wait for the load: too few samples of their own to forecast.
            during = [forecasts.observe(target, [Reading("lag", value=lag_at(t))], current=10, now=t)
                      for t in live_times[:3]]
            gate.release.set()
            forecasts.wait_loaded(10)
            after = forecasts.observe(target, [Reading("lag", value=lag_at(live_times[3]))], current=10,
                                      now=live_times[3])
    finally:
        forecasts.close()

    assert during == [{}, {}, {}]
    [request] = prometheus.requests
    assert (float(request["params"]["start"]), float(request["params"]["end"])) == (START - 7200, START - INTERVAL)
    taken = [(t, v) for t, v in loaded if not math.isnan(v)]
    assert len(taken) == 480 - 41 - 1  # two hours of steps, less the ten minutes down and the NaN
    [line] = [line for line in logs if line["event"] == "forecast_history_loaded"]
    assert (line["points"], line["first"], line["last"]) == (438, START - 7200, START - INTERVAL)
    expected = direct(taken + [(t, lag_at(t)) for t in live_times]).forecast()
    assert expected is not None
    assert after == {"lag": expected}


def test_the_first_cycle_of_a_restarted_daemon_forecasts_from_the_exported_history(prometheus):
    prometheus.default = matrix(previous_instance(until=START - INTERVAL))
    target = orders(prometheus.url)
    bed = Harness(make_config(target, interval=INTERVAL), history_loader=load_history)
    bed.cluster.add("orders", replicas=10)
    bed.sources.values[("orders", "lag")] = Reading("lag", value=lag_at(START))
    try:
        with capture_logs() as logs:
            [result] = bed.daemon.run_cycle(wait_for_every_target=True)
    finally:
        bed.daemon.close()

    [request] = prometheus.requests
    assert request["params"]["step"] == "15"
    expected = direct(previous_instance(until=START - INTERVAL) + [(START, lag_at(START))]).forecast()
    [decision] = [line for line in logs if line["event"] == "decision"]
    assert expected is not None
    # The margin's errors span most of the loaded two hours: the history made this first cycle's forecast.
    assert 3600 < expected.error_window <= 7200
    assert decision["message"].startswith(
        f"kafka lag forecast {expected.value:,.0f} within 60s ({expected.expert}, +{expected.margin:,.3g} margin"
        f" from the last {expected.error_window / 3600:.3g} h of errors) → ")
    assert result.metrics[0].value == pytest.approx(lag_at(START))


def test_an_empty_history_is_logged_once_with_the_endpoint_and_the_metric_starts_from_its_own_samples(prometheus):
    target = orders(prometheus.url)
    forecasts = Forecasts(load_history=load_history)
    times = [START + index * INTERVAL for index in range(int(3600 / INTERVAL) + 40)]
    try:
        with capture_logs() as logs:
            forecasts.apply(make_config(target, interval=INTERVAL), now=START)
            forecasts.wait_loaded(10)
            results = [forecasts.observe(target, [Reading("lag", value=lag_at(t))], current=10, now=t)
                       for t in times]
    finally:
        forecasts.close()

    query = own_value_query(target, LAG, labels=(("job", "scalerd"),), step=INTERVAL)
    assert logs == [{
        "event": "forecast_history_failed", "target": "orders", "metric": "lag", "log_level": "warning",
        "error": f"HistoryError: {prometheus.url}/api/v1/query_range: no samples of {query} in the last 2h: is "
                 "scalerd's /metrics scraped by this Prometheus, and do historyFrom's labels match?",
    }]
    assert results[0] == {}  # reactive until its own samples are enough
    assert results[-1] == {"lag": direct([(t, lag_at(t)) for t in times]).forecast()}
