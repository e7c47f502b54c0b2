"""Every Kubernetes request is bounded: a server that accepts the connection and never answers (a control-plane
node lost behind a load balancer, a dropped NAT entry) costs a read timeout, never a hang; the client's connections
probe an idle peer with TCP keepalive."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes.client import ApiException

from scalerd.config import ConfigError
from scalerd.config.model import Defaults, KafkaSettings, PrometheusSettings, Target
from scalerd.kube import _api
from scalerd.kube._api import call_json, ignore_request, open_stream, request
from scalerd.kube.client import load_api_client
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.reload import ConfigMapSource
from scalerd.sources import Sources
from scalerd.sources.cpu import CpuSource
from tests.unit.test_kube_client import write_kubeconfig

SHORT_READ_TIMEOUT = 0.3
BOUND = 10.0
"""Seconds a bounded call may take here at most, on a busy machine; unbounded ones would wait forever."""


class SilentServer:
    """Accepts every connection, reads what the client sends, and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received: list[bytes] = []
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            self.received.append(connection.recv(65536))

    def close(self) -> None:
        if self._listener.fileno() == -1:
            return
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(): no connection is taken after this
        self._listener.close()
        for connection in self._connections:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def client_of(tmp_path):
    def make(url: str):
        return load_api_client(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", server=url)))
    return make


def finishes(call: Callable[[], object], *, within: float = BOUND) -> tuple[object, float]:
    """(what `call` returned or raised, seconds it took); fails the test when it is still waiting after `within`."""
    outcome: list[object] = []
    started = time.monotonic()

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as error:  # noqa: BLE001 - the test looks at what was raised
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still waiting for an answer after {within:g}s: the request has no timeout"
    return outcome[0], time.monotonic() - started


def test_a_request_without_a_timeout_of_its_own_gives_up_after_the_default_read_timeout(silent, client_of,
                                                                                       monkeypatch):
    monkeypatch.setattr(_api, "READ_TIMEOUT", SHORT_READ_TIMEOUT, raising=False)
    client = client_of(silent.url)

    error, seconds = finishes(lambda: call_json(ignore_request, "get", request, client, "GET",
                                                "/api/v1/namespaces/apps/configmaps/rules"))

    assert isinstance(error, ApiException) and error.status == 0
    assert "Read timed out" in error.reason
    assert seconds >= SHORT_READ_TIMEOUT


def test_a_watch_is_ended_by_the_server_and_bounded_by_a_read_timeout_just_after(silent, client_of, monkeypatch):
    monkeypatch.setattr(_api, "WATCH_READ_MARGIN", SHORT_READ_TIMEOUT, raising=False)
    client = client_of(silent.url)

    error, seconds = finishes(lambda: open_stream(ignore_request, "watch", request, client, "GET",
                                                  "/api/v1/namespaces/apps/configmaps",
                                                  query={"watch": True, "timeoutSeconds": 1}))

    assert isinstance(error, ApiException) and error.status == 0
    assert seconds >= 1 + SHORT_READ_TIMEOUT
    # A watch that names no timeoutSeconds is given one: the server ends it.
    finishes(lambda: open_stream(ignore_request, "watch", request, client, "GET", "/api/v1/namespaces/apps/configmaps",
                                 query={"watch": True}, _request_timeout=(1.0, SHORT_READ_TIMEOUT)))
    request_line = silent.received[-1].split(b"\r\n")[0].decode()
    assert request_line == (f"GET /api/v1/namespaces/apps/configmaps?watch=true&timeoutSeconds={_api.WATCH_SECONDS}"
                            " HTTP/1.1")


def test_a_cpu_reading_from_a_silent_api_server_fails_after_the_read_timeout(silent, client_of, monkeypatch):
    monkeypatch.setattr(_api, "READ_TIMEOUT", SHORT_READ_TIMEOUT, raising=False)
    metric = CpuMetric(name="cpu", target_utilization=50)
    target = Target(name="web", namespace="apps", deployment="web", min_replicas=1, max_replicas=5,
                    timezone="UTC", metrics=(metric,))

    readings, _seconds = finishes(lambda: CpuSource(client_of(silent.url)).read([(target, metric)]))

    [reading] = readings
    assert reading.error.startswith("deployment apps/web: ")
    assert "Read timed out" in reading.error


def test_the_config_map_from_a_silent_api_server_is_a_config_error_after_the_read_timeout(silent, client_of,
                                                                                          monkeypatch):
    monkeypatch.setattr(_api, "READ_TIMEOUT", SHORT_READ_TIMEOUT, raising=False)
    source = ConfigMapSource(client_of(silent.url), namespace="scalerd", name="rules")

    error, _seconds = finishes(source.load)

    assert isinstance(error, ConfigError)
    assert error.problems[0].startswith("configmap scalerd/rules: cannot be read (0 ")


class _Answering(BaseHTTPRequestHandler):
    """Any GET: a one-sample Prometheus vector (42), which a Kubernetes client reads as an object too."""

    protocol_version = "HTTP/1.1"  # keeps the connection open, in the client's pool, for the test to look at

    def do_GET(self) -> None:
        body = json.dumps({"status": "success",
                           "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "42"]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_clients_connections_probe_an_idle_peer_with_tcp_keepalive(client_of, answering):
    client = client_of(answering)
    call_json(ignore_request, "get", request, client, "GET", "/api/v1/namespaces/apps/configmaps/rules")
    pooled = client.rest_client.pool_manager.connection_from_url(answering).pool.queue
    [sock] = [connection.sock for connection in pooled if connection is not None and connection.sock]
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    # client-go's timings: probed after 30 s idle, every 15 s, given up after 9 unanswered probes.
    assert [sock.getsockopt(socket.IPPROTO_TCP, option) for option in
            (socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT)] == [30, 15, 9]


def test_cpu_reads_hung_for_cycles_delay_neither_kafka_nor_prometheus(silent, client_of, answering):
    with socket.socket() as probe:  # a port nobody listens on: the Kafka reading fails fast, it is not hung
        probe.bind(("127.0.0.1", 0))
        no_broker = f"127.0.0.1:{probe.getsockname()[1]}"
    defaults = Defaults(prometheus=PrometheusSettings(url=answering),
                        kafka=KafkaSettings(bootstrap_servers=no_broker, timeout=0.5))
    metrics = (CpuMetric(name="cpu", target_utilization=50),
               KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=10.0),
               PrometheusMetric(name="rps", query="sum(rps)", target_per_replica=10.0))
    target = Target(name="web", namespace="apps", deployment="web", min_replicas=1, max_replicas=5,
                    timezone="UTC", metrics=metrics)
    sources = Sources(defaults=defaults, kube_api_client=client_of(silent.url))
    try:
        # Four cycles while the API server is silent: more hung cpu reads than the old shared pool had threads.
        cycles = [sources.submit_all([target], at=1_700_000_000.0) for _ in range(4)]
        last = cycles[-1]

        assert last[("web", "rps")].result(timeout=BOUND).value == 42.0
        assert last[("web", "lag")].result(timeout=BOUND).error.startswith(f"kafka {no_broker}: ")
        assert not any(cycle[("web", "cpu")].done() for cycle in cycles)
    finally:
        silent.close()  # the hung reads end with the connections
        sources.close()
