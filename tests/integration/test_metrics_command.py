"""`scalerd metrics` as a user runs it (a subprocess) against the test bed's real Prometheus and tansu."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client as kube

REPO_ROOT = Path(__file__).resolve().parents[2]


def scalerd_metrics(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scalerd", "metrics", *args], check=False, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


# The command timed inside its own process, once the interpreter and scalerd's imports are in: on a loaded machine
# starting Python alone took 10-15 s, which says nothing about whether the sources kept to their timeouts.
_TIMED_METRICS = """
import sys, time
import scalerd.commands.metrics
from scalerd.cli import main
started = time.monotonic()
try:
    code = main(["metrics", *sys.argv[2:]])
finally:
    with open(sys.argv[1], "w") as seconds:
        seconds.write(repr(time.monotonic() - started))
sys.exit(code)
"""


def timed_scalerd_metrics(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`scalerd metrics ARGS` and the seconds the command itself took (start-up and imports left out)."""
    seconds_file = tmp_path / "metrics-seconds"
    result = subprocess.run([sys.executable, "-c", _TIMED_METRICS, str(seconds_file), *args], check=False,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    return result, float(seconds_file.read_text())


@pytest.fixture
def world(testbed, kafka, make_topic, group_name, tmp_path):
    """A scraped series, a topic with lag 23 + 1 + 0 over 3 partitions, and a config reading both."""
    series = f"scalerd_metrics_cmd_{uuid.uuid4().hex[:8]}"
    testbed.write_metrics(f"{series} 180\n")
    testbed.wait_for_prometheus_value(series, 180.0, timeout=5.0)
    topic = make_topic(3)
    kafka.produce(topic, {0: 25, 1: 3})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 2})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{probe.getsockname()[1]}"
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
defaults:
  prometheus: {{url: "{testbed.prometheus_url}", timeout: 2s}}
  kafka: {{bootstrapServers: "{testbed.kafka_bootstrap}", timeout: 2s}}
targets:
  - name: orders
    namespace: shop
    deployment: orders
    minReplicas: 1
    maxReplicas: 20
    metrics:
      - {{type: kafka, group: {group_name}, topics: [{topic}], lagPerReplica: 5}}
      - {{type: prometheus, name: rps, query: "sum({series})", targetPerReplica: 50}}
      - {{type: prometheus, name: ratio, query: "scalar(vector(3))", targetValue: 2}}
  - name: broken
    namespace: shop
    deployment: broken
    minReplicas: 1
    maxReplicas: 20
    metrics:
      - {{type: kafka, group: {group_name}, topics: [{topic}], lagPerReplica: 5, bootstrapServers: "{down}"}}
      - {{type: prometheus, name: pick, query: 'label_replace(vector(1), "s", "a", "", "") or vector(2)',
          targetPerReplica: 1}}
      - {{type: prometheus, name: quiet, query: "vector(1) > 5", targetPerReplica: 1, onMissing: zero}}
""")
    return {"config": str(config), "topic": topic, "down": down}


def test_every_metric_read_prints_the_contract_line_and_exits_0(world):
    result = scalerd_metrics("--config", world["config"], "--target", "orders", "--output", "json")

    assert (result.returncode, result.stderr) == (0, "")
    topic = world["topic"]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{
        "target": "orders",
        "metrics": [
            {"name": "kafka", "type": "kafka", "value": 24, "proposal": 3, "error": None,  # ceil(24/5)=5, 3 partitions
             "partitions": [
                 {"topic": topic, "partition": 0, "committed": 2, "low": 0, "high": 25, "lag": 23},
                 {"topic": topic, "partition": 1, "committed": None, "low": 0, "high": 3, "lag": 1},
                 {"topic": topic, "partition": 2, "committed": None, "low": 0, "high": 0, "lag": 0},
             ]},
            {"name": "rps", "type": "prometheus", "value": 180, "proposal": 4, "error": None, "partitions": None},
            {"name": "ratio", "type": "prometheus", "value": 3, "proposal": 2, "error": None, "partitions": None},
        ],
    }]


def test_a_failed_metric_exits_1_and_every_metric_is_still_printed(world, tmp_path):
    result, elapsed = timed_scalerd_metrics(tmp_path, "--config", world["config"], "--output", "json")

    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["target"] for line in lines] == ["orders", "broken"]
    assert [(m["name"], m["value"], m["proposal"], m["error"]) for m in lines[1]["metrics"]] == [
        ("kafka", None, None,
         f"kafka {world['down']}: cannot read topic metadata: Failed to get metadata: Local: Broker transport failure"),
        ("pick", None, None, "query returned 2 series, expected 1"),
        ("quiet", 0, 0, None),
    ]
    # The down broker cost its 2 s timeout, then the command ended: the generous ceiling (ten timeouts) is for a
    # hang, never for a busy machine.
    assert elapsed < 10 * 2.0, elapsed


def test_table_output(world):
    result = scalerd_metrics("--config", world["config"], "--target", "orders")

    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "TARGET  METRIC  TYPE        VALUE  PROPOSAL  ERROR",
        "orders  kafka   kafka       24     3",
        "orders  rps     prometheus  180    4",
        "orders  ratio   prometheus  3      2",
    ]


def test_cpu_reads_through_the_kubeconfig_context(testbed, tmp_path):
    """2 pods requesting 500m each using 400m and 350m: 75 % against 50 % -> ceil(1.5 * 2) = 3."""
    admin = testbed.admin_api_client()
    apps, core = kube.AppsV1Api(admin), kube.CoreV1Api(admin)
    name = f"cpu-cmd-{uuid.uuid4().hex[:8]}"
    labels = {"app": name}
    apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "app", "image": "registry.example/app:1", "resources": {"requests": {"cpu": "500m"}}},
                 ]}}},
    })
    try:
        pods = sorted(pod.metadata.name
                      for pod in core.list_namespaced_pod("default", label_selector=f"app={name}").items)
        # Ready for an hour: past the HPA's CPU initialization period, so the fresh samples count.
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for pod, usage in zip(pods, (400, 350)):
            core.patch_namespaced_pod_status(pod, "default", {"status": {
                "startTime": an_hour_ago,
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": an_hour_ago}]}})
            testbed.control.set_pod_metrics(namespace="default", pod=pod, cpu_millicores=usage)
        config = tmp_path / "cpu.yaml"
        config.write_text(f"""\
apiVersion: scalerd/v1
targets:
  - {{name: web, namespace: default, deployment: {name}, minReplicas: 1, maxReplicas: 10,
     metrics: [{{type: cpu, targetUtilization: 50}}]}}
""")

        result = scalerd_metrics("--config", str(config), "--output", "json",
                                 "--kubeconfig", str(testbed.kubeconfig_path), "--context", "scalerd")
    finally:
        apps.delete_namespaced_deployment(name, "default")
        admin.close()

    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {"target": "web", "metrics": [
        {"name": "cpu", "type": "cpu", "value": 75, "proposal": 3, "error": None, "partitions": None}]}


def test_a_missing_topic_and_a_silent_prometheus_cost_their_own_metrics_only_within_the_timeouts(
        testbed, kafka, make_topic, group_name, tmp_path):
    topic, ghost = make_topic(2), f"no-such-topic-{uuid.uuid4().hex[:8]}"
    kafka.produce(topic, {0: 7, 1: 2})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 3, 1: 2})
    # Accepts connections and never answers: a Prometheus hung behind a load balancer.
    silent = socket.create_server(("127.0.0.1", 0))
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    config = tmp_path / "config.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
defaults:
  prometheus: {{url: "{silent_url}", timeout: 2s}}
  kafka: {{bootstrapServers: "{testbed.kafka_bootstrap}", timeout: 3s}}
targets:
  - name: orders
    namespace: shop
    deployment: orders
    minReplicas: 1
    maxReplicas: 20
    metrics:
      - {{type: kafka, name: good, group: {group_name}, topics: [{topic}], lagPerReplica: 1}}
      - {{type: kafka, name: ghost, group: ghosts-{group_name}, topics: [{ghost}], lagPerReplica: 1}}
      - {{type: prometheus, name: rps, query: "sum(rps)", targetPerReplica: 50}}
""")
    try:
        result, seconds = timed_scalerd_metrics(tmp_path, "--config", str(config), "--output", "json")
    finally:
        silent.close()

    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1, result.stderr
    assert [(metric["name"], metric["value"], metric["error"]) for metric in report["metrics"]] == [
        ("good", 4, None),
        ("ghost", None, f"kafka {testbed.kafka_bootstrap}: topic '{ghost}' not found"),
        ("rps", None, f"{silent_url}/api/v1/query: no answer within 2s"),
    ]
    # The silent Prometheus was cut at its 2 s timeout (the error names it) and the missing topic cost nothing
    # beside the good lag; the generous ceiling (ten of the longest timeout) is for a hang, never a busy machine.
    assert seconds < 10 * 3.0, seconds
