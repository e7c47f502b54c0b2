"""One cycle of the daemon, in process, at each size: its time and the requests it sends to each system.

The daemon is assembled the way `scalerd run --no-leader-elect` assembles it (`build_daemon` with the real
cache, writer and sources, the least-privilege `scalerd` context), and its cycles are driven by hand so that the
figure is the cycle itself. The naive loop then runs one cycle on the same scene, in the same process.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client as kube_client

from bench.counting import (
    AuditTail,
    count_difference,
    kubernetes_request_counts,
    kubernetes_writes_by_resource,
    prometheus_query_count,
)
from bench.figures import Figure, with_baseline
from bench.naive import NaiveLoop
from bench.stage import NAMESPACE, STEADY_REPLICAS, Stage, target_name
from scalerd.config import load_config_text
from scalerd.daemon.wiring import build_daemon, target_deployments
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentCache
from scalerd.kube.client import load_api_client
from scalerd.kube.state_store import StateStore
from scalerd.kube.writer import KubeWriter
from tests.testbed.kafka_tools import unique_name
from tests.testbed.kubeconfig import SCALERD_USER

CACHE_SYNC_SECONDS = 120.0


@dataclass(frozen=True)
class Requests:
    """What one cycle sent: Kubernetes requests of the scalerd user by kind, Prometheus queries, Kafka requests."""

    kubernetes: dict[str, int]
    kubernetes_writes: dict[str, int]
    prometheus: int
    kafka: dict[str, int]

    @property
    def kafka_total(self) -> int:
        return sum(self.kafka.values())


class RequestCounter:
    """Counts at the three servers around one call."""

    def __init__(self, stage: Stage) -> None:
        self._stage = stage
        self._audit = AuditTail(stage.bed.audit_path)

    def settle_watch_end(self, *, timeout: float = 5.0) -> None:
        """Waits (at most `timeout`) until the emulator logged the end of the stopped cache's watch (it logs a
        watch when it ends), so that the line is not counted against the naive loop, which never watches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if kubernetes_request_counts(self._audit.since_mark(), user=SCALERD_USER)["watches"]:
                return
            time.sleep(0.05)

    def around(self, call: Callable[[], object]) -> tuple[float, Requests]:
        """(wall-clock seconds of `call`, the requests it sent)."""
        self._audit.since_mark()
        prometheus_before = prometheus_query_count(self._stage.bed.prometheus_url)
        kafka_before = self._stage.kafka_proxy.counts()
        started = time.perf_counter()
        call()
        seconds = time.perf_counter() - started
        audit_lines = self._audit.since_mark()
        return seconds, Requests(
            kubernetes=kubernetes_request_counts(audit_lines, user=SCALERD_USER),
            kubernetes_writes=kubernetes_writes_by_resource(audit_lines, user=SCALERD_USER),
            prometheus=prometheus_query_count(self._stage.bed.prometheus_url) - prometheus_before,
            kafka=count_difference(self._stage.kafka_proxy.counts(), kafka_before),
        )

STORE_NAMESPACE = "scalerd"
"""The stored history's namespace: the test bed's scalerd identity may write ConfigMaps there."""


def measure_cycles(stage: Stage, *, targets: int) -> list[Figure]:
    """cycle_seconds and the three request counts of a steady cycle at `targets` targets, with the baseline's."""
    config = load_config_text(stage.config_text(targets))
    api_client = load_api_client(kubeconfig=str(stage.bed.kubeconfig_path), context="scalerd")
    counter = RequestCounter(stage)
    cache = DeploymentCache(api_client, deployments=target_deployments(config))
    metrics = DaemonMetrics()
    writer = KubeWriter(api_client, dry_run=False, may_write=lambda: True)
    daemon = build_daemon(
        config=config, config_provider=None, api_client=api_client, cache=cache, writer=writer, elector=None,
        metrics=metrics,
        health=HealthState(monotonic=time.monotonic, interval=config.defaults.interval, cache_synced=cache.synced),
        store=StateStore(api_client, writer, namespace=STORE_NAMESPACE, prefix=unique_name("bench")),
        identity="bench",
    )
    try:
        cache.start()
        if not cache.wait_synced(CACHE_SYNC_SECONDS):
            raise TimeoutError(f"the Deployment cache did not sync within {CACHE_SYNC_SECONDS}s")
        _expect_steady(daemon.run_cycle(), targets=targets, what="warm-up cycle")
        runs = []
        for _ in range(stage.scale.timed_cycles):
            seconds, steady = counter.around(lambda: _expect_steady(daemon.run_cycle(), targets=targets,
                                                                    what="timed cycle"))
            runs.append(seconds)
        change = _one_change_cycle(stage, daemon=daemon, cache=cache, counter=counter)
    finally:
        cache.stop()
        daemon.close()
    counter.settle_watch_end()
    naive = NaiveLoop(config=config, api_client=api_client)
    try:
        baseline_seconds, baseline = counter.around(naive.run_cycle)
    finally:
        naive.close()
    return _figures(targets=targets, stage=stage, runs=runs, steady=steady, change=change,
                    baseline_seconds=baseline_seconds, baseline=baseline)


def _figures(*, targets: int, stage: Stage, runs: list[float], steady: Requests, change: Requests,
             baseline_seconds: float, baseline: Requests) -> list[Figure]:
    scene = {"targets": targets, "distinct_queries": min(targets, stage.scale.distinct_queries),
             "kafka_groups": min(targets, stage.scale.kafka_groups), "metrics_per_target": 2}
    cycle = statistics.median(runs)
    kubernetes_steady = sum(steady.kubernetes.values())
    return [
        Figure("cycle_seconds", round(cycle, 4), "s", with_baseline(
            {**scene, "statistic": f"median of {len(runs)} steady cycles", "runs": [round(r, 4) for r in runs],
             "goal": _cycle_goal(targets)},
            value=round(cycle, 4), baseline_value=round(baseline_seconds, 4))),
        Figure("k8s_requests_per_steady_cycle", kubernetes_steady, "requests", with_baseline(
            {**scene, "steady": steady.kubernetes, "reads_per_target": steady.kubernetes["reads"] / targets,
             "one_change": change.kubernetes, "one_change_writes": change.kubernetes_writes,
             "baseline_requests": baseline.kubernetes,
             "goal": "0 reads per target; 1 write per change"},
            value=kubernetes_steady, baseline_value=baseline.kubernetes["reads"] + baseline.kubernetes["writes"])),
        Figure("prometheus_requests_per_cycle", steady.prometheus, "requests", with_baseline(
            {**scene, "goal": "= distinct queries"}, value=steady.prometheus, baseline_value=baseline.prometheus)),
        Figure("kafka_requests_per_cycle", steady.kafka_total, "requests", with_baseline(
            {**scene, "by_request_type": steady.kafka, "baseline_by_request_type": baseline.kafka,
             "counted_at": "a TCP proxy in front of tansu reading each request's api_key",
             "goal": "batched, not per target"},
            value=steady.kafka_total, baseline_value=baseline.kafka_total)),
    ]


def _cycle_goal(targets: int) -> str | None:
    return {1000: "< 1 s", 5000: "< 5 s"}.get(targets)


def _one_change_cycle(stage: Stage, *, daemon, cache: DeploymentCache, counter: RequestCounter) -> Requests:
    """Someone scales target 0 by hand to one replica more; the next cycle puts it back: what does that cost?"""
    name = target_name(0)
    kube_client.AppsV1Api(stage.bed.admin_api_client()).patch_namespaced_deployment_scale(
        name, NAMESPACE, {"spec": {"replicas": STEADY_REPLICAS + 1}})
    deadline = time.monotonic() + 10
    while cache.get(NAMESPACE, name).replicas != STEADY_REPLICAS + 1:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cache did not see {name} scaled by hand within 10 s")
        time.sleep(0.02)
    results: list = []
    _seconds, requests = counter.around(lambda: results.extend(daemon.run_cycle()))
    applied = [result for result in results if result.applied]
    if [(r.target, r.current, r.desired) for r in applied] != [(name, STEADY_REPLICAS + 1, STEADY_REPLICAS)]:
        raise RuntimeError(f"expected exactly one change ({name} back to {STEADY_REPLICAS}), got {applied}")
    return requests


def _expect_steady(results: list, *, targets: int, what: str) -> None:
    """A benchmark of a cycle that failed or changed something would measure the wrong thing."""
    wrong = [result for result in results
             if result.error or result.applied or result.desired != STEADY_REPLICAS
             or any(metric.error for metric in result.metrics)]
    if len(results) != targets or wrong:
        raise RuntimeError(f"{what}: expected {targets} steady targets, got {len(results)} results; "
                           f"first unexpected: {wrong[:1]}")
