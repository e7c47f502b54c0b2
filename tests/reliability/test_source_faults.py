"""Metric sources and the managed Deployment misbehaving under a running `scalerd run`.

What must never happen whatever a source does: a missing reading taken for zero (a scale-down to the minimum
because Prometheus or the broker is down), one bad source holding up the other targets, or scalerd creating a
Deployment it was told to manage.
"""
from __future__ import annotations

import itertools
import time

from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    NAMESPACE,
    at_least,
    audit_lines,
    create_deployment,
    replicas_of,
    rps_config,
    serve_rps,
    set_rps,
    wait_until,
)
from tests.reliability.support import (
    FakePrometheus,
    events_named,
    scale_statuses,
)
from tests.soak.records import log_time
from tests.testbed.kafka_tools import unique_name
from tests.testbed.kubeconfig import SCALERD_USER


def _write_config(tmp_path, text: str) -> list[str]:
    path = tmp_path / "scalerd.yaml"
    path.write_text(text)
    return ["--config", str(path)]


def test_prometheus_down_holds_the_count_then_the_fallback_applies_and_recovery_follows_the_metric(
        testbed, admin, tmp_path, daemons):
    held, falling_back = unique_name("held"), unique_name("fallback")
    for deployment in (held, falling_back):
        create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {held: 45, falling_back: 45})
    text = rps_config(prometheus_url=testbed.prometheus_url, targets=[
        {"name": "held", "deployment": held}, {"name": "fallback", "deployment": falling_back}])
    text = text.replace("  - name: fallback\n", "  - name: fallback\n    fallback: {failureThreshold: 2, replicas: 3}\n")
    daemon = daemons.start(_write_config(tmp_path, text))
    wait_until(lambda: replicas_of(admin, held) == replicas_of(admin, falling_back) == 5, timeout=10,
               what="both at 5")

    stopped_at = time.time()
    testbed.stop_prometheus()

    def two_cycles_after_the_fallback() -> list[dict] | None:
        """The decisions without Prometheus once the fallback target had its hold, its fallback and two more."""
        failed = [line for line in daemon.decisions()
                  if line["timestamp"] >= _iso(stopped_at) and line["metrics"][0]["error"]]
        return failed if [line["target"] for line in failed].count("fallback") >= 4 else None

    try:
        wait_until(lambda: replicas_of(admin, falling_back) == 3, timeout=10, what="the fallback's 3 replicas")
        during = wait_until(two_cycles_after_the_fallback, timeout=15, what="two cycles after the fallback")
    finally:
        testbed.start_prometheus()
    set_rps(testbed, {held: 45, falling_back: 45})
    wait_until(lambda: replicas_of(admin, falling_back) == 5, timeout=10, what="the metric again: 5")

    held_lines = [line for line in during if line["target"] == "held"]
    assert {(line["reason"], line["applied"]) for line in held_lines} == {("metric_failed_hold", False)}
    error = held_lines[0]["metrics"][0]["error"]
    assert error == f"{testbed.prometheus_url}/api/v1/query: cannot connect: Connection refused"
    assert replicas_of(admin, held) == 5
    fallback_reasons = [line["reason"] for line in during if line["target"] == "fallback"]
    assert fallback_reasons[:2] == ["metric_failed_hold", "fallback"]
    assert set(fallback_reasons[2:]) == {"no_change"}
    assert [(line["current"], line["desired"]) for line in daemon.wait_for_applied(3, deployment=falling_back)
            ] == [(2, 5), (5, 3), (3, 5)]
    assert daemon.metric('scalerd_metric_errors_total{source="prometheus"}') >= 2 * len(held_lines)
    assert daemon.get("/healthz").status_code == 200


def _run_beside_a_fake_prometheus(testbed, admin, tmp_path, daemons, kinds: tuple[str, ...]):
    """A `good` target on the real Prometheus asking for 5, and one target per kind of FakePrometheus answer;
    (Deployment names by kind, the fake's URL, the decisions of the first 3 s after the good target's write)."""
    names = {kind: unique_name(kind) for kind in ("good", *kinds)}
    for deployment in names.values():
        create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {names["good"]: 45})
    with FakePrometheus(value=90.0, slow_seconds=3.0) as fake:
        text = "\n".join([
            "apiVersion: scalerd/v1",
            f"defaults: {{interval: 1s, prometheus: {{url: '{testbed.prometheus_url}', timeout: 1s}}}}",
            "targets:",
            *(f"  - {{name: {kind}, deployment: {deployment}, maxReplicas: 10, behavior: {{cooldown: 0s}}, "
              f"metrics: [{{type: prometheus, name: rps, targetPerReplica: 10, "
              f"query: 'sum(scalerd_test_rps{{deployment=\"{deployment}\"}})'"
              + ("" if kind == "good" else f", url: '{fake.url}/{kind}'") + "}]}"
              for kind, deployment in names.items()),
        ]) + "\n"
        daemon = daemons.start(_write_config(tmp_path, text))
        wait_until(lambda: replicas_of(admin, names["good"]) == 5, timeout=10, what="the good target at 5")

        def after_three_more_cycles() -> list[dict] | None:
            """About 3 s of cycles: the good target's write and three more of its cycles, two of every other."""
            decisions = daemon.decisions()
            cycles = {kind: sum(line["deployment"] == deployment for line in decisions)
                      for kind, deployment in names.items()}
            return decisions if cycles.pop("good") >= 4 and min(cycles.values()) >= 2 else None

        decisions = wait_until(after_three_more_cycles, timeout=20, what="three more cycles after the write")
        assert daemon.get("/healthz").status_code == 200
        return names, fake.url, decisions


def test_a_slow_or_garbage_prometheus_fails_its_own_target_only(testbed, admin, tmp_path, daemons):
    kinds = ("slow", "garbage", "malformed", "two")
    names, fake_url, decisions = _run_beside_a_fake_prometheus(testbed, admin, tmp_path, daemons, kinds)

    errors = {line["target"]: line["metrics"][0]["error"] for line in decisions if line["target"] != "good"}
    assert errors == {
        "slow": f"{fake_url}/slow/api/v1/query: no answer within 1s",
        "garbage": f"{fake_url}/garbage/api/v1/query: HTTP 200 OK, not a Prometheus API answer",
        "malformed": f"{fake_url}/malformed/api/v1/query: malformed vector result",
        "two": "query returned 2 series, expected 1",
    }
    assert {line["reason"] for line in decisions if line["target"] != "good"} == {"metric_failed_hold"}
    for kind in kinds:
        assert replicas_of(admin, names[kind]) == 2
        assert scale_statuses(testbed.audit_path, names[kind]) == []
    good_lines = [line for line in decisions if line["target"] == "good"]
    assert [(line["current"], line["desired"], line["applied"]) for line in good_lines][:2] == [
        (2, 5, True), (5, 5, False)]


def test_a_slow_prometheus_does_not_slow_the_other_targets_cycles(testbed, admin, tmp_path, daemons):
    _names, _fake_url, decisions = _run_beside_a_fake_prometheus(testbed, admin, tmp_path, daemons, ("slow",))

    good_times = [log_time(line) for line in decisions if line["target"] == "good"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(good_times)]
    assert len(good_times) >= 3 and max(gaps) < 1.5, gaps


def test_a_restarted_broker_that_lost_its_offsets_follows_the_offset_reset_policy(
        testbed, admin, kafka, group_name, tmp_path, daemons):
    earliest, latest = unique_name("earliest"), unique_name("latest")
    for deployment in (earliest, latest):
        create_deployment(admin, deployment, replicas=1)
    topic = unique_name("topic")
    kafka.create_topic(topic, partitions=4)
    kafka.produce(topic, {partition: 10 for partition in range(4)})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={partition: 10 for partition in range(4)})
    text = f"""\
apiVersion: scalerd/v1
defaults:
  interval: 1s
  kafka: {{bootstrapServers: '{testbed.kafka_bootstrap}', timeout: 2s}}
targets:
  - name: earliest
    deployment: {earliest}
    maxReplicas: 10
    metrics: [{{type: kafka, group: {group_name}, topics: [{topic}], lagPerReplica: 10, offsetResetPolicy: earliest}}]
    behavior: {{cooldown: 0s}}
  - name: latest
    deployment: {latest}
    maxReplicas: 10
    metrics: [{{type: kafka, group: {group_name}, topics: [{topic}], lagPerReplica: 2, offsetResetPolicy: latest}}]
    behavior: {{cooldown: 0s}}
"""
    daemon = daemons.start(_write_config(tmp_path, text))
    wait_until(lambda: len(daemon.decisions()) >= 4, timeout=10, what="two cycles with the broker up")

    testbed.stop_kafka()
    stopped_at = time.time()
    def outage() -> list[dict]:
        return [line for line in daemon.decisions()
                if line["timestamp"] >= _iso(stopped_at) and not line["applied"] and line["metrics"][0]["error"]]

    wait_until(at_least(4, outage), timeout=20, what="two cycles with the broker down")
    testbed.start_kafka()
    kafka.create_topic(topic, partitions=4)  # memory storage: the topic, its records and the offsets are gone
    kafka.produce(topic, {partition: 10 for partition in range(4)})
    wait_until(lambda: replicas_of(admin, earliest) == 4 and replicas_of(admin, latest) == 2, timeout=15,
               what="earliest: lag 40 -> 4 replicas; latest: 1 per partition holding messages -> 2")
    # The records arrive one by one while the daemon's cycles go on, so a cycle may read part of them (a lag of
    # 31 scales earliest to 4 as 40 does): the policies' figures are those of a cycle begun after the last record
    # and the last change, which is any but the first cycle logged after both (cycles never overlap).
    settled_at = _iso(time.time())

    def settled(target: str) -> list[tuple[int, int, float]]:
        return [(line["current"], line["desired"], line["metrics"][0]["value"]) for line in daemon.decisions()
                if line["target"] == target and line["timestamp"] >= settled_at][1:]

    wait_until(lambda: settled("earliest") and settled("latest"), timeout=15, what="a cycle begun after the changes")
    assert settled("earliest")[0] == (4, 4, 40), "earliest: the lag from offset 0 of every partition"
    assert settled("latest")[0] == (2, 2, 4), "latest: 1 per partition holding messages"

    before = [line for line in daemon.decisions() if line["timestamp"] < _iso(stopped_at)]
    assert {(line["current"], line["desired"], line["metrics"][0]["value"]) for line in before} == {(1, 1, 0)}
    failed = outage()
    assert len(failed) >= 4 and {line["reason"] for line in failed} == {"metric_failed_hold"}
    assert all(line["current"] == line["desired"] == 1 for line in failed)
    for target, final in (("earliest", 4), ("latest", 2)):
        steps = [(line["current"], line["desired"]) for line in daemon.decisions()
                 if line["target"] == target and line["applied"]]
        assert steps[0][0] == 1 and steps[-1][1] == final, steps
        assert all(earlier[1] == later[0] for earlier, later in itertools.pairwise(steps)), steps


def test_a_deleted_deployment_is_reported_never_recreated_and_managed_again_once_recreated(
        testbed, admin, tmp_path, daemons):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    daemon = daemons.start(_write_config(tmp_path, rps_config(
        prometheus_url=testbed.prometheus_url, targets=[{"name": "api", "deployment": deployment}])))
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled to 5")

    kube_client.AppsV1Api(admin).delete_namespaced_deployment(deployment, NAMESPACE)
    deleted_at = time.time()
    missing = wait_until(lambda: [line for line in events_named(daemon, "deployment_not_found")][2:], timeout=10,
                         what="three cycles without the Deployment")
    create_deployment(admin, deployment, replicas=1)
    serve_rps(testbed, {deployment: 45})
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="the new Deployment scaled to 5")

    assert {(line["level"], line["deployment"]) for line in missing} == {("warning", deployment)}
    assert [(line["current"], line["desired"]) for line in daemon.wait_for_applied(2, deployment=deployment)] == [
        (2, 5), (1, 5)]
    scalerd_requests = [line for line in audit_lines(testbed.audit_path)
                        if line["user"] == SCALERD_USER and deployment in line["path"] and line["ts"] > deleted_at]
    assert "create" not in {line["verb"] for line in scalerd_requests}
    assert [line["status"] for line in scalerd_requests if line["path"].endswith("/scale")] == [200]
    assert daemon.get("/healthz").status_code == 200


def _iso(unix_seconds: float) -> str:
    """The daemon's log timestamp format, for comparisons as text."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix_seconds)) + f".{int(unix_seconds % 1 * 1e6):06d}Z"

