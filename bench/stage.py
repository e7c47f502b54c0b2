"""The stage every live benchmark shares: the test bed, a tansu behind a counting proxy, and the scene on them.

The scene for N targets (N up to the largest size measured): Deployments `t-00000`... in namespace `bench` at 2
replicas; `distinct_queries` Prometheus series, each worth 100 (50 per replica: 2 replicas); `kafka_groups`
groups, each on a topic of its own with 2 partitions holding 2 records each and nothing committed past 0 (lag 4,
2 per replica: 2 replicas). Target i uses query i mod Q and group i mod G, so every metric asks for exactly the
current 2 replicas and a cycle has nothing to change: the steady state the API-economy figures need.
"""
from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes import client as kube_client

from bench.counting import KafkaCountingProxy
from tests.testbed.bed import TestBed, tansu_binary
from tests.testbed.kafka_tools import KafkaTools
from tests.testbed.processes import LOCALHOST, ChildProcess, free_port, port_accepts

NAMESPACE = "bench"
STEADY_REPLICAS = 2
LOAD_PER_REPLICA = 50
LAG_PER_REPLICA = 2
PARTITIONS = 2
RECORDS_PER_PARTITION = 2
LOAD_METRIC = "scalerd_bench_load"
TANSU_START_SECONDS = 30.0


@dataclass(frozen=True)
class Scale:
    """How big each benchmark is: the issue's sizes, or small ones for the smoke test."""

    target_counts: tuple[int, ...]
    distinct_queries: int
    kafka_groups: int
    timed_cycles: int
    reaction_trials: int
    rss_targets: int
    rss_cycles: int
    baseline_rss_cycles: int
    validate_targets: int
    repeats: int

    @property
    def largest(self) -> int:
        return max(*self.target_counts, self.rss_targets)


FULL = Scale(target_counts=(100, 1000, 5000), distinct_queries=50, kafka_groups=100, timed_cycles=5,
             reaction_trials=50, rss_targets=1000, rss_cycles=20, baseline_rss_cycles=5, validate_targets=1000,
             repeats=3)
QUICK = Scale(target_counts=(20,), distinct_queries=5, kafka_groups=4, timed_cycles=2, reaction_trials=3,
              rss_targets=20, rss_cycles=3, baseline_rss_cycles=2, validate_targets=100, repeats=1)


def target_name(index: int) -> str:
    return f"t-{index:05d}"


def query_of(index: int, scale: Scale) -> str:
    return f'sum({LOAD_METRIC}{{query="q{index % scale.distinct_queries:03d}"}})'


def group_of(index: int, scale: Scale) -> tuple[str, str]:
    """(group, topic) of target `index`."""
    number = index % scale.kafka_groups
    return f"bench-g{number:03d}", f"bench-topic-{number:03d}"


class Stage:
    """`with Stage(directory, scale=...) as stage:` starts the bed and the proxied tansu and sets the scene."""

    def __init__(self, directory: Path, *, scale: Scale) -> None:
        self.directory = Path(directory)
        self.scale = scale
        self.bed = TestBed(self.directory / "testbed")
        self.kafka_proxy: KafkaCountingProxy | None = None
        self._tansu: ChildProcess | None = None

    @property
    def kafka_bootstrap(self) -> str:
        return f"{LOCALHOST}:{self.kafka_proxy.port}"

    def __enter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self.bed.start()
            self._start_counted_tansu()
            self._set_scene()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._tansu is not None:
            self._tansu.stop(timeout=0.5)
            self._tansu = None
        if self.kafka_proxy is not None:
            self.kafka_proxy.close()
        self.bed.stop()

    def config_text(self, targets: int, *, interval: str = "15s", namespace: str = NAMESPACE) -> str:
        """The configuration of the first `targets` targets of the scene."""
        return scene_config_text(targets, scale=self.scale, interval=interval, prometheus_url=self.bed.prometheus_url,
                                 kafka_bootstrap=self.kafka_bootstrap, namespace=namespace)

    def write_config(self, targets: int, *, interval: str = "15s", namespace: str = NAMESPACE) -> Path:
        path = self.directory / f"config-{namespace}-{targets}-{interval}.yaml"
        path.write_text(self.config_text(targets, interval=interval, namespace=namespace))
        return path

    def create_deployments(self, namespace: str, *, count: int) -> None:
        """A namespace holding Deployments t-00000... (`count` of them), each at the steady 2 replicas."""
        admin = self.bed.admin_api_client()
        kube_client.CoreV1Api(admin).create_namespace({"metadata": {"name": namespace}})
        apps = kube_client.AppsV1Api(admin)
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda index: apps.create_namespaced_deployment(namespace, _deployment(index, namespace)),
                          range(count)))

    def _start_counted_tansu(self) -> None:
        broker_port = free_port()
        self.kafka_proxy = KafkaCountingProxy(upstream_port=broker_port)
        advertised = f"tcp://{LOCALHOST}:{self.kafka_proxy.port}"
        self._tansu = ChildProcess(
            name="tansu-counted", log_path=self.directory / "tansu-counted.log",
            argv=[str(tansu_binary()), "broker", "--listener-url", f"tcp://{LOCALHOST}:{broker_port}",
                  "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"],
        )
        self._tansu.start()
        tools = KafkaTools(self.kafka_bootstrap)
        deadline = time.monotonic() + TANSU_START_SECONDS
        while not (port_accepts(broker_port) and tools.answers()):
            self._tansu.raise_if_exited()
            if time.monotonic() > deadline:
                raise TimeoutError(f"tansu behind the counting proxy not answering after {TANSU_START_SECONDS}s")
            time.sleep(0.05)

    def _set_scene(self) -> None:
        self.create_deployments(NAMESPACE, count=self.scale.largest)
        self.bed.write_metrics("".join(
            f'{LOAD_METRIC}{{query="q{number:03d}"}} {STEADY_REPLICAS * LOAD_PER_REPLICA}\n'
            for number in range(self.scale.distinct_queries)
        ))
        self._seed_kafka()
        last = self.scale.distinct_queries - 1
        self.bed.wait_for_prometheus_value(f'sum({LOAD_METRIC}{{query="q{last:03d}"}})',
                                           STEADY_REPLICAS * LOAD_PER_REPLICA, timeout=15)

    def _seed_kafka(self) -> None:
        groups = [group_of(number, self.scale) for number in range(self.scale.kafka_groups)]
        admin = AdminClient({"bootstrap.servers": self.kafka_bootstrap})
        created = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)
                                       for _group, topic in groups], operation_timeout=30)
        for future in created.values():
            future.result(timeout=30)
        tools = KafkaTools(self.kafka_bootstrap)
        for group, topic in groups:
            tools.produce(topic, {partition: RECORDS_PER_PARTITION for partition in range(PARTITIONS)})
            consumer = Consumer({"bootstrap.servers": self.kafka_bootstrap, "group.id": group,
                                 "enable.auto.commit": False})
            try:
                consumer.commit(offsets=[TopicPartition(topic, partition, 0) for partition in range(PARTITIONS)],
                                asynchronous=False)
            finally:
                consumer.close()


def scene_config_text(targets: int, *, scale: Scale, interval: str, prometheus_url: str, kafka_bootstrap: str,
                      namespace: str = NAMESPACE) -> str:
    """The configuration of the first `targets` targets of the scene (see the module docstring)."""
    lines = [
        "apiVersion: scalerd/v1",
        "defaults:",
        f"  interval: {interval}",
        f"  prometheus: {{url: '{prometheus_url}', timeout: 5s}}",
        f"  kafka: {{bootstrapServers: '{kafka_bootstrap}', timeout: 10s}}",
        "targets:",
    ]
    for index in range(targets):
        group, topic = group_of(index, scale)
        lines += [
            f"  - name: {target_name(index)}",
            f"    namespace: {namespace}",
            f"    deployment: {target_name(index)}",
            "    minReplicas: 1",
            "    maxReplicas: 10",
            "    metrics:",
            "      - type: prometheus",
            "        name: load",
            f"        query: '{query_of(index, scale)}'",
            f"        targetPerReplica: {LOAD_PER_REPLICA}",
            "      - type: kafka",
            f"        group: {group}",
            f"        topics: [{topic}]",
            f"        lagPerReplica: {LAG_PER_REPLICA}",
            # Any difference is corrected at the next cycle: the request-count figures need one change.
            "    behavior: {cooldown: 0s, scaleDown: {stabilizationWindow: 0s}}",
        ]
    return "\n".join(lines) + "\n"


def _deployment(index: int, namespace: str) -> dict:
    name = target_name(index)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": STEADY_REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example/app:1",
                                         "resources": {"requests": {"cpu": "100m"}}}]},
            },
        },
    }

