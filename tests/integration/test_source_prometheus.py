"""The Prometheus source against the test bed's real Prometheus: exact values, onMissing, and every failure.

Most queries are constant PromQL expressions, which Prometheus evaluates without waiting for a scrape, so
the expected numbers are exact and the tests fast; one reads a series scraped from the exporter.
"""
from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from scalerd.config.model import PrometheusSettings, Target
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.prometheus import PrometheusSource

TWO_SERIES = 'label_replace(vector(1), "s", "a", "", "") or label_replace(vector(2), "s", "b", "", "")'
THREE_SERIES = TWO_SERIES + ' or label_replace(vector(3), "s", "c", "", "")'
EMPTY = "vector(1) > 5"
NAN = "vector(0) / 0"


@pytest.fixture
def source(testbed) -> Iterator[PrometheusSource]:
    source = PrometheusSource(PrometheusSettings(url=testbed.prometheus_url, timeout=2.0))
    yield source
    source.close()


def read(source: PrometheusSource, query: str, *, on_missing: OnMissing = OnMissing.FAIL, url: str | None = None,
         at: float | None = None) -> Reading:
    metric = PrometheusMetric(name="m", query=query, target_per_replica=10.0, on_missing=on_missing, url=url)
    target = Target(name="t", namespace="default", deployment="t", min_replicas=1, max_replicas=10,
                    timezone="UTC", metrics=(metric,))
    return source.read([(target, metric)], at=at)[0]


def test_a_scraped_series_reads_as_its_exact_value(testbed, source):
    name = f"scalerd_source_test_{uuid.uuid4().hex[:8]}"
    testbed.write_metrics(f'{name}{{queue="orders"}} 1234.5\n')
    testbed.wait_for_prometheus_value(name, 1234.5, timeout=5.0)

    assert read(source, f'sum({name}{{queue="orders"}})') == Reading(name="m", value=1234.5)


@pytest.mark.parametrize(
    ("query", "on_missing", "expected"),
    [
        pytest.param("vector(42.25)", OnMissing.FAIL, Reading(name="m", value=42.25), id="one-element-vector"),
        pytest.param("scalar(vector(7))", OnMissing.FAIL, Reading(name="m", value=7.0), id="scalar"),
        pytest.param("vector(0)", OnMissing.FAIL, Reading(name="m", value=0.0), id="a-real-zero-is-a-value"),
        pytest.param(EMPTY, OnMissing.FAIL, Reading(name="m", error="query returned no samples"), id="empty-fail"),
        pytest.param(EMPTY, OnMissing.ZERO, Reading(name="m", value=0.0), id="empty-zero"),
        pytest.param(EMPTY, OnMissing.HOLD, Reading(name="m", hold=True), id="empty-hold"),
        pytest.param(NAN, OnMissing.FAIL, Reading(name="m", error="value is NaN"), id="nan-fail"),
        pytest.param(NAN, OnMissing.ZERO, Reading(name="m", value=0.0), id="nan-zero"),
        pytest.param(NAN, OnMissing.HOLD, Reading(name="m", hold=True), id="nan-hold"),
        pytest.param("scalar(vector(1) > 5)", OnMissing.FAIL, Reading(name="m", error="value is NaN"),
                     id="scalar-of-nothing-is-nan"),
        pytest.param("vector(1) / 0", OnMissing.FAIL, Reading(name="m", error="value is +Inf"), id="inf-fail"),
        pytest.param("vector(1) / 0", OnMissing.ZERO, Reading(name="m", value=0.0), id="inf-zero"),
        pytest.param(TWO_SERIES, OnMissing.ZERO, Reading(name="m", error="query returned 2 series, expected 1"),
                     id="two-series-never-a-silent-pick"),
        pytest.param(THREE_SERIES, OnMissing.HOLD, Reading(name="m", error="query returned 3 series, expected 1"),
                     id="three-series"),
        pytest.param('"text"', OnMissing.FAIL, Reading(name="m", error="query returned a string, expected a vector "
                                                                       "or scalar"), id="string-result"),
        pytest.param("sum(rate(x[1m]", OnMissing.ZERO, Reading(
            name="m", error='bad_data: invalid parameter "query": 1:15: parse error: unclosed left parenthesis'),
            id="bad-promql-carries-prometheus-error"),
    ],
)
def test_results(source, query, on_missing, expected):
    assert read(source, query, on_missing=on_missing) == expected


def test_queries_are_evaluated_at_the_given_time(source):
    assert read(source, "time()", at=1700000000.0) == Reading(name="m", value=1700000000.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_server_that_is_down_names_the_url(source):
    url = f"http://127.0.0.1:{_free_port()}"

    reading = read(source, "vector(1)", url=url)

    assert reading == Reading(name="m", error=f"{url}/api/v1/query: cannot connect: Connection refused")


def test_a_server_that_never_answers_times_out_naming_the_url():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections complete in the backlog, and nothing ever reads them
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    source = PrometheusSource(PrometheusSettings(url=url, timeout=0.5))
    try:
        started = time.monotonic()
        reading = read(source, "vector(1)")
        elapsed = time.monotonic() - started
    finally:
        source.close()
        silent.close()

    # The error names the timeout the request was sent with; it waited that long, and was cut then, not hung: the
    # generous ceiling (ten timeouts) is for a source that ignores its timeout, never for a busy machine.
    assert reading == Reading(name="m", error=f"{url}/api/v1/query: no answer within 0.5s")
    assert 0.5 <= elapsed < 10 * 0.5
