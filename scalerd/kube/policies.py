"""AutoScalerPolicy objects in the cluster: a list+watch cache (no request per cycle), the configuration provider
that adds their targets to the file's, and the leader's status writes.

The cache is one `NamespaceWatcher` (the Deployment cache's) over all namespaces, or over one with
`--policies-namespace`. A change of a policy's spec (a new generation), a new policy or a deleted one bumps the
cache's revision; the provider's `poll()` sees it at the next cycle, so a change takes effect within one interval.
Status writes (scalerd's own) do not bump it.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kubernetes.client
import structlog

from scalerd.config.model import Config, Defaults
from scalerd.daemon.report import TargetResult
from scalerd.kube._api import RequestHook, ignore_request
from scalerd.kube.cache import WATCH_SECONDS, ListWatchClient, NamespaceWatcher, WatchedKind
from scalerd.kube.writer import KubeWriter, WriteStatus
from scalerd.policies import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    PolicyKey,
    PolicySet,
    condition,
    key_of,
    merge,
    policy_status,
    status_changed,
)
from scalerd.reload import ConfigProvider

log = structlog.get_logger(__name__)

ALL_POLICIES_PATH = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
POLICIES_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}"
POLICY_STATUS_PATH = POLICIES_PATH + "/{name}/status"
ALL_NAMESPACES = ""


def _spec_identity(policy: Mapping[str, Any]) -> tuple:
    metadata = policy.get("metadata") or {}
    return metadata.get("uid"), metadata.get("generation"), policy.get("spec")


class PolicyCache(ListWatchClient):
    """Every AutoScalerPolicy the account may list (in `namespace` only, when given)."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, namespace: str | None = None,
                 on_request: RequestHook = ignore_request, watch_seconds: int = WATCH_SECONDS):
        super().__init__(api_client, on_request=on_request, watch_seconds=watch_seconds)
        self._kind = WatchedKind("policy", POLICIES_PATH if namespace else ALL_POLICIES_PATH)
        self._namespace = namespace or ALL_NAMESPACES
        self._lock = threading.Lock()
        self._synced_changed = threading.Condition(self._lock)
        self._policies: dict[PolicyKey, dict[str, Any]] = {}
        self._revision = 0
        self._watcher: NamespaceWatcher | None = None

    def start(self) -> None:
        with self._lock:
            self._watcher = NamespaceWatcher(self, self._namespace, self._kind)
            self._watcher.start()

    def stop(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def synced(self) -> bool:
        with self._lock:
            return self._watcher is not None and self._watcher.synced

    def wait_synced(self, timeout: float) -> bool:
        with self._synced_changed:
            return self._synced_changed.wait_for(lambda: self._watcher is not None and self._watcher.synced,
                                                 timeout=timeout)

    def snapshot(self) -> tuple[int, list[dict[str, Any]]]:
        """(revision, the policies): the revision moves when a spec, a generation or the set of policies does."""
        with self._lock:
            return self._revision, [copy.deepcopy(policy) for policy in self._policies.values()]

    def get(self, key: PolicyKey) -> dict[str, Any] | None:
        with self._lock:
            policy = self._policies.get(key)
            return None if policy is None else copy.deepcopy(policy)

    # Called by the watcher.

    def _replace_items(self, watcher: NamespaceWatcher, items: list[Mapping[str, Any]]) -> None:
        with self._lock:
            if watcher is not self._watcher:
                return
            fresh = {key_of(item): dict(item) for item in items}
            if {key: _spec_identity(p) for key, p in fresh.items()} != \
                    {key: _spec_identity(p) for key, p in self._policies.items()}:
                self._revision += 1
            self._policies = fresh
            watcher.synced = True
            self._synced_changed.notify_all()

    def _put_item(self, watcher: NamespaceWatcher, item: Mapping[str, Any]) -> None:
        with self._lock:
            if watcher is not self._watcher:
                return
            key = key_of(item)
            old = self._policies.get(key)
            if old is None or _spec_identity(old) != _spec_identity(item):
                self._revision += 1
            self._policies[key] = dict(item)

    def _remove_item(self, watcher: NamespaceWatcher, item: Mapping[str, Any]) -> None:
        with self._lock:
            if watcher is self._watcher and self._policies.pop(key_of(item), None) is not None:
                self._revision += 1


class PolicyConfigProvider:
    """The daemon's configuration: the file's (or ConfigMap's, or none: only built-in defaults) and a target per
    valid policy, merged again whenever either changes. `current` is the last merge, for the status writer."""

    def __init__(self, base: ConfigProvider | None, cache: PolicyCache) -> None:
        self._base = base
        self._cache = cache
        self.description = f"{base.description} and AutoScalerPolicies" if base else "AutoScalerPolicies"
        self._base_config = Config(defaults=Defaults(), targets=())
        self._revision: int | None = None
        self.current = PolicySet(config=self._base_config)

    def load(self) -> Config:
        if self._base is not None:
            self._base_config = self._base.load()
        return self._merge()

    def poll(self) -> Config | None:
        changed = False
        if self._base is not None:
            new_base = self._base.poll()
            if new_base is not None:
                self._base_config, changed = new_base, True
        if not changed and self._cache.snapshot()[0] == self._revision:
            return None
        return self._merge()

    @property
    def holds_rejected_edit(self) -> bool:
        return self._base is not None and self._base.holds_rejected_edit

    def close(self) -> None:
        if self._base is not None:
            self._base.close()

    def _merge(self) -> Config:
        self._revision, policies = self._cache.snapshot()
        self.current = merge(self._base_config, policies)
        for (namespace, name), problems in self.current.problems.items():
            log.warning("policy_invalid", namespace=namespace, policy=name, problems=list(problems))
        for (namespace, name), message in self.current.claimed_twice.items():
            log.warning("policy_claimed_twice", namespace=namespace, policy=name, message=message)
        return self.current.config


class PolicyStatusWriter:
    """After each of the leader's cycles: the status of every policy, written through the status subresource
    only when it changed a state an operator reads (`status_changed`: a steady cycle writes nothing, even when its
    metric values and so its decision's message moved), with a Warning Event when a policy turns invalid or its
    Deployment claimed twice."""

    def __init__(self, *, provider: PolicyConfigProvider, cache: PolicyCache, writer: KubeWriter,
                 wall: Callable[[], float]) -> None:
        self._provider = provider
        self._cache = cache
        self._writer = writer
        self._wall = wall
        self._written: dict[PolicyKey, dict[str, Any]] = {}
        """What this instance last wrote, until the watch brings it back (a later cycle must not write it again)."""

    def __call__(self, results: list[TargetResult]) -> None:
        policies = self._provider.current
        now = datetime.fromtimestamp(self._wall(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        by_target = {result.target: result for result in results}
        keys = set(policies.targets) | set(policies.problems)
        for key in sorted(keys):
            target = policies.targets.get(key)
            result = by_target.get(target.name) if target is not None else None
            policy = self._cache.get(key)
            if policy is None:
                continue
            held = policy.get("status")
            if held is not None and self._written.get(key) == held:
                del self._written[key]  # the watch has brought our write back
            old = self._written.get(key, held)
            new = policy_status(old, policies=policies, key=key, result=result, now=now)
            if not status_changed(old, new):
                continue
            self._warn_on_change(policy, old=old, new=new)
            self._write(policy, new)
        for key in set(self._written) - keys:
            del self._written[key]

    def forget(self) -> None:
        """Leadership changed: another instance may have written since."""
        self._written.clear()

    def _warn_on_change(self, policy: Mapping[str, Any], *, old: Mapping[str, Any] | None,
                        new: Mapping[str, Any]) -> None:
        for kind, reason in (("Valid", "InvalidSpec"), ("ScalingActive", "ClaimedTwice")):
            now_condition, before = condition(new, kind), condition(old, kind)
            if now_condition is None or now_condition["reason"] != reason:
                continue
            if before is not None and (before.get("reason"), before.get("message")) == (reason,
                                                                                      now_condition["message"]):
                continue
            event_reason = "PolicyInvalid" if reason == "InvalidSpec" else "DeploymentClaimedTwice"
            self._event(policy, reason=event_reason, message=now_condition["message"].replace("\n", "; "))

    def _event(self, policy: Mapping[str, Any], *, reason: str, message: str) -> None:
        namespace, name = key_of(policy)
        involved = {"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": policy["metadata"].get("uid", ""),
                    "resourceVersion": policy["metadata"].get("resourceVersion", "")}
        try:
            self._writer.event(namespace=namespace, involved=involved, reason=reason, message=message[:1000],
                               event_type="Warning")
        except Exception:  # an Event is an explanation; its loss must not stop the status writes
            log.exception("event_failed", namespace=namespace, policy=name, reason=reason)

    def _write(self, policy: Mapping[str, Any], status: dict[str, Any]) -> None:
        key = namespace, name = key_of(policy)
        outcome = self._writer.update_status(path=POLICY_STATUS_PATH, obj={**policy, "status": status},
                                             planned=f"write the status of {KIND} {namespace}/{name}")
        if outcome.applied:
            self._written[key] = status
        elif outcome.status != WriteStatus.DRY_RUN:
            log.warning("policy_status_not_written", namespace=namespace, policy=name, status=outcome.status,
                        detail=outcome.detail)

