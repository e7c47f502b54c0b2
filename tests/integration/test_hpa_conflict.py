"""A HorizontalPodAutoscaler scaling a managed Deployment, on the test bed with the least-privilege `scalerd`
context: scalerd decides but does not write, says so with one Warning Event, and manages the Deployment again
once the HPA is deleted."""
from __future__ import annotations

import itertools
import json
import time

import pytest
from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    FAST_LEASE,
    NAMESPACE,
    ScalerdDaemon,
    create_deployment,
    events_about,
    replicas_of,
    rps_config,
    run_command,
    scale_writes,
    set_rps,
    wait_until,
)
from tests.soak.records import log_time
from tests.testbed.kafka_tools import unique_name

CONFLICT_CYCLES = 3


@pytest.fixture
def admin(testbed):
    return testbed.admin_api_client()


@pytest.fixture
def autoscaling(admin):
    return kube_client.AutoscalingV2Api(admin)


def create_hpa(autoscaling, *, deployment: str) -> str:
    name = f"{deployment}-hpa"
    autoscaling.create_namespaced_horizontal_pod_autoscaler(NAMESPACE, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                 "minReplicas": 1, "maxReplicas": 4},
    })
    return name


def conflict_events(admin, deployment: str) -> list:
    return [event for event in events_about(admin, deployment) if event.reason == "HPAConflict"]


def config_file(tmp_path, testbed, deployment: str) -> str:
    path = tmp_path / "scalerd.yaml"
    path.write_text(rps_config(prometheus_url=testbed.prometheus_url,
                               targets=[{"name": "api", "deployment": deployment}]))
    return str(path)


def test_run_stands_back_while_an_hpa_scales_the_deployment_and_resumes_when_it_is_deleted(
        testbed, admin, autoscaling, tmp_path, record_property):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=["--config", config_file(tmp_path, testbed, deployment)],
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    try:
        daemon.wait_ready()
        wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="managed: scaled up to 5")
        created_at = time.time()
        hpa = create_hpa(autoscaling, deployment=deployment)
        wait_until(lambda: conflict_events(admin, deployment), timeout=15, what="the HPAConflict Event")
        detected_after = time.time() - created_at
        set_rps(testbed, {deployment: 75})
        wait_until(lambda: len(conflicting(daemon, desired=8)) >= CONFLICT_CYCLES, timeout=10,
                   what=f"{CONFLICT_CYCLES} conflicting decisions for 8 replicas")
        writes_during = scale_writes(testbed.audit_path, deployment, since=created_at)
        replicas_during = replicas_of(admin, deployment)
        decisions_during = conflicting(daemon)

        deleted_at = time.time()
        autoscaling.delete_namespaced_horizontal_pod_autoscaler(hpa, NAMESPACE)
        [resumed] = wait_until(lambda: scale_writes(testbed.audit_path, deployment, since=deleted_at), timeout=10,
                               what="a scale write after the delete")
        wait_until(lambda: replicas_of(admin, deployment) == 8, timeout=10, what="scaled up to 8")
        warnings = [line for line in daemon.log_events() if line.get("event") == "hpa_conflict"]
        events_after = conflict_events(admin, deployment)
        resumed_decision = daemon.wait_for_applied(2)[1]
        decisions = daemon.decisions()
    finally:
        daemon.close()

    record_property("hpa_conflict_detected_seconds", round(detected_after, 2))
    record_property("hpa_deleted_to_write_seconds", round(resumed["ts"] - deleted_at, 2))
    assert (writes_during, replicas_during) == ([], 5)
    assert {(line["current"], line["applied"], line["write_status"]) for line in decisions_during} == {
        (5, False, None)}
    assert all(f"HorizontalPodAutoscaler {hpa} also scales Deployment {NAMESPACE}/{deployment}" in line["message"]
               for line in decisions_during)
    [event] = events_after
    assert event.type == "Warning"
    assert event.message.startswith(f"HorizontalPodAutoscaler {hpa} also scales Deployment")
    assert [(line["level"], line["hpa"]) for line in warnings] == [("warning", hpa)]
    # Seen through the HPA watch, at once, counted in cycles, which a busy machine slows as much as the watch: at
    # most the cycles already under way decided without it (a periodic re-list would leave many).
    decided_after_create = [line for line in decisions if log_time(line) >= created_at]
    assert len(list(itertools.takewhile(lambda line: line["reason"] != "hpa_conflict", decided_after_create))) <= 2
    # Likewise the delete: the cycle after it wrote.
    decided_after_delete = [line for line in decisions if log_time(line) >= deleted_at]
    assert len(list(itertools.takewhile(lambda line: line["reason"] == "hpa_conflict", decided_after_delete))) <= 2
    assert (resumed_decision["current"], resumed_decision["desired"]) == (5, 8)


def conflicting(daemon: ScalerdDaemon, *, desired: int | None = None) -> list[dict]:
    return [line for line in daemon.decisions()
            if line["reason"] == "hpa_conflict" and desired in (None, line["desired"])]


def test_once_decides_reports_hpa_conflict_and_writes_only_the_event(testbed, admin, autoscaling, tmp_path):
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 45})
    hpa = create_hpa(autoscaling, deployment=deployment)

    try:
        finished = run_command(testbed, "once", config_file(tmp_path, testbed, deployment))
    finally:
        autoscaling.delete_namespaced_horizontal_pod_autoscaler(hpa, NAMESPACE)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {
        "target": "api", "namespace": NAMESPACE, "deployment": deployment, "current": 2, "desired": 5,
        "applied": False, "reason": "hpa_conflict", "metrics": [{"name": "rps", "value": 45.0, "proposal": 5}],
    }
    assert scale_writes(testbed.audit_path, deployment) == []
    assert replicas_of(admin, deployment) == 2
    assert [event.reason for event in events_about(admin, deployment)] == ["HPAConflict"]
