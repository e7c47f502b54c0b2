"""The resource types the emulator serves, and the discovery and OpenAPI documents kubectl reads about them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ_WRITE = ("create", "delete", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    group: str
    version: str


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = READ_WRITE
    short_names: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = field(default=())
    stored_as: str = ""  # the storage key of another group's resource holding the same objects
    # A kind registered by a CustomResourceDefinition: its k8s_crd.CustomKind (schema, columns, status).
    custom: Any = field(default=None, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage key: the same plural in two groups (pods, PodMetrics) are different resources."""
        return self.stored_as or f"{self.group}/{self.plural}"

    def subresource(self, name: str) -> Subresource | None:
        return next((sub for sub in self.subresources if sub.name == name), None)


DEPLOYMENTS = ResourceType(
    group="apps", version="v1", plural="deployments", singular="deployment", kind="Deployment",
    short_names=("deploy",),
    subresources=(Subresource("scale", "Scale", "autoscaling", "v1"), Subresource("status", "Deployment", "", "")))
PODS = ResourceType(group="", version="v1", plural="pods", singular="pod", kind="Pod", short_names=("po",),
                    subresources=(Subresource("status", "Pod", "", ""),))
CONFIGMAPS = ResourceType(group="", version="v1", plural="configmaps", singular="configmap", kind="ConfigMap",
                          short_names=("cm",))
SECRETS = ResourceType(group="", version="v1", plural="secrets", singular="secret", kind="Secret")
CORE_EVENTS = ResourceType(group="", version="v1", plural="events", singular="event", kind="Event",
                           short_names=("ev",))
EVENTS = ResourceType(group="events.k8s.io", version="v1", plural="events", singular="event", kind="Event",
                      short_names=("ev",), stored_as=CORE_EVENTS.key)
NAMESPACES = ResourceType(group="", version="v1", plural="namespaces", singular="namespace", kind="Namespace",
                          namespaced=False, short_names=("ns",))
LEASES = ResourceType(group="coordination.k8s.io", version="v1", plural="leases", singular="lease", kind="Lease")
HORIZONTAL_POD_AUTOSCALERS = ResourceType(
    group="autoscaling", version="v2", plural="horizontalpodautoscalers", singular="horizontalpodautoscaler",
    kind="HorizontalPodAutoscaler", short_names=("hpa",),
    subresources=(Subresource("status", "HorizontalPodAutoscaler", "", ""),))
POD_METRICS = ResourceType(group="metrics.k8s.io", version="v1beta1", plural="pods", singular="", kind="PodMetrics",
                           verbs=("get", "list"))

SERVICES = ResourceType(group="", version="v1", plural="services", singular="service", kind="Service",
                        short_names=("svc",))
SERVICE_ACCOUNTS = ResourceType(group="", version="v1", plural="serviceaccounts", singular="serviceaccount",
                                kind="ServiceAccount", short_names=("sa",))
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = ResourceType(group=RBAC_GROUP, version="v1", plural="roles", singular="role", kind="Role")
CLUSTER_ROLES = ResourceType(group=RBAC_GROUP, version="v1", plural="clusterroles", singular="clusterrole",
                             kind="ClusterRole", namespaced=False)
ROLE_BINDINGS = ResourceType(group=RBAC_GROUP, version="v1", plural="rolebindings", singular="rolebinding",
                             kind="RoleBinding")
CLUSTER_ROLE_BINDINGS = ResourceType(group=RBAC_GROUP, version="v1", plural="clusterrolebindings",
                                     singular="clusterrolebinding", kind="ClusterRoleBinding", namespaced=False)
RBAC_RESOURCES = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)
CUSTOM_RESOURCE_DEFINITIONS = ResourceType(
    group="apiextensions.k8s.io", version="v1", plural="customresourcedefinitions",
    singular="customresourcedefinition", kind="CustomResourceDefinition", namespaced=False,
    short_names=("crd", "crds"), subresources=(Subresource("status", "CustomResourceDefinition", "", ""),))

RESOURCES = (DEPLOYMENTS, PODS, CONFIGMAPS, SECRETS, CORE_EVENTS, EVENTS, NAMESPACES, LEASES,
             HORIZONTAL_POD_AUTOSCALERS, POD_METRICS, SERVICES, SERVICE_ACCOUNTS, *RBAC_RESOURCES,
             CUSTOM_RESOURCE_DEFINITIONS)
"""The built-in kinds; a cluster serves these plus the kinds its CustomResourceDefinitions register."""


def group_versions(resources: tuple[ResourceType, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys((resource.group, resource.version) for resource in resources))


def lookup(resources: tuple[ResourceType, ...], *, group: str, version: str, plural: str) -> ResourceType | None:
    return next((resource for resource in resources
                 if (resource.group, resource.version, resource.plural) == (group, version, plural)), None)


def version_info() -> dict[str, str]:
    return {"major": "1", "minor": "37", "gitVersion": "v1.37.0-scalerd-testbed", "gitCommit": "testbed",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list(resources: tuple[ResourceType, ...]) -> dict[str, Any]:
    groups = []
    for group, version in group_versions(resources):
        if group:
            group_version = {"groupVersion": f"{group}/{version}", "version": version}
            groups.append({"name": group, "versions": [group_version], "preferredVersion": group_version})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(resources: tuple[ResourceType, ...], group: str) -> dict[str, Any] | None:
    return next((entry | {"kind": "APIGroup", "apiVersion": "v1"}
                 for entry in api_group_list(resources)["groups"] if entry["name"] == group), None)


def api_resource_list(served: tuple[ResourceType, ...], *, group: str, version: str) -> dict[str, Any] | None:
    if (group, version) not in group_versions(served):
        return None
    resources: list[dict[str, Any]] = []
    for resource in served:
        if (resource.group, resource.version) != (group, version):
            continue
        entry: dict[str, Any] = {"name": resource.plural, "singularName": resource.singular,
                                 "namespaced": resource.namespaced, "kind": resource.kind,
                                 "verbs": list(resource.verbs)}
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource in (DEPLOYMENTS, PODS, SERVICES):
            entry["categories"] = ["all"]
        elif resource.custom is not None and resource.custom.categories:
            entry["categories"] = list(resource.custom.categories)
        resources.append(entry)
        for sub in resource.subresources:
            sub_entry: dict[str, Any] = {"name": f"{resource.plural}/{sub.name}", "singularName": "",
                                         "namespaced": resource.namespaced, "kind": sub.kind,
                                         "verbs": list(SUBRESOURCE_VERBS)}
            if sub.group:
                sub_entry |= {"group": sub.group, "version": sub.version}
            resources.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _openapi_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(resources: tuple[ResourceType, ...]) -> dict[str, Any]:
    return {"paths": {_openapi_path(group, version): {
        "serverRelativeURL": f"/openapi/v3/{_openapi_path(group, version)}?hash=testbed"}
        for group, version in group_versions(resources)}}


_FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
                     "description": "Ignore, Warn or Strict"}


def _operation(*, operation_id: str, action: str, gvk: dict[str, str]) -> dict[str, Any]:
    return {"operationId": operation_id, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
            "parameters": [_FIELD_VALIDATION], "responses": {"200": {"description": "OK"}}}


def _resource_paths(resource: ResourceType, path: str) -> dict[str, Any]:
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    prefix = f"/{path}/namespaces/{{namespace}}/" if resource.namespaced else f"/{path}/"
    collection = {"get": _operation(operation_id=f"list{resource.kind}", action="list", gvk=gvk)}
    item = {"get": _operation(operation_id=f"read{resource.kind}", action="get", gvk=gvk)}
    if "create" in resource.verbs:
        collection["post"] = _operation(operation_id=f"create{resource.kind}", action="post", gvk=gvk)
        item |= {verb: _operation(operation_id=f"{name}{resource.kind}", action=verb, gvk=gvk)
                 for verb, name in (("put", "replace"), ("patch", "patch"), ("delete", "delete"))}
    paths = {f"{prefix}{resource.plural}": collection, f"{prefix}{resource.plural}/{{name}}": item}
    for sub in resource.subresources:
        sub_gvk = {"group": sub.group or resource.group, "version": sub.version or resource.version,
                   "kind": sub.kind}
        paths[f"{prefix}{resource.plural}/{{name}}/{sub.name}"] = {
            verb: _operation(operation_id=f"{verb}{resource.kind}{sub.name.title()}", action=verb, gvk=sub_gvk)
            for verb in ("get", "put", "patch")}
    return paths


def openapi_v3_group(resources: tuple[ResourceType, ...], path: str) -> dict[str, Any] | None:
    """Operations only, no schemas: enough for kubectl to see that the server validates fields itself."""
    group_version = next(((group, version) for group, version in group_versions(resources)
                          if _openapi_path(group, version) == path), None)
    if group_version is None:
        return None
    paths: dict[str, Any] = {}
    for resource in resources:
        if (resource.group, resource.version) == group_version:
            paths |= _resource_paths(resource, path)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"}, "paths": paths,
            "components": {"schemas": {}}}


OPENAPI_JSON = ("application", "json")


def openapi_accepts_json(accept: str | None) -> bool:
    """kube-openapi's handlers (pkg/handler RegisterOpenAPIVersionedService, pkg/handler3) serve the first Accept
    clause that JSON or their protobuf matches and answer 406 when none does; the emulator has JSON only, so a
    protobuf-only Accept (kubectl's OpenAPI v2 download) gets the 406 client-go then falls back from."""
    for clause in (accept or "*/*").split(","):
        media_type = clause.split(";")[0].strip()
        kind, _, subtype = media_type.partition("/")
        if kind in ("*", OPENAPI_JSON[0]) and subtype in ("*", OPENAPI_JSON[1]):
            return True
    return False


def openapi_v2() -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.37.0"}, "paths": {}, "definitions": {}}
