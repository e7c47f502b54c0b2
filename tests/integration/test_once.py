"""`scalerd once` as a subprocess against the test bed, with the least-privilege `scalerd` context."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    FAST_LEASE,
    NAMESPACE,
    ScalerdDaemon,
    annotations_of,
    audit_lines,
    create_deployment,
    events_about,
    replicas_of,
    rps_config,
    rps_scene,
    run_command,
    scale_writes,
    set_rps,
    wait_until,
)
from tests.testbed.apiserver import SCALERD_USER
from tests.testbed.kafka_tools import unique_name


@pytest.fixture
def admin(testbed):
    return testbed.admin_api_client()


def _once(testbed, config_path, *extra: str):
    return run_command(testbed, "once", config_path, *extra)


def _metadata(admin, deployment: str) -> dict:
    return kube_client.AppsV1Api(admin).read_namespaced_deployment(deployment, NAMESPACE).to_dict()["metadata"]


def test_once_scales_up_from_a_prometheus_metric_and_explains_it(testbed, admin, tmp_path):
    deployment, config = rps_scene(testbed, admin, tmp_path)

    finished = _once(testbed, config)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {
        "target": "api", "namespace": "default", "deployment": deployment, "current": 2, "desired": 5,
        "applied": True, "reason": "scale_up", "metrics": [{"name": "rps", "value": 45.0, "proposal": 5}],
    }
    assert replicas_of(admin, deployment) == 5
    [event] = [event for event in events_about(admin, deployment) if event.reason == "ScaledUp"]
    assert event.type == "Normal"
    assert "rps=45 proposes 5" in event.message


def test_once_changes_the_replicas_and_nothing_else_and_status_shows_the_change(testbed, admin, tmp_path):
    deployment, config = rps_scene(testbed, admin, tmp_path)
    before = _metadata(admin, deployment)
    started = time.time()

    finished = _once(testbed, config)
    shown = run_command(testbed, "status", config)

    assert finished.returncode == 0, finished.stderr
    after = _metadata(admin, deployment)
    assert replicas_of(admin, deployment) == 5
    assert after["generation"] == before["generation"] + 1  # the scale, and no metadata write
    assert {key: value for key, value in after.items() if key not in ("generation", "resource_version")} == {
        key: value for key, value in before.items() if key not in ("generation", "resource_version")}
    writes = [(line["verb"], line["path"].split("/")[-2:]) for line in audit_lines(testbed.audit_path)
              if line["ts"] >= started and line["verb"] in ("create", "update", "patch")
              and line["user"] == SCALERD_USER and f"/deployments/{deployment}" in line["path"]]
    assert writes == [("patch", [deployment, "scale"])]
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert {key: row[key] for key in ("target", "deployment", "current", "desired", "reason")} == {
        "target": "api", "deployment": deployment, "current": 5, "desired": 5, "reason": "scale_up"}
    changed_at = datetime.fromisoformat(row["last_change"])
    assert started - 1 <= changed_at.timestamp() <= time.time()


def test_once_dry_run_decides_and_writes_nothing(testbed, admin, tmp_path):
    deployment, config = rps_scene(testbed, admin, tmp_path)

    finished = _once(testbed, config, "--dry-run")

    assert finished.returncode == 0, finished.stderr
    line = json.loads(finished.stdout)
    assert (line["current"], line["desired"], line["applied"]) == (2, 5, False)
    assert replicas_of(admin, deployment) == 2
    assert annotations_of(admin, deployment) == {}
    assert events_about(admin, deployment) == []
    assert scale_writes(testbed.audit_path, deployment) == []


def test_once_scales_down_then_a_second_once_holds_within_the_cooldown_read_from_the_store(testbed, admin, tmp_path):
    deployment, config = rps_scene(testbed, admin, tmp_path, replicas=6, rps=20, cooldown="1h")

    down = _once(testbed, config)
    set_rps(testbed, {deployment: 90})
    held = _once(testbed, config)

    assert down.returncode == 0 and held.returncode == 0, down.stderr + held.stderr
    assert (json.loads(down.stdout)["desired"], json.loads(down.stdout)["reason"]) == (2, "scale_down")
    held_line = json.loads(held.stdout)
    assert (held_line["current"], held_line["desired"], held_line["reason"]) == (2, 2, "cooldown")
    assert replicas_of(admin, deployment) == 2
    assert len(scale_writes(testbed.audit_path, deployment)) == 1


def test_a_daemon_started_after_once_holds_the_cooldown_of_the_change_once_made(testbed, admin, tmp_path):
    deployment, config = rps_scene(testbed, admin, tmp_path, replicas=6, rps=20, cooldown="1h")
    assert _once(testbed, config).returncode == 0
    set_rps(testbed, {deployment: 90})

    # The daemon's default Lease name is the default store prefix: it reads the history `once` wrote.
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=["--config", str(config)], extra=FAST_LEASE)
    try:
        decisions = wait_until(lambda: daemon.decisions()[:2] if len(daemon.decisions()) >= 2 else None,
                               timeout=20, what="two decisions of the daemon")
    finally:
        daemon.close()

    assert [(line["current"], line["desired"], line["reason"]) for line in decisions] == [(2, 2, "cooldown")] * 2
    assert len(scale_writes(testbed.audit_path, deployment)) == 1  # once's


def test_once_scales_from_real_kafka_lag(testbed, admin, kafka, make_topic, group_name, tmp_path):
    deployment = unique_name("consumer")
    create_deployment(admin, deployment, replicas=1)
    topic = make_topic(3)
    kafka.produce(topic, {0: 10, 1: 10, 2: 10})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 5, 1: 2, 2: 10})
    config = tmp_path / "scalerd.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
defaults:
  kafka: {{bootstrapServers: '{testbed.kafka_bootstrap}'}}
targets:
  - name: consumer
    namespace: default
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 10
    metrics:
      - type: kafka
        group: {group_name}
        topics: [{topic}]
        lagPerReplica: 5
    behavior: {{cooldown: 0s}}
""")

    finished = _once(testbed, config)

    assert finished.returncode == 0, finished.stderr
    line = json.loads(finished.stdout)
    # lag 5 + 8 + 0 = 13 → ceil(13 / 5) = 3, which the 3 partitions allow.
    assert line["metrics"] == [{"name": "kafka", "value": 13.0, "proposal": 3}]
    assert (line["current"], line["desired"], line["applied"]) == (1, 3, True)
    assert replicas_of(admin, deployment) == 3


def test_once_exits_1_when_a_deployment_is_missing_and_still_decides_the_others(testbed, admin, tmp_path):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 20})
    config = tmp_path / "scalerd.yaml"
    config.write_text(rps_config(prometheus_url=testbed.prometheus_url, targets=[
        {"name": "api", "deployment": deployment},
        {"name": "ghost", "deployment": unique_name("ghost")},
    ]))

    finished = _once(testbed, config)

    assert finished.returncode == 1
    lines = {line["target"]: line for line in map(json.loads, finished.stdout.splitlines())}
    assert (lines["api"]["desired"], lines["api"]["reason"]) == (2, "no_change")
    assert (lines["ghost"]["reason"], lines["ghost"]["current"]) == ("deployment_not_found", None)


def test_once_with_an_invalid_config_exits_2_with_every_problem(testbed, tmp_path):
    config = tmp_path / "scalerd.yaml"
    config.write_text(rps_config(prometheus_url=testbed.prometheus_url, targets=[
        {"name": "api", "deployment": "api", "per_replica": -3, "min": 5, "max": 2},
    ]))

    finished = _once(testbed, config)

    assert finished.returncode == 2
    assert finished.stdout == ""
    problems = finished.stderr.splitlines()
    assert "targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)" in problems
    assert any(problem.startswith("targets[0].maxReplicas:") for problem in problems)


def test_no_planted_secret_reaches_any_log_line_or_output(testbed, admin, tmp_path):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    token_file = tmp_path / "prometheus-token"
    token_file.write_text("planted-bearer-7f3a9c\n")
    config = tmp_path / "scalerd.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
defaults:
  prometheus: {{url: '{testbed.prometheus_url}', bearerTokenFile: '{token_file}'}}
  kafka:
    bootstrapServers: '{testbed.kafka_bootstrap}'
    timeout: 2s
    config: {{security.protocol: SASL_PLAINTEXT, sasl.mechanisms: planted-mechanism-9b1e, sasl.username: planted-user-51d0,
              sasl.password: planted-password-c4e2}}
targets:
  - name: api
    namespace: default
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 10
    metrics:
      - {{type: prometheus, name: rps, query: 'sum(scalerd_test_rps{{deployment="{deployment}"}})', targetPerReplica: 10}}
      - {{type: kafka, group: planted-group, topics: [absent-topic], lagPerReplica: 10}}
""")

    finished = _once(testbed, config, "--log-format", "json", "--dry-run")

    output = finished.stdout + finished.stderr
    assert '"event": "decision"' in finished.stderr
    # librdkafka refuses the mechanism and quotes it: the error is logged, with the secret masked.
    assert "[redacted]" in finished.stderr
    for planted in ("planted-bearer-7f3a9c", "planted-user-51d0", "planted-password-c4e2", "planted-mechanism-9b1e",
                    testbed.tokens.scalerd):
        assert planted not in output


def test_once_follows_the_active_daily_schedule_entry(testbed, admin, tmp_path):
    deployment = unique_name("batch")
    create_deployment(admin, deployment, replicas=1)
    now = datetime.now(UTC)
    started = (now - timedelta(minutes=1)).strftime("%H:%M")
    later = (now + timedelta(hours=2)).strftime("%H:%M")
    config = tmp_path / "scalerd.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
targets:
  - name: batch
    namespace: default
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 10
    schedule:
      - {{time: "{started}", replicas: 4}}
      - {{time: "{later}", replicas: 1}}
    behavior: {{cooldown: 0s}}
""")

    finished = _once(testbed, config)

    assert finished.returncode == 0, finished.stderr
    line = json.loads(finished.stdout)
    assert (line["current"], line["desired"], line["applied"], line["metrics"]) == (1, 4, True, [])
    assert replicas_of(admin, deployment) == 4


def test_once_that_may_not_store_its_intent_does_not_scale_and_says_why(testbed, admin, tmp_path):
    deployment, config = rps_scene(testbed, admin, tmp_path)

    finished = _once(testbed, config, "--lease-namespace", "default")  # the scalerd identity may only read there

    assert finished.returncode == 1
    line = json.loads(finished.stdout)
    assert (line["desired"], line["applied"]) == (5, False)
    refused = [line for line in finished.stderr.splitlines() if "kube_write_not_applied" in line]
    assert len(refused) == 1 and "cannot create resource" in refused[0] and "ConfigMap scalerd-state-" in refused[0]
    assert replicas_of(admin, deployment) == 2
    assert scale_writes(testbed.audit_path, deployment) == []
