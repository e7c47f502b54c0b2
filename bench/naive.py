"""The baseline: the seed's loop, as naive as it was — per target a GET of the Deployment, one Prometheus query
per metric, one Kafka client per cycle asked once per metric — deciding with the same rule engine.

Run as a process of its own for the memory figure:
    python -m bench.naive --config FILE --kubeconfig PATH --context NAME --cycles N
prints one JSON object: {"cycles", "cycle_seconds", "rss_mb", "max_rss_mb"}.
"""
from __future__ import annotations

import argparse
import json
import math
import threading
import time
from datetime import UTC, datetime

from kubernetes import client as kube_client

from scalerd.config import load_config_file
from scalerd.config.model import Config, Target
from scalerd.engine import EngineState, decide
from scalerd.kube.client import load_api_client
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.kafka import KafkaSource
from scalerd.sources.prometheus import PrometheusSource, QueryError


class NaiveLoop:
    """One instance, no cache, no batching, targets one after the other."""

    def __init__(self, *, config: Config, api_client) -> None:
        self._config = config
        self._apps = kube_client.AppsV1Api(api_client)
        self._prometheus = PrometheusSource(config.defaults.prometheus)
        self._states: dict[str, EngineState] = {}

    def run_cycle(self) -> int:
        """One pass over every target; returns how many replica counts it changed."""
        kafka = KafkaSource(self._config.defaults.kafka)  # the seed made a new client every cycle
        changes = 0
        try:
            for target in self._config.targets:
                changes += self._run_target(target, kafka)
        finally:
            kafka.close()
        return changes

    def run_forever(self, stop: threading.Event) -> None:
        """The seed's `while True: cycle(); sleep(interval)`: the period is the interval plus the cycle."""
        while not stop.is_set():
            self.run_cycle()
            stop.wait(self._config.defaults.interval)

    def close(self) -> None:
        self._prometheus.close()

    def _run_target(self, target: Target, kafka: KafkaSource) -> int:
        deployment = self._apps.read_namespaced_deployment(target.deployment, target.namespace)
        current = deployment.spec.replicas
        readings = [self._read(target, metric, kafka) for metric in target.metrics]
        now = time.monotonic()
        decision, state = decide(target, current=current, readings=readings, now=now,
                                 wall_time=datetime.now(tz=UTC), state=self._states.get(target.name, EngineState()))
        if decision.changed:
            self._apps.patch_namespaced_deployment_scale(target.deployment, target.namespace,
                                                         {"spec": {"replicas": decision.desired}})
            state = state.with_change(now=now, from_replicas=decision.current, to_replicas=decision.desired)
        self._states[target.name] = state
        return int(decision.changed)

    def _read(self, target: Target, metric, kafka: KafkaSource) -> Reading:
        if isinstance(metric, PrometheusMetric):
            return self._query(metric)
        if isinstance(metric, KafkaMetric):
            [reading] = kafka.read([(target, metric)])
            return reading
        return Reading(metric.name, error=f"the naive loop reads no {metric.type} metrics")

    def _query(self, metric: PrometheusMetric) -> Reading:
        server = metric.url or self._config.defaults.prometheus.url
        try:
            sample = self._prometheus.query(server=server, query=metric.query, at=time.time())
        except QueryError as error:
            return Reading(metric.name, error=str(error))
        if sample is None or not math.isfinite(sample):
            return Reading(metric.name, error="no finite sample")
        return Reading(metric.name, value=sample)


def resident_megabytes() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB (10^6 bytes), from /proc/self/status."""
    return process_megabytes("self")


def process_megabytes(pid: int | str) -> tuple[float, float]:
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024 / 1e6
    return fields["VmRSS"], fields["VmHWM"]


def main() -> None:
    parser = argparse.ArgumentParser(description="the seed's naive loop, for the memory baseline")
    parser.add_argument("--config", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", required=True)
    parser.add_argument("--cycles", type=int, required=True)
    args = parser.parse_args()
    loop = NaiveLoop(config=load_config_file(args.config),
                     api_client=load_api_client(kubeconfig=args.kubeconfig, context=args.context))
    seconds = []
    for _ in range(args.cycles):
        started = time.perf_counter()
        loop.run_cycle()
        seconds.append(round(time.perf_counter() - started, 4))
    rss, high_water = resident_megabytes()
    print(json.dumps({"cycles": args.cycles, "cycle_seconds": seconds, "rss_mb": rss, "max_rss_mb": high_water}))


if __name__ == "__main__":
    main()
