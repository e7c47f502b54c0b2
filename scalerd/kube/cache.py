"""A watch-based cache of the configured Deployments: in steady state a cycle sends no GET.

Per namespace of a configured Deployment one thread lists, then watches from the list's resourceVersion with
bookmarks, and starts over with a fresh list when the server says the version is gone (410) or sends an ERROR
event. Dropped streams and errors reconnect with capped exponential backoff from the last version seen. Only the
configured Deployments are kept: the others of a namespace go by in its list and watch.

With `watch_hpas()`, the same kind of thread per namespace follows the HorizontalPodAutoscalers, so that the
daemon knows, without a request per cycle, which managed Deployment an HPA also scales. A server that refuses
that list (403: an RBAC without the rule; 404: no autoscaling/v2) costs the detection, never the cache.
"""
from __future__ import annotations

import functools
import json
import random
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import kubernetes.client
import structlog
from kubernetes.client import ApiException

from scalerd.kube._api import (
    CONNECT_TIMEOUT,
    NO_ANSWER,
    TRANSPORT_ERRORS,
    RequestHook,
    api_message,
    call_json,
    ignore_request,
    keep_out_of_pool,
    open_stream,
    request,
)

log = structlog.get_logger(__name__)

HTTP_GONE = 410
HTTP_NOT_FOUND = 404
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments"
DEPLOYMENT_PATH = DEPLOYMENTS_PATH + "/{name}"
HPAS_PATH = "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"
HPA_UNAVAILABLE = frozenset({403, 404})
WATCH_SECONDS = 60
"""How long the server keeps one watch open; `request` reads it with a timeout just beyond that. Short, because a
connection that dies silently (no FIN, e.g. a network partition) is only noticed by that read timeout, and
resuming from the last version costs one request and no list."""
LIST_TIMEOUT = 30.0
"""Seconds to read a whole namespace's list: longer than a plain request's."""
RECONNECT_INITIAL = 0.5
RECONNECT_MAX = 30.0
# A line that is not JSON means a broken stream as much as a reset connection does.
TRANSPORT_READ_ERRORS = (ValueError, *TRANSPORT_ERRORS)


@dataclass(frozen=True)
class DeploymentView:
    """What the engine and the writer need of a Deployment, as last seen by the cache."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    replicas: int
    """spec.replicas: the count scalerd changes (the API server defaults an absent value to 1)."""
    ready_replicas: int
    selector: Mapping[str, str]
    """spec.selector.matchLabels."""
    annotations: Mapping[str, str]
    generation: int
    observed_generation: int

    @classmethod
    def from_object(cls, deployment: Mapping[str, Any]) -> DeploymentView:
        metadata = deployment.get("metadata") or {}
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        replicas = spec.get("replicas")
        return cls(
            namespace=metadata["namespace"],
            name=metadata["name"],
            uid=metadata.get("uid", ""),
            resource_version=metadata.get("resourceVersion", ""),
            replicas=1 if replicas is None else int(replicas),
            ready_replicas=int(status.get("readyReplicas") or 0),
            selector=MappingProxyType(dict((spec.get("selector") or {}).get("matchLabels") or {})),
            annotations=MappingProxyType(dict(metadata.get("annotations") or {})),
            generation=int(metadata.get("generation") or 0),
            observed_generation=int(status.get("observedGeneration") or 0),
        )


@dataclass(frozen=True)
class WatchedKind:
    """What a namespace watcher lists and follows; `name` prefixes its log events and names its thread."""

    name: str
    path: str


DEPLOYMENTS = WatchedKind("deployment", DEPLOYMENTS_PATH)
HPAS = WatchedKind("hpa", HPAS_PATH)


def hpa_target(hpa: Mapping[str, Any]) -> str | None:
    """The name of the Deployment an HPA scales (its scaleTargetRef: kind Deployment of the apps group), or None."""
    target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    group = str(target.get("apiVersion") or "").partition("/")[0]
    if target.get("kind") == "Deployment" and group == "apps" and target.get("name"):
        return str(target["name"])
    return None


def is_older(candidate: str, current: str) -> bool:
    """Whether `candidate` is known to be older than `current`.

    resourceVersions are opaque by contract, but every API server in use (etcd's revisions, the test bed)
    hands out increasing integers; comparing them keeps a slow GET from overwriting a newer watch event.
    When either is not an integer nothing is known, and the newer arrival wins.
    """
    if candidate.isdigit() and current.isdigit():
        return int(candidate) < int(current)
    return False


class ListWatchClient:
    """The list and watch requests of a namespace watcher (`NamespaceWatcher` calls them on its cache).

    A cache built on it also answers `_replace_items(watcher, items)` after each list, `_put_item(watcher, item)`
    for ADDED and MODIFIED and `_remove_item(watcher, item)` for DELETED, each item with its namespace set."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, on_request: RequestHook, watch_seconds: int):
        self._request = functools.partial(request, api_client)
        self._on_request = on_request
        self._watch_seconds = watch_seconds

    def _list(self, kind: WatchedKind, namespace: str) -> dict:
        return call_json(self._on_request, "list", self._request, "GET", kind.path,
                         path_params={"namespace": namespace}, _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT))

    def _watch(self, kind: WatchedKind, namespace: str, resource_version: str):
        return open_stream(
            self._on_request, "watch", self._request, "GET", kind.path, path_params={"namespace": namespace},
            query={"allowWatchBookmarks": True, "resourceVersion": resource_version,
                   "timeoutSeconds": self._watch_seconds, "watch": True},
        )

    def _unavailable(self, watcher: NamespaceWatcher, error: ApiException) -> bool:
        """The server refuses this kind for good (say 403 or 404): True when the watcher should give up."""
        return False


class DeploymentCache(ListWatchClient):
    """The Deployments the configuration names, and no others: a crowded namespace costs its list, not memory."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, deployments: Iterable[tuple[str, str]],
                 on_request: RequestHook = ignore_request, watch_seconds: int = WATCH_SECONDS):
        super().__init__(api_client, on_request=on_request, watch_seconds=watch_seconds)
        self._lock = threading.Lock()
        self._synced_changed = threading.Condition(self._lock)
        self._views: dict[tuple[str, str], DeploymentView] = {}
        self._wanted = frozenset(deployments)
        self._namespaces = namespaces_of(self._wanted)
        self._watchers: dict[str, NamespaceWatcher] = {}
        self._hpa_watchers: dict[str, NamespaceWatcher] = {}
        self._hpa_targets: dict[tuple[str, str], str] = {}
        """(namespace, HPA name) -> the Deployment it scales, for the HPAs that scale a Deployment."""
        self._watching_hpas = False
        self._hpas_unavailable_logged = False
        self._started = False

    def start(self) -> None:
        with self._lock:
            self._started = True
            wanted = self._namespaces
        self._converge(wanted)

    def stop(self) -> None:
        with self._lock:
            self._started = False
        self._converge(frozenset())

    def set_deployments(self, deployments: Iterable[tuple[str, str]]) -> None:
        """Keep exactly these (namespace, name) from now on (a config reload); others are forgotten.

        A newly named Deployment in a namespace already watched is fetched with one GET before this returns, as
        its watch only carries later changes; one in a new namespace comes with that namespace's first list.
        """
        wanted = frozenset(deployments)
        with self._lock:
            added = wanted - self._wanted
            self._wanted = wanted
            self._namespaces = namespaces_of(wanted)
            for key in [key for key in self._views if key not in wanted]:
                del self._views[key]
            already_watched = set(self._watchers)
            started = self._started
        if not started:
            return
        self._converge(self._namespaces)
        for namespace, name in sorted(added):
            if namespace in already_watched:
                self._fetch_added(namespace, name)

    def watch_hpas(self) -> None:
        """From now on also follow the HorizontalPodAutoscalers of the watched namespaces (see `hpa_for`)."""
        with self._lock:
            self._watching_hpas = True
            started = self._started
        if started:
            self._converge(self._namespaces)

    def hpa_for(self, namespace: str, deployment: str) -> str | None:
        """The name of an HPA scaling this Deployment (the first by name when several do), or None."""
        with self._lock:
            names = [hpa for (hpa_namespace, hpa), target in self._hpa_targets.items()
                     if hpa_namespace == namespace and target == deployment]
        return min(names, default=None)

    def synced(self) -> bool:
        with self._lock:
            return self._all_synced()

    def wait_synced(self, timeout: float) -> bool:
        with self._synced_changed:
            return self._synced_changed.wait_for(self._all_synced, timeout=timeout)

    def get(self, namespace: str, name: str) -> DeploymentView | None:
        with self._lock:
            return self._views.get((namespace, name))

    def refresh(self, namespace: str, name: str) -> DeploymentView | None:
        """One GET (after a 409) that also updates the cache; None when the Deployment does not exist.

        Any other failure is logged and the cached view returned: the caller's next conditional write will be
        refused again if it is stale, and its retries are bounded.
        """
        try:
            deployment = self._get(namespace, name)
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                with self._lock:
                    self._views.pop((namespace, name), None)
                return None
            log.warning("deployment_refresh_failed", namespace=namespace, deployment=name,
                        code=error.status, error=api_message(error))
            return self.get(namespace, name)
        return self._put(DeploymentView.from_object(deployment))

    def _fetch_added(self, namespace: str, name: str) -> None:
        try:
            deployment = self._get(namespace, name)
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                return  # its ADDED event will come through the watch
            log.warning("deployment_fetch_failed", namespace=namespace, deployment=name, code=error.status,
                        error=api_message(error), then="relist")
            self._restart_watcher(namespace)
            return
        self._put(DeploymentView.from_object(deployment))

    def _get(self, namespace: str, name: str) -> dict:
        return call_json(self._on_request, "get", self._request, "GET", DEPLOYMENT_PATH,
                         path_params={"namespace": namespace, "name": name},
                         _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT))

    def _restart_watcher(self, namespace: str) -> None:
        """A fresh list of `namespace`, for a Deployment neither a GET nor the running watch can bring."""
        with self._lock:
            if not self._started or namespace not in self._watchers:
                return
            old = self._watchers[namespace]
            self._watchers[namespace] = NamespaceWatcher(self, namespace, DEPLOYMENTS)
            self._watchers[namespace].start()
            self._synced_changed.notify_all()
        old.stop()

    def _all_synced(self) -> bool:
        watcher_sets = (self._watchers, self._hpa_watchers) if self._watching_hpas else (self._watchers,)
        return all(namespace in watchers and watchers[namespace].synced
                   for watchers in watcher_sets for namespace in self._namespaces)

    def _converge(self, wanted: frozenset[str]) -> None:
        with self._lock:
            dropped = self._converge_watchers(self._watchers, DEPLOYMENTS, wanted)
            dropped += self._converge_watchers(self._hpa_watchers, HPAS, wanted if self._watching_hpas else frozenset())
            for key in [key for key in self._views if key[0] not in wanted]:
                del self._views[key]
            for key in [key for key in self._hpa_targets if key[0] not in wanted]:
                del self._hpa_targets[key]
            self._synced_changed.notify_all()
        for watcher in dropped:
            watcher.stop()

    def _converge_watchers(self, watchers: dict[str, NamespaceWatcher], kind: WatchedKind,
                           wanted: frozenset[str]) -> list[NamespaceWatcher]:
        """Start a watcher for each wanted namespace lacking one; returns those to stop (called under the lock)."""
        dropped = [watchers.pop(namespace) for namespace in set(watchers) - wanted]
        for namespace in wanted - set(watchers):
            watchers[namespace] = NamespaceWatcher(self, namespace, kind)
            watchers[namespace].start()
        return dropped

    # Called by the namespace watchers.

    def _replace_items(self, watcher: NamespaceWatcher, items: list[Mapping[str, Any]]) -> None:
        if watcher.kind is DEPLOYMENTS:
            self._replace_namespace(watcher, [DeploymentView.from_object(item) for item in items])
            return
        with self._lock:
            if self._hpa_watchers.get(watcher.namespace) is not watcher:
                return
            for key in [key for key in self._hpa_targets if key[0] == watcher.namespace]:
                del self._hpa_targets[key]
            for item in items:
                self._put_hpa(watcher.namespace, item)
            watcher.synced = True
            self._synced_changed.notify_all()

    def _put_item(self, watcher: NamespaceWatcher, item: Mapping[str, Any]) -> None:
        if watcher.kind is DEPLOYMENTS:
            self._put(DeploymentView.from_object(item))
            return
        with self._lock:
            if self._hpa_watchers.get(watcher.namespace) is watcher:
                self._put_hpa(watcher.namespace, item)

    def _remove_item(self, watcher: NamespaceWatcher, item: Mapping[str, Any]) -> None:
        name = item["metadata"]["name"]
        if watcher.kind is DEPLOYMENTS:
            self._remove(watcher.namespace, name)
            return
        with self._lock:
            self._hpa_targets.pop((watcher.namespace, name), None)

    def _put_hpa(self, namespace: str, hpa: Mapping[str, Any]) -> None:
        """Under the lock: an HPA edited to scale something else is forgotten."""
        key = (namespace, (hpa.get("metadata") or {}).get("name", ""))
        target = hpa_target(hpa)
        if target is None:
            self._hpa_targets.pop(key, None)
        else:
            self._hpa_targets[key] = target

    def _unavailable(self, watcher: NamespaceWatcher, error: ApiException) -> bool:
        """The server will not list HPAs: the namespace counts as synced without them, and this is said once."""
        if watcher.kind is not HPAS or error.status not in HPA_UNAVAILABLE:
            return False
        with self._lock:
            first = not self._hpas_unavailable_logged
            self._hpas_unavailable_logged = True
            watcher.synced = True
            self._synced_changed.notify_all()
        if first:
            log.warning("hpa_detection_unavailable", namespace=watcher.namespace, code=error.status,
                        error=api_message(error),
                        consequence="an HPA scaling a managed Deployment will not be detected; scaling goes on",
                        fix="grant get, list and watch on horizontalpodautoscalers of the autoscaling group")
        return True

    def _put(self, view: DeploymentView) -> DeploymentView:
        """Keeps the newer of `view` and the cached one, for watched namespaces only; returns the newer."""
        with self._lock:
            current = self._views.get((view.namespace, view.name))
            if current is not None and is_older(view.resource_version, current.resource_version):
                return current
            if view.namespace in self._watchers and (view.namespace, view.name) in self._wanted:
                self._views[(view.namespace, view.name)] = view
            return view

    def _remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self._views.pop((namespace, name), None)

    def _replace_namespace(self, watcher: NamespaceWatcher, views: list[DeploymentView]) -> None:
        with self._lock:
            if self._watchers.get(watcher.namespace) is not watcher:
                return
            for key in [key for key in self._views if key[0] == watcher.namespace]:
                del self._views[key]
            for view in views:
                if (view.namespace, view.name) in self._wanted:
                    self._views[(view.namespace, view.name)] = view
            watcher.synced = True
            self._synced_changed.notify_all()



class _RelistNeeded(Exception):
    """The server ended the watch in a way only a fresh list recovers from (410 Gone, an ERROR event)."""


class NamespaceWatcher:
    """Lists one kind in one namespace ("": all namespaces, for a path without {namespace}), then follows its
    watch, for the cache it feeds."""

    def __init__(self, cache: ListWatchClient, namespace: str, kind: WatchedKind):
        self.namespace = namespace
        self.kind = kind
        self.synced = False
        self._cache = cache
        self._stopping = threading.Event()
        self._stream_lock = threading.Lock()
        self._stream = None
        self._thread = threading.Thread(target=self._run, name=f"{kind.name}-watch-{namespace}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._stream_lock:
            if self._stream is not None:
                _interrupt(self._stream)
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        resource_version: str | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._relist()
                resource_version = self._follow(resource_version)
                failures = 0
            except _RelistNeeded as reason:
                log.info(f"{self.kind.name}_watch_relist", namespace=self.namespace, reason=str(reason))
                resource_version = None
            except ApiException as error:
                if self._stopping.is_set():
                    return
                if error.status == HTTP_GONE:
                    log.info(f"{self.kind.name}_watch_relist", namespace=self.namespace, reason="410 Gone")
                    resource_version = None
                    continue
                if self._cache._unavailable(self, error):
                    return
                failures += 1
                delay = reconnect_delay(failures)
                log.warning(f"{self.kind.name}_watch_failed", namespace=self.namespace, code=error.status,
                            error=api_message(error), retry_in=round(delay, 2))
                self._stopping.wait(delay)
            except Exception:  # a dead watcher would leave the cache stale for good
                failures += 1
                delay = reconnect_delay(failures)
                log.exception(f"{self.kind.name}_watch_unexpected", namespace=self.namespace,
                              retry_in=round(delay, 2))
                resource_version = None
                self._stopping.wait(delay)

    def _relist(self) -> str:
        listing = self._cache._list(self.kind, self.namespace)
        self._cache._replace_items(self, [_with_namespace(item, self.namespace) for item in listing.get("items") or []])
        return (listing.get("metadata") or {}).get("resourceVersion", "")

    def _follow(self, resource_version: str) -> str:
        """Apply the events of one watch until the server ends it; returns the last version seen."""
        stream = self._cache._watch(self.kind, self.namespace, resource_version)
        keep_out_of_pool(stream)
        with self._stream_lock:
            self._stream = stream
        try:
            for line in _lines(stream):
                if self._stopping.is_set():
                    break
                resource_version = self._apply(json.loads(line), resource_version)
        except TRANSPORT_READ_ERRORS as error:
            if self._stopping.is_set():
                return resource_version
            raise ApiException(status=NO_ANSWER, reason=f"watch stream broke: {error}") from error
        finally:
            with self._stream_lock:
                self._stream = None
            stream.close()
        return resource_version

    def _apply(self, event: Mapping[str, Any], resource_version: str) -> str:
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise _RelistNeeded(f"ERROR event {body.get('code')}: {body.get('message', '')}")
        new_version = (body.get("metadata") or {}).get("resourceVersion") or resource_version
        if kind in ("ADDED", "MODIFIED"):
            self._cache._put_item(self, _with_namespace(body, self.namespace))
        elif kind == "DELETED":
            self._cache._remove_item(self, _with_namespace(body, self.namespace))
        return new_version


def namespaces_of(deployments: Iterable[tuple[str, str]]) -> frozenset[str]:
    return frozenset(namespace for namespace, _ in deployments)


def reconnect_delay(failures: int, *, random_fraction: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with jitter (half to all of the step) so many daemons do not reconnect in step."""
    step = min(RECONNECT_MAX, RECONNECT_INITIAL * 2 ** (failures - 1))
    return step * (0.5 + 0.5 * random_fraction())


def _with_namespace(item: Mapping[str, Any], namespace: str) -> Mapping[str, Any]:
    """List items may omit metadata.namespace; the namespace they were listed from is theirs."""
    metadata = item.get("metadata") or {}
    if metadata.get("namespace"):
        return item
    return {**item, "metadata": {**metadata, "namespace": namespace}}


def _lines(stream) -> Iterable[str]:
    buffer = b""
    for chunk in stream.stream(amt=None, decode_content=False):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line.decode("utf-8") for line in complete if line.strip())
    if buffer.strip():
        yield buffer.decode("utf-8")


def _interrupt(stream) -> None:
    """Unblock a thread waiting in a watch read (closing the response alone may wait for the read to end)."""
    connection = getattr(stream, "connection", None)
    sock = getattr(connection, "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass

