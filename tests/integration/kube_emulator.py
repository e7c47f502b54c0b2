"""An API emulator of its own per test module (in process, RBAC from manifests/), for the kube edge's tests.

Its own instance rather than the session test bed: these tests inject faults, drop watches and shrink the watch
history, which would disturb other tests sharing one emulator.
"""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kubernetes.client

from scalerd.kube.client import load_api_client
from tests.testbed.apiserver import ApiServer
from tests.testbed.kubeconfig import Tokens, write_kubeconfig

REPO_ROOT = Path(__file__).resolve().parents[2]
SCALERD_USER = "system:serviceaccount:scalerd:scalerd"


@dataclass
class Emulator:
    server: ApiServer
    kubeconfig: Path
    audit_path: Path
    tokens: Tokens

    @property
    def url(self) -> str:
        return self.server.url

    def scalerd_client(self) -> kubernetes.client.ApiClient:
        return load_api_client(kubeconfig=str(self.kubeconfig), context="scalerd")

    def scalerd_client_through(self, url: str) -> kubernetes.client.ApiClient:
        """A client reaching the emulator at another address (a proxy). Its own kubeconfig: the kubeconfig
        loader's token refresh hook would reset a changed configuration.host from the file."""
        kubeconfig = self.kubeconfig.with_name(f"kubeconfig-{url.rsplit(':', 1)[1]}")
        write_kubeconfig(kubeconfig, server_url=url, tokens=self.tokens)
        return load_api_client(kubeconfig=str(kubeconfig), context="scalerd")

    def admin_apps(self) -> kubernetes.client.AppsV1Api:
        return kubernetes.client.AppsV1Api(self._admin_client())

    def admin_core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self._admin_client())

    def admin_coordination(self) -> kubernetes.client.CoordinationV1Api:
        return kubernetes.client.CoordinationV1Api(self._admin_client())

    def create_namespaces(self, *names: str) -> None:
        core = self.admin_core()
        for name in names:
            core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def _admin_client(self) -> kubernetes.client.ApiClient:
        return load_api_client(kubeconfig=str(self.kubeconfig), context="admin")

    def audit(self, *, user: str = SCALERD_USER, after: float = 0.0) -> list[dict]:
        """The emulator's request log lines of `user` logged after time `after`."""
        lines = [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]
        return [line for line in lines if line["user"] == user and line["ts"] > after]


@contextmanager
def running_emulator(directory: Path, *, rbac_dir: Path = REPO_ROOT / "manifests",
                     history_limit: int = 1000) -> Iterator[Emulator]:
    tokens = Tokens()
    server = ApiServer(rbac_dir=rbac_dir, audit_path=directory / "audit.jsonl", tokens=tokens.by_token(),
                       history_limit=history_limit)
    server.start()
    try:
        kubeconfig = directory / "kubeconfig"
        write_kubeconfig(kubeconfig, server_url=server.url, tokens=tokens)
        yield Emulator(server=server, kubeconfig=kubeconfig, audit_path=directory / "audit.jsonl", tokens=tokens)
    finally:
        server.stop()


def deployment(name: str, *, replicas: int) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/app:1",
                                                       "resources": {"requests": {"cpu": "100m"}}}]}}},
    }



class TcpProxy:
    """Forwards 127.0.0.1 connections to the emulator until `cut()`: a network partition for one client."""

    def __init__(self, target_port: int):
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                if self._cut:
                    _close(client)
                    _close(upstream)
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
