"""`scalerd run` subprocesses on the test bed: scaling both ways, health and metrics, hot reload, one leader.

Both instances of a failover test run as the same ServiceAccount, so the audit log cannot tell them apart by
user: the Lease holder (each instance's identity is its POD_NAME) and each process's own decision log lines
say which one wrote, and the audit log gives the count and the time of every write.
"""
from __future__ import annotations

import time

import pytest
from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    FAST_LEASE,
    NAMESPACE,
    ScalerdDaemon,
    at_least,
    audit_lines,
    create_deployment,
    events_about,
    how_taken,
    lease_holder,
    replicas_of,
    rps_config,
    run_scalerd,
    scale_writes,
    serve_rps,
    set_rps,
    wait_until,
)
from tests.soak.records import log_time
from tests.testbed.kafka_tools import unique_name
from tests.testbed.kubeconfig import SCALERD_USER

LEASE_SECONDS = 3.0


@pytest.fixture
def admin(testbed):
    return testbed.admin_api_client()


def _config_file(tmp_path, testbed, deployment: str, **target) -> list[str]:
    path = tmp_path / "scalerd.yaml"
    path.write_text(rps_config(prometheus_url=testbed.prometheus_url,
                               targets=[{"name": "api", "deployment": deployment, **target}]))
    return ["--config", str(path)]


def test_run_scales_up_and_down_serves_health_and_metrics_and_stops_on_sigterm(testbed, admin, tmp_path,
                                                                               daemons, record_property):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=_config_file(tmp_path, testbed, deployment),
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    daemons.append(daemon)
    daemon.wait_ready()

    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled up to 5")
    set_rps(testbed, {deployment: 15})
    wait_until(lambda: replicas_of(admin, deployment) == 2, timeout=10, what="scaled down to 2")
    # The decision's log line, counter, annotations and Event (the last of them) follow the write the API shows.
    wait_until(lambda: len(events_about(admin, deployment)) >= 2, timeout=10, what="the scale-down's Event")

    assert daemon.get("/healthz").status_code == 200
    assert daemon.get("/readyz").status_code == 200
    metrics = daemon.get("/metrics").text
    assert 'scalerd_decisions_total{direction="up",target="api"} 1.0' in metrics
    assert 'scalerd_decisions_total{direction="down",target="api"} 1.0' in metrics
    assert daemon.metric("scalerd_leader") == 1.0
    # A cycle after the scale-up's succeeded (the scale-down's, at least), and none in the future.
    scaled_up_at = log_time(next(line for line in daemon.decisions() if line["applied"]))
    assert scaled_up_at < daemon.metric("scalerd_last_successful_cycle_timestamp_seconds") <= time.time()
    assert daemon.metric("scalerd_cycle_duration_seconds_count") >= 2
    assert 'scalerd_api_requests_total{code="200",verb="patch"}' in metrics
    applied = [(line["current"], line["desired"], line["reason"]) for line in daemon.decisions() if line["applied"]]
    assert applied == [(2, 5, "scale_up"), (5, 2, "scale_down")]
    assert [event.reason for event in events_about(admin, deployment)] == ["ScaledUp", "ScaledDown"]
    assert len(scale_writes(testbed.audit_path, deployment)) == 2

    exit_seconds = daemon.terminate()  # within its 10 s deadline; the bounded steps below take 2 s at most
    record_property("sigterm_exit_seconds", round(exit_seconds, 3))
    assert daemon.process.returncode == 0
    assert [line["event"] for line in daemon.log_events()
            if line.get("event") in ("stopping", "lease_released", "stopped")] == ["stopping", "lease_released",
                                                                                 "stopped"]


def test_a_bad_config_map_edit_keeps_the_last_good_rules_and_a_good_edit_applies(testbed, admin, tmp_path,
                                                                                 daemons):
    deployment = unique_name("api")
    config_map = unique_name("rules")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 95})
    core = kube_client.CoreV1Api(admin)

    def rules(**target) -> dict:
        return {"config.yaml": rps_config(prometheus_url=testbed.prometheus_url,
                                          targets=[{"name": "api", "deployment": deployment, **target}])}

    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": config_map}, "data": rules(max=4)})
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=["--config-map", f"{NAMESPACE}/{config_map}"],
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    daemons.append(daemon)
    daemon.wait_ready()
    wait_until(lambda: replicas_of(admin, deployment) == 4, timeout=10, what="scaled up to maxReplicas 4")

    core.patch_namespaced_config_map(config_map, NAMESPACE, {"data": rules(max=8, per_replica=-3)})

    def config_invalid_events():
        return [event for event in events_about(admin, config_map) if event.reason == "ConfigInvalid"]

    [event] = wait_until(config_invalid_events, timeout=10, what="ConfigInvalid Event")
    assert event.type == "Warning"
    assert event.involved_object.kind == "ConfigMap"
    assert "targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)" in event.message
    assert daemon.metric("scalerd_config_reload_failures_total") == 1.0
    rejected = [line["problem"] for line in daemon.log_events() if line.get("event") == "config_rejected"]
    assert rejected == ["targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)"]
    decisions_before = len(daemon.decisions())
    wait_until(lambda: len(daemon.decisions()) >= decisions_before + 2, timeout=15, what="two more cycles")
    assert replicas_of(admin, deployment) == 4
    assert daemon.decisions()[-1]["reason"] == "at_max"

    core.patch_namespaced_config_map(config_map, NAMESPACE, {"data": rules(max=8)})
    wait_until(lambda: replicas_of(admin, deployment) == 8, timeout=10, what="scaled to the new maxReplicas 8")
    assert daemon.metric("scalerd_config_reload_failures_total") == 1.0

    other = unique_name("other")
    create_deployment(admin, other, replicas=1)
    core.patch_namespaced_config_map(config_map, NAMESPACE, {"data": {"config.yaml": rps_config(
        prometheus_url=testbed.prometheus_url, targets=[{"name": "other", "deployment": other}])}})
    wait_until(lambda: any(line["target"] == "other" for line in daemon.decisions()), timeout=10,
               what="the new target decided")
    set_rps(testbed, {deployment: 15, other: 5})
    wait_until(lambda: len([line for line in daemon.decisions() if line["target"] == "other"
                            and line["metrics"][0]["value"] == 5]) >= 2, timeout=10,
               what="two cycles after the rps change")
    assert replicas_of(admin, deployment) == 8, "a target removed from the config is no longer touched"


def _leader_and_standby(testbed, admin, tmp_path, daemons):
    """A Deployment at 2 replicas (its metric asking for 2) and two ready `scalerd run` on one Lease, the first
    holding it: (deployment, lease, leader, standby)."""
    deployment = unique_name("api")
    lease = unique_name("lease")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 20})
    config_args = _config_file(tmp_path, testbed, deployment)
    first = ScalerdDaemon(testbed, tmp_path, config_args=config_args, identity=unique_name("first"),
                          extra=("--lease-name", lease, *FAST_LEASE))
    daemons.append(first)
    first.wait_ready()
    wait_until(lambda: lease_holder(admin, lease) == first.identity, timeout=10, what="first holds the Lease")
    second = ScalerdDaemon(testbed, tmp_path, config_args=config_args, identity=unique_name("second"),
                           extra=("--lease-name", lease, *FAST_LEASE))
    daemons.append(second)
    second.wait_ready()
    return deployment, lease, first, second


def test_a_bad_file_edit_is_logged_and_counted_and_raises_no_event(testbed, admin, tmp_path, daemons):
    """README: the `ConfigInvalid` Event exists only with --config-map (a file has no object to carry it)."""
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    config_args = _config_file(tmp_path, testbed, deployment)
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=config_args,
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    daemons.append(daemon)
    daemon.wait_ready()
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled up to 5")
    daemon.wait_for_settled(1)  # the scale-up's ScaledUp Event is sent before the next cycle decides
    edited_at = time.time()

    (tmp_path / "scalerd.yaml").write_text(rps_config(prometheus_url=testbed.prometheus_url, targets=[
        {"name": "api", "deployment": deployment, "per_replica": -3}]))
    rejected = wait_until(lambda: [line for line in daemon.log_events() if line.get("event") == "config_rejected"],
                          timeout=10, what="the bad edit rejected")
    decisions_before = len(daemon.decisions())
    wait_until(lambda: len(daemon.decisions()) >= decisions_before + 2, timeout=15, what="two more cycles")

    assert [line["problem"] for line in rejected] == ["targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)"]
    assert daemon.metric("scalerd_config_reload_failures_total") == 1.0
    event_writes = [line for line in audit_lines(testbed.audit_path) if line["user"] == SCALERD_USER
                    and line["ts"] >= edited_at and line["verb"] == "create" and line["path"].endswith("/events")]
    assert event_writes == []


def test_only_the_lease_holder_writes_and_sigterm_hands_the_released_lease_over(testbed, admin, tmp_path,
                                                                              daemons, record_property):
    deployment, lease, first, second = _leader_and_standby(testbed, admin, tmp_path, daemons)

    set_rps(testbed, {deployment: 45})
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled up to 5")
    # The change's Event goes out in its own cycle, its outcome is stored at the end of the next one; from the
    # cycle after that, two cycles of both instances: the standby must stay silent through them, and the leader
    # sends nothing either.
    decisions = first.wait_for_settled(4)
    steady_from = log_time(decisions[-2])
    steady_requests = [
        (line["verb"], line["path"]) for line in audit_lines(testbed.audit_path)
        if line["user"] == SCALERD_USER and line["ts"] >= steady_from and line["verb"] != "watch"
        and "/leases/" not in line["path"]
    ]
    assert steady_requests == [], "a steady cycle makes no request: no write, no per-target GET"

    assert lease_holder(admin, lease) == first.identity
    assert [line["desired"] for line in first.decisions() if line["applied"]] == [5]
    assert second.decisions() == []
    assert len(scale_writes(testbed.audit_path, deployment)) == 1
    assert (first.metric("scalerd_leader"), second.metric("scalerd_leader")) == (1.0, 0.0)

    signalled = time.monotonic()
    first.process.send_signal(15)
    wait_until(lambda: lease_holder(admin, lease) == second.identity, timeout=10, interval=0.05,
               what="second takes the Lease")
    record_property("sigterm_takeover_seconds", round(time.monotonic() - signalled, 3))
    assert first.process.wait(timeout=10) == 0
    # Handed over, not waited out: the leader cleared the holder, and the standby took the Lease because it was
    # released (at its next attempt, tests/unit/test_kube_leader.py), never because it had expired.
    assert [line["event"] for line in first.log_events() if line.get("event") == "lease_released"] == [
        "lease_released"]
    assert how_taken(second) == {"taken": "released"}

    set_rps(testbed, {deployment: 15})
    wait_until(lambda: replicas_of(admin, deployment) == 2, timeout=10, what="the new leader scales down")
    assert [line["desired"] for line in second.wait_for_applied(1)] == [2]


def test_after_sigkill_of_the_leader_the_standby_writes_once_the_lease_expired(testbed, admin, tmp_path, daemons,
                                                                              record_property):
    deployment, lease, first, second = _leader_and_standby(testbed, admin, tmp_path, daemons)
    wait_until(lambda: len(first.decisions()) >= 1, timeout=10, what="the leader decides")

    first.kill()
    killed_at = time.time()
    serve_rps(testbed, {deployment: 45})  # in Prometheus after one scrape, long before the Lease expires
    [write] = wait_until(lambda: scale_writes(testbed.audit_path, deployment, since=killed_at), timeout=15,
                         interval=0.05, what="the standby's first write")
    record_property("sigkill_first_write_seconds", round(write["ts"] - killed_at, 3))
    # The standby first saw the killed leader's record stand unchanged for a lease duration, by its own clock;
    # then, as the leader, it wrote.
    taken = how_taken(second)
    assert (taken["taken"], taken["previous_holder"]) == ("expired", first.identity)
    assert taken["unchanged_for"] >= LEASE_SECONDS
    assert lease_holder(admin, lease) == second.identity
    assert [line["desired"] for line in second.wait_for_applied(1)] == [5]


def test_run_scales_up_and_down_from_real_kafka_lag(testbed, admin, kafka, make_topic, group_name, tmp_path,
                                                    daemons):
    deployment = unique_name("consumer")
    create_deployment(admin, deployment, replicas=1)
    topic = make_topic(4)
    kafka.produce(topic, {partition: 10 for partition in range(4)})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={partition: 0 for partition in range(4)})
    config = tmp_path / "scalerd.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
defaults:
  interval: 1s
  kafka: {{bootstrapServers: '{testbed.kafka_bootstrap}'}}
targets:
  - name: consumer
    namespace: default
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 10
    metrics:
      - {{type: kafka, group: {group_name}, topics: [{topic}], lagPerReplica: 10}}
    behavior:
      cooldown: 0s
      scaleDown: {{stabilizationWindow: 0s, policies: [{{type: Percent, value: 100, period: 1s}}]}}
""")
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=["--config", str(config)],
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    daemons.append(daemon)
    daemon.wait_ready()

    wait_until(lambda: replicas_of(admin, deployment) == 4, timeout=10, what="lag 40 / 10 per replica: 4")
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={partition: 10 for partition in range(4)})
    wait_until(lambda: replicas_of(admin, deployment) == 1, timeout=10, what="no lag: back to minReplicas 1")

    def applied() -> list[tuple]:
        return [(line["current"], line["desired"], line["metrics"][0]["value"]) for line in daemon.decisions()
                if line["applied"]]

    # The decision's log line follows the write the API already shows.
    wait_until(lambda: len(applied()) >= 2, timeout=10, what="the scale-down's decision line")
    assert applied() == [(1, 4, 40), (4, 1, 0)]


def test_run_holds_a_change_for_the_cooldown_on_the_real_clock(testbed, admin, tmp_path, daemons):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    daemon = ScalerdDaemon(testbed, tmp_path,
                           config_args=_config_file(tmp_path, testbed, deployment, cooldown="3s"),
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    daemons.append(daemon)
    daemon.wait_ready()
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled up to 5")

    set_rps(testbed, {deployment: 95})
    wait_until(lambda: replicas_of(admin, deployment) == 10, timeout=10, what="scaled up to 10 after the cooldown")

    first, second = (write["ts"] for write in wait_until(
        at_least(2, lambda: scale_writes(testbed.audit_path, deployment)), timeout=10, what="both writes audited"))
    # The cooldown runs from the cycle's clock reading, which precedes its write by the metric reads (< 0.2 s).
    assert 3.0 - 0.2 <= second - first < 3.0 + 1.0 + 0.5, second - first
    held = [line for line in daemon.decisions() if line["reason"] == "cooldown"]
    assert held and all(line["desired"] == 5 and not line["applied"] for line in held)


def test_run_with_an_invalid_config_at_start_exits_2_with_every_problem(testbed, tmp_path):
    config = tmp_path / "scalerd.yaml"
    config.write_text(rps_config(prometheus_url=testbed.prometheus_url, targets=[
        {"name": "api", "deployment": "api", "per_replica": -3},
    ]))

    finished = run_scalerd("run", "--config", str(config), "--kubeconfig", str(testbed.kubeconfig_path),
                           "--context", "scalerd", "--listen", "127.0.0.1:0")

    assert finished.returncode == 2
    assert finished.stderr.splitlines() == ["targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)"]


def test_run_dry_run_decides_every_cycle_and_writes_nothing_not_even_the_lease(testbed, admin, tmp_path,
                                                                                daemons):
    deployment = unique_name("api")
    lease = unique_name("lease")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=_config_file(tmp_path, testbed, deployment),
                           extra=("--lease-name", lease, "--dry-run", *FAST_LEASE))
    daemons.append(daemon)
    daemon.wait_ready()

    decisions = wait_until(lambda: daemon.decisions()[2:], timeout=10, what="three decisions")

    assert {(line["current"], line["desired"], line["applied"], line["write_status"]) for line in decisions} == {
        (2, 5, False, "dry_run"),
    }
    assert replicas_of(admin, deployment) == 2
    assert events_about(admin, deployment) == []
    audit = audit_lines(testbed.audit_path)
    assert [line for line in audit if line["path"].endswith(f"/leases/{lease}")] == []
    assert [line for line in audit if line["user"] == SCALERD_USER and f"/deployments/{deployment}" in line["path"]
            and line["verb"] not in ("get", "list", "watch")] == []
