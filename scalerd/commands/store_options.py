"""Where scalerd keeps its own objects (Lease, stored history): the flags `run`, `once` and `status` share."""
from __future__ import annotations

import argparse
import sys

import kubernetes.client

from scalerd.kube.client import pod_namespace
from scalerd.kube.state_store import StateStore, StoreUnavailable
from scalerd.kube.writer import KubeWriter

DEFAULT_LEASE_NAME = "scalerd"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lease-name", default=DEFAULT_LEASE_NAME, metavar="NAME",
                        help="Lease name, also the prefix of the stored history's ConfigMaps (default: scalerd)")
    parser.add_argument("--lease-namespace", metavar="NS",
                        help="namespace of the Lease and the stored history (default: the pod's namespace "
                             "in-cluster, else default)")


def lease_namespace(args: argparse.Namespace) -> str:
    return args.lease_namespace or pod_namespace() or "default"


def state_store(args: argparse.Namespace, *, api_client: kubernetes.client.ApiClient, writer: KubeWriter,
                on_request=None) -> StateStore:
    options = {} if on_request is None else {"on_request": on_request}
    return StateStore(api_client, writer, namespace=lease_namespace(args), prefix=args.lease_name, **options)


def load(store: StateStore) -> bool:
    """Read the stored history once; False, after saying why on stderr, when it cannot be read."""
    try:
        store.load()
    except StoreUnavailable as error:
        print(f"error: the stored history ({store.description}, see --lease-namespace): {error}", file=sys.stderr)
        return False
    return True
