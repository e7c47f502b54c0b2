"""The CPU source through the test bed's API emulator, with the `scalerd` ServiceAccount's rights.

The emulator's Pods start Ready and its PodMetrics are stamped "now" with a 15 s window, so a fresh Pod is
inside the HPA's CPU initialization period and its sample window began before it became ready: the HPA
ignores it. Most tests read with a clock an hour ahead, past the initialization period, where readiness alone
decides; one test reads at the real time to show that rule on real objects.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as kube

from scalerd.config.model import Target
from scalerd.metric_types.cpu import CpuMetric
from scalerd.readings import PodCpu, Reading
from scalerd.sources.cpu import CpuSource

NAMESPACE = "default"
AN_HOUR_LATER = 3600.0


def deployment_body(name: str, *, replicas: int, containers: list[dict]) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}},
    }


def container(name: str, cpu: str | None) -> dict:
    requests = {"memory": "32Mi"} if cpu is None else {"cpu": cpu, "memory": "32Mi"}
    return {"name": name, "image": "registry.example/app:1", "resources": {"requests": requests}}


@pytest.fixture
def make_deployment(testbed) -> Iterator:
    admin = testbed.admin_api_client()
    apps, core = kube.AppsV1Api(admin), kube.CoreV1Api(admin)
    made = []

    def make(*, replicas: int, containers: list[dict]) -> tuple[str, list[str]]:
        name = f"cpu-{uuid.uuid4().hex[:8]}"
        apps.create_namespaced_deployment(NAMESPACE, deployment_body(name, replicas=replicas, containers=containers))
        made.append(name)
        pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app={name}").items
        return name, sorted(pod.metadata.name for pod in pods)

    yield make
    for name in made:
        apps.delete_namespaced_deployment(name, NAMESPACE)
    admin.close()


@pytest.fixture
def read_cpu(testbed) -> Iterator:
    api_client = testbed.scalerd_api_client()

    def read(deployment: str, *, clock_offset: float = AN_HOUR_LATER) -> Reading:
        source = CpuSource(api_client, clock=lambda: time.time() + clock_offset)
        metric = CpuMetric(name="cpu", target_utilization=60.0)
        target = Target(name="t", namespace=NAMESPACE, deployment=deployment, min_replicas=1, max_replicas=10,
                        timezone="UTC", metrics=(metric,))
        return source.read([(target, metric)])[0]

    yield read
    api_client.close()


def test_requests_and_usage_of_every_pod(testbed, make_deployment, read_cpu):
    name, pods = make_deployment(replicas=3, containers=[container("app", "200m"), container("proxy", "50m")])
    for pod, usage in zip(pods, (100, 375)):
        testbed.control.set_pod_metrics(namespace=NAMESPACE, pod=pod, cpu_millicores=usage)

    reading = read_cpu(name)

    assert reading == Reading(name="cpu", current_replicas=3, pods=(
        PodCpu(pods[0], 250, 100, True), PodCpu(pods[1], 250, 375, True),
        PodCpu(pods[2], 250, None, True),  # no PodMetrics: a missing pod
    ))


def test_an_unready_pod_is_marked(testbed, make_deployment, read_cpu):
    name, pods = make_deployment(replicas=2, containers=[container("app", "1")])
    for pod in pods:
        testbed.control.set_pod_metrics(namespace=NAMESPACE, pod=pod, cpu_millicores=600)
    testbed.control.set_pod_ready(namespace=NAMESPACE, pod=pods[1], ready=False)

    reading = read_cpu(name)

    assert reading.pods == (PodCpu(pods[0], 1000, 600, True), PodCpu(pods[1], 1000, 600, False))


def test_fresh_pods_are_ignored_until_a_full_window_after_readiness(testbed, make_deployment, read_cpu):
    name, pods = make_deployment(replicas=1, containers=[container("app", "500m")])
    testbed.control.set_pod_metrics(namespace=NAMESPACE, pod=pods[0], cpu_millicores=250)

    assert read_cpu(name, clock_offset=0.0).pods == (PodCpu(pods[0], 500, 250, False),)


def test_a_pod_without_a_cpu_request_fails_the_reading_as_the_hpa(testbed, make_deployment, read_cpu):
    name, pods = make_deployment(replicas=1, containers=[container("app", "100m"), container("shipper", None)])
    testbed.control.set_pod_metrics(namespace=NAMESPACE, pod=pods[0], cpu_millicores=50)

    reading = read_cpu(name)

    assert reading == Reading(name="cpu", error=f"missing request for cpu in container shipper of pod {pods[0]}")


def test_no_pod_metrics_at_all_is_the_hpa_error(make_deployment, read_cpu):
    name, _pods = make_deployment(replicas=2, containers=[container("app", "100m")])

    assert read_cpu(name) == Reading(
        name="cpu", error="unable to get metrics for resource cpu: no metrics returned from resource metrics API")


def test_a_missing_deployment_names_it(read_cpu):
    assert read_cpu("no-such-deployment") == Reading(name="cpu", error="deployment default/no-such-deployment: not "
                                                                       "found")


def test_metrics_api_failure_names_what_was_read(testbed, make_deployment, read_cpu):
    name, pods = make_deployment(replicas=1, containers=[container("app", "100m")])
    testbed.control.set_pod_metrics(namespace=NAMESPACE, pod=pods[0], cpu_millicores=50)
    testbed.control.inject_fault(verb="list", path_pattern=r"^/apis/metrics\.k8s\.io/", status=503)
    try:
        reading = read_cpu(name)
    finally:
        testbed.control.clear_faults()

    assert reading.error == (f"metrics.k8s.io pods of deployment default/{name}: "
                             "HTTP 503 the server is currently unable to handle the request")
