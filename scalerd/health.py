"""Self-monitoring: the daemon's Prometheus metrics and the HTTP server for /metrics, /healthz and /readyz."""
from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

METRIC_VALUE = "scalerd_metric_value"
"""Each target's metric's value per cycle, labelled target, metric and type: also the past that
`predictive.historyFrom` loads back at start (scalerd.daemon.forecasts)."""
LIVENESS_INTERVALS = 3
"""/healthz fails once no cycle has completed for this many intervals."""


class DaemonMetrics:
    """Every metric the daemon exports, in a private registry (so tests and two daemons in one process never clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cycle_duration = Histogram(
            "scalerd_cycle_duration_seconds", "Duration of one loop cycle.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry,
        )
        self.decisions = Counter(
            "scalerd_decisions_total", "Decisions made, by target and direction (up, down, none).",
            ["target", "direction"], registry=self.registry,
        )
        self.metric_errors = Counter(
            "scalerd_metric_errors_total", "Metric readings that failed, by source.", ["source"],
            registry=self.registry,
        )
        self.api_requests = Counter(
            "scalerd_api_requests_total",
            "Kubernetes API requests of the daemon, reads and writes (the Deployment cache, the Lease, scale, "
            "annotation and Event writes), by Kubernetes verb and HTTP code (0: no answer).",
            ["verb", "code"],
            registry=self.registry,
        )
        self.leader = Gauge("scalerd_leader", "1 while this instance holds the Lease.", registry=self.registry)
        self.last_successful_cycle = Gauge(
            "scalerd_last_successful_cycle_timestamp_seconds", "Wall-clock time the last cycle completed.",
            registry=self.registry,
        )
        self.config_reload_failures = Counter(
            "scalerd_config_reload_failures_total", "Configuration edits rejected as invalid.",
            registry=self.registry,
        )

        # Per target: set by the leader at each decision, removed when the instance stops leading or the target is
        # removed from the rules, so that a standby never exports a stale picture.
        self.replicas = Gauge(
            "scalerd_replicas", "Replicas of a target's Deployment at its last decision: current and desired.",
            ["target", "kind"], registry=self.registry,
        )
        self.max_replicas = Gauge("scalerd_target_max_replicas", "A target's maxReplicas.", ["target"],
                                  registry=self.registry)
        self.min_replicas = Gauge("scalerd_target_min_replicas", "A target's minReplicas.", ["target"],
                                  registry=self.registry)
        self.decision_reasons = Counter(
            "scalerd_decision_reasons_total", "Decisions made, by target and reason (the decision log's reason).",
            ["target", "reason"], registry=self.registry,
        )
        self.metric_value = Gauge(
            METRIC_VALUE, "Last value a target's metric read (absent while it fails).",
            ["target", "metric", "type"], registry=self.registry,
        )
        self.metric_consecutive_failures = Gauge(
            "scalerd_metric_consecutive_failures", "Cycles in a row in which a target's metric failed to read.",
            ["target", "metric", "type"], registry=self.registry,
        )
        self.interval = Gauge("scalerd_interval_seconds", "The loop period.", registry=self.registry)
        self.config_rejected = Gauge(
            "scalerd_config_rejected",
            "1 while the configuration source holds an edit that was rejected (the last good configuration is in "
            "force), else 0.", registry=self.registry,
        )

    def count_api_request(self, verb: str, code: int | str) -> None:
        self.api_requests.labels(verb=verb, code=str(code)).inc()

    def record_failures(self, *, target: str, outcomes: Iterable[tuple[str, str, bool]]) -> None:
        """(metric name, type, failed) for each metric of one target's cycle: the failures in a row."""
        for name, metric_type, failed in outcomes:
            failures = self.metric_consecutive_failures.labels(target=target, metric=name, type=metric_type)
            if failed:
                failures.inc()
            else:
                failures.set(0)

    def record_decision(self, *, target: str, current: int, desired: int, reason: str, min_replicas: int,
                        max_replicas: int, values: Iterable[tuple[str, str, float | None]]) -> None:
        """One decision: the counts, the bounds, the reason, and each metric's value (None: it failed)."""
        self.replicas.labels(target=target, kind="current").set(current)
        self.replicas.labels(target=target, kind="desired").set(desired)
        self.min_replicas.labels(target=target).set(min_replicas)
        self.max_replicas.labels(target=target).set(max_replicas)
        self.decision_reasons.labels(target=target, reason=reason).inc()
        for name, metric_type, value in values:
            labels = {"target": target, "metric": name, "type": metric_type}
            if value is None:
                _remove(self.metric_value, labels)
            else:
                self.metric_value.labels(**labels).set(value)

    def forget_targets(self, *, keep: Collection[str] = ()) -> None:
        """Drop the per-target gauges of every target not in `keep` (counters keep their history)."""
        for gauge in (self.replicas, self.max_replicas, self.min_replicas, self.metric_value,
                      self.metric_consecutive_failures):
            for labels in _label_sets(gauge):
                if labels["target"] not in keep:
                    _remove(gauge, labels)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _label_sets(gauge: Gauge) -> list[dict[str, str]]:
    return [dict(sample.labels) for metric in gauge.collect() for sample in metric.samples]


def _remove(gauge: Gauge, labels: dict[str, str]) -> None:
    """Drop one label set (given in the gauge's label order); one never set is already gone."""
    try:
        gauge.remove(*labels.values())
    except KeyError:
        pass


@dataclass
class HealthState:
    """What /healthz and /readyz judge, on the monotonic clock.

    Until the first cycle completes, the start time stands in for it: a daemon gets the same three intervals
    to complete its first cycle as any later one.
    """

    monotonic: Callable[[], float]
    interval: float
    cache_synced: Callable[[], bool] = lambda: False
    configuration_error: Callable[[], str | None] = lambda: None
    """A fault no waiting cures (the Lease forbidden): /healthz fails with it, so it is seen and acted on."""
    config_loaded: bool = False
    started_at: float = field(init=False)
    last_cycle_completed: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.started_at = self.monotonic()

    def cycle_completed(self) -> None:
        self.last_cycle_completed = self.monotonic()

    def live(self) -> bool:
        return self.liveness_failure() is None

    def liveness_failure(self) -> str | None:
        """Why /healthz fails, or None while it passes."""
        problem = self.configuration_error()
        if problem is not None:
            return problem
        reference = self.started_at if self.last_cycle_completed is None else self.last_cycle_completed
        if self.monotonic() - reference > LIVENESS_INTERVALS * self.interval:
            return f"no cycle completed within {LIVENESS_INTERVALS} intervals"
        return None

    def ready(self) -> bool:
        return self.config_loaded and self.cache_synced()


class HealthServer:
    """A small threaded HTTP server; `port` tells which port it bound (useful with port 0)."""

    def __init__(self, *, address: str, metrics: DaemonMetrics, health: HealthState) -> None:
        host, port = parse_listen_address(address)
        handler = _handler_class(metrics=metrics, health=health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def parse_listen_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (all interfaces) or `[::1]:PORT`; a clear error names the bad part."""
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--listen: expected HOST:PORT with a port 0-65535 (got {address!r})")
    return host.strip("[]") or "0.0.0.0", int(port_text)


def _handler_class(*, metrics: DaemonMetrics, health: HealthState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server dispatches to
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._reply_check(health.liveness_failure())
            elif path == "/readyz":
                self._reply_check(None if health.ready() else "configuration not loaded or cache not synced")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply_check(self, failure: str | None) -> None:
            if failure is None:
                self._reply(200, b"ok\n", "text/plain")
            else:
                self._reply(503, failure.encode() + b"\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds would drown the decision log; requests are not logged."""

    return Handler
