"""The range loader (chunked query_range) and how histories become a replay with what really ran."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalerd.config.model import Defaults, Target
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.prometheus_history import MAX_POINTS_PER_QUERY, HistoryError, chunks, load_range
from scalerd.simulate import LatestValue, Summary, TraceRow
from scalerd.sources.http_client import Credentials
from scalerd.whatif import comparison, history_queries, merge
from tests.recording_server import Answer, RecordingServer, serve


def matrix(*series: list[tuple[float, str]]) -> Answer:
    result = [{"metric": {"i": str(i)}, "values": [[t, v] for t, v in values]} for i, values in enumerate(series)]
    return 200, "application/json", json.dumps({"status": "success", "data": {"resultType": "matrix",
                                                                              "result": result}})


@pytest.fixture
def prometheus() -> Iterator[RecordingServer]:
    def by_start(_path: str, params: dict[str, str]) -> str:
        return params.get("start", "")

    yield from serve(RecordingServer(key=by_start, default=matrix()))


def test_seven_days_at_thirty_seconds_are_two_queries():
    start = 1_700_000_000.0
    assert chunks(start=start, end=start + 7 * 86400, step=30) == [
        (start, start + 10_999 * 30), (start + 11_000 * 30, start + 7 * 86400)]


@given(points=st.integers(min_value=1, max_value=50_000), step=st.sampled_from([0.5, 1.0, 15.0, 30.0, 60.0]))
def test_chunks_ask_every_grid_point_once_and_never_more_than_the_limit(points, step):
    start = 1_700_000_000.0
    ranges = chunks(start=start, end=start + (points - 1) * step, step=step)
    counts = [round((last - first) / step) + 1 for first, last in ranges]
    assert sum(counts) == points
    assert max(counts) <= MAX_POINTS_PER_QUERY
    assert all(round((ranges[i + 1][0] - ranges[i][1]) / step) == 1 for i in range(len(ranges) - 1))


def test_load_range_asks_chunk_by_chunk_with_the_credentials(prometheus, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    start = 1_700_000_000.0
    second_start = start + MAX_POINTS_PER_QUERY * 10
    prometheus.answers = {"1700000000": matrix([(start, "1"), (start + 10, "2")]),
                          f"{second_start:.0f}": matrix([(second_start, "3")])}

    samples = load_range(url=prometheus.url + "/", query="sum(rate(x[1m]))", start=start, end=second_start + 50,
                         step=10, timeout=2, credentials=Credentials(bearer_token_file=str(token)))

    assert samples == [(start, 1.0), (start + 10, 2.0), (second_start, 3.0)]
    assert [request["params"] for request in prometheus.requests] == [
        {"query": "sum(rate(x[1m]))", "start": "1700000000", "end": "1700109990", "step": "10"},
        {"query": "sum(rate(x[1m]))", "start": "1700110000", "end": "1700110050", "step": "10"},
    ]
    assert {request["path"] for request in prometheus.requests} == {"/api/v1/query_range"}
    assert {request["headers"]["Authorization"] for request in prometheus.requests} == {"Bearer s3cret"}


@pytest.mark.parametrize(("answer", "message"), [
    pytest.param(matrix([(1.0, "1")], [(1.0, "2")]), "query 'up' returned 2 series, expected 1 (aggregate it, e.g. sum(...))",
                 id="two-series"),
    pytest.param((400, "application/json", json.dumps({"status": "error", "errorType": "bad_data",
                                                        "error": "parse error"})),
                 "bad_data: parse error (query 'up')", id="refused"),
    pytest.param((200, "application/json", json.dumps({"status": "success", "data": {"resultType": "vector",
                                                                                      "result": []}})),
                 "query_range returned a vector, expected a matrix", id="not-a-matrix"),
    pytest.param((502, "text/html", "<html>bad gateway</html>"), "HTTP 502 Bad Gateway, not a Prometheus API answer",
                 id="not-prometheus"),
])
def test_load_range_errors_name_the_url_and_why(prometheus, answer, message):
    prometheus.default = answer
    with pytest.raises(HistoryError) as raised:
        load_range(url=prometheus.url, query="up", start=0, end=10, step=10, timeout=2)
    assert str(raised.value) == f"{prometheus.url}/api/v1/query_range: {message}"


def test_an_unreachable_prometheus_is_named():
    with pytest.raises(HistoryError, match=r"^http://127\.0\.0\.1:9/api/v1/query_range: cannot connect: "):
        load_range(url="http://127.0.0.1:9", query="up", start=0, end=10, step=10, timeout=2)


def test_merge_starts_where_every_series_has_data_and_carries_values_forward():
    rps = [(100.0, 1.0), (110.0, 2.0), (130.0, 4.0)]
    lag = [(110.0, 50.0), (120.0, 60.0), (130.0, 70.0)]
    rows, gaps = merge([rps, lag], names=["rps", "lag"])
    assert rows == [TraceRow(110.0, (2.0, 50.0)), TraceRow(120.0, (2.0, 60.0)), TraceRow(130.0, (4.0, 70.0))]
    assert gaps == {"rps": 1, "lag": 0}
    rows, _ = merge([rps], names=["rps"], not_before=125.0)
    assert rows == [TraceRow(130.0, (4.0,))]
    with pytest.raises(LookupError, match="no samples in the range for: lag"):
        merge([rps, []], names=["rps", "lag"])


def test_history_queries_take_the_metric_query_or_an_override():
    target = Target(name="api", namespace="default", deployment="api", min_replicas=1, max_replicas=5,
                    timezone="UTC", metrics=(
                        PrometheusMetric(name="rps", query="sum(rate(x[1m]))", target_per_replica=10.0,
                                         url="http://other:9090"),
                        CpuMetric(name="cpu", target_utilization=70.0)))
    defaults = Defaults()
    with pytest.raises(LookupError, match="metric cpu \\(cpu\\) has no Prometheus query: give its history with "
                                          "--metric-query cpu=QUERY"):
        history_queries(target, defaults=defaults, overrides={})
    with pytest.raises(LookupError, match="target api has no metric mem"):
        history_queries(target, defaults=defaults, overrides={"mem": "x"})
    queries = history_queries(target, defaults=defaults, overrides={"cpu": "sum(rate(cpu[1m])) * 200"})
    assert [(q.metric, q.url, q.query) for q in queries] == [
        ("rps", "http://other:9090", "sum(rate(x[1m]))"), ("cpu", defaults.prometheus.url, "sum(rate(cpu[1m])) * 200")]


def test_latest_value_and_the_comparison_line():
    actual = LatestValue([(10.0, 4.0), (40.0, 2.0)])
    assert [actual.at(t) for t in (0.0, 10.0, 39.0, 40.0, 90.0)] == [4.0, 4.0, 4.0, 2.0, 2.0]
    summary = Summary(interval=30.0, replica_seconds=7200.0, underprovisioned_seconds=120.0,
                      actual_replica_seconds=25200.0, actual_underprovisioned_seconds=720.0)
    assert comparison(summary) == (
        "scalerd would have used 5.0 replica-hours fewer and been under capacity 10.0 minutes less than what ran")
    summary.actual_replica_seconds, summary.actual_underprovisioned_seconds = 3600.0, 0.0
    assert comparison(summary) == (
        "scalerd would have used 1.0 replica-hours more and been under capacity 2.0 minutes more than what ran")


def test_the_summary_adds_what_ran_only_when_known():
    assert "actual_replica_seconds" not in Summary(interval=15.0).as_dict()
