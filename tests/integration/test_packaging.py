"""The deployable artefacts: manifests validate strictly, render with kustomize, keep least privilege; the image lints clean."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


def _tool(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run `make install`"
    return found


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    result = subprocess.run(
        [_tool("kubectl"), "kustomize", str(MANIFESTS)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_rendered_manifests_pass_strict_schema_validation(rendered):
    text = yaml.safe_dump_all(rendered)
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "-"], input=text, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(rendered)


def test_kustomize_renders_every_component(rendered):
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in rendered)
    assert kinds == [
        ("ClusterRole", "scalerd"),
        ("ClusterRoleBinding", "scalerd"),
        ("ConfigMap", "scalerd-config"),
        ("CustomResourceDefinition", "autoscalerpolicies.scalerd.io"),  # policies as objects (manifests/crd/)
        ("Deployment", "scalerd"),
        ("Namespace", "scalerd"),
        ("Role", "scalerd-leader-election"),
        ("Role", "scalerd-state"),
        ("RoleBinding", "scalerd-leader-election"),
        ("RoleBinding", "scalerd-state"),
        ("Service", "scalerd-metrics"),
        ("ServiceAccount", "scalerd"),
    ]


def _rules(rendered) -> list[dict]:
    return [rule for doc in rendered if doc["kind"] in ("Role", "ClusterRole") for rule in doc["rules"]]


def test_rbac_grants_exactly_what_scalerd_needs(rendered):
    granted = {
        (group, resource, verb)
        for rule in _rules(rendered)
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("apps", "deployments", "get"), ("apps", "deployments", "list"), ("apps", "deployments", "watch"),
        ("apps", "deployments", "patch"),
        ("apps", "deployments/scale", "get"), ("apps", "deployments/scale", "patch"),
        ("apps", "deployments/scale", "update"),
        ("", "events", "create"), ("", "events", "patch"),
        ("events.k8s.io", "events", "create"), ("events.k8s.io", "events", "patch"),
        ("", "configmaps", "get"), ("", "configmaps", "list"), ("", "configmaps", "watch"),
        ("", "configmaps", "create"), ("", "configmaps", "update"),  # the Role scalerd-state: the stored history
        ("", "pods", "get"), ("", "pods", "list"),
        ("metrics.k8s.io", "pods", "get"), ("metrics.k8s.io", "pods", "list"),
        ("autoscaling", "horizontalpodautoscalers", "get"), ("autoscaling", "horizontalpodautoscalers", "list"),
        ("autoscaling", "horizontalpodautoscalers", "watch"),
        ("scalerd.io", "autoscalerpolicies", "list"), ("scalerd.io", "autoscalerpolicies", "watch"),
        ("scalerd.io", "autoscalerpolicies/status", "update"),  # policies as objects: read them, write status only
        ("coordination.k8s.io", "leases", "get"), ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
    assert not any("*" in str(rule) for rule in _rules(rendered))


def test_deployment_runs_locked_down_with_probes(rendered):
    deployment = next(doc for doc in rendered if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    pod_name = next(env for env in container["env"] if env["name"] == "POD_NAME")
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_dockerfile_is_hadolint_clean():
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "warning", str(REPO / "Dockerfile")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
