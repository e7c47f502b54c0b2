"""The API emulator through real `kubectl` subprocesses with default flags (kubeconfig over TLS)."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.testbed.k8s_testing import ADMIN_TOKEN, api_client, deployment_manifest, running_emulator, write_kubeconfig

SCALERD = "system:serviceaccount:scalerd:scalerd"


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    directory = tmp_path_factory.mktemp("kubectl")
    with running_emulator(directory) as server:
        yield server, write_kubeconfig(directory / "kubeconfig", server), directory


@pytest.fixture
def kubectl(bed):
    server, kubeconfig, directory = bed
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(directory / "cache")}

    def run(*args: str, context: str = "admin") -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--context", context, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    run.env = env
    return run


@pytest.fixture
def admin(bed) -> client.ApiClient:
    return api_client(bed[0].url, ADMIN_TOKEN)


def _manifest_file(directory: Path, name: str, **options) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(deployment_manifest(name, **options)))
    return path


def _deployment(kubectl, name: str) -> dict:
    result = kubectl("get", "deploy", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_create_get_scale(kubectl, tmp_path):
    created = kubectl("create", "-f", str(_manifest_file(tmp_path, "kc-web")))
    before = _deployment(kubectl, "kc-web")
    scaled = kubectl("scale", "deploy", "kc-web", "--replicas=4")
    after = _deployment(kubectl, "kc-web")
    assert (created.returncode, created.stdout) == (0, "deployment.apps/kc-web created\n")
    assert (before["kind"], before["spec"]["replicas"], before["status"]["readyReplicas"]) == ("Deployment", 2, 2)
    assert (scaled.returncode, scaled.stdout) == (0, "deployment.apps/kc-web scaled\n")
    assert (after["spec"]["replicas"], after["status"]["readyReplicas"], after["metadata"]["generation"]) == (4, 4, 2)


def test_replace_with_stale_resource_version_is_a_conflict(kubectl, tmp_path):
    kubectl("create", "-f", str(_manifest_file(tmp_path, "kc-stale")))
    stale = _deployment(kubectl, "kc-stale")
    kubectl("scale", "deploy", "kc-stale", "--replicas=3")
    stale["spec"]["replicas"] = 6
    stale_file = tmp_path / "stale.json"
    stale_file.write_text(json.dumps(stale))
    replaced = kubectl("replace", "-f", str(stale_file))
    assert replaced.returncode == 1
    assert replaced.stderr == (
        f'Error from server (Conflict): error when replacing "{stale_file}": Operation cannot be fulfilled on '
        'deployments.apps "kc-stale": the object has been modified; please apply your changes to the latest '
        "version and try again\n")
    assert _deployment(kubectl, "kc-stale")["spec"]["replicas"] == 3


def test_unknown_field_is_refused_by_strict_validation(kubectl, tmp_path):
    manifest = deployment_manifest("kc-typo")
    manifest["spec"]["replicass"] = 2
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(manifest))
    created = kubectl("create", "-f", str(path))
    assert created.returncode == 1
    assert created.stderr == (
        f'Error from server (BadRequest): error when creating "{path}": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replicass"\n')


def test_delete_removes_it(kubectl, tmp_path):
    kubectl("create", "-f", str(_manifest_file(tmp_path, "kc-gone")))
    deleted = kubectl("delete", "deploy", "kc-gone")
    missing = kubectl("get", "deploy", "kc-gone")
    pods = kubectl("get", "pods", "-l", "app=kc-gone", "-o", "name")
    assert (deleted.returncode, deleted.stdout) == (0, 'deployment.apps "kc-gone" deleted from default namespace\n')
    assert (missing.returncode, missing.stderr) == (
        1, 'Error from server (NotFound): deployments.apps "kc-gone" not found\n')
    assert (pods.returncode, pods.stdout) == (0, "")


def test_get_events(kubectl, admin):
    client.CoreV1Api(admin).create_namespaced_event("default", {
        "metadata": {"name": "kc-event.1"}, "reason": "Rescaled", "message": "New size: 3; reason: lag",
        "type": "Normal", "involvedObject": {"kind": "Deployment", "name": "kc-event", "namespace": "default"},
        "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    listed = kubectl("get", "events", "--field-selector", "involvedObject.name=kc-event")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert row.split()[1:] == ["Normal", "Rescaled", "deployment/kc-event", "New", "size:", "3;", "reason:", "lag"]


def _wait_for_watches(server, count: int) -> None:
    deadline = time.monotonic() + 30
    while server.cluster.store.open_watches("apps/deployments") < count:
        if time.monotonic() > deadline:
            raise AssertionError("kubectl opened no watch within 30 s")
        time.sleep(0.05)


def test_get_watch_shows_a_change(bed, kubectl, admin, tmp_path):
    kubectl("create", "-f", str(_manifest_file(tmp_path, "kc-watch")))
    watcher = subprocess.Popen(["kubectl", "get", "deploy", "kc-watch", "--watch"], env=kubectl.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
    seen: list[str] = []

    def next_line() -> str:
        try:
            seen.append(lines.get(timeout=30))
        except queue.Empty:
            watcher.kill()
            raise AssertionError(f"kubectl printed {seen}, stderr {watcher.stderr.read()!r}") from None
        return seen[-1]

    try:
        header, first = next_line(), next_line()
        # kubectl watches from resourceVersion 0 and skips the first event (the state it printed): a change made
        # before its watch is open would be swallowed, on a real server too.
        _wait_for_watches(bed[0], 1)
        client.AppsV1Api(admin).patch_namespaced_deployment_scale("kc-watch", "default", {"spec": {"replicas": 5}})
        rows = [next_line().split()]
        while rows[-1][1] != "5/5":
            rows.append(next_line().split())
    finally:
        watcher.kill()
        watcher.wait(timeout=10)
        watcher.stdout.close()
        watcher.stderr.close()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert first.split()[:4] == ["kc-watch", "2/2", "2", "2"]
    assert [row[:4] for row in rows] == [["kc-watch", "2/5", "2", "2"], ["kc-watch", "5/5", "5", "5"]]


def test_scalerd_context_rights(kubectl, tmp_path):
    kubectl("create", "-f", str(_manifest_file(tmp_path, "kc-guarded")))
    deleted = kubectl("delete", "deploy", "kc-guarded", context="scalerd")
    secrets = kubectl("get", "secrets", context="scalerd")
    scaled = kubectl("scale", "deploy", "kc-guarded", "--replicas=3", context="scalerd")
    assert (deleted.returncode, deleted.stderr) == (1, (
        f'Error from server (Forbidden): deployments.apps "kc-guarded" is forbidden: User "{SCALERD}" cannot '
        'delete resource "deployments" in API group "apps" in the namespace "default"\n'))
    assert (secrets.returncode, secrets.stderr) == (1, (
        f'Error from server (Forbidden): secrets is forbidden: User "{SCALERD}" cannot list resource "secrets" '
        'in API group "" in the namespace "default"\n'))
    assert (scaled.returncode, scaled.stdout) == (0, "deployment.apps/kc-guarded scaled\n")


def test_rollout_status_and_wait_use_the_streaming_list(kubectl, tmp_path):
    kubectl("create", "-f", str(_manifest_file(tmp_path, "kc-rollout")))
    rollout = kubectl("rollout", "status", "deploy/kc-rollout", "--timeout=10s")
    waited = kubectl("wait", "--for=condition=Available", "deploy/kc-rollout", "--timeout=10s")
    assert (rollout.returncode, rollout.stdout) == (0, 'deployment "kc-rollout" successfully rolled out\n')
    assert (waited.returncode, waited.stdout) == (0, "deployment.apps/kc-rollout condition met\n")


def test_client_side_apply_creates_then_configures(kubectl, tmp_path):
    manifest = _manifest_file(tmp_path, "kc-applied")
    created = kubectl("apply", "-f", str(manifest))
    manifest.write_text(yaml.safe_dump(deployment_manifest("kc-applied", replicas=3)))
    configured = kubectl("apply", "-f", str(manifest))
    deployment = _deployment(kubectl, "kc-applied")
    assert (created.returncode, created.stdout) == (0, "deployment.apps/kc-applied created\n")
    assert (configured.returncode, configured.stdout) == (0, "deployment.apps/kc-applied configured\n")
    assert (deployment["spec"]["replicas"], deployment["status"]["readyReplicas"]) == (3, 3)
    assert "kubectl.kubernetes.io/last-applied-configuration" in deployment["metadata"]["annotations"]
