"""The benchmark's counters: Kafka request frames through the proxy, audit-log tails, request kinds, figures."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest

from bench.counting import (
    AuditTail,
    KafkaCountingProxy,
    count_difference,
    kubernetes_request_counts,
    kubernetes_writes_by_resource,
)
from bench.figures import Figure, table, with_baseline


def _frame(api_key: int, payload: bytes = b"") -> bytes:
    body = struct.pack(">hhi", api_key, 0, 7) + payload
    return struct.pack(">i", len(body)) + body


@pytest.fixture
def echo_broker():
    """A stand-in broker that sends back every byte it gets."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _echo(connection: socket.socket) -> None:
    while chunk := connection.recv(65536):
        connection.sendall(chunk)
    connection.close()


def _wait_for_counts(proxy: KafkaCountingProxy, expected: dict[str, int]) -> dict[str, int]:
    deadline = time.monotonic() + 15
    while proxy.counts() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return proxy.counts()


def test_proxy_counts_each_request_frame_by_type_even_when_frames_arrive_split_and_joined(echo_broker):
    proxy = KafkaCountingProxy(upstream_port=echo_broker)
    stream = _frame(3) + _frame(2, b"x" * 70_000) + _frame(9) + _frame(9) + _frame(71)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            # One byte, then the rest in uneven pieces: frame boundaries never line up with reads.
            for start, end in ((0, 1), (1, 5), (5, 40_000), (40_000, len(stream))):
                client.sendall(stream[start:end])
            echoed = b""
            while len(echoed) < len(stream):
                echoed += client.recv(65536)
        counts = _wait_for_counts(proxy, {"Metadata": 1, "ListOffsets": 1, "OffsetFetch": 2,
                                          "GetTelemetrySubscriptions": 1})
    finally:
        proxy.close()

    assert echoed == stream
    assert counts == {"Metadata": 1, "ListOffsets": 1, "OffsetFetch": 2, "GetTelemetrySubscriptions": 1}


def test_an_unknown_request_type_is_counted_under_its_number(echo_broker):
    proxy = KafkaCountingProxy(upstream_port=echo_broker)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(_frame(999))
            client.recv(64)
        counts = _wait_for_counts(proxy, {"api_key_999": 1})
    finally:
        proxy.close()
    assert counts == {"api_key_999": 1}


def test_audit_tail_returns_only_complete_lines_appended_since_the_last_call(tmp_path):
    audit = tmp_path / "audit.jsonl"
    audit.write_text(json.dumps({"n": 0}) + "\n")
    tail = AuditTail(audit)
    with audit.open("a") as log:
        log.write(json.dumps({"n": 1}) + "\n" + '{"n": ')
    assert tail.since_mark() == [{"n": 1}]
    with audit.open("a") as log:
        log.write("2}\n")
    assert tail.since_mark() == [{"n": 2}]
    assert tail.since_mark() == []


AUDIT = [
    {"user": "scalerd", "verb": "list", "path": "/apis/apps/v1/namespaces/bench/deployments"},
    {"user": "scalerd", "verb": "watch", "path": "/apis/apps/v1/namespaces/bench/deployments"},
    {"user": "scalerd", "verb": "get", "path": "/apis/apps/v1/namespaces/bench/deployments/a"},
    {"user": "scalerd", "verb": "patch", "path": "/apis/apps/v1/namespaces/bench/deployments/a/scale"},
    {"user": "scalerd", "verb": "patch", "path": "/apis/apps/v1/namespaces/bench/deployments/a"},
    {"user": "scalerd", "verb": "create", "path": "/api/v1/namespaces/bench/events"},
    {"user": "admin", "verb": "patch", "path": "/apis/apps/v1/namespaces/bench/deployments/a/scale"},
]


def test_kubernetes_requests_of_one_user_by_kind_and_writes_by_resource():
    assert kubernetes_request_counts(AUDIT, user="scalerd") == {"reads": 2, "watches": 1, "writes": 3}
    assert kubernetes_writes_by_resource(AUDIT, user="scalerd") == {
        "deployments/scale": 1, "deployments": 1, "events": 1}


def test_count_difference_keeps_only_what_changed():
    assert count_difference({"Metadata": 5, "OffsetFetch": 9}, {"Metadata": 5, "OffsetFetch": 4}) == {
        "OffsetFetch": 5}
    assert count_difference({"ListOffsets": 2}, {}) == {"ListOffsets": 2}


@pytest.mark.parametrize(("value", "baseline", "ratio"), [
    pytest.param(0.5, 2.0, 4.0, id="four-times-faster"),
    pytest.param(3.0, 1.0, 0.33, id="slower-than-baseline"),
    pytest.param(0, 20, None, id="zero-requests-has-no-finite-ratio"),
])
def test_with_baseline_ratio_is_baseline_over_value(value, baseline, ratio):
    assert with_baseline({"targets": 5}, value=value, baseline_value=baseline) == {
        "targets": 5, "baseline_value": baseline, "ratio": ratio}


def test_figure_json_line_and_table_row():
    figure = Figure("cycle_seconds", 0.25, "s", with_baseline({"targets": 1000}, value=0.25, baseline_value=5.0))
    assert json.loads(figure.to_json()) == {
        "name": "cycle_seconds", "value": 0.25, "unit": "s",
        "params": {"targets": 1000, "baseline_value": 5.0, "ratio": 20.0}}
    header, row = table([figure]).splitlines()
    assert header.split() == ["name", "value", "unit", "baseline", "ratio", "params"]
    assert row.split() == ["cycle_seconds", "0.25", "s", "5", "20", '{"targets":1000}']
