"""RBAC objects are served like any other kind and drive the emulator's authorization, as the real server's
stored Roles and bindings do; OpenAPI answers a protobuf-only Accept with 406, as kube-openapi does."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.testbed.k8s_testing import ADMIN_TOKEN, SCALERD_TOKEN, api_client, running_emulator

SCALERD = "system:serviceaccount:scalerd:scalerd"
PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@pytest.fixture
def server(tmp_path) -> Iterator:
    with running_emulator(tmp_path, rbac_dir=None) as emulator:
        yield emulator


def _lease_reader_role() -> dict:
    return {"metadata": {"name": "lease-reader", "namespace": "scalerd"},
            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list"]}]}


def _binding(role_kind: str, role_name: str) -> dict:
    return {"metadata": {"name": "lease-reader", "namespace": "scalerd"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": "scalerd", "namespace": "scalerd"}]}


def _list_leases_status(server) -> int:
    try:
        client.CoordinationV1Api(api_client(server.url, SCALERD_TOKEN)).list_namespaced_lease("scalerd")
    except ApiException as error:
        return error.status
    return 200


def test_a_binding_grants_from_its_creation_until_its_deletion(server):
    rbac = client.RbacAuthorizationV1Api(api_client(server.url, ADMIN_TOKEN))
    before = _list_leases_status(server)
    rbac.create_namespaced_role("scalerd", _lease_reader_role())
    role_only = _list_leases_status(server)
    rbac.create_namespaced_role_binding("scalerd", _binding("Role", "lease-reader"))
    bound = _list_leases_status(server)
    rbac.delete_namespaced_role_binding("lease-reader", "scalerd")
    unbound = _list_leases_status(server)

    assert (before, role_only, bound, unbound) == (403, 403, 200, 403)


@pytest.mark.parametrize(("role_ref", "cause"), [
    pytest.param({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "other"},
                 {"field": "roleRef", "reason": "FieldValueInvalid",
                  "message": 'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
                             'Name:"other"}: cannot change roleRef'}, id="changed"),
    pytest.param({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ""},
                 {"field": "roleRef.name", "reason": "FieldValueRequired", "message": "Required value"},
                 id="no-name"),
])
def test_a_binding_refuses_a_bad_role_ref(server, role_ref, cause):
    rbac = client.RbacAuthorizationV1Api(api_client(server.url, ADMIN_TOKEN))
    rbac.create_namespaced_role_binding("scalerd", _binding("Role", "lease-reader"))
    with pytest.raises(ApiException) as raised:
        rbac.replace_namespaced_role_binding("lease-reader", "scalerd", {**_binding("Role", "x"), "roleRef": role_ref})
    status = json.loads(raised.value.body)
    assert (raised.value.status, status["reason"]) == (422, "Invalid")
    assert cause in status["details"]["causes"]


@pytest.mark.parametrize(("accept", "status"), [
    pytest.param(PROTOBUF_V2, 406, id="protobuf-only"),
    pytest.param(f"{PROTOBUF_V2}, application/json", 200, id="protobuf-or-json"),
    pytest.param("application/json", 200, id="json"),
    pytest.param("", 200, id="no-accept"),
])
def test_openapi_v2_is_json_or_406(server, accept, status):
    answer = requests.get(f"{server.url}/openapi/v2", headers={"Accept": accept,
                                                              "Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    assert answer.status_code == status
    assert answer.headers.get("Content-Type") == ("application/json" if status == 200 else None)


def test_rbac_services_and_service_accounts_are_discovered(server):
    resources = requests.get(f"{server.url}/apis/rbac.authorization.k8s.io/v1",
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5).json()["resources"]
    core = requests.get(f"{server.url}/api/v1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                        timeout=5).json()["resources"]

    assert {(entry["name"], entry["kind"], entry["namespaced"]) for entry in resources} == {
        ("roles", "Role", True), ("clusterroles", "ClusterRole", False),
        ("rolebindings", "RoleBinding", True), ("clusterrolebindings", "ClusterRoleBinding", False)}
    assert {("services", "Service"), ("serviceaccounts", "ServiceAccount")} <= {
        (entry["name"], entry["kind"]) for entry in core}
