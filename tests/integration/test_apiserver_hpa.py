"""The emulator serves autoscaling/v2 HorizontalPodAutoscalers: to the official client and to `kubectl`."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client, watch

from tests.testbed.k8s_testing import (
    ADMIN_TOKEN,
    SCALERD_TOKEN,
    api_client,
    running_emulator,
    write_kubeconfig,
)


def hpa_manifest(name: str, *, deployment: str, max_replicas: int = 5) -> dict:
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                 "minReplicas": 1, "maxReplicas": max_replicas,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
    }


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    directory = tmp_path_factory.mktemp("hpa")
    with running_emulator(directory) as server:
        yield server, write_kubeconfig(directory / "kubeconfig", server), directory


@pytest.fixture
def autoscaling(bed) -> client.AutoscalingV2Api:
    return client.AutoscalingV2Api(api_client(bed[0].url, ADMIN_TOKEN))


def kubectl(bed, *args: str, context: str = "admin") -> subprocess.CompletedProcess:
    _, kubeconfig, directory = bed
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(directory / "cache")}
    return subprocess.run(["kubectl", "--context", context, *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_client_create_get_list_patch_delete_with_watch_events(autoscaling):
    listing = autoscaling.list_namespaced_horizontal_pod_autoscaler("default")
    stream = watch.Watch().stream(autoscaling.list_namespaced_horizontal_pod_autoscaler, "default",
                                  resource_version=listing.metadata.resource_version, timeout_seconds=2)
    created = autoscaling.create_namespaced_horizontal_pod_autoscaler(
        "default", hpa_manifest("py-hpa", deployment="web"))
    patched = autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "py-hpa", "default", {"spec": {"maxReplicas": 9}})
    fetched = autoscaling.read_namespaced_horizontal_pod_autoscaler("py-hpa", "default")
    names = [item.metadata.name for item in autoscaling.list_namespaced_horizontal_pod_autoscaler("default").items]
    autoscaling.delete_namespaced_horizontal_pod_autoscaler("py-hpa", "default")
    events = [(event["type"], event["object"].spec.max_replicas) for event in stream]
    assert (created.spec.scale_target_ref.name, created.spec.max_replicas) == ("web", 5)
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    assert (fetched.spec.max_replicas, fetched.metadata.resource_version) == (9, patched.metadata.resource_version)
    assert names == ["py-hpa"]
    assert events == [("ADDED", 5), ("MODIFIED", 9), ("DELETED", 9)]


@pytest.mark.parametrize(("spec_change", "field"), [
    pytest.param({"maxReplicas": 0}, "spec.maxReplicas", id="zero-max"),
    pytest.param({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ""}},
                 "spec.scaleTargetRef.name",
                 id="no-target-name"),
])
def test_client_invalid_hpa_is_refused_naming_the_field(autoscaling, spec_change, field):
    body = hpa_manifest("bad-hpa", deployment="web")
    body["spec"] |= spec_change
    with pytest.raises(client.ApiException) as refused:
        autoscaling.create_namespaced_horizontal_pod_autoscaler("default", body)
    assert refused.value.status == 422
    assert field in refused.value.body


def test_kubectl_create_get_delete(bed, tmp_path):
    manifest = tmp_path / "hpa.yaml"
    manifest.write_text(yaml.safe_dump(hpa_manifest("kc-hpa", deployment="kc-web", max_replicas=7)))
    created = kubectl(bed, "create", "-f", str(manifest))
    listed = kubectl(bed, "get", "hpa", "kc-hpa", "-o", "jsonpath={.spec.scaleTargetRef.name} {.spec.maxReplicas}")
    table = kubectl(bed, "get", "hpa")
    deleted = kubectl(bed, "delete", "hpa", "kc-hpa")
    assert (created.returncode, created.stdout) == (0, "horizontalpodautoscaler.autoscaling/kc-hpa created\n")
    assert (listed.returncode, listed.stdout) == (0, "kc-web 7")
    assert table.stdout.split("\n")[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS",
                                                   "AGE"]
    assert table.stdout.split("\n")[1].split()[:6] == ["kc-hpa", "Deployment/kc-web", "<unknown>", "1", "7", "0"]
    assert (deleted.returncode, deleted.stdout) == (
        0, 'horizontalpodautoscaler.autoscaling "kc-hpa" deleted from default namespace\n')


def test_scalerd_identity_may_read_but_not_write_hpas(bed, autoscaling):
    autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa_manifest("ro-hpa", deployment="web"))
    scalerd = client.AutoscalingV2Api(api_client(bed[0].url, SCALERD_TOKEN))
    names = [item.metadata.name for item in scalerd.list_namespaced_horizontal_pod_autoscaler("default").items]
    with pytest.raises(client.ApiException) as refused:
        scalerd.delete_namespaced_horizontal_pod_autoscaler("ro-hpa", "default")
    autoscaling.delete_namespaced_horizontal_pod_autoscaler("ro-hpa", "default")
    assert names == ["ro-hpa"]
    assert refused.value.status == 403
