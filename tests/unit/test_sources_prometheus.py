"""The Prometheus source against a recording HTTP server in a thread: auth, de-duplication, bounds, answers.

Query semantics against a real Prometheus are in tests/integration/test_source_prometheus.py.
"""
from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from scalerd.config.model import PrometheusSettings, Target
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.prometheus import PrometheusSource
from tests.testbed.certificates import write_self_signed

Answer = tuple[int, str, str]  # status, content type, body


def vector(*values: str) -> Answer:
    result = [{"metric": {"i": str(i)}, "value": [1700000000.0, value]} for i, value in enumerate(values)]
    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return 200, "application/json", json.dumps(body)


@dataclass
class RecordingPrometheus:
    """Answers each query with what the test set, default a vector with 1; records every request."""

    answers: dict[str, Answer] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[dict] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> Answer:
        parts = urlsplit(handler.path)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append({"path": parts.path, "params": params, "headers": dict(handler.headers)})
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        return self.answers.get(params.get("query", ""), vector("1"))


def serve(recorder: RecordingPrometheus, *, tls: ssl.SSLContext | None = None) -> Iterator[RecordingPrometheus]:

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = recorder.handle(self)
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    recorder.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def prometheus() -> Iterator[RecordingPrometheus]:
    yield from serve(RecordingPrometheus())


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    return write_self_signed(directory, common_name="prometheus-under-test")


@pytest.fixture
def tls_prometheus(tmp_path) -> Iterator[tuple[RecordingPrometheus, Path]]:
    certificate_file, key_file = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    for recorder in serve(RecordingPrometheus(), tls=context):
        yield recorder, certificate_file


def target(name: str, *metrics: PrometheusMetric) -> Target:
    return Target(name=name, namespace="default", deployment=name, min_replicas=1, max_replicas=10,
                  timezone="UTC", metrics=metrics)


def metric(query: str, *, name: str = "rps", on_missing: OnMissing = OnMissing.FAIL,
           url: str | None = None) -> PrometheusMetric:
    return PrometheusMetric(name=name, query=query, target_per_replica=10.0, on_missing=on_missing, url=url)


@pytest.fixture
def make_source(prometheus: RecordingPrometheus) -> Iterator[Callable[..., PrometheusSource]]:
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
    return source.read([(target("t", one), one)])[0]


def test_query_is_evaluated_at_the_clock_time_on_the_query_endpoint(prometheus, make_source):
    reading = read_one(make_source(), "sum(rate(x[1m]))")

    assert reading == Reading(name="rps", value=1.0)
    assert prometheus.requests[0]["path"] == "/api/v1/query"
    assert prometheus.requests[0]["params"] == {"query": "sum(rate(x[1m]))", "time": "1700000123.500"}


def test_an_explicit_cycle_time_wins_over_the_clock(prometheus, make_source):
    one = metric("q")
    make_source().read([(target("t", one), one)], at=1600000000.25)

    assert prometheus.requests[0]["params"]["time"] == "1600000000.250"


def test_identical_queries_are_sent_once_per_cycle_whatever_the_number_of_targets(prometheus, make_source):
    shared, other = metric("shared"), metric("other", name="other")
    same_server = metric("shared", name="same", url=prometheus.url + "/")
    other_server = metric("shared", name="elsewhere", url=prometheus.url.replace("127.0.0.1", "localhost"))
    wanted = [(target("a", shared), shared), (target("b", shared), shared), (target("c", other), other),
              (target("d", same_server), same_server), (target("e", other_server), other_server)]

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
    readings = make_source(max_concurrency=2).read([(target("t", *metrics), m) for m in metrics])
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
