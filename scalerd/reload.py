"""Where the configuration comes from, and its hot reload: a file checked each cycle, or a watched ConfigMap.

Both providers answer the same two questions: `load()` at start (a bad configuration raises: there is nothing
good to keep), and `poll()` each cycle (a new valid configuration, or None). A rejected edit is logged line by
line, handed to `on_rejected` (the daemon counts it and raises an Event), and remembered so that the same bad
text is reported once, not every cycle; the last good configuration stays in force.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import structlog
from kubernetes import watch as kube_watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from scalerd.config import ConfigError, load_config_file, load_config_text
from scalerd.config.model import Config
from scalerd.kube._api import WATCH_SECONDS, call_json, ignore_request, request

log = structlog.get_logger()

CONFIG_MAP_KEY = "config.yaml"
WATCH_RETRY_SECONDS = 1.0
CONFIG_MAPS_PATH = "/api/v1/namespaces/{namespace}/configmaps"


def _ignore_rejection(_error: ConfigError) -> None:
    """The default: rejections are already logged."""


class ConfigProvider(Protocol):
    description: str

    def load(self) -> Config: ...

    def poll(self) -> Config | None: ...

    @property
    def holds_rejected_edit(self) -> bool: ...

    def close(self) -> None: ...


class _Tracker:
    """Parses a new text only when it differs from both the last accepted and the last rejected one."""

    def __init__(self, *, description: str, on_rejected: Callable[[ConfigError], None]) -> None:
        self._description = description
        self._on_rejected = on_rejected
        self._accepted_digest: str | None = None
        self._rejected_digest: str | None = None

    def consider(self, text: str, parse: Callable[[], Config]) -> Config | None:
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest == self._accepted_digest:
            self._rejected_digest = None  # a rejected edit was undone: the source holds what is in force
            return None
        if digest == self._rejected_digest:
            return None
        try:
            config = parse()
        except ConfigError as error:
            self._rejected_digest = digest
            for problem in error.problems:
                log.error("config_rejected", source=self._description, problem=problem)
            self._on_rejected(error)
            return None
        self._accepted_digest = digest
        self._rejected_digest = None
        log.info("config_loaded", source=self._description, targets=len(config.targets))
        return config

    @property
    def holds_rejected_edit(self) -> bool:
        """True from a rejected edit until a valid one (or the text in force) replaces it."""
        return self._rejected_digest is not None

    def accept_initial(self, text: str) -> None:
        self._accepted_digest = hashlib.sha256(text.encode()).hexdigest()


class ConfigFile:
    """`--config FILE`: re-read when its modification time or size changes, applied when its content changed."""

    def __init__(self, path: str | Path, *, on_rejected: Callable[[ConfigError], None] = _ignore_rejection,
                 targets_required: bool = True) -> None:
        self._path = Path(path)
        self._load = functools.partial(load_config_file, self._path, targets_required=targets_required)
        self.description = str(self._path)
        self._tracker = _Tracker(description=self.description, on_rejected=on_rejected)
        self._stat_key: tuple[int, int] | None = None

    def load(self) -> Config:
        config = self._load()  # a missing or unreadable file is a ConfigError naming it
        try:
            self._stat_key = self._current_stat_key()
            self._tracker.accept_initial(self._path.read_text(encoding="utf-8"))
        except OSError:
            # Replaced between the two reads: the next poll reads it again and applies it if it changed.
            self._stat_key = None
        return config

    def poll(self) -> Config | None:
        try:
            stat_key = self._current_stat_key()
            if stat_key == self._stat_key:
                return None
            self._stat_key = stat_key
            text = self._path.read_text(encoding="utf-8")
        except OSError as error:
            # An editor replacing the file can leave it missing for an instant: keep the last good config.
            log.warning("config_unreadable", source=self.description, error=str(error))
            self._stat_key = None
            return None
        return self._tracker.consider(text, self._load)

    @property
    def holds_rejected_edit(self) -> bool:
        return self._tracker.holds_rejected_edit

    def close(self) -> None:
        """Nothing to release: the file is read on demand."""

    def _current_stat_key(self) -> tuple[int, int]:
        stat = self._path.stat()
        return stat.st_mtime_ns, stat.st_size


class ConfigMapSource:
    """`--config-map NS/NAME`: the key `config.yaml`, kept current by a list+watch of the ConfigMaps of NS.

    The watch is filtered by name on this side, so it needs only list/watch on ConfigMaps and no field selector.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        namespace: str,
        name: str,
        on_rejected: Callable[[ConfigError], None] = _ignore_rejection,
        targets_required: bool = True,
    ) -> None:
        self._request = functools.partial(request, api_client)
        self._targets_required = targets_required
        self.namespace = namespace
        self.name = name
        self.description = f"configmap {namespace}/{name}"
        self._tracker = _Tracker(description=self.description, on_rejected=on_rejected)
        self._lock = threading.Lock()
        self._latest_text: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch_forever, name="configmap-watch", daemon=True)

    def load(self) -> Config:
        try:
            config_map = call_json(ignore_request, "get", self._request, "GET", CONFIG_MAPS_PATH + "/{name}",
                                   path_params={"namespace": self.namespace, "name": self.name})
        except ApiException as error:
            raise ConfigError((f"{self.description}: cannot be read ({error.status} {error.reason})",)) from error
        text = _config_text(config_map.get("data"))
        if text is None:
            raise ConfigError((f"{self.description}: has no key {CONFIG_MAP_KEY}",))
        config = load_config_text(text, source=self.description, targets_required=self._targets_required)
        self._tracker.accept_initial(text)
        with self._lock:
            self._latest_text = text
        self._thread.start()
        return config

    def poll(self) -> Config | None:
        with self._lock:
            text = self._latest_text
        if text is None:
            return None
        return self._tracker.consider(text, lambda: load_config_text(text, source=self.description,
                                                                     targets_required=self._targets_required))

    @property
    def holds_rejected_edit(self) -> bool:
        return self._tracker.holds_rejected_edit

    def close(self) -> None:
        self._stop.set()

    def _watch_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._list_then_watch()
            except Exception as error:  # noqa: BLE001 - any failure: re-list after a pause, never die
                log.warning("configmap_watch_failed", source=self.description, error=str(error))
                self._stop.wait(WATCH_RETRY_SECONDS)

    def _list_then_watch(self) -> None:
        listing = call_json(ignore_request, "list", self._request, "GET", CONFIG_MAPS_PATH,
                            path_params={"namespace": self.namespace})
        for config_map in listing.get("items") or ():
            if (config_map.get("metadata") or {}).get("name") == self.name:
                self._remember(config_map.get("data"))
        resource_version = (listing.get("metadata") or {}).get("resourceVersion")
        watcher = kube_watch.Watch()
        while not self._stop.is_set():
            for event in watcher.stream(
                self._watch_config_maps,
                resource_version=resource_version,
                timeout_seconds=WATCH_SECONDS,  # ended by the server, then re-opened from the last version
                allow_watch_bookmarks=True,
            ):
                if self._stop.is_set():
                    watcher.stop()
                    return
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watch error: {event['raw_object']}")
                config_map = event["raw_object"]
                metadata = config_map.get("metadata") or {}
                resource_version = metadata.get("resourceVersion", resource_version)
                if metadata.get("name") != self.name:
                    continue
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._remember(config_map.get("data"))
                elif event["type"] == "DELETED":
                    log.warning("configmap_deleted", source=self.description)

    def _watch_config_maps(self, *, watch: bool, resource_version: str | None, timeout_seconds: int,
                           allow_watch_bookmarks: bool, _preload_content: bool):
        """What `Watch.stream` calls, with the options it passes (named as the generated client names them)."""
        return self._request(
            "GET", CONFIG_MAPS_PATH, path_params={"namespace": self.namespace},
            query={"allowWatchBookmarks": allow_watch_bookmarks, "resourceVersion": resource_version,
                   "timeoutSeconds": timeout_seconds, "watch": watch},
        )

    def _remember(self, data: dict | None) -> None:
        text = _config_text(data)
        if text is None:
            log.warning("configmap_key_missing", source=self.description, key=CONFIG_MAP_KEY)
            return
        with self._lock:
            self._latest_text = text


def _config_text(data: dict | None) -> str | None:
    return (data or {}).get(CONFIG_MAP_KEY)
