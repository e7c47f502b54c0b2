"""What the daemon's integration tests share: Deployments on the emulator, configs, `scalerd` subprocesses.

Every scalerd process runs with the test bed's `scalerd` context (the least-privilege ServiceAccount); the
admin context only sets the scene (Deployments, ConfigMaps) and reads the outcome.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from kubernetes import client as kube_client

from scalerd.kube.state_store import data_key, shard_name, shard_of
from scalerd.writeahead import TargetRecord, decode_record
from tests.testbed.kafka_tools import unique_name
from tests.testbed.kubeconfig import SCALERD_USER
from tests.testbed.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "default"
LEASE_NAMESPACE = "scalerd"
# Short failover timings (client-go's defaults are 15 s, 10 s, 2 s) keep each test well under 30 s.
FAST_LEASE = ("--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "0.5s")


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """The predicate's first truthy value; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout}s")
        time.sleep(interval)


def at_least(count: int, items: Callable[[], list]) -> Callable[[], list | None]:
    """A `wait_until` predicate: `items()` once it holds `count` or more. A daemon logs a decision, then annotates
    and sends the Event, only after its write answered, so a test that saw the write waits for these facts
    before asserting them (exactly)."""
    def predicate() -> list | None:
        found = items()
        return found if len(found) >= count else None

    return predicate


def create_deployment(api_client, name: str, *, replicas: int, namespace: str = NAMESPACE,
                      annotations: dict | None = None) -> None:
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "example/app:1",
                    "resources": {"requests": {"cpu": "100m"}},
                }]},
            },
        },
    }
    kube_client.AppsV1Api(api_client).create_namespaced_deployment(namespace, body)


def replicas_of(api_client, name: str, namespace: str = NAMESPACE) -> int:
    return kube_client.AppsV1Api(api_client).read_namespaced_deployment(name, namespace).spec.replicas


def annotations_of(api_client, name: str, namespace: str = NAMESPACE) -> dict[str, str]:
    deployment = kube_client.AppsV1Api(api_client).read_namespaced_deployment(name, namespace)
    return deployment.metadata.annotations or {}


def events_about(api_client, name: str, namespace: str = NAMESPACE) -> list:
    events = kube_client.CoreV1Api(api_client).list_namespaced_event(namespace).items
    return [event for event in events if event.involved_object.name == name]


def lease_holder(api_client, lease_name: str) -> str | None:
    lease = kube_client.CoordinationV1Api(api_client).read_namespaced_lease(lease_name, LEASE_NAMESPACE)
    return lease.spec.holder_identity


def how_taken(daemon: ScalerdDaemon) -> dict:
    """How `daemon` found the Lease it first acquired, from its `lease_acquired` line (scalerd.kube.leader): `taken`
    (created, released, expired, own_record), and for an expired one the `previous_holder` and the seconds its record
    stood `unchanged_for` by the daemon's own clock. Timing a take-over by the wall clock measures the machine."""
    [first, *_later] = wait_until(
        lambda: [line for line in daemon.log_events() if line.get("event") == "lease_acquired"], timeout=10,
        what=f"{daemon.identity}'s lease_acquired")
    return {key: first[key] for key in ("taken", "previous_holder", "unchanged_for") if key in first}


def stored_record(api_client, deployment: str, *, lease: str = "scalerd",
                  namespace: str = NAMESPACE) -> TargetRecord | None:
    """What scalerd (on `lease`) stored about a Deployment in its ConfigMaps, or None."""
    key = (namespace, deployment)
    try:
        config_map = kube_client.CoreV1Api(api_client).read_namespaced_config_map(
            shard_name(lease, shard_of(key)), LEASE_NAMESPACE)
    except kube_client.ApiException as error:
        if error.status == 404:
            return None
        raise
    text = (config_map.data or {}).get(data_key(key))
    return None if text is None else decode_record(text)


def audit_lines(audit_path: Path) -> list[dict]:
    """The emulator's audit log: {"ts" (Unix seconds), "user", "verb", "path", "status"} per request."""
    return [json.loads(line) for line in audit_path.read_text().splitlines() if line.strip()]


def scale_writes(audit_path: Path, deployment: str, *, since: float = 0.0) -> list[dict]:
    """The scalerd user's successful writes to the Deployment's scale subresource, from the emulator's audit log."""
    return [
        line for line in audit_lines(audit_path)
        if line["user"] == SCALERD_USER and line["verb"] in ("patch", "update")
        and line["path"].endswith(f"/namespaces/{NAMESPACE}/deployments/{deployment}/scale")
        and line["status"] < 300 and line["ts"] >= since
    ]


def rps_config(*, prometheus_url: str, targets: list[dict], interval: str = "1s") -> str:
    """A config whose targets each scale on one Prometheus query (`rps`, 10 per replica)."""
    lines = [
        "apiVersion: scalerd/v1",
        "defaults:",
        f"  interval: {interval}",
        f"  prometheus: {{url: '{prometheus_url}', timeout: 2s}}",
        "targets:",
    ]
    for target in targets:
        lines += [
            f"  - name: {target['name']}",
            f"    namespace: {target.get('namespace', NAMESPACE)}",
            f"    deployment: {target['deployment']}",
            f"    minReplicas: {target.get('min', 1)}",
            f"    maxReplicas: {target.get('max', 10)}",
            "    metrics:",
            "      - type: prometheus",
            "        name: rps",
            f"        query: sum(scalerd_test_rps{{deployment=\"{target['deployment']}\"}})",
            f"        targetPerReplica: {target.get('per_replica', 10)}",
            "    behavior:",
            f"      cooldown: {target.get('cooldown', '0s')}",
            # Short policy periods: several changes in a row within one test are not rate limited.
            "      scaleUp: {policies: [{type: Pods, value: 100, period: 1s}]}",
            "      scaleDown: {stabilizationWindow: 0s, policies: [{type: Percent, value: 100, period: 1s}]}",
        ]
    return "\n".join(lines) + "\n"


def serve_rps(testbed, values: dict[str, float]) -> None:
    """Serve `scalerd_test_rps{deployment=...}`; Prometheus has it after its next scrape (1 s)."""
    testbed.write_metrics("".join(
        f'scalerd_test_rps{{deployment="{deployment}"}} {value}\n' for deployment, value in values.items()
    ))


def set_rps(testbed, values: dict[str, float]) -> None:
    """Serve `scalerd_test_rps{deployment=...}` and wait until Prometheus returns every value."""
    serve_rps(testbed, values)
    for deployment, value in values.items():
        testbed.wait_for_prometheus_value(f'sum(scalerd_test_rps{{deployment="{deployment}"}})', value,
                                          timeout=10.0)


def rps_scene(testbed, admin, directory: Path, *, replicas: int = 2, rps: float = 45,
              **target_fields) -> tuple[str, Path]:
    """A fresh Deployment at `replicas` whose Prometheus metric reads `rps` (45 asks for 5 at 10 per replica),
    and the config file `directory/scalerd.yaml` that targets it: (deployment, config path)."""
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=replicas)
    set_rps(testbed, {deployment: rps})
    config = directory / "scalerd.yaml"
    config.write_text(rps_config(prometheus_url=testbed.prometheus_url,
                                 targets=[{"name": "api", "deployment": deployment, **target_fields}]))
    return deployment, config


def console_events(stderr: str, event: str) -> list[dict[str, str]]:
    """The key=value fields of each console log line of `event` (a quoted value up to its closing quote)."""
    return [dict(re.findall(r"(\w+)=('[^']*'|\S+)", line.split(event, 1)[1]))
            for line in stderr.splitlines() if f"] {event} " in line]


def run_scalerd(*arguments: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Runs `python -m scalerd ARGUMENTS`; the caller checks the exit code (it is what many tests assert)."""
    return subprocess.run([sys.executable, "-m", "scalerd", *arguments], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_command(testbed, command: str, config, *extra: str) -> subprocess.CompletedProcess:
    """`scalerd once` or `status` as the scalerd identity, with JSON output and the stored history where that
    identity may write it (the `scalerd` namespace)."""
    return run_scalerd(command, "--config", str(config), "--kubeconfig", str(testbed.kubeconfig_path),
                       "--context", "scalerd", "--output", "json", "--lease-namespace", LEASE_NAMESPACE, *extra)


class ScalerdDaemon:
    """A `scalerd run` subprocess with the scalerd context, its log in a file, its HTTP port known."""

    def __init__(self, testbed, directory: Path, *, config_args: list[str], identity: str | None = None,
                 extra: tuple[str, ...] = (), environment: dict[str, str] | None = None) -> None:
        self.identity = identity or unique_name("scalerd")
        self.port = free_port()
        self.log_path = directory / f"{self.identity}.log"
        arguments = [
            sys.executable, "-m", "scalerd", "run", *config_args,
            "--kubeconfig", str(testbed.kubeconfig_path), "--context", "scalerd",
            "--listen", f"127.0.0.1:{self.port}", "--lease-namespace", LEASE_NAMESPACE,
            "--log-format", "json", *extra,
        ]
        self._log_file = self.log_path.open("w")
        self.process = subprocess.Popen(
            arguments, cwd=REPO_ROOT, stdout=self._log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "POD_NAME": self.identity, **(environment or {})},
        )

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200: a busy machine can take 15 s and more just to start the interpreter and import."""
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"scalerd exited with {self.process.returncode}: {self.log_tail()}")
            try:
                return self.get("/readyz").status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=timeout, what=f"{self.identity} /readyz")

    def log_events(self) -> list[dict]:
        events = []
        for line in self.log_path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def decisions(self) -> list[dict]:
        return [event for event in self.log_events() if event.get("event") == "decision"]

    def wait_for_applied(self, count: int, *, deployment: str | None = None, timeout: float = 15.0) -> list[dict]:
        """The applied decisions (about `deployment`, if given) once `count` are logged. The line follows the
        write's answer, so a write the API already shows may not be in the log yet."""
        def applied() -> list[dict]:
            return [line for line in self.decisions()
                    if line["applied"] and deployment in (None, line["deployment"])]

        return wait_until(at_least(count, applied), timeout=timeout,
                          what=f"{count} applied decisions in {self.identity}'s log")

    def wait_for_settled(self, cycles: int, *, deployment: str | None = None, timeout: float = 15.0) -> list[dict]:
        """The decisions (about `deployment`, if given) once `cycles` more followed the last applied one. A
        target's change has its Event sent before its next cycle decides, and its outcome stored by that cycle's
        end."""
        def settled() -> list[dict] | None:
            decisions = [line for line in self.decisions() if deployment in (None, line["deployment"])]
            applied = [index for index, line in enumerate(decisions) if line["applied"]]
            return decisions if applied and len(decisions) - applied[-1] > cycles else None

        return wait_until(settled, timeout=timeout, what=f"{cycles} cycles after a change in {self.identity}'s log")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def metric(self, name: str) -> float | None:
        for line in self.get("/metrics").text.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        return None

    def terminate(self) -> float:
        """SIGTERM; the seconds until it exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        return time.monotonic() - started

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log_file.close()
