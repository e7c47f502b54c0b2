"""DeploymentCache.watch_hpas on the API emulator with the scalerd ServiceAccount: which managed Deployment an HPA
scales, followed by list and watch; an RBAC without the HPA rule costs the detection, not the cache."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client
from structlog.testing import capture_logs

from scalerd.kube.cache import DeploymentCache
from tests.integration.daemon_support import wait_until
from tests.integration.kube_emulator import REPO_ROOT, deployment, running_emulator


def hpa(name: str, *, kind: str = "Deployment", target: str = "web") -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
                     "minReplicas": 1, "maxReplicas": 4}}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator:
    with running_emulator(tmp_path_factory.mktemp("hpa-cache")) as running:
        running.create_namespaces("shop", "other")
        yield running


def started_cache(emulator, deployments) -> DeploymentCache:
    cache = DeploymentCache(emulator.scalerd_client(), deployments=deployments)
    cache.watch_hpas()
    cache.start()
    assert cache.wait_synced(5.0)
    return cache


def test_hpas_are_listed_then_followed_by_the_watch(emulator):
    apps = emulator.admin_apps()
    autoscaling = client.AutoscalingV2Api(emulator._admin_client())
    apps.create_namespaced_deployment("shop", deployment("web", replicas=2))
    autoscaling.create_namespaced_horizontal_pod_autoscaler("shop", hpa("listed"))
    autoscaling.create_namespaced_horizontal_pod_autoscaler("other", hpa("elsewhere"))
    cache = started_cache(emulator, [("shop", "web")])
    try:
        listed = cache.hpa_for("shop", "web")
        autoscaling.delete_namespaced_horizontal_pod_autoscaler("listed", "shop")
        wait_until(lambda: cache.hpa_for("shop", "web") is None, timeout=10.0)
        autoscaling.create_namespaced_horizontal_pod_autoscaler("shop", hpa("a-statefulset", kind="StatefulSet"))
        autoscaling.create_namespaced_horizontal_pod_autoscaler("shop", hpa("watched"))
        wait_until(lambda: cache.hpa_for("shop", "web") == "watched", timeout=10.0)
        autoscaling.patch_namespaced_horizontal_pod_autoscaler(
            "watched", "shop", {"spec": {"scaleTargetRef": {"name": "batch"}}})
        wait_until(lambda: cache.hpa_for("shop", "web") is None, timeout=10.0)
        assert (listed, cache.hpa_for("shop", "batch"), cache.hpa_for("other", "web")) == ("listed", "watched", None)
        assert cache.get("shop", "web").replicas == 2
    finally:
        cache.stop()


def test_an_rbac_without_the_hpa_rule_is_said_once_and_the_deployments_are_still_cached(tmp_path):
    old_rbac = tmp_path / "manifests"
    old_rbac.mkdir()
    documents = list(yaml.safe_load_all((REPO_ROOT / "manifests" / "rbac.yaml").read_text()))
    for document in documents:
        if "rules" in document:
            document["rules"] = [rule for rule in document["rules"]
                                 if "horizontalpodautoscalers" not in rule["resources"]]
    (old_rbac / "rbac.yaml").write_text(yaml.safe_dump_all(documents))
    with running_emulator(tmp_path, rbac_dir=old_rbac) as old:
        old.create_namespaces("first", "second")
        for namespace in ("first", "second"):
            old.admin_apps().create_namespaced_deployment(namespace, deployment("web", replicas=3))
        with capture_logs() as logs:
            cache = started_cache(old, [("first", "web"), ("second", "web")])
            try:
                seen = (cache.get("first", "web").replicas, cache.get("second", "web").replicas,
                        cache.hpa_for("first", "web"))
            finally:
                cache.stop()
    [warning] = [line for line in logs if line["event"] == "hpa_detection_unavailable"]
    assert seen == (3, 3, None)
    assert (warning["log_level"], warning["code"]) == ("warning", 403)
    assert "horizontalpodautoscalers" in warning["error"]
    assert not [line for line in logs if line["event"].startswith("hpa_watch")]
