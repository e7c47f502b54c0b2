"""`kubectl apply -k manifests/` on an emulator that starts with no RBAC at all, then scalerd run exactly as the
applied Deployment runs it (its arguments, its ServiceAccount, POD_NAME from a Pod of it), scaling a Deployment.

The image cannot run here, so its entrypoint (`scalerd`, the Dockerfile's ENTRYPOINT) is `python -m scalerd`, and
the ServiceAccount's mounted token is a kubeconfig holding that account's token. Only `--listen` changes: the
container's `0.0.0.0:8080` becomes a free port on 127.0.0.1 (the test bed listens on loopback only).
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.daemon_support import REPO_ROOT, wait_until
from tests.testbed.k8s_testing import SCALERD_TOKEN, running_emulator, write_kubeconfig
from tests.testbed.processes import free_port

SERVICE_ACCOUNT = "system:serviceaccount:scalerd:scalerd"
APPLIED = [
    "namespace/scalerd configured",  # the emulator starts with the namespace, as a cluster would have kube-system
    "customresourcedefinition.apiextensions.k8s.io/autoscalerpolicies.scalerd.io created",
    "serviceaccount/scalerd created",
    "role.rbac.authorization.k8s.io/scalerd-leader-election created",
    "role.rbac.authorization.k8s.io/scalerd-state created",
    "clusterrole.rbac.authorization.k8s.io/scalerd created",
    "rolebinding.rbac.authorization.k8s.io/scalerd-leader-election created",
    "rolebinding.rbac.authorization.k8s.io/scalerd-state created",
    "clusterrolebinding.rbac.authorization.k8s.io/scalerd created",
    "configmap/scalerd-config created",
    "service/scalerd-metrics created",
    "deployment.apps/scalerd created",
]
RULES = """apiVersion: scalerd/v1
targets:
  - {name: orders-consumer, namespace: default, deployment: orders-consumer, minReplicas: 1, maxReplicas: 20,
     schedule: [{time: "00:00", replicas: 3}]}
"""


@pytest.fixture
def cluster(tmp_path):
    with running_emulator(tmp_path, rbac_dir=None) as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "cache")}

        def kubectl(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60,
                                  cwd=REPO_ROOT)

        yield server, kubectl


def _service_account_kubeconfig(path: Path, server) -> Path:
    """What the Pod's mounted token gives the client: the API server, its CA and the ServiceAccount's token."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": {
            "server": server.https_url,
            "certificate-authority-data": base64.b64encode(server.certificate_pem).decode()}}],
        "users": [{"name": "scalerd", "user": {"token": SCALERD_TOKEN}}],
        "contexts": [{"name": "scalerd", "context": {"cluster": "cluster", "user": "scalerd", "namespace": "scalerd"}}],
        "current-context": "scalerd",
    }))
    return path


def _container_arguments(deployment: dict, *, port: int) -> list[str]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return [f"--listen=127.0.0.1:{port}" if argument.startswith("--listen=") else argument
            for argument in container["args"]]


def test_the_manifests_apply_and_the_daemon_they_describe_scales_a_deployment(cluster, tmp_path):
    server, kubectl = cluster
    applied = kubectl("apply", "-k", "manifests/")
    assert (applied.returncode, applied.stdout.splitlines()) == (0, APPLIED), applied.stderr
    again = kubectl("apply", "-k", "manifests/")
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout.splitlines() == [line.rsplit(" ", 1)[0] + " unchanged" for line in APPLIED]

    # The shipped rules read a Kafka and a CPU metric; the user edits them as the README says, here to a schedule
    # alone so that the count does not depend on the time of day or on metrics: 3 replicas all day.
    orders = json.loads(kubectl("create", "deployment", "orders-consumer", "--image=example/orders:1",
                                "--dry-run=client", "-o", "json").stdout)
    (tmp_path / "orders.json").write_text(json.dumps(orders))
    assert kubectl("apply", "-n", "default", "-f", str(tmp_path / "orders.json")).returncode == 0
    edited = kubectl("patch", "configmap", "scalerd-config", "-n", "scalerd", "--type=merge",
                     "-p", json.dumps({"data": {"config.yaml": RULES}}))
    assert edited.returncode == 0, edited.stderr

    deployment = json.loads(kubectl("get", "deployment", "scalerd", "-n", "scalerd", "-o", "json").stdout)
    pod_name = json.loads(kubectl("get", "pods", "-n", "scalerd", "-l", "app.kubernetes.io/name=scalerd",
                                  "-o", "json").stdout)["items"][0]["metadata"]["name"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "scalerd"
    arguments = _container_arguments(deployment, port=free_port())
    log_path = tmp_path / "scalerd.log"
    with log_path.open("w") as log_file:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scalerd", *arguments], cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "POD_NAME": pod_name,
                 "KUBECONFIG": str(_service_account_kubeconfig(tmp_path / "sa-kubeconfig", server))})
        try:
            wait_until(lambda: _replicas(kubectl, "orders-consumer") == 3, timeout=60,
                       what="orders-consumer scaled to 3")
        except TimeoutError as error:
            raise AssertionError(f"{error}; scalerd's log: {log_path.read_text()[-3000:]}") from None
        finally:
            daemon.send_signal(signal.SIGTERM)
            exit_code = daemon.wait(timeout=20)

    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    by_the_daemon = [line for line in audit if line["user"] == SERVICE_ACCOUNT]
    assert [line["status"] for line in by_the_daemon
            if line["path"] == "/apis/apps/v1/namespaces/default/deployments/orders-consumer/scale"] == [200]
    assert [line for line in by_the_daemon if line["status"] == 403] == []
    assert arguments[:3] == ["run", "--config-map=scalerd/scalerd-config", "--lease-namespace=scalerd"]
    decisions = [json.loads(line) for line in log_path.read_text().splitlines() if '"decision"' in line]
    assert [(decision["current"], decision["desired"], decision["applied"]) for decision in decisions][:1] == [
        (1, 3, True)]
    assert exit_code == 0


def _replicas(kubectl, name: str) -> int | None:
    shown = kubectl("get", "deployment", name, "-n", "default", "-o", "jsonpath={.spec.replicas}")
    return int(shown.stdout) if shown.returncode == 0 and shown.stdout else None
