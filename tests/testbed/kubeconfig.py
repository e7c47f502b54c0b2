"""Identities of the test bed's API emulator and the kubeconfig that holds them."""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.testbed.apiserver import ADMIN_TOKEN_USER, SCALERD_USER

SCALERD_NAMESPACE = "scalerd"


@dataclass(frozen=True)
class Tokens:
    """Fresh random bearer tokens for each run, so a kubeconfig from an old run never works by accident."""

    admin: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    scalerd: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def by_token(self) -> dict[str, str]:
        """token -> user name, as the emulator takes them."""
        return {self.admin: ADMIN_TOKEN_USER, self.scalerd: SCALERD_USER}


def kubeconfig_document(*, server_url: str, tokens: Tokens, certificate_pem: bytes | None = None) -> dict:
    """`certificate_pem`: the CA of an https:// server (kubectl sends bearer tokens only over TLS)."""
    cluster = {"server": server_url}
    if certificate_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(certificate_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": cluster}],
        "users": [
            {"name": "admin", "user": {"token": tokens.admin}},
            {"name": "scalerd", "user": {"token": tokens.scalerd}},
        ],
        "contexts": [
            {"name": "admin", "context": {"cluster": "testbed", "user": "admin", "namespace": "default"}},
            {"name": "scalerd",
             "context": {"cluster": "testbed", "user": "scalerd", "namespace": SCALERD_NAMESPACE}},
        ],
        "current-context": "admin",
    }


def write_kubeconfig(path: Path, *, server_url: str, tokens: Tokens, certificate_pem: bytes | None = None) -> None:
    document = kubeconfig_document(server_url=server_url, tokens=tokens, certificate_pem=certificate_pem)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)  # it holds bearer tokens
