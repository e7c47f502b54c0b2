"""What the API server and its controllers do to objects: create, update, patch, delete, the scale and status
subresources, the Pods of each Deployment (a ReplicaSet-less shortcut) and PodMetrics set by tests.

Every public method takes the store lock; the HTTP layer (apiserver.py) only parses, authorizes and encodes.
"""
from __future__ import annotations

import copy
import hashlib
import heapq
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from tests.testbed import k8s_crd as crd
from tests.testbed import k8s_events as events
from tests.testbed import k8s_kinds as kinds
from tests.testbed import k8s_resources as res
from tests.testbed.k8s_errors import already_exists, bad_request, conflict, invalid, not_found
from tests.testbed.k8s_patch import apply_patch
from tests.testbed.k8s_selectors import selector_string
from tests.testbed.k8s_store import Store, parse_resource_version

INITIAL_NAMESPACES = ("default", "kube-system", "scalerd")
NODE_NAME = "testbed-node"
STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"

Warnings = list[str]


def _copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(obj))


def _without_resource_version(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {key: value for key, value in obj["metadata"].items() if key != "resourceVersion"}}


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    """Semantic equality: absent and empty annotations are the same."""
    return obj["metadata"].get("annotations") or {}


def _template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def _random_suffix(length: int) -> str:
    # Same alphabet as the real name generator: no vowels, no digits 0, 1 and 3.
    return "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=length))


def _nanocores(millicores: int) -> str:
    return f"{millicores * 1_000_000}n"


class Cluster:
    def __init__(self, *, status_delay: float, history_limit: int):
        self.store = Store(history_limit=history_limit)
        self._status_delay = status_delay
        self._pod_cpu: dict[tuple[str, str], int] = {}
        self._forced_ready: dict[tuple[str, str], bool] = {}
        self._pod_ready_at: dict[tuple[str, str], float] = {}
        self._pods_by_owner: dict[str, set[str]] = {}
        self._status_due: dict[tuple[str, str], float] = {}
        self._timers: list[tuple[float, int, str, str]] = []
        self._timer_sequence = itertools.count()
        self._timer_wakeup = threading.Condition(self.store.lock)
        self._stopping = False
        self._timer_thread: threading.Thread | None = None
        self._custom: dict[str, list[res.ResourceType]] = {}  # CRD name -> the kinds it serves
        for name in INITIAL_NAMESPACES:
            self.create(res.NAMESPACES, "", {"metadata": {"name": name}}, field_validation=STRICT)

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._timer_thread = threading.Thread(target=self._run_timers, name="status-timers", daemon=True)
        self._timer_thread.start()

    def stop(self) -> None:
        with self._timer_wakeup:
            self._stopping = True
            self._timer_wakeup.notify_all()
        if self._timer_thread is not None:
            self._timer_thread.join(timeout=5)

    def _run_timers(self) -> None:
        with self._timer_wakeup:
            while not self._stopping:
                now = time.time()
                if self._timers and self._timers[0][0] <= now:
                    _, _, namespace, name = heapq.heappop(self._timers)
                    self._catch_up(namespace, name)
                    continue
                timeout = self._timers[0][0] - now if self._timers else None
                self._timer_wakeup.wait(timeout)

    # -- test controls ----------------------------------------------------------------------------------------

    def set_status_delay(self, seconds: float) -> None:
        with self.store.lock:
            self._status_delay = seconds

    def set_pod_metrics(self, *, namespace: str, pod: str, cpu_millicores: int | None) -> None:
        """A value for a pod that does not exist is refused: it would never be served."""
        with self.store.lock:
            if cpu_millicores is None:
                self._pod_cpu.pop((namespace, pod), None)
            elif self.store.get(res.PODS.key, namespace, pod) is None:
                raise not_found(plural="pods", group="", name=pod)
            else:
                self._pod_cpu[(namespace, pod)] = cpu_millicores

    def set_pod_ready(self, *, namespace: str, pod: str, ready: bool) -> None:
        with self.store.lock:
            obj = self.store.get(res.PODS.key, namespace, pod)
            if obj is None:
                raise not_found(plural="pods", group="", name=pod)
            self._forced_ready[(namespace, pod)] = ready
            self._write_pod_readiness(obj, ready)
            owner = self._owner_deployment(obj)
            if owner is not None:
                self._refresh_status(owner["metadata"]["namespace"], owner["metadata"]["name"], observe=False)

    # -- what is served ---------------------------------------------------------------------------------------

    def resources(self) -> tuple[res.ResourceType, ...]:
        """The built-in kinds and those of the established CustomResourceDefinitions, for discovery and routing."""
        with self.store.lock:
            return res.RESOURCES + tuple(kind for kinds_ in self._custom.values() for kind in kinds_)

    def lookup(self, *, group: str, version: str, plural: str) -> res.ResourceType | None:
        return res.lookup(self.resources(), group=group, version=version, plural=plural)

    def _register(self, definition: Mapping[str, Any]) -> None:
        self._custom[definition["metadata"]["name"]] = crd.served_resources(definition)

    # -- reads ------------------------------------------------------------------------------------------------

    def get(self, resource: res.ResourceType, namespace: str, name: str) -> dict[str, Any]:
        with self.store.lock:
            obj = self.store.get(resource.key, namespace, name)
            if obj is None:
                raise not_found(plural=resource.plural, group=resource.group, name=name)
            return events.to_events_v1(obj) if resource is res.EVENTS else obj

    def list(self, resource: res.ResourceType, namespace: str | None) -> tuple[list[dict[str, Any]], int]:
        with self.store.lock:
            items = self.store.items(resource.key, namespace)
            if resource is res.EVENTS:
                items = [events.to_events_v1(obj) for obj in items]
            return items, self.store.resource_version

    def get_scale(self, namespace: str, name: str) -> dict[str, Any]:
        return self._scale_of(self.get(res.DEPLOYMENTS, namespace, name))

    def pod_metrics(self, namespace: str | None, name: str | None) -> list[dict[str, Any]]:
        """PodMetrics of existing pods that tests gave a value; one pod (404 if none) when `name` is given."""
        with self.store.lock:
            if name is not None:
                pod = self.store.get(res.PODS.key, namespace or "", name)
                if pod is None or (namespace, name) not in self._pod_cpu:
                    raise not_found(plural="podmetrics", group="metrics.k8s.io", name=f"{namespace}/{name}")
                return [self._pod_metrics_of(pod)]
            return [self._pod_metrics_of(pod) for pod in self.store.items(res.PODS.key, namespace)
                    if (pod["metadata"]["namespace"], pod["metadata"]["name"]) in self._pod_cpu]

    def _pod_metrics_of(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        metadata = pod["metadata"]
        millicores = self._pod_cpu[(metadata["namespace"], metadata["name"])]
        containers = [container["name"] for container in pod.get("spec", {}).get("containers") or []] or ["main"]
        share, remainder = divmod(millicores, len(containers))
        now = kinds.now_rfc3339()
        return {
            "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"], "creationTimestamp": now,
                         "labels": dict(metadata.get("labels") or {})},
            "timestamp": now, "window": "15s",
            "containers": [{"name": container,
                            "usage": {"cpu": _nanocores(share + (remainder if index == 0 else 0)),
                                      "memory": "0"}}
                           for index, container in enumerate(containers)],
        }

    # -- writes -----------------------------------------------------------------------------------------------

    def create(self, resource: res.ResourceType, namespace: str, body: Any, *,
               field_validation: str) -> tuple[dict[str, Any], Warnings]:
        obj, warnings = self._decode(resource, body, kind=resource.kind, field_validation=field_validation)
        if resource is res.EVENTS:
            stored, _ = self.create(res.CORE_EVENTS, namespace, events.to_core(obj), field_validation=IGNORE)
            return events.to_events_v1(stored), warnings
        metadata = obj.setdefault("metadata", {})
        self._check_namespace(resource, namespace, metadata)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + _random_suffix(5)
        with self.store.lock:
            if resource.namespaced and self.store.get(res.NAMESPACES.key, "", namespace) is None:
                raise not_found(plural="namespaces", group="", name=namespace)
            kinds.validate(resource, obj, None)
            if self.store.get(resource.key, namespace, metadata["name"]) is not None:
                raise already_exists(plural=resource.plural, group=resource.group, name=metadata["name"])
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            metadata.pop("resourceVersion", None)
            metadata |= {"uid": str(uuid.uuid4()), "creationTimestamp": kinds.now_rfc3339()}
            if resource is res.DEPLOYMENTS:
                kinds.default_deployment(obj)
                metadata["generation"] = 1
                obj["status"] = {}
            if resource is res.NAMESPACES:
                obj["spec"], obj["status"] = {"finalizers": ["kubernetes"]}, {"phase": "Active"}
                metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
            if resource is res.CUSTOM_RESOURCE_DEFINITIONS:
                metadata["generation"] = 1
                obj["status"] = crd.established_status(obj, kinds.now_rfc3339())
            if resource.custom is not None:
                # customresource/strategy.go PrepareForCreate: status is the status subresource's to write
                metadata["generation"] = 1
                if resource.custom.status_subresource:
                    obj.pop("status", None)
            stored = self.store.write(resource.key, obj)
            if resource is res.CUSTOM_RESOURCE_DEFINITIONS:
                self._register(stored)
            if resource is res.DEPLOYMENTS:
                self._reconcile(namespace, metadata["name"])
            return stored, warnings

    def update(self, resource: res.ResourceType, namespace: str, name: str, body: Any, *,
               field_validation: str, subresource: str = "") -> tuple[dict[str, Any], Warnings]:
        if subresource == "scale":
            return self._update_scale(namespace, name, body, field_validation=field_validation)
        obj, warnings = self._decode(resource, body, kind=resource.kind, field_validation=field_validation)
        if resource is res.EVENTS:
            stored, _ = self.update(res.CORE_EVENTS, namespace, name, events.to_core(obj), field_validation=IGNORE)
            return events.to_events_v1(stored), warnings
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("name", name)
        if metadata["name"] != name:
            raise bad_request(f"the name of the object ({metadata['name']}) does not match the name on the URL "
                              f"({name})")
        self._check_namespace(resource, namespace, metadata)
        if resource.custom is not None and metadata.get("resourceVersion") in (None, ""):
            # customresource/strategy.go AllowUnconditionalUpdate: false, for the status subresource too
            raise invalid(kind=resource.kind, group=resource.group, name=name, causes=[
                ("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")])
        with self.store.lock:
            old = self.get(resource, namespace, name)
            self._check_precondition(resource, old, metadata.get("resourceVersion"))
            return self._replace(resource, old, obj, subresource=subresource), warnings

    def patch(self, resource: res.ResourceType, namespace: str, name: str, body: Any, *, content_type: str,
              field_validation: str, subresource: str = "") -> tuple[dict[str, Any], Warnings]:
        with self.store.lock:
            old = self.get(resource, namespace, name)
            if subresource == "scale":
                patched = apply_patch(self._scale_of(old), body, content_type)
                return self._update_scale(namespace, name, patched, field_validation=field_validation)
            patched = apply_patch(old, body, content_type)
            obj, warnings = self._decode(resource, patched, kind=resource.kind, field_validation=field_validation)
            if resource is res.EVENTS:
                stored, _ = self.update(res.CORE_EVENTS, namespace, name, events.to_core(obj), field_validation=IGNORE)
                return events.to_events_v1(stored), warnings
            metadata = obj.setdefault("metadata", {})
            self._check_precondition(resource, old, metadata.get("resourceVersion"))
            metadata |= {"name": name, "namespace": old["metadata"].get("namespace")}
            if not resource.namespaced:
                metadata.pop("namespace")
            return self._replace(resource, old, obj, subresource=subresource), warnings

    def delete(self, resource: res.ResourceType, namespace: str, name: str) -> dict[str, Any]:
        with self.store.lock:
            self.get(resource, namespace, name)
            deleted = self.store.delete(resource.key, namespace, name)
            if resource is res.EVENTS:
                return events.to_events_v1(deleted)
            if resource is res.DEPLOYMENTS:
                for pod in sorted(self._pods_by_owner.pop(deleted["metadata"]["uid"], set())):
                    self._delete_pod(namespace, pod)
                self._status_due.pop((namespace, name), None)
            elif resource is res.PODS:
                self._forget_pod(deleted)
                owner = self._owner_deployment(deleted)
                if owner is not None:
                    self._reconcile(namespace, owner["metadata"]["name"])
            elif resource is res.NAMESPACES:
                self._empty_namespace(name)
            elif resource is res.CUSTOM_RESOURCE_DEFINITIONS:
                # A real server deletes the objects behind the customresourcecleanup finalizer, then the kind.
                for kind in self._custom.pop(name, [])[:1]:
                    for obj in self.store.items(kind.key, None):
                        self.store.delete(kind.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            return deleted

    # -- helpers ----------------------------------------------------------------------------------------------

    def _decode(self, resource: res.ResourceType, body: Any, *, kind: str,
                field_validation: str) -> tuple[dict[str, Any], Warnings]:
        if not isinstance(body, dict):
            raise bad_request(f"{kind} in version \"{resource.version}\" cannot be handled as a {kind}: "
                              "json: cannot unmarshal into Go value of type struct")
        api_version = "autoscaling/v1" if kind == "Scale" else resource.api_version
        kinds.check_kind(resource, body, expected_kind=kind, expected_api_version=api_version)
        kinds.check_types(resource, body, kind=kind)
        if resource.custom is not None:
            return self._decode_custom(resource, body, field_validation=field_validation)
        schema = kinds.schema_for(resource, kind)
        unknown = kinds.unknown_fields(body, schema)
        if unknown and field_validation == STRICT:
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise bad_request(f'{kind} in version "{api_version.split("/")[-1]}" cannot be handled as a {kind}: '
                              f"strict decoding error: {fields}")
        warnings = [f'unknown field "{path}"' for path in unknown] if field_validation == WARN else []
        return _copy(kinds.prune_unknown(body, schema)), warnings

    @staticmethod
    def _decode_custom(resource: res.ResourceType, body: dict[str, Any], *,
                       field_validation: str) -> tuple[dict[str, Any], Warnings]:
        """Pruning against the structural schema; metadata is checked as for every kind."""
        schema = resource.custom.schema
        unknown = kinds.unknown_fields(body.get("metadata") or {}, kinds.SCHEMAS["Namespace"]["metadata"],
                                       "metadata") + crd.unknown_fields(body, schema)
        if unknown and field_validation == STRICT:
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                              f"{resource.kind}: strict decoding error: {fields}")
        warnings = [f'unknown field "{path}"' for path in unknown] if field_validation == WARN else []
        pruned = crd.prune(body, schema)
        pruned["metadata"] = kinds.prune_unknown(body.get("metadata") or {}, kinds.SCHEMAS["Namespace"]["metadata"])
        return _copy(pruned), warnings

    @staticmethod
    def _check_namespace(resource: res.ResourceType, namespace: str, metadata: dict[str, Any]) -> None:
        if not resource.namespaced:
            metadata.pop("namespace", None)
            return
        if metadata.setdefault("namespace", namespace) != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")

    @staticmethod
    def _check_precondition(resource: res.ResourceType, old: Mapping[str, Any], resource_version: Any) -> None:
        """An empty resourceVersion is an unconditional write; any other must be the current one."""
        if resource_version in (None, ""):
            return
        parse_resource_version(str(resource_version), field="metadata.resourceVersion")
        if str(resource_version) != old["metadata"]["resourceVersion"]:
            raise conflict(plural=resource.plural, group=resource.group, name=old["metadata"]["name"])

    def _replace(self, resource: res.ResourceType, old: dict[str, Any], obj: dict[str, Any], *,
                 subresource: str) -> dict[str, Any]:
        if subresource == "status":
            new = {**_copy(old), "status": obj.get("status", {})}
            if resource.custom is not None:
                # status_strategy.go: the status is validated against the schema like the rest
                kinds.validate(resource, new, old)
        else:
            new = obj
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            for key in ("uid", "creationTimestamp", "generation"):
                if key in old["metadata"]:
                    new["metadata"][key] = old["metadata"][key]
            if resource is res.DEPLOYMENTS:
                kinds.default_deployment(new)
                new["status"] = _copy(old.get("status") or {})
                # deployment/strategy.go PrepareForUpdate: spec changes bump the generation, and so do annotation
                # changes, "because annotations are copied from deployments to their replica sets".
                if new["spec"] != old["spec"] or _annotations(new) != _annotations(old):
                    new["metadata"]["generation"] = old["metadata"]["generation"] + 1
            if resource is res.NAMESPACES:
                new["spec"], new["status"] = old["spec"], old["status"]
            if resource.custom is not None or resource is res.CUSTOM_RESOURCE_DEFINITIONS:
                self._prepare_custom_update(resource, old, new)
            kinds.validate(resource, new, old)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        stored = self.store.write(resource.key, new)
        if resource is res.CUSTOM_RESOURCE_DEFINITIONS:
            self._register(stored)
        if resource is res.DEPLOYMENTS and stored["metadata"]["generation"] != old["metadata"]["generation"]:
            # The controller observes every new generation (status.observedGeneration follows), not only specs.
            self._reconcile(stored["metadata"]["namespace"], stored["metadata"]["name"])
        return stored

    @staticmethod
    def _prepare_custom_update(resource: res.ResourceType, old: Mapping[str, Any], new: dict[str, Any]) -> None:
        """customresource/strategy.go PrepareForUpdate (the CRD's own strategy alike): with a status subresource
        the old status stays; any change outside metadata bumps the generation."""
        if resource is res.CUSTOM_RESOURCE_DEFINITIONS or resource.custom.status_subresource:
            if "status" in old:
                new["status"] = _copy(old["status"])
            else:
                new.pop("status", None)
        outside = [{key: value for key, value in obj.items() if key != "metadata"} for obj in (old, new)]
        if outside[0] != outside[1]:
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1

    def _scale_of(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        metadata = deployment["metadata"]
        replicas = deployment["spec"].get("replicas", 0)
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                        "creationTimestamp")},
            # autoscaling/v1 ScaleSpec.replicas is omitempty: a Deployment scaled to zero has an empty spec.
            "spec": {"replicas": replicas} if replicas else {},
            "status": {"replicas": (deployment.get("status") or {}).get("replicas", 0),
                       "selector": selector_string(deployment["spec"].get("selector"))},
        }

    def _update_scale(self, namespace: str, name: str, body: Any, *,
                      field_validation: str) -> tuple[dict[str, Any], Warnings]:
        scale, warnings = self._decode(res.DEPLOYMENTS, body, kind="Scale", field_validation=field_validation)
        metadata = scale.get("metadata") or {}
        if metadata.get("name", name) != name:
            raise bad_request(f"the name of the object ({metadata['name']}) does not match the name on the URL "
                              f"({name})")
        kinds.validate_scale(name, scale)
        with self.store.lock:
            old = self.get(res.DEPLOYMENTS, namespace, name)
            self._check_precondition(res.DEPLOYMENTS, old, metadata.get("resourceVersion"))
            new = _copy(old)
            new["spec"]["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
            stored = self._replace(res.DEPLOYMENTS, old, new, subresource="")
            return self._scale_of(stored), warnings

    # -- the Deployment controller ----------------------------------------------------------------------------

    def _owner_deployment(self, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        for reference in pod["metadata"].get("ownerReferences") or []:
            if reference.get("kind") == "Deployment":
                owner = self.store.get(res.DEPLOYMENTS.key, pod["metadata"]["namespace"], reference["name"])
                if owner is not None and owner["metadata"]["uid"] == reference.get("uid"):
                    return owner
        return None

    def _pod_is_ready(self, pod: Mapping[str, Any]) -> bool:
        conditions = (pod.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _reconcile(self, namespace: str, name: str) -> None:
        """Brings the Deployment's pods to spec.replicas and the template's hash, then schedules its status."""
        deployment = self.store.get(res.DEPLOYMENTS.key, namespace, name)
        if deployment is None:
            return
        uid = deployment["metadata"]["uid"]
        template_hash = _template_hash(deployment["spec"].get("template") or {})
        owned = self._pods_by_owner.setdefault(uid, set())
        pods = [self.store.get(res.PODS.key, namespace, pod) for pod in sorted(owned)]
        current = []
        for pod in pods:
            if pod["metadata"]["labels"].get("pod-template-hash") == template_hash:
                current.append(pod)
            else:
                self._delete_pod(namespace, pod["metadata"]["name"])
                owned.discard(pod["metadata"]["name"])
        desired = deployment["spec"].get("replicas", 0)
        for _ in range(desired - len(current)):
            pod = self._new_pod(deployment, template_hash)
            owned.add(pod["metadata"]["name"])
        # Scale down as the ReplicaSet controller does: pods not ready first, then the newest.
        doomed = sorted(current, key=lambda pod: pod["metadata"]["creationTimestamp"], reverse=True)
        doomed.sort(key=self._pod_is_ready)
        for pod in doomed[:max(0, len(current) - desired)]:
            self._delete_pod(namespace, pod["metadata"]["name"])
            owned.discard(pod["metadata"]["name"])
        due = time.time() + self._status_delay
        self._status_due[(namespace, name)] = due
        if self._status_delay <= 0:
            self._catch_up(namespace, name)
        else:
            heapq.heappush(self._timers, (due, next(self._timer_sequence), namespace, name))
            self._timer_wakeup.notify_all()

    def _new_pod(self, deployment: Mapping[str, Any], template_hash: str) -> dict[str, Any]:
        metadata = deployment["metadata"]
        template = _copy(deployment["spec"].get("template") or {})
        template_metadata = template.get("metadata") or {}
        prefix = f"{metadata['name']}-{template_hash}-"
        name = prefix + _random_suffix(5)
        while self.store.get(res.PODS.key, metadata["namespace"], name) is not None:
            name = prefix + _random_suffix(5)
        spec = template.get("spec") or {}
        kinds.default_pod_spec(spec)
        spec["nodeName"] = NODE_NAME
        now = time.time()
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "generateName": prefix, "namespace": metadata["namespace"],
                "uid": str(uuid.uuid4()), "creationTimestamp": kinds.now_rfc3339(now),
                "labels": {**(template_metadata.get("labels") or {}), "pod-template-hash": template_hash},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": metadata["name"],
                                     "uid": metadata["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": spec,
            "status": self._pod_status(spec, ready=False, started=now),
        }
        if template_metadata.get("annotations"):
            pod["metadata"]["annotations"] = dict(template_metadata["annotations"])
        self._pod_ready_at[(metadata["namespace"], name)] = now + self._status_delay
        return self.store.write(res.PODS.key, pod)

    @staticmethod
    def _pod_status(spec: Mapping[str, Any], *, ready: bool, started: float) -> dict[str, Any]:
        started_at = kinds.now_rfc3339(started)
        flag = "True" if ready else "False"
        return {
            "phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.1", "startTime": started_at,
            "qosClass": "Burstable",
            "conditions": [{"type": kind, "status": status, "lastProbeTime": None,
                            "lastTransitionTime": started_at}
                           for kind, status in (("Initialized", "True"), ("Ready", flag),
                                                ("ContainersReady", flag), ("PodScheduled", "True"))],
            "containerStatuses": [{"name": container["name"], "image": container.get("image", ""), "imageID": "",
                                   "ready": ready, "restartCount": 0, "started": True,
                                   "state": {"running": {"startedAt": started_at}}}
                                  for container in spec.get("containers") or []],
        }

    def _write_pod_readiness(self, pod: Mapping[str, Any], ready: bool) -> None:
        if self._pod_is_ready(pod) == ready:
            return
        started = kinds.parse_rfc3339(pod["status"].get("startTime")) or time.time()
        status = self._pod_status(pod["spec"], ready=ready, started=started)
        for condition in status["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["lastTransitionTime"] = kinds.now_rfc3339()
        self.store.write(res.PODS.key, {**_copy(pod), "status": status})

    def _delete_pod(self, namespace: str, name: str) -> None:
        if self.store.get(res.PODS.key, namespace, name) is not None:
            self._forget_pod(self.store.delete(res.PODS.key, namespace, name))

    def _forget_pod(self, pod: Mapping[str, Any]) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        for table in (self._pod_cpu, self._forced_ready, self._pod_ready_at):
            table.pop(key, None)
        for reference in pod["metadata"].get("ownerReferences") or []:
            self._pods_by_owner.get(reference.get("uid", ""), set()).discard(key[1])

    def _catch_up(self, namespace: str, name: str) -> None:
        """At the status delay's end: pods due become Ready and the status shows the spec it has seen."""
        deployment = self.store.get(res.DEPLOYMENTS.key, namespace, name)
        if deployment is None:
            return
        now = time.time()
        for pod_name in sorted(self._pods_by_owner.get(deployment["metadata"]["uid"], set())):
            key = (namespace, pod_name)
            forced = self._forced_ready.get(key)
            due = self._pod_ready_at.get(key, now) <= now
            pod = self.store.get(res.PODS.key, namespace, pod_name)
            self._write_pod_readiness(pod, forced if forced is not None else due)
        self._refresh_status(namespace, name, observe=self._status_due.get((namespace, name), now) <= now)

    def _refresh_status(self, namespace: str, name: str, *, observe: bool) -> None:
        """`observe`: the whole status follows the pods; otherwise only the ready counts do."""
        deployment = self.store.get(res.DEPLOYMENTS.key, namespace, name)
        pods = [self.store.get(res.PODS.key, namespace, pod)
                for pod in sorted(self._pods_by_owner.get(deployment["metadata"]["uid"], set()))]
        ready = sum(1 for pod in pods if self._pod_is_ready(pod))
        status = _copy(deployment.get("status") or {})
        counts = {"readyReplicas": ready, "availableReplicas": ready}
        if observe:
            template_hash = _template_hash(deployment["spec"].get("template") or {})
            counts |= {"replicas": len(pods),
                       "updatedReplicas": sum(1 for pod in pods
                                              if pod["metadata"]["labels"].get("pod-template-hash") == template_hash),
                       "unavailableReplicas": max(0, deployment["spec"].get("replicas", 0) - ready)}
            status["observedGeneration"] = deployment["metadata"]["generation"]
        # The real API omits zero counts (omitempty).
        for field, value in counts.items():
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["conditions"] = self._conditions(deployment, status)
        if status != deployment.get("status"):
            self.store.write(res.DEPLOYMENTS.key, {**_copy(deployment), "status": status})

    @staticmethod
    def _conditions(deployment: Mapping[str, Any], status: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Available and Progressing as the real controller words them; times move only on a change of status."""
        desired = deployment["spec"].get("replicas", 0)
        # maxUnavailable 25 % (the default), rounded down as the controller does
        available = status.get("availableReplicas", 0) >= desired - desired // 4
        template_hash = _template_hash(deployment["spec"].get("template") or {})
        wanted = [
            ("Available", available, "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
             "Deployment has minimum availability." if available
             else "Deployment does not have minimum availability."),
            ("Progressing", True, "NewReplicaSetAvailable",
             f'ReplicaSet "{deployment["metadata"]["name"]}-{template_hash}" has successfully progressed.'),
        ]
        old_conditions = (deployment.get("status") or {}).get("conditions") or []
        previous = {condition["type"]: condition for condition in old_conditions}
        now = kinds.now_rfc3339()
        conditions = []
        for kind, flag, reason, message in wanted:
            value = "True" if flag else "False"
            old = previous.get(kind)
            if old is not None and (old["status"], old["reason"], old["message"]) == (value, reason, message):
                conditions.append(old)
            else:
                conditions.append({"type": kind, "status": value, "lastUpdateTime": now, "lastTransitionTime": now,
                                   "reason": reason, "message": message})
        return conditions

    def _empty_namespace(self, namespace: str) -> None:
        for resource in self.resources():
            if resource.namespaced and resource is not res.POD_METRICS:
                for obj in self.store.items(resource.key, namespace):
                    if self.store.get(resource.key, namespace, obj["metadata"]["name"]) is not None:
                        self.delete(resource, namespace, obj["metadata"]["name"])


def validation_mode(value: str | None) -> str:
    """The server's default for a missing fieldValidation is Warn."""
    if value in (None, ""):
        return WARN
    if value not in (STRICT, WARN, IGNORE):
        raise bad_request(f'fieldValidation: Unsupported value: "{value}": '
                          'supported values: "Ignore", "Strict", "Warn"')
    return value

