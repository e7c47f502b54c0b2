"""An unresolvable broker, as the shipped ConfigMap's `kafka.kafka.svc:9092` is outside a cluster: `scalerd run`
says it in a few lines per cycle, not in librdkafka's line per reconnect attempt (195 per 10 s, issue 17)."""
from __future__ import annotations

import pytest

from tests.integration.daemon_support import ScalerdDaemon, create_deployment, wait_until
from tests.testbed.kafka_tools import unique_name

BROKER = "unresolvable.invalid:9092"  # RFC 6761: .invalid never resolves


@pytest.fixture
def daemon(testbed, tmp_path):
    deployment = unique_name("orders")
    create_deployment(testbed.admin_api_client(), deployment, replicas=2)
    config = tmp_path / "scalerd.yaml"
    config.write_text(
        "apiVersion: scalerd/v1\n"
        "defaults:\n"
        "  interval: 3s\n"
        f"  kafka: {{bootstrapServers: '{BROKER}', timeout: 1s}}\n"
        "targets:\n"
        f"  - {{name: orders, deployment: {deployment}, minReplicas: 1, maxReplicas: 5,\n"
        "      metrics: [{type: kafka, group: orders, topics: [orders], lagPerReplica: 10}]}\n")
    started = ScalerdDaemon(testbed, tmp_path, config_args=["--config", str(config)], extra=("--dry-run",))
    yield started
    started.close()


def test_an_unresolvable_broker_is_said_once_and_each_cycle_adds_only_its_decision(daemon):
    wait_until(lambda: len(daemon.decisions()) >= 3, timeout=30, what="three decisions")
    lines = daemon.log_events()
    decisions = [line for line in lines if line["event"] == "decision"]
    about_the_broker = [line for line in lines[:lines.index(decisions[2]) + 1] if BROKER in str(line)]

    # One cycle: the problem once, then the decision naming the metric's error; each later cycle its decision only.
    assert [line["event"] for line in about_the_broker] == [
        "kafka_broker_problem", "decision", "decision", "decision"]
    problem = about_the_broker[0]
    assert (problem["level"], problem["message"]) == ("error", (
        "unresolvable.invalid:9092/bootstrap: Failed to resolve 'unresolvable.invalid:9092': "
        "Name or service not known"))
    assert {decision["reason"] for decision in decisions} == {"metric_failed_hold"}
    assert [metric["error"] for metric in decisions[0]["metrics"]] == [
        f"kafka {BROKER}: cannot read topic metadata: Failed to get metadata: Local: Broker transport failure"]
    assert [line for line in lines if line["level"] not in ("info", "error")] == []
