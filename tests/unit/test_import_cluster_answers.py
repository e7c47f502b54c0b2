"""`import --from-cluster` on the answers the emulator does not give: KEDA installed, or its list forbidden.

A recording HTTP server answers as the API server would (the real kubernetes client talks to it over HTTP)."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from scalerd.migrate.cluster import list_objects
from tests.recording_server import RecordingServer, serve

HPA_LIST = "/apis/autoscaling/v2/horizontalpodautoscalers"
SCALED_OBJECT_LIST = "/apis/keda.sh/v1alpha1/scaledobjects"


def listing(*items: dict) -> tuple[int, str, str]:
    return 200, "application/json", json.dumps({"kind": "List", "apiVersion": "v1", "metadata": {},
                                                "items": list(items)})


KEDA_HPA = {"metadata": {"name": "keda-hpa-orders", "namespace": "shop",
                         "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                                              "name": "orders", "uid": "u1"}]},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders"},
                     "maxReplicas": 100, "metrics": [{"type": "External", "external": {
                         "metric": {"name": "s0-kafka-orders"},
                         "target": {"type": "AverageValue", "averageValue": "10"}}}]}}
SCALED_OBJECT = {"metadata": {"name": "orders", "namespace": "shop"},
                 "spec": {"scaleTargetRef": {"name": "orders"}, "triggers": [
                     {"type": "kafka", "metadata": {"bootstrapServers": "k:9092", "consumerGroup": "orders",
                                                    "topic": "orders", "lagThreshold": "10"}}]}}


@pytest.fixture
def api_server() -> Iterator[RecordingServer]:
    yield from serve(RecordingServer(key=lambda path, _params: path, default=(404, "application/json", "{}")))


def kubeconfig(tmp_path, url: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{url}'}}}}]\n"
                    "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                    "current-context: x\n")
    return str(path)


def test_with_keda_the_scaled_object_is_imported_and_its_hpa_skipped(api_server, tmp_path):
    api_server.answers = {HPA_LIST: listing(KEDA_HPA), SCALED_OBJECT_LIST: listing(SCALED_OBJECT)}
    objects, notes = list_objects(kubeconfig=kubeconfig(tmp_path, api_server.url), context=None, namespace=None)
    assert [(obj.kind, obj.namespace, obj.name) for _, obj in objects] == [("ScaledObject", "shop", "orders")]
    assert notes == ["cluster: HorizontalPodAutoscaler shop/keda-hpa-orders: skipped: made by KEDA for ScaledObject "
                     "orders, which is imported instead"]
    assert [request["path"] for request in api_server.requests] == [HPA_LIST, SCALED_OBJECT_LIST]


def test_a_forbidden_scaled_object_list_is_said_and_the_hpas_imported(api_server, tmp_path):
    forbidden = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                 "message": 'scaledobjects.keda.sh is forbidden: User "bob" cannot list resource "scaledobjects" in '
                            'API group "keda.sh" in the namespace "shop"'}
    hpa = {"metadata": {"name": "web", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "maxReplicas": 4}}
    api_server.answers = {
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers": listing(hpa),
        "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects": (403, "application/json", json.dumps(forbidden)),
    }
    objects, notes = list_objects(kubeconfig=kubeconfig(tmp_path, api_server.url), context=None, namespace="shop")
    assert [(obj.kind, obj.name) for _, obj in objects] == [("HorizontalPodAutoscaler", "web")]
    assert notes == [f"cluster: ScaledObjects (keda.sh/v1alpha1): not allowed to list them ({forbidden['message']}); "
                     "importing HorizontalPodAutoscalers only"]
