"""/metrics, /healthz and /readyz over real HTTP, with a fake monotonic clock deciding liveness."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from scalerd.health import (
    DaemonMetrics,
    HealthServer,
    HealthState,
    parse_listen_address,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def served():
    clock = FakeClock()
    synced = {"value": False}
    metrics = DaemonMetrics()
    health = HealthState(monotonic=clock, interval=10.0, cache_synced=lambda: synced["value"])
    server = HealthServer(address="127.0.0.1:0", metrics=metrics, health=health)
    server.start()
    yield server.port, clock, health, metrics, synced
    server.stop()


def test_healthz_allows_three_intervals_from_start_for_the_first_cycle(served):
    port, clock, _health, _metrics, _synced = served
    clock.now += 30.0
    assert _get(port, "/healthz") == (200, "ok\n")
    clock.now += 0.1
    assert _get(port, "/healthz") == (503, "no cycle completed within 3 intervals\n")


def test_healthz_counts_three_intervals_from_the_last_completed_cycle(served):
    port, clock, health, _metrics, _synced = served
    clock.now += 100.0
    health.cycle_completed()
    clock.now += 29.0
    assert _get(port, "/healthz")[0] == 200
    clock.now += 2.0
    assert _get(port, "/healthz")[0] == 503


def test_readyz_needs_both_the_config_loaded_and_the_cache_synced(served):
    port, _clock, health, _metrics, synced = served
    assert _get(port, "/readyz") == (503, "configuration not loaded or cache not synced\n")
    health.config_loaded = True
    assert _get(port, "/readyz")[0] == 503
    synced["value"] = True
    assert _get(port, "/readyz") == (200, "ok\n")
    health.config_loaded = False
    assert _get(port, "/readyz")[0] == 503


def test_metrics_exposes_every_daemon_metric_with_its_labels(served):
    port, _clock, _health, metrics, _synced = served
    metrics.cycle_duration.observe(0.3)
    metrics.decisions.labels(target="orders", direction="up").inc()
    metrics.metric_errors.labels(source="kafka").inc(2)
    metrics.count_api_request("patch", 409)
    metrics.leader.set(1)
    metrics.last_successful_cycle.set(1_700_000_000)
    metrics.config_reload_failures.inc()

    status, body = _get(port, "/metrics")

    assert status == 200
    for sample in (
        "scalerd_cycle_duration_seconds_count 1.0",
        'scalerd_cycle_duration_seconds_bucket{le="0.5"} 1.0',
        'scalerd_cycle_duration_seconds_bucket{le="0.25"} 0.0',
        'scalerd_decisions_total{direction="up",target="orders"} 1.0',
        'scalerd_metric_errors_total{source="kafka"} 2.0',
        'scalerd_api_requests_total{code="409",verb="patch"} 1.0',
        "scalerd_leader 1.0",
        "scalerd_last_successful_cycle_timestamp_seconds 1.7e+09",
        "scalerd_config_reload_failures_total 1.0",
    ):
        assert sample in body.splitlines(), sample


def test_two_metric_sets_in_one_process_do_not_share_a_registry():
    first, second = DaemonMetrics(), DaemonMetrics()
    first.config_reload_failures.inc()

    assert b"scalerd_config_reload_failures_total 0.0" in second.exposition()


def test_an_unknown_path_is_404(served):
    port = served[0]
    assert _get(port, "/nope")[0] == 404


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("0.0.0.0:8080", ("0.0.0.0", 8080), id="all-interfaces"),
        pytest.param("127.0.0.1:0", ("127.0.0.1", 0), id="any-port"),
        pytest.param(":9100", ("0.0.0.0", 9100), id="empty-host"),
        pytest.param("[::1]:8080", ("::1", 8080), id="ipv6"),
    ],
)
def test_listen_addresses(address, expected):
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("8080", id="no-colon"),
        pytest.param("host:http", id="named-port"),
        pytest.param("host:70000", id="port-too-large"),
    ],
)
def test_a_bad_listen_address_is_an_error_naming_the_flag(address):
    with pytest.raises(ValueError, match=r"^--listen: expected HOST:PORT"):
        parse_listen_address(address)


def test_healthz_fails_with_a_configuration_error_whatever_the_cycles(served):
    port, _clock, health, _metrics, _synced = served
    problem = {"value": "namespace 'nowhere' does not exist: pass --lease-namespace with the namespace scalerd runs in"}
    health.configuration_error = lambda: problem["value"]
    health.cycle_completed()
    refused = _get(port, "/healthz")
    problem["value"] = None
    assert (refused, _get(port, "/healthz")) == (
        (503, "namespace 'nowhere' does not exist: pass --lease-namespace with the namespace scalerd runs in\n"),
        (200, "ok\n"))


def test_the_api_request_counter_says_it_counts_reads_as_well_as_writes(served):
    port, _clock, _health, metrics, _synced = served
    for verb, code in (("list", 200), ("watch", 0), ("get", 404), ("patch", 200)):
        metrics.count_api_request(verb, code)

    _status, body = _get(port, "/metrics")

    lines = body.splitlines()
    assert ("# HELP scalerd_api_requests_total Kubernetes API requests of the daemon, reads and writes (the "
            "Deployment cache, the Lease, scale, annotation and Event writes), by Kubernetes verb and HTTP code "
            "(0: no answer).") in lines
    assert [line for line in lines if line.startswith("scalerd_api_requests_total")] == [
        'scalerd_api_requests_total{code="200",verb="list"} 1.0',
        'scalerd_api_requests_total{code="0",verb="watch"} 1.0',
        'scalerd_api_requests_total{code="404",verb="get"} 1.0',
        'scalerd_api_requests_total{code="200",verb="patch"} 1.0',
    ]
