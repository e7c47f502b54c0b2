"""Where the Kubernetes connection comes from: explicit flags, else in-cluster, else $KUBECONFIG, else ~/.kube/config."""
from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import kubernetes.client
import kubernetes.config
import urllib3
import yaml
from kubernetes.config.config_exception import ConfigException

SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_KUBECONFIG = "~/.kube/config"
# Watches hold one pooled connection each for their whole life; writes for concurrent targets need more.
CONNECTION_POOL_SIZE = 32
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES = 30, 15, 9
"""client-go's TCP keepalive (30 s, with Go's default 15 s between probes and 9 probes): an idle connection whose peer
is gone is closed by the kernel within about 2.5 minutes instead of being trusted for ever."""


class KubeConfigError(Exception):
    """No usable Kubernetes configuration; the message names every place that was tried."""


def load_api_client(*, kubeconfig: str | None = None, context: str | None = None,
                    environ: Mapping[str, str] = os.environ) -> kubernetes.client.ApiClient:
    """A client of its own (the library's global default is left alone), without urllib3's hidden retries.

    Retries are decided by scalerd (writer, cache, Lease) so that every request is deliberate and counted;
    urllib3 would otherwise silently resend a timed-out PUT of the Lease.
    """
    configuration = kubernetes.client.Configuration()
    if kubeconfig is not None or context is not None:
        _load_kubeconfig(configuration, sources=_kubeconfig_sources(kubeconfig, environ), context=context)
    elif environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except ConfigException as error:
            raise KubeConfigError(
                f"KUBERNETES_SERVICE_HOST is set but the in-cluster configuration cannot be loaded: {error}"
            ) from error
    else:
        _load_kubeconfig(configuration, sources=_kubeconfig_sources(None, environ), context=None)
    configuration.retries = False
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    configuration.socket_options = keepalive_socket_options()
    return kubernetes.client.ApiClient(configuration)


def keepalive_socket_options() -> list[tuple[int, int, int]]:
    """urllib3's own socket options (they replace, not extend, its defaults) plus TCP keepalive."""
    options = [*urllib3.connection.HTTPConnection.default_socket_options, (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                        ("TCP_KEEPCNT", KEEPALIVE_PROBES)):
        if hasattr(socket, name):  # Linux has all three
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


def pod_namespace(path: Path = SERVICE_ACCOUNT_NAMESPACE_FILE) -> str | None:
    """The namespace this process runs in when in a pod (the default Lease namespace), else None."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _kubeconfig_sources(kubeconfig: str | None, environ: Mapping[str, str]) -> tuple[str, list[Path]]:
    """(how the files were chosen, the files); $KUBECONFIG may list several files separated by ':'."""
    if kubeconfig is not None:
        return "--kubeconfig", [Path(kubeconfig).expanduser()]
    if environ.get("KUBECONFIG"):
        return "$KUBECONFIG", [Path(part).expanduser() for part in environ["KUBECONFIG"].split(os.pathsep) if part]
    return "the default", [Path(DEFAULT_KUBECONFIG).expanduser()]


def _missing_kubeconfig(origin: str, tried: str) -> str:
    """What to do depends on who named the missing file: the user's own flag or variable, or nobody."""
    if origin == "--kubeconfig":
        return (f"--kubeconfig {tried}: no such file: pass the path of an existing kubeconfig, or leave "
                "--kubeconfig out to use $KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount")
    if origin == "$KUBECONFIG":
        return (f"$KUBECONFIG names no existing file ({tried}): set it to an existing kubeconfig, or pass "
                "--kubeconfig PATH")
    return (f"no Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST unset) and no kubeconfig "
            f"file at {tried} ({origin}); pass --kubeconfig PATH")


def _load_kubeconfig(configuration: kubernetes.client.Configuration, *, sources: tuple[str, list[Path]],
                     context: str | None) -> None:
    origin, paths = sources
    existing = [path for path in paths if path.is_file()]
    if not existing:
        tried = ", ".join(str(path) for path in paths)
        raise KubeConfigError(_missing_kubeconfig(origin, tried))
    try:
        kubernetes.config.load_kube_config(
            config_file=os.pathsep.join(str(path) for path in existing), context=context,
            client_configuration=configuration, persist_config=False,
        )
    except (ConfigException, yaml.YAMLError) as error:
        where = ", ".join(str(path) for path in existing)
        wanted = f" context {context!r}" if context else ""
        raise KubeConfigError(f"kubeconfig {where} ({origin}){wanted}: {error}") from error
