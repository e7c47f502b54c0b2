"""The Kubernetes bearer token is masked in every log line: as the in-cluster loader stores it ("bearer " + token,
lower case), as a kubeconfig stores it ("Bearer " + token), and again each time the loader re-reads a rotated one."""
from __future__ import annotations

import datetime

import kubernetes.client
import pytest
from kubernetes.config.incluster_config import InClusterConfigLoader

from scalerd.config.model import Config, Defaults
from scalerd.daemon.wiring import register_secrets
from scalerd.logs import REDACTED, REDACTOR


def masked(text: str) -> str:
    return REDACTOR(None, "info", {"event": "x", "error": text})["error"]


@pytest.fixture
def in_cluster(tmp_path):
    """A Configuration loaded by the kubernetes client's own in-cluster loader from a projected token file."""
    token_file, ca_file = tmp_path / "token", tmp_path / "ca.crt"
    token_file.write_text("in-cluster-token-7f3a")
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    loader = InClusterConfigLoader(token_filename=str(token_file), cert_filename=str(ca_file),
                                   environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    configuration = kubernetes.client.Configuration()
    loader.load_and_set(configuration)
    return loader, configuration, token_file


def test_the_in_cluster_token_is_masked_whatever_the_case_of_its_scheme(in_cluster):
    _loader, configuration, _token_file = in_cluster
    assert configuration.api_key == {"BearerToken": "bearer in-cluster-token-7f3a"}

    register_secrets(config=Config(defaults=Defaults(), targets=()), api_client=kubernetes.client.ApiClient(configuration))

    assert masked("401 for in-cluster-token-7f3a") == f"401 for {REDACTED}"
    assert masked("sent Authorization: bearer in-cluster-token-7f3a") == f"sent Authorization: {REDACTED}"


def test_a_token_the_in_cluster_loader_reads_again_after_rotation_is_masked_too(in_cluster):
    loader, configuration, token_file = in_cluster
    register_secrets(config=Config(defaults=Defaults(), targets=()), api_client=kubernetes.client.ApiClient(configuration))
    token_file.write_text("rotated-token-c0de")
    loader.token_expires_at = datetime.datetime.now()  # the loader's refresh period (1 min) has passed

    # What the client does before every request: the loader's hook re-reads the file.
    assert configuration.get_api_key_with_prefix("BearerToken") == "bearer rotated-token-c0de"

    assert masked("401 for rotated-token-c0de") == f"401 for {REDACTED}"
    assert masked("still logged: in-cluster-token-7f3a") == f"still logged: {REDACTED}"


def test_a_kubeconfig_token_is_masked_with_and_without_its_scheme():
    configuration = kubernetes.client.Configuration()
    configuration.api_key = {"BearerToken": "Bearer kubeconfig-token-91b2"}

    register_secrets(config=Config(defaults=Defaults(), targets=()), api_client=kubernetes.client.ApiClient(configuration))

    assert masked("kubeconfig-token-91b2 and Bearer kubeconfig-token-91b2") == f"{REDACTED} and {REDACTED}"
