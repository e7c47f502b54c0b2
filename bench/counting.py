"""Counting requests where they arrive: at the Kubernetes API (its audit log), at Prometheus (its own request
counter) and at the Kafka broker (a TCP proxy that reads each request's header).
"""
from __future__ import annotations

import collections
import json
import socket
import struct
import threading
from pathlib import Path

import requests

from tests.testbed.processes import LOCALHOST

# The request types librdkafka's admin calls send; any other key is counted under its number.
KAFKA_API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    22: "InitProducerId", 32: "DescribeConfigs", 36: "SaslAuthenticate", 60: "DescribeCluster",
    71: "GetTelemetrySubscriptions",
}
_FRAME_HEADER = struct.Struct(">ih")  # request size, then the request header's api_key
_COPY_CHUNK = 65536


class AuditTail:
    """The API emulator's audit log from where it stood at construction (or at the last `since_mark`)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0

    def since_mark(self) -> list[dict]:
        """The lines appended since the last call (the first call: since construction)."""
        with self._path.open("rb") as audit:
            audit.seek(self._offset)
            text = audit.read()
        complete, _, _partial = text.rpartition(b"\n")
        self._offset += len(complete) + (1 if complete else 0)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def kubernetes_request_counts(lines: list[dict], *, user: str) -> dict[str, int]:
    """Requests of `user` by kind: `reads` (get, list), `watches`, `writes` (create, update, patch, delete)."""
    counts = {"reads": 0, "watches": 0, "writes": 0}
    for line in lines:
        if line["user"] != user:
            continue
        verb = line["verb"]
        if verb in ("get", "list"):
            counts["reads"] += 1
        elif verb == "watch":
            counts["watches"] += 1
        else:
            counts["writes"] += 1
    return counts


def kubernetes_writes_by_resource(lines: list[dict], *, user: str) -> dict[str, int]:
    """The writes of `user` by the resource written: `deployments/scale`, `deployments`, `events`..."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        if line["user"] != user or line["verb"] in ("get", "list", "watch"):
            continue
        parts = line["path"].split("?")[0].strip("/").split("/")
        # .../namespaces/NS/RESOURCE/NAME[/SUBRESOURCE] or .../namespaces/NS/RESOURCE
        resource = parts[parts.index("namespaces") + 2:] if "namespaces" in parts else parts[-1:]
        counts["/".join(resource[:1] + resource[2:3])] += 1
    return dict(counts)


def prometheus_query_count(prometheus_url: str) -> int:
    """Instant queries Prometheus has answered since it started, from its own `/metrics` (which is not a query)."""
    text = requests.get(f"{prometheus_url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


class KafkaCountingProxy:
    """A TCP proxy in front of one broker that counts the Kafka requests passing through, by request type.

    The broker must advertise the proxy's address (`--advertised-listener-url`), or clients would follow the
    metadata to the broker itself after their first request and bypass the count.
    """

    def __init__(self, *, upstream_port: int) -> None:
        self._upstream = (LOCALHOST, upstream_port)
        self._listener = socket.create_server((LOCALHOST, 0))
        self.port = self._listener.getsockname()[1]
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="kafka-proxy", daemon=True).start()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            try:
                broker = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            broker.settimeout(None)
            threading.Thread(target=self._requests, args=(client, broker), daemon=True).start()
            threading.Thread(target=_copy, args=(broker, client), daemon=True).start()

    def _requests(self, client: socket.socket, broker: socket.socket) -> None:
        """Client to broker: forwards every byte at once and counts each complete request frame."""
        pending = bytearray()
        while True:
            try:
                chunk = client.recv(_COPY_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                _close_both(client, broker)
                return
            try:
                broker.sendall(chunk)
            except OSError:
                _close_both(client, broker)
                return
            pending += chunk
            while len(pending) >= _FRAME_HEADER.size:
                size, api_key = _FRAME_HEADER.unpack_from(pending)
                if len(pending) < 4 + size:
                    break
                del pending[:4 + size]
                with self._lock:
                    self._counts[KAFKA_API_NAMES.get(api_key, f"api_key_{api_key}")] += 1


def count_difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in sorted(after) if after[name] != before.get(name, 0)}


def _copy(source: socket.socket, destination: socket.socket) -> None:
    while True:
        try:
            chunk = source.recv(_COPY_CHUNK)
            if not chunk:
                break
            destination.sendall(chunk)
        except OSError:
            break
    _close_both(source, destination)


def _close_both(*sockets: socket.socket) -> None:
    for each in sockets:
        try:
            each.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        each.close()
