"""`scalerd import --from-cluster` against the test bed's API emulator: HPAs listed through the real client, no KEDA."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from kubernetes import client

from scalerd.config import load_config_text
from tests.testbed.k8s_testing import ADMIN_TOKEN, api_client, running_emulator, write_kubeconfig


def hpa(name: str, *, deployment: str, owner: str | None = None) -> dict:
    metadata: dict = {"name": name}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": owner,
                                        "uid": "7c1f0e9a-0000-4000-8000-000000000001", "controller": True}]
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": metadata,
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                 "minReplicas": 2, "maxReplicas": 7,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}}],
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120}}},
    }


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("import")
    with running_emulator(directory) as server:
        admin = api_client(server.url, ADMIN_TOKEN)
        client.CoreV1Api(admin).create_namespace({"metadata": {"name": "shop"}})
        autoscaling = client.AutoscalingV2Api(admin)
        autoscaling.create_namespaced_horizontal_pod_autoscaler("default", hpa("web", deployment="web"))
        autoscaling.create_namespaced_horizontal_pod_autoscaler("shop", hpa("cart", deployment="cart"))
        autoscaling.create_namespaced_horizontal_pod_autoscaler(
            "shop", hpa("keda-hpa-orders", deployment="orders", owner="orders"))
        yield str(write_kubeconfig(directory / "kubeconfig", server))


def scalerd_import(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scalerd", "import", *args], capture_output=True, text=True,
                          timeout=60)


def test_every_namespace(kubeconfig):
    result = scalerd_import("--from-cluster", "--kubeconfig", kubeconfig)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "cluster: ScaledObjects (keda.sh/v1alpha1): KEDA's ScaledObject CRD is not installed; importing "
        "HorizontalPodAutoscalers only",
        "cluster: HorizontalPodAutoscaler shop/keda-hpa-orders: skipped: made by KEDA for ScaledObject orders, "
        "which could not be read",
    ]
    config = load_config_text(result.stdout)
    assert [(t.name, t.namespace, t.deployment, t.min_replicas, t.max_replicas) for t in config.targets] == [
        ("web", "default", "web", 2, 7), ("cart", "shop", "cart", 2, 7)]
    assert config.targets[0].metrics[0].target_utilization == 65
    assert config.targets[0].behavior.scale_down.stabilization_window == 120.0
    assert config.targets[0].behavior.cooldown == 0.0
    assert "  # from HorizontalPodAutoscaler default/web (cluster)" in result.stdout.splitlines()


def test_one_namespace_and_a_file_together(kubeconfig, tmp_path):
    manifest = tmp_path / "so.yaml"
    manifest.write_text("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: orders}\n"
                        "spec:\n  scaleTargetRef: {name: orders}\n  triggers:\n"
                        "  - {type: prometheus, metadata: {serverAddress: 'http://127.0.0.1:9090', query: up, "
                        "threshold: '4'}}\n")
    result = scalerd_import(str(manifest), "--from-cluster", "-n", "shop", "--kubeconfig", kubeconfig)
    assert result.returncode == 0, result.stderr
    config = load_config_text(result.stdout)
    assert [(t.name, t.namespace, t.deployment) for t in config.targets] == [
        ("orders", "shop", "orders"), ("cart", "shop", "cart")]


def test_an_unreachable_cluster_is_an_error(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n")
    result = scalerd_import("--from-cluster", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot list HorizontalPodAutoscalers: no answer from the API server")
