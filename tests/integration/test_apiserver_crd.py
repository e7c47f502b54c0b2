"""CustomResourceDefinitions in the API emulator, through real `kubectl` and the `kubernetes` client: registration,
discovery, schema validation and pruning, the status subresource and the printer columns of manifests/crd/."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.testbed.k8s_testing import ADMIN_TOKEN, REPO_MANIFESTS, api_client, running_emulator, write_kubeconfig

CRD_FILE = REPO_MANIFESTS / "crd" / "autoscalerpolicies.yaml"
GROUP, VERSION, PLURAL = "scalerd.io", "v1alpha1", "autoscalerpolicies"


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    directory = tmp_path_factory.mktemp("crd")
    with running_emulator(directory) as server:
        kubeconfig = write_kubeconfig(directory / "kubeconfig", server)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(directory / "cache")}

        def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
            return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60,
                                  input=stdin)

        applied = kubectl("apply", "-f", str(CRD_FILE))
        assert applied.returncode == 0, applied.stderr
        yield server, kubectl


@pytest.fixture
def custom(bed) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client(bed[0].url, ADMIN_TOKEN))


def _policy(name: str, **spec) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AutoScalerPolicy", "metadata": {"name": name},
            "spec": spec or {"maxReplicas": 5, "metrics": [{"type": "cpu", "targetUtilization": 70}]}}


def test_the_definition_is_established_and_its_kind_discovered(bed):
    _, kubectl = bed
    definition = json.loads(kubectl("get", "crd", "autoscalerpolicies.scalerd.io", "-o", "json").stdout)
    assert {c["type"]: c["status"] for c in definition["status"]["conditions"]} == {
        "NamesAccepted": "True", "Established": "True"}
    assert definition["metadata"]["generation"] == 1
    resources = kubectl("api-resources", "--api-group", GROUP, "-o", "wide")
    assert resources.returncode == 0, resources.stderr
    line = resources.stdout.splitlines()[1].split()
    assert line[:5] == ["autoscalerpolicies", "asp", "scalerd.io/v1alpha1", "true", "AutoScalerPolicy"]


def _get_json(server, path: str) -> dict:
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_openapi_v3_lists_the_kind(bed):
    server, _ = bed
    assert "apis/scalerd.io/v1alpha1" in _get_json(server, "/openapi/v3")["paths"]
    group = _get_json(server, "/openapi/v3/apis/scalerd.io/v1alpha1")
    operation = group["paths"]["/apis/scalerd.io/v1alpha1/namespaces/{namespace}/autoscalerpolicies/{name}/status"]
    assert operation["put"]["x-kubernetes-group-version-kind"] == {
        "group": GROUP, "version": VERSION, "kind": "AutoScalerPolicy"}


def test_kubectl_apply_get_shows_the_printer_columns(bed, custom, tmp_path):
    _, kubectl = bed
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_policy("cols")))
    applied = kubectl("apply", "-f", str(path))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "autoscalerpolicy.scalerd.io/cols created"
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "cols", {"status": {
        "deployment": "web", "minReplicas": 1, "maxReplicas": 5, "currentReplicas": 2, "desiredReplicas": 3,
        "lastDecision": {"reason": "ScaledUp", "message": "cpu 90% of 70%"}}})
    table = kubectl("get", "asp", "cols")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "DEPLOYMENT", "MIN", "MAX", "REPLICAS", "DESIRED", "REASON", "AGE"]
    assert row.split()[:7] == ["cols", "web", "1", "5", "2", "3", "ScaledUp"]
    described = kubectl("describe", "asp", "cols")
    assert described.returncode == 0, described.stderr
    lines = [line.split() for line in described.stdout.splitlines()]
    assert ["Last", "Decision:"] in lines and ["Reason:", "ScaledUp"] in lines


def test_a_missing_column_value_is_a_null_cell_kubectl_leaves_blank(bed, custom):
    server, kubectl = bed
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _policy("bare"))
    request = urllib.request.Request(
        f"{server.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/bare",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        table = json.load(answer)
    assert [column["name"] for column in table["columnDefinitions"]] == [
        "Name", "Deployment", "Min", "Max", "Replicas", "Desired", "Reason", "Age"]
    assert table["rows"][0]["cells"][:7] == ["bare", None, None, None, None, None, None]
    row = kubectl("get", "asp", "bare", "--no-headers").stdout.split()
    assert row[0] == "bare" and len(row) == 2  # the name and the age


def test_wrong_types_are_invalid_with_field_paths(bed, custom):
    body = _policy("typed", minReplicas="two", maxReplicas=-1,
                   metrics=[{"type": "memory", "targetUtilization": "high"}])
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert raised.value.status == 422
    status = json.loads(raised.value.body)
    assert [(cause["field"], cause["message"]) for cause in status["details"]["causes"]] == [
        ("spec.minReplicas", 'Invalid value: "string": spec.minReplicas in body must be of type integer: "string"'),
        ("spec.maxReplicas", "Invalid value: -1: spec.maxReplicas in body should be greater than or equal to 1"),
        ("spec.metrics[0].type", 'Unsupported value: "memory": supported values: "kafka", "prometheus", "cpu", '
                                 '"http", "KafkaLag", "CPU"'),
        ("spec.metrics[0].targetUtilization",
         'Invalid value: "string": spec.metrics[0].targetUtilization in body must be of type number: "string"'),
    ]
    assert status["message"].startswith('AutoScalerPolicy.scalerd.io "typed" is invalid: [spec.minReplicas: ')


def test_kubectl_strict_validation_refuses_unknown_fields(bed, tmp_path):
    _, kubectl = bed
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(_policy("typo", maxReplicas=3, metrics=[{"type": "cpu", "targetUtilisation": 70}])))
    applied = kubectl("apply", "-f", str(path))
    assert applied.returncode == 1
    assert ('AutoScalerPolicy in version "v1alpha1" cannot be handled as a AutoScalerPolicy: strict decoding error: '
            'unknown field "spec.metrics[0].targetUtilisation"') in applied.stderr


def test_unknown_fields_are_pruned_without_strict_validation(bed, custom):
    body = _policy("pruned", maxReplicas=3, extra={"a": 1}, metrics=[{"type": "cpu", "targetUtilization": 70,
                                                                        "typo": 1}])
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert created["spec"] == {"maxReplicas": 3, "metrics": [{"type": "cpu", "targetUtilization": 70}]}


def test_status_subresource_and_generation(bed, custom):
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, {**_policy("gen"), "status": {"currentReplicas": 9}})
    assert "status" not in created and created["metadata"]["generation"] == 1
    written = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "gen", {"spec": {"maxReplicas": 99}, "status": {"currentReplicas": 2}})
    assert written["status"] == {"currentReplicas": 2}
    assert written["spec"]["maxReplicas"] == 5 and written["metadata"]["generation"] == 1
    changed = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "gen", {"spec": {"maxReplicas": 6}, "status": {"currentReplicas": 7}})
    assert changed["status"] == {"currentReplicas": 2}
    assert changed["metadata"]["generation"] == 2
    labelled = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "gen", {"metadata": {"labels": {"team": "a"}}})
    assert labelled["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, "default", PLURAL, "gen", {"status": {"currentReplicas": "two"}})
    assert raised.value.status == 422


def test_deleting_the_definition_removes_its_objects_and_kind(tmp_path):
    with running_emulator(tmp_path) as server:
        api = api_client(server.url, ADMIN_TOKEN)
        definition = yaml.safe_load(CRD_FILE.read_text())
        client.ApiextensionsV1Api(api).create_custom_resource_definition(definition)
        custom = client.CustomObjectsApi(api)
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _policy("gone"))
        client.ApiextensionsV1Api(api).delete_custom_resource_definition("autoscalerpolicies.scalerd.io")
        with pytest.raises(ApiException) as raised:
            custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
        assert raised.value.status == 404
        client.ApiextensionsV1Api(api).create_custom_resource_definition(definition)
        assert custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"] == []


def test_an_update_without_resource_version_is_invalid(bed, custom):
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _policy("unconditional"))
    body = {**created, "metadata": {"name": "unconditional", "namespace": "default"}, "status": {"desiredReplicas": 2}}
    for write in (custom.replace_namespaced_custom_object, custom.replace_namespaced_custom_object_status):
        with pytest.raises(ApiException) as raised:
            write(GROUP, VERSION, "default", PLURAL, "unconditional", body)
        assert raised.value.status == 422
        assert json.loads(raised.value.body)["details"]["causes"] == [{
            "reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
            "message": "Invalid value: 0x0: must be specified for an update"}]
    conditional = {**body, "metadata": created["metadata"]}
    written = custom.replace_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "unconditional",
                                                             conditional)
    assert written["status"] == {"desiredReplicas": 2}
