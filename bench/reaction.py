"""Reaction time: a Kafka lag change on the broker until the scale PATCH appears in the API's audit log.

Lag is the one metric whose change happens at a known instant (the offset commit); a Prometheus metric would add
up to one scrape interval that no autoscaler can remove. Each trial waits a random fraction of the interval
first, so the change falls anywhere between two cycles; trials alternate between lag 8 (4 replicas) and lag 0
(1 replica). `scalerd run` is a child process (interval 2 s); the naive loop runs in a thread of this process.
"""
from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes import client as kube_client

from bench.counting import AuditTail
from bench.figures import Figure, with_baseline
from bench.naive import NaiveLoop
from bench.processes import ScalerdProcess
from bench.stage import NAMESPACE, Stage
from scalerd.config import load_config_file
from scalerd.kube.client import load_api_client
from tests.testbed.kafka_tools import KafkaTools
from tests.testbed.kubeconfig import SCALERD_USER

INTERVAL_SECONDS = 2.0
DEPLOYMENT = "reaction"
GROUP, TOPIC = "bench-reaction", "bench-reaction-topic"
PARTITIONS, RECORDS_PER_PARTITION, LAG_PER_REPLICA = 4, 2, 2
PATCH_TIMEOUT_SECONDS = 20.0
GOAL_SECONDS = INTERVAL_SECONDS + 0.5


def measure_reaction(stage: Stage, *, trials: int) -> list[Figure]:
    config_path = _set_scene(stage)
    committer = Consumer({"bootstrap.servers": stage.kafka_bootstrap, "group.id": GROUP,
                          "enable.auto.commit": False})
    try:
        scalerd = ScalerdProcess(stage.bed, config_path=config_path, log_path=stage.directory / "reaction-run.log",
                                 extra=("--no-leader-elect",))
        try:
            scalerd.wait_for_cycles(1, timeout=30)
            reactions = _trials(stage, committer=committer, trials=trials)
        finally:
            scalerd.stop()
        naive = NaiveLoop(config=load_config_file(config_path),
                          api_client=load_api_client(kubeconfig=str(stage.bed.kubeconfig_path), context="scalerd"))
        stop = threading.Event()
        loop = threading.Thread(target=naive.run_forever, args=(stop,), name="naive-loop", daemon=True)
        loop.start()
        try:
            baseline = _trials(stage, committer=committer, trials=trials)
        finally:
            stop.set()
            loop.join(timeout=10)
            naive.close()
    finally:
        committer.close()
    params = {"trials": trials, "interval_seconds": INTERVAL_SECONDS, "goal": f"p95 <= {GOAL_SECONDS:g} s",
              "change": "Kafka offset commit (lag 0 <-> 8, 1 <-> 4 replicas) -> PATCH .../scale in the audit log"}
    figures = []
    for name, statistic in (("reaction_seconds_p50", _p50), ("reaction_seconds_p95", _p95)):
        value, baseline_value = round(statistic(reactions), 3), round(statistic(baseline), 3)
        figures.append(Figure(name, value, "s", with_baseline(
            {**params, "samples": [round(r, 3) for r in reactions], "baseline_samples": [round(r, 3) for r in baseline]},
            value=value, baseline_value=baseline_value)))
    return figures


def _set_scene(stage: Stage):
    admin = AdminClient({"bootstrap.servers": stage.kafka_bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])[TOPIC].result(timeout=30)
    tools = KafkaTools(stage.kafka_bootstrap)
    tools.produce(TOPIC, {partition: RECORDS_PER_PARTITION for partition in range(PARTITIONS)})
    tools.commit(group=GROUP, topic=TOPIC, offsets_by_partition={p: RECORDS_PER_PARTITION for p in range(PARTITIONS)})
    kube_client.AppsV1Api(stage.bed.admin_api_client()).create_namespaced_deployment(NAMESPACE, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": DEPLOYMENT}},
                 "template": {"metadata": {"labels": {"app": DEPLOYMENT}},
                              "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}},
    })
    path = stage.directory / "reaction.yaml"
    path.write_text("\n".join([
        "apiVersion: scalerd/v1",
        "defaults:",
        f"  interval: {INTERVAL_SECONDS:g}s",
        f"  kafka: {{bootstrapServers: '{stage.kafka_bootstrap}'}}",
        "targets:",
        f"  - name: {DEPLOYMENT}",
        f"    namespace: {NAMESPACE}",
        f"    deployment: {DEPLOYMENT}",
        "    minReplicas: 1",
        "    maxReplicas: 10",
        "    metrics:",
        f"      - {{type: kafka, group: {GROUP}, topics: [{TOPIC}], lagPerReplica: {LAG_PER_REPLICA}}}",
        "    behavior:",
        "      cooldown: 0s",
        "      scaleUp: {policies: [{type: Pods, value: 100, period: 1s}]}",
        "      scaleDown: {stabilizationWindow: 0s, policies: [{type: Percent, value: 100, period: 1s}]}",
    ]) + "\n")
    return path


def _trials(stage: Stage, *, committer: Consumer, trials: int) -> list[float]:
    """Seconds from each lag change to its scale PATCH; starts and ends at lag 0 (1 replica)."""
    phases = random.Random(2026)
    audit = AuditTail(stage.bed.audit_path)
    reactions = []
    for trial in range(trials):
        time.sleep(phases.uniform(0, INTERVAL_SECONDS))
        committed = 0 if trial % 2 == 0 else RECORDS_PER_PARTITION
        audit.since_mark()
        changed_at = time.time()
        committer.commit(offsets=[TopicPartition(TOPIC, p, committed) for p in range(PARTITIONS)],
                         asynchronous=False)
        reactions.append(_wait_for_scale_patch(audit.since_mark, since=changed_at) - changed_at)
    if trials % 2:
        committer.commit(offsets=[TopicPartition(TOPIC, p, RECORDS_PER_PARTITION) for p in range(PARTITIONS)],
                         asynchronous=False)
        _wait_for_scale_patch(audit.since_mark, since=time.time())
    return reactions


def _wait_for_scale_patch(new_lines: Callable[[], list[dict]], *, since: float) -> float:
    """The audit time of the scalerd user's first successful write to the Deployment's scale after `since`."""
    path = f"/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}/scale"
    deadline = time.monotonic() + PATCH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for line in new_lines():
            if (line["user"] == SCALERD_USER and line["verb"] == "patch" and line["path"].endswith(path)
                    and line["status"] < 300 and line["ts"] >= since):
                return line["ts"]
        time.sleep(0.01)
    raise TimeoutError(f"no scale PATCH of {NAMESPACE}/{DEPLOYMENT} within {PATCH_TIMEOUT_SECONDS}s of the lag change")


def _p50(samples: list[float]) -> float:
    return statistics.median(samples)


def _p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[94]
