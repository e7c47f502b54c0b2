"""The Prometheus source against a recording HTTP server in a thread: auth, de-duplication, bounds, answers.

Query semantics against a real Prometheus are in tests/integration/test_source_prometheus.py.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scalerd.config.model import PrometheusSettings
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.prometheus import PrometheusSource
from tests.builders import make_target
from tests.recording_server import Answer, RecordingServer, serve, tls_server_context


def vector(*values: str) -> Answer:
    result = [{"metric": {"i": str(i)}, "value": [1700000000.0, value]} for i, value in enumerate(values)]
    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return 200, "application/json", json.dumps(body)


def recording_prometheus() -> RecordingServer:
    """Answers each query with what the test set in `answers`, default a vector with 1."""
    return RecordingServer(key=lambda _path, params: params.get("query", ""), default=vector("1"))


@pytest.fixture
def prometheus() -> Iterator[RecordingServer]:
    yield from serve(recording_prometheus())


@pytest.fixture
def tls_prometheus(tmp_path) -> Iterator[tuple[RecordingServer, Path]]:
    context, certificate_file = tls_server_context(tmp_path, common_name="prometheus-under-test")
    for recorder in serve(recording_prometheus(), tls=context):
        yield recorder, certificate_file


def metric(query: str, *, name: str = "rps", on_missing: OnMissing = OnMissing.FAIL,
           url: str | None = None) -> PrometheusMetric:
    return PrometheusMetric(name=name, query=query, target_per_replica=10.0, on_missing=on_missing, url=url)


@pytest.fixture
def make_source(prometheus: RecordingServer) -> Iterator[Callable[..., PrometheusSource]]:
    sources = []

    def make(**settings) -> PrometheusSource:
        source = PrometheusSource(PrometheusSettings(url=prometheus.url, **settings), clock=lambda: 1700000123.5)
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()


def read_one(source: PrometheusSource, query: str, **kwargs) -> Reading:
    one = metric(query, **kwargs)
    return source.read([(make_target("t", one), one)])[0]


def test_query_is_evaluated_at_the_clock_time_on_the_query_endpoint(prometheus, make_source):
    reading = read_one(make_source(), "sum(rate(x[1m]))")

    assert reading == Reading(name="rps", value=1.0)
    assert prometheus.requests[0]["path"] == "/api/v1/query"
    assert prometheus.requests[0]["params"] == {"query": "sum(rate(x[1m]))", "time": "1700000123.500"}


def test_an_explicit_cycle_time_wins_over_the_clock(prometheus, make_source):
    one = metric("q")
    make_source().read([(make_target("t", one), one)], at=1600000000.25)

    assert prometheus.requests[0]["params"]["time"] == "1600000000.250"


def test_identical_queries_are_sent_once_per_cycle_whatever_the_number_of_targets(prometheus, make_source):
    shared, other = metric("shared"), metric("other", name="other")
    same_server = metric("shared", name="same", url=prometheus.url + "/")
    other_server = metric("shared", name="elsewhere", url=prometheus.url.replace("127.0.0.1", "localhost"))
    wanted = [(make_target("a", shared), shared), (make_target("b", shared), shared), (make_target("c", other), other),
              (make_target("d", same_server), same_server), (make_target("e", other_server), other_server)]

    readings = make_source().read(wanted)

    assert [reading.value for reading in readings] == [1.0] * 5
    assert sorted((request["headers"]["Host"].split(":")[0], request["params"]["query"])
                  for request in prometheus.requests) == [
        ("127.0.0.1", "other"), ("127.0.0.1", "shared"), ("localhost", "shared")]


def test_a_second_cycle_asks_again(prometheus, make_source):
    source = make_source()
    read_one(source, "q")
    read_one(source, "q")

    assert len(prometheus.requests) == 2


def test_queries_run_concurrently_up_to_the_bound(prometheus, make_source):
    prometheus.delay = 0.1
    metrics = [metric(f"q{i}", name=f"m{i}") for i in range(6)]

    started = time.monotonic()
    readings = make_source(max_concurrency=2).read([(make_target("t", *metrics), m) for m in metrics])
    elapsed = time.monotonic() - started

    assert [reading.value for reading in readings] == [1.0] * 6
    assert prometheus.most_in_flight == 2
    assert elapsed >= 0.3  # three rounds of two


def test_bearer_token_is_sent_and_re_read_when_the_file_changes(prometheus, make_source, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first-secret\n")
    source = make_source(bearer_token_file=str(token_file))

    read_one(source, "q")
    read_one(source, "q")
    token_file.write_text("second-secret-longer\n")
    os.utime(token_file, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    read_one(source, "q")

    assert [request["headers"]["Authorization"] for request in prometheus.requests] == [
        "Bearer first-secret", "Bearer first-secret", "Bearer second-secret-longer"]


def test_unreadable_token_file_fails_the_metric_naming_the_file_not_a_token(prometheus, make_source, tmp_path):
    missing = tmp_path / "no-token"

    reading = read_one(make_source(bearer_token_file=str(missing)), "q")

    assert reading.error == f"cannot read {missing}: No such file or directory"
    assert prometheus.requests == []


def test_basic_auth_reads_the_password_file(prometheus, make_source, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n")

    read_one(make_source(username="scalerd", password_file=str(password_file)), "q")

    assert prometheus.requests[0]["headers"]["Authorization"] == "Basic c2NhbGVyZDpzM2NyZXQ="  # scalerd:s3cret


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param((422, "application/json", json.dumps(
            {"status": "error", "errorType": "execution", "error": "query processing would load too many samples"})),
            Reading(name="rps", error="execution: query processing would load too many samples"),
            id="status-error-carries-prometheus-words"),
        pytest.param((200, "application/json", json.dumps(
            {"status": "success", "data": {"resultType": "matrix", "result": []}})),
            Reading(name="rps", error="query returned a matrix, expected a vector or scalar"),
            id="range-vector-result"),
        pytest.param((200, "application/json", json.dumps(
            {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "2.5"]}})),
            Reading(name="rps", value=2.5), id="scalar"),
        pytest.param(vector("3", "4", "5"), Reading(name="rps", error="query returned 3 series, expected 1"),
                     id="three-series"),
        pytest.param(vector("-Inf"), Reading(name="rps", error="value is -Inf"), id="minus-infinity"),
    ],
)
def test_answers(prometheus, make_source, answer, expected):
    prometheus.answers["q"] = answer

    assert read_one(make_source(), "q") == expected


def test_a_proxy_page_instead_of_the_api_names_the_url_and_status(prometheus, make_source):
    prometheus.answers["q"] = (503, "text/html", "<html>maintenance</html>")

    reading = read_one(make_source(), "q")

    assert reading.error == f"{prometheus.url}/api/v1/query: HTTP 503 Service Unavailable, not a Prometheus API answer"


def test_credentials_written_into_the_url_never_reach_an_error(make_source):
    reading = read_one(make_source(), "q", url="http://user:hunter2@127.0.0.1:1")

    assert reading.error == "http://127.0.0.1:1/api/v1/query: cannot connect: Connection refused"


def test_a_certificate_signed_by_the_ca_file_is_trusted(tls_prometheus):
    server, certificate_file = tls_prometheus
    source = PrometheusSource(PrometheusSettings(url=server.url, ca_file=str(certificate_file)))
    try:
        assert read_one(source, "q") == Reading(name="rps", value=1.0)
    finally:
        source.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skip_verify_accepts_any_certificate(tls_prometheus):
    server, _certificate_file = tls_prometheus
    source = PrometheusSource(PrometheusSettings(url=server.url, insecure_skip_verify=True))
    try:
        assert read_one(source, "q") == Reading(name="rps", value=1.0)
    finally:
        source.close()


def test_an_untrusted_certificate_is_refused_by_default(tls_prometheus):
    server, _certificate_file = tls_prometheus
    source = PrometheusSource(PrometheusSettings(url=server.url))
    try:
        reading = read_one(source, "q")
    finally:
        source.close()

    assert reading.error.startswith(f"{server.url}/api/v1/query: cannot connect: [SSL: CERTIFICATE_VERIFY_FAILED] "
                                    "certificate verify failed: self-signed certificate")
    assert server.requests == []
