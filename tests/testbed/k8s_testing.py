"""Helpers for tests of the API emulator itself: a server in-process, clients, kubeconfig, manifests."""
from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.testbed.apiserver import ADMIN_TOKEN_USER, SCALERD_USER, ApiServer

ADMIN_TOKEN = "admin-token-for-tests"
SCALERD_TOKEN = "scalerd-token-for-tests"
REPO_MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


@contextlib.contextmanager
def running_emulator(directory: Path, **options: Any) -> Iterator[ApiServer]:
    """An emulator on a free port with the repository's RBAC, admin and scalerd tokens; stopped on exit."""
    server = ApiServer(rbac_dir=options.pop("rbac_dir", REPO_MANIFESTS), audit_path=directory / "audit.jsonl",
                       tokens={ADMIN_TOKEN: ADMIN_TOKEN_USER, SCALERD_TOKEN: SCALERD_USER}, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def api_client(url: str, token: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def write_kubeconfig(path: Path, server: ApiServer) -> Path:
    """Contexts `admin` (current) and `scalerd`, over TLS: kubectl sends no token over plain HTTP."""
    cluster = {"server": server.https_url,
               "certificate-authority-data": base64.b64encode(server.certificate_pem).decode()}
    document = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}},
                  {"name": "scalerd", "user": {"token": SCALERD_TOKEN}}],
        "contexts": [{"name": "admin", "context": {"cluster": "testbed", "user": "admin", "namespace": "default"}},
                     {"name": "scalerd",
                      "context": {"cluster": "testbed", "user": "scalerd", "namespace": "default"}}],
        "current-context": "admin",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def deployment_manifest(name: str, *, replicas: int = 2, cpu: str = "100m",
                        containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": containers or [
                    {"name": "main", "image": "registry.example/app:1.0", "resources": {"requests": {"cpu": cpu}}}]},
            },
        },
    }
