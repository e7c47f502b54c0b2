"""The object store: one global resourceVersion, a bounded event history, and the watchers it feeds.

Stored dicts are never mutated: every write stores a fresh dict, so lists, history and watchers can share them.
Callers hold `lock` around any sequence of reads and writes that must be atomic.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from tests.testbed.k8s_errors import bad_request, gone


@dataclass(frozen=True)
class WatchEvent:
    resource_version: int
    resource_key: str
    type: str  # ADDED, MODIFIED or DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


class Watcher:
    """One open watch: the store puts events in `events`; None there means the watch was dropped."""

    def __init__(self, resource_key: str, namespace: str | None):
        self.resource_key = resource_key
        self.namespace = namespace
        self.events: queue.SimpleQueue[WatchEvent | None] = queue.SimpleQueue()

    def wants(self, event: WatchEvent) -> bool:
        return self.namespace is None or event.obj["metadata"].get("namespace") == self.namespace


def parse_resource_version(value: str, *, field: str = "resourceVersion") -> int:
    try:
        parsed = int(value)
    except ValueError:
        raise bad_request(f'{field}: Invalid value: "{value}": must be a non-negative integer') from None
    if parsed < 0:
        raise bad_request(f'{field}: Invalid value: "{value}": must be a non-negative integer')
    return parsed


class Store:
    def __init__(self, *, history_limit: int):
        self.lock = threading.RLock()
        self._resource_version = 0
        self._objects: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history_limit)
        self._evicted_up_to = 0
        self._watchers: dict[str, set[Watcher]] = {}
        self._revisions: dict[str, int] = {}  # resource key -> resourceVersion of its latest write or delete

    @property
    def resource_version(self) -> int:
        return self._resource_version

    def revision(self, resource_key: str) -> int:
        """Changes whenever an object of the resource is written or deleted (0: never)."""
        return self._revisions.get(resource_key, 0)

    def get(self, resource_key: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(resource_key, {}).get(namespace, {}).get(name)

    def items(self, resource_key: str, namespace: str | None) -> list[dict[str, Any]]:
        """Sorted by namespace then name, as etcd's key order sorts them."""
        by_namespace = self._objects.get(resource_key, {})
        namespaces = [namespace] if namespace is not None else sorted(by_namespace)
        return [by_name[name] for ns in namespaces for by_name in [by_namespace.get(ns, {})]
                for name in sorted(by_name)]

    def count(self, resource_key: str, namespace: str) -> int:
        return len(self._objects.get(resource_key, {}).get(namespace, {}))

    def write(self, resource_key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Stores `obj` (now owned by the store) under a new resourceVersion: ADDED or MODIFIED."""
        metadata = obj["metadata"]
        by_name = self._objects.setdefault(resource_key, {}).setdefault(metadata.get("namespace", ""), {})
        old = by_name.get(metadata["name"])
        metadata["resourceVersion"] = str(self._next_resource_version())
        by_name[metadata["name"]] = obj
        self._record(WatchEvent(self._resource_version, resource_key, "MODIFIED" if old else "ADDED", obj, old))
        return obj

    def delete(self, resource_key: str, namespace: str, name: str) -> dict[str, Any]:
        by_name = self._objects.get(resource_key, {}).get(namespace, {})
        old = by_name.pop(name)
        deleted = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._next_resource_version())}}
        self._record(WatchEvent(self._resource_version, resource_key, "DELETED", deleted, old))
        return deleted

    def _next_resource_version(self) -> int:
        self._resource_version += 1
        return self._resource_version

    def _record(self, event: WatchEvent) -> None:
        self._revisions[event.resource_key] = event.resource_version
        if len(self._history) == self._history.maxlen:
            self._evicted_up_to = self._history[0].resource_version
        self._history.append(event)
        for watcher in self._watchers.get(event.resource_key, ()):
            if watcher.wants(event):
                watcher.events.put(event)

    def open_watch(self, resource_key: str, namespace: str | None,
                   since: int | None) -> tuple[Watcher, list[WatchEvent], int]:
        """The watcher, the events it must send first, and the resourceVersion they bring it to.

        `since` None: the current objects as ADDED. Raises 410 Gone once `since` left the history.
        """
        with self.lock:
            watcher = Watcher(resource_key, namespace)
            if since is None:
                backlog = [WatchEvent(self._resource_version, resource_key, "ADDED", obj, None)
                           for obj in self.items(resource_key, namespace)]
            elif since < self._evicted_up_to:
                raise gone(requested=since, oldest=self._evicted_up_to + 1)
            else:
                backlog = [event for event in self._events_after(since)
                           if event.resource_key == resource_key and watcher.wants(event)]
            self._watchers.setdefault(resource_key, set()).add(watcher)
            return watcher, backlog, self._resource_version

    def _events_after(self, since: int) -> list[WatchEvent]:
        newer: list[WatchEvent] = []
        for event in reversed(self._history):
            if event.resource_version <= since:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def close_watch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.get(watcher.resource_key, set()).discard(watcher)

    def open_watches(self, resource_key: str) -> int:
        with self.lock:
            return len(self._watchers.get(resource_key, ()))

    def drop_watches(self) -> int:
        with self.lock:
            watchers = [watcher for group in self._watchers.values() for watcher in group]
            self._watchers.clear()
        for watcher in watchers:
            watcher.events.put(None)
        return len(watchers)
