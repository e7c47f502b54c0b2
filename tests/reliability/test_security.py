"""Secrets never leave scalerd, TLS is verified by default, and the daemon's identity can do only its job.

Known strings are planted where secrets live (a Prometheus bearer-token file, rotated while the daemon runs; a
basic-auth password file; SASL settings in defaults.kafka.config; the Kubernetes bearer token of the kubeconfig)
and a server that quotes the credentials it received in its error message; then every log line (JSON and
console), every Event, every annotation and /metrics are searched for them.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import threading
import time

import pytest
from kubernetes import client as kube_client
from kubernetes.client import ApiException

from scalerd.kube.state_store import shard_name, shard_of
from tests.integration.daemon_support import (
    LEASE_NAMESPACE,
    NAMESPACE,
    audit_lines,
    create_deployment,
    events_about,
    replicas_of,
    run_scalerd,
    wait_until,
)
from tests.reliability.support import (
    FakePrometheus,
    decisions_about,
    self_signed_certificate,
)
from tests.testbed.kafka_tools import unique_name
from tests.testbed.kubeconfig import SCALERD_USER

BEARER = "tok-PLANTED-bearer-5b1e0c"
ROTATED_BEARER = "tok-PLANTED-rotated-9c2d11"
SASL_USERNAME = "user-PLANTED-sasl-77a1"
SASL_PASSWORD = "pass-PLANTED-sasl-88b2"
BASIC_PASSWORD = "pw-PLANTED-basic-41c7"
BASIC_USERNAME = "scalerd-reader"


def _config(*, fake_url: str, kafka_bootstrap: str, deployments: dict[str, str], prometheus_auth: str) -> str:
    return f"""\
apiVersion: scalerd/v1
defaults:
  interval: 1s
  prometheus: {{url: '{fake_url}', timeout: 1s, {prometheus_auth}}}
  kafka:
    bootstrapServers: '{kafka_bootstrap}'
    timeout: 2s
    config: {{security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: {SASL_USERNAME},
              sasl.password: {SASL_PASSWORD}}}
targets:
  - {{name: scaled, deployment: {deployments['scaled']}, maxReplicas: 10, behavior: {{cooldown: 0s}},
      metrics: [{{type: prometheus, name: rps, query: rps, targetPerReplica: 10}}]}}
  - {{name: echoed, deployment: {deployments['echoed']}, maxReplicas: 10,
      metrics: [{{type: prometheus, name: rps, query: rps, targetPerReplica: 10, url: '{fake_url}/echo'}}]}}
  - {{name: sasl, deployment: {deployments['sasl']}, maxReplicas: 10,
      metrics: [{{type: kafka, group: g, topics: [t], lagPerReplica: 10}}]}}
"""


def _everything_scalerd_left(testbed, admin, daemon, deployments: dict[str, str]) -> dict[str, str]:
    """Where a secret could have gone, as text: the log, the Events, the annotations, /metrics."""
    events = kube_client.CoreV1Api(admin).list_namespaced_event(NAMESPACE).items
    names = set(deployments.values())
    apps = kube_client.AppsV1Api(admin)
    return {
        "log": daemon.log_path.read_text(),
        "events": "\n".join(f"{event.reason} {event.message}" for event in events
                            if event.involved_object.name in names),
        "annotations": json.dumps({name: apps.read_namespaced_deployment(name, NAMESPACE).metadata.annotations
                                   for name in names}),
        "metrics": daemon.get("/metrics").text,
    }


def _scaled_up(admin, deployment: str) -> bool:
    return "ScaledUp" in [event.reason for event in events_about(admin, deployment)]


def _console_decisions(daemon, target: str) -> list[str]:
    return [line for line in daemon.log_path.read_text().splitlines()
            if re.search(rf"\] decision .* target={target}( |$)", line)]


def _leaks(places: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    return [(place, secret) for place, text in places.items() for secret in secrets if secret in text]


@pytest.fixture
def deployments(admin) -> dict[str, str]:
    names = {role: unique_name(role) for role in ("scaled", "echoed", "sasl")}
    for name in names.values():
        create_deployment(admin, name, replicas=2)
    return names


def test_planted_secrets_appear_in_no_json_log_line_event_annotation_or_metric(testbed, admin, tmp_path, daemons,
                                                                                deployments):
    token_file = tmp_path / "token"
    token_file.write_text(BEARER + "\n")
    with FakePrometheus(value=90.0) as fake:
        config = tmp_path / "scalerd.yaml"
        config.write_text(_config(fake_url=fake.url, kafka_bootstrap=testbed.kafka_bootstrap,
                                  deployments=deployments, prometheus_auth=f"bearerTokenFile: '{token_file}'"))
        daemon = daemons.start(["--config", str(config)], log_format="json")
        wait_until(lambda: replicas_of(admin, deployments["scaled"]) == 6, timeout=10,
                   what="scaled from 2 to 6, as far as the default policy (4 Pods per 15 s) allows")
        token_file.write_text(ROTATED_BEARER + "\n")  # rotated: read again, masked again
        wait_until(lambda: f"Bearer {ROTATED_BEARER}" in fake.authorizations, timeout=10, what="the new token sent")
        echoed_before = len(decisions_about(daemon, deployments["echoed"]))
        # Two more echoed errors (a whole cycle with the new token), the SASL failure, the scale-up's Event.
        wait_until(lambda: len(decisions_about(daemon, deployments["echoed"])) >= echoed_before + 2
                   and decisions_about(daemon, deployments["sasl"]) and _scaled_up(admin, deployments["scaled"]),
                   timeout=15, what="every place a secret could go written to")
        places = _everything_scalerd_left(testbed, admin, daemon, deployments)

    assert f"Bearer {BEARER}" in fake.authorizations  # the planted secrets were really in use
    assert _leaks(places, [BEARER, ROTATED_BEARER, SASL_USERNAME, SASL_PASSWORD, testbed.tokens.scalerd]) == []
    echoed = decisions_about(daemon, deployments["echoed"])
    assert {line["metrics"][0]["error"] for line in echoed} == {
        "unauthorized: credentials 'Bearer [redacted]' refused"}
    sasl_errors = {line["metrics"][0]["error"] for line in decisions_about(daemon, deployments["sasl"])}
    assert sasl_errors and None not in sasl_errors  # the SASL settings were used, and failed, and were reported
    assert "ScaledUp" in places["events"]


def test_planted_secrets_appear_in_no_console_log_line_with_basic_auth(testbed, admin, tmp_path, daemons,
                                                                        deployments):
    password_file = tmp_path / "password"
    password_file.write_text(BASIC_PASSWORD + "\n")
    with FakePrometheus(value=90.0) as fake:
        config = tmp_path / "scalerd.yaml"
        config.write_text(_config(
            fake_url=fake.url, kafka_bootstrap=testbed.kafka_bootstrap, deployments=deployments,
            prometheus_auth=f"username: {BASIC_USERNAME}, passwordFile: '{password_file}'",
        ).replace(f", url: '{fake.url}/echo'", ""))  # a server quoting the Basic header: the test below
        daemon = daemons.start(["--config", str(config)], log_format="console")
        wait_until(lambda: replicas_of(admin, deployments["scaled"]) == 6, timeout=10,
                   what="scaled from 2 to 6, as far as the default policy (4 Pods per 15 s) allows")
        wait_until(lambda: _scaled_up(admin, deployments["scaled"])
                   and all(len(_console_decisions(daemon, target)) >= 2 for target in deployments),
                   timeout=15, what="the scale-up's Event and two cycles of every target")
        places = _everything_scalerd_left(testbed, admin, daemon, deployments)

    basic = base64.b64encode(f"{BASIC_USERNAME}:{BASIC_PASSWORD}".encode()).decode()
    assert f"Basic {basic}" in fake.authorizations
    assert "decision" in places["log"] and not places["log"].lstrip().startswith("{")  # console lines
    assert _leaks(places, [BASIC_PASSWORD, basic, SASL_USERNAME, SASL_PASSWORD, testbed.tokens.scalerd]) == []


def test_a_server_quoting_the_basic_auth_header_does_not_leak_the_credentials(testbed, admin, tmp_path, daemons,
                                                                              deployments):
    password_file = tmp_path / "password"
    password_file.write_text(BASIC_PASSWORD + "\n")
    with FakePrometheus(value=90.0) as fake:
        config = tmp_path / "scalerd.yaml"
        config.write_text(_config(fake_url=fake.url, kafka_bootstrap=testbed.kafka_bootstrap,
                                  deployments=deployments,
                                  prometheus_auth=f"username: {BASIC_USERNAME}, passwordFile: '{password_file}'"))
        daemon = daemons.start(["--config", str(config)], log_format="json")
        wait_until(lambda: decisions_about(daemon, deployments["echoed"]), timeout=10, what="the echoed error")

    basic = base64.b64encode(f"{BASIC_USERNAME}:{BASIC_PASSWORD}".encode()).decode()
    assert basic not in daemon.log_path.read_text()


@pytest.mark.parametrize(("trust", "expected_error"), [
    pytest.param("", "certificate verify failed", id="verified-by-default"),
    pytest.param("caFile: '{certificate}'", None, id="ca-file"),
    pytest.param("insecureSkipVerify: true", None, id="insecure-skip-verify"),
])
def test_prometheus_tls_is_verified_unless_trusted_or_explicitly_skipped(tmp_path, trust, expected_error):
    certificate, key = self_signed_certificate(tmp_path)
    with FakePrometheus(value=42.0, certificate=(certificate, key)) as fake:
        assert fake.url.startswith("https://")
        config = tmp_path / "scalerd.yaml"
        config.write_text(f"""\
apiVersion: scalerd/v1
defaults: {{prometheus: {{url: '{fake.url}', timeout: 2s, {trust.format(certificate=certificate)}}}}}
targets:
  - {{name: api, deployment: api, maxReplicas: 10, metrics: [{{type: prometheus, name: rps, query: rps,
      targetPerReplica: 10}}]}}
""")
        finished = run_scalerd("metrics", "--config", str(config), "--output", "json")

    [metric] = json.loads(finished.stdout)["metrics"]
    if expected_error is None:
        assert (finished.returncode, metric["value"], metric["error"]) == (0, 42, None)
    else:
        assert finished.returncode == 1
        assert metric["value"] is None and expected_error in metric["error"] and fake.url in metric["error"]


class _TlsListener:
    """Accepts TLS connections with a self-signed certificate and records how each handshake ended."""

    def __init__(self, certificate, key) -> None:
        self.outcomes: list[str] = []
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificate, key)
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            try:
                with self._context.wrap_socket(connection, server_side=True):
                    self.outcomes.append("handshake completed")
            except (ssl.SSLError, OSError) as error:
                self.outcomes.append(str(error))

    def close(self) -> None:
        self._socket.close()


@pytest.mark.parametrize(("settings", "expected"), [
    pytest.param("{security.protocol: SSL}", "ALERT_UNKNOWN_CA", id="verified-by-default"),
    pytest.param("{security.protocol: SSL, ssl.ca.location: '{certificate}'}", "handshake completed",
                 id="trusted-ca"),
])
def test_kafka_tls_is_verified_by_default(tmp_path, settings, expected):
    """librdkafka's `enable.ssl.certificate.verification` defaults to true, and scalerd does not change it."""
    certificate, key = self_signed_certificate(tmp_path)
    listener = _TlsListener(certificate, key)
    try:
        config = tmp_path / "scalerd.yaml"
        config.write_text(f"""\
apiVersion: scalerd/v1
defaults:
  kafka: {{bootstrapServers: '127.0.0.1:{listener.port}', timeout: 2s,
          config: {settings.replace('{certificate}', str(certificate))}}}
targets:
  - {{name: c, deployment: c, maxReplicas: 10, metrics: [{{type: kafka, group: g, topics: [t], lagPerReplica: 1}}]}}
""")
        finished = run_scalerd("metrics", "--config", str(config), "--output", "json")
    finally:
        listener.close()

    assert finished.returncode == 1  # not a Kafka broker either way
    # On a busy machine the client can give up (its 2 s timeout) in the middle of a handshake: such an end (an EOF,
    # a reset) says nothing about verification, so only handshakes that completed or met the CA alert count.
    decided = [outcome for outcome in listener.outcomes
               if outcome == "handshake completed" or "ALERT_UNKNOWN_CA" in outcome]
    assert decided and all(expected in outcome for outcome in decided), listener.outcomes


def test_the_scalerd_identity_may_do_its_job_and_nothing_else(testbed, admin, daemons, tmp_path):
    scalerd = testbed.scalerd_api_client()
    deployment = unique_name("api")
    create_deployment(admin, deployment, replicas=1)
    apps, core = kube_client.AppsV1Api(scalerd), kube_client.CoreV1Api(scalerd)
    refused = []
    for attempt in (
        lambda: apps.delete_namespaced_deployment(deployment, NAMESPACE),
        lambda: create_deployment(scalerd, unique_name("new"), replicas=1),
        lambda: core.list_namespaced_secret(NAMESPACE),
        lambda: core.patch_namespaced_config_map("any", NAMESPACE, {"data": {}}),
        lambda: kube_client.CoordinationV1Api(scalerd).create_namespaced_lease(NAMESPACE, {
            "metadata": {"name": unique_name("lease")}, "spec": {}}),
    ):
        try:
            attempt()
        except ApiException as error:
            refused.append(error.status)
    assert refused == [403, 403, 403, 403, 403]

    config = tmp_path / "scalerd.yaml"
    config.write_text(f"""\
apiVersion: scalerd/v1
defaults: {{interval: 1s}}
targets:
  - {{name: api, deployment: {deployment}, maxReplicas: 10, schedule: [{{time: "00:00", replicas: 3}}]}}
""")
    lease = unique_name("lease")
    started_at = time.time()
    daemons.start(["--config", str(config)], lease=lease)
    wait_until(lambda: replicas_of(admin, deployment) == 3, timeout=10, what="the schedule's 3 replicas")
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
    config_maps = f"/api/v1/namespaces/{LEASE_NAMESPACE}/configmaps"
    store = shard_name(lease, shard_of((NAMESPACE, deployment)))

    def renewed_and_recorded() -> list[dict] | None:
        writes = [line for line in audit_lines(testbed.audit_path) if line["verb"] in ("create", "update", "patch")
                  and line["ts"] >= started_at
                  and (line["path"] in (leases, f"{leases}/{lease}", config_maps, f"{config_maps}/{store}")
                       or f"/deployments/{deployment}" in line["path"])]
        kinds = {(line["verb"], line["path"].rsplit("/", 1)[-1]) for line in writes}
        return writes if {("update", lease), ("update", store)} <= kinds else None

    # A Lease renewal, and the change's outcome stored after the scale write.
    writes = wait_until(renewed_and_recorded, timeout=15, what="a Lease renewal and the stored outcome")
    assert {line["user"] for line in writes} == {SCALERD_USER}
    # The Deployment is written through its scale subresource only; the history goes to scalerd's own namespace.
    assert {(line["verb"], line["path"].rsplit("/", 1)[-1], line["status"]) for line in writes} == {
        ("create", "leases", 201), ("update", lease, 200), ("patch", "scale", 200),
        ("create", "configmaps", 201), ("update", store, 200)}
