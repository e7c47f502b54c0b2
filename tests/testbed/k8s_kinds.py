"""Per-kind rules: known fields (for fieldValidation), defaults, validation and the columns of `kubectl get`."""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tests.testbed import k8s_crd as crd
from tests.testbed import k8s_resources as res
from tests.testbed.k8s_errors import bad_request, invalid
from tests.testbed.k8s_selectors import selector_matches

# A schema is a dict of known field -> nested schema, None (any value), or a one-item list [schema] for a list
# of objects. Only the parts that typos are likely in are described; everything else is accepted as is.
_ANY = None
_METADATA = {key: _ANY for key in (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields")}
_RESOURCES = {"limits": _ANY, "requests": _ANY, "claims": _ANY}
_CONTAINER = {key: _ANY for key in (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resizePolicy", "restartPolicy",
    "restartPolicyRules", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe",
    "lifecycle", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext",
    "stdin", "stdinOnce", "tty")} | {"resources": _RESOURCES}
_POD_SPEC = {key: _ANY for key in (
    "volumes", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
    "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
    "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
    "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
    "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims",
    "resources", "hostnameOverride")} | {"containers": [_CONTAINER], "initContainers": [_CONTAINER]}
_DEPLOYMENT_SPEC = {key: _ANY for key in (
    "replicas", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused", "progressDeadlineSeconds")} | {
    "selector": {"matchLabels": _ANY, "matchExpressions": _ANY},
    "template": {"metadata": _METADATA, "spec": _POD_SPEC}}
_LEASE_SPEC = {key: _ANY for key in (
    "holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions", "strategy",
    "preferredHolder")}
_HPA_SPEC = {key: _ANY for key in ("minReplicas", "maxReplicas", "metrics", "behavior")} | {
    "scaleTargetRef": {"apiVersion": _ANY, "kind": _ANY, "name": _ANY}}
_TOP = {"apiVersion": _ANY, "kind": _ANY, "metadata": _METADATA}
_POLICY_RULE = {key: _ANY for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")}
_ROLE_REF = {key: _ANY for key in ("apiGroup", "kind", "name")}
_SUBJECT = {key: _ANY for key in ("kind", "apiGroup", "name", "namespace")}
_BINDING = {"subjects": [_SUBJECT], "roleRef": _ROLE_REF}
SCHEMAS: dict[str, dict[str, Any]] = {
    "Deployment": _TOP | {"spec": _DEPLOYMENT_SPEC, "status": _ANY},
    "Pod": _TOP | {"spec": _POD_SPEC, "status": _ANY},
    "ConfigMap": _TOP | {"data": _ANY, "binaryData": _ANY, "immutable": _ANY},
    "Secret": _TOP | {"data": _ANY, "stringData": _ANY, "type": _ANY, "immutable": _ANY},
    "Namespace": _TOP | {"spec": _ANY, "status": _ANY},
    "Lease": _TOP | {"spec": _LEASE_SPEC},
    "HorizontalPodAutoscaler": _TOP | {"spec": _HPA_SPEC, "status": _ANY},
    "Scale": _TOP | {"spec": {"replicas": _ANY}, "status": _ANY},
    "Service": _TOP | {"spec": _ANY, "status": _ANY},
    "ServiceAccount": _TOP | {"secrets": _ANY, "imagePullSecrets": _ANY, "automountServiceAccountToken": _ANY},
    "Role": _TOP | {"rules": [_POLICY_RULE]},
    "ClusterRole": _TOP | {"rules": [_POLICY_RULE], "aggregationRule": _ANY},
    "RoleBinding": _TOP | _BINDING,
    "CustomResourceDefinition": _TOP | {"spec": {key: _ANY for key in (
        "group", "names", "scope", "versions", "conversion", "preserveUnknownFields")}, "status": _ANY},
    "ClusterRoleBinding": _TOP | _BINDING,
    "Event/v1": _TOP | {key: _ANY for key in (
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
        "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance")},
    "Event/events.k8s.io/v1": _TOP | {key: _ANY for key in (
        "eventTime", "series", "reportingController", "reportingInstance", "action", "reason", "regarding",
        "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp",
        "deprecatedCount")},
}


def schema_for(resource: res.ResourceType, kind: str) -> dict[str, Any]:
    if kind == "Event":
        return SCHEMAS[f"Event/{resource.api_version}"]
    return SCHEMAS[kind]


def unknown_fields(obj: Any, schema: Any, prefix: str = "") -> list[str]:
    """Dotted paths of fields the schema does not know, in the form of the real `strict decoding error`."""
    if schema is None:
        return []
    if isinstance(schema, list):
        if not isinstance(obj, list):
            return []
        return [path for index, item in enumerate(obj)
                for path in unknown_fields(item, schema[0], f"{prefix}[{index}]")]
    if not isinstance(obj, dict):
        return []
    found = []
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in schema:
            found.append(path)
        else:
            found.extend(unknown_fields(value, schema[key], path))
    return found


def prune_unknown(obj: Any, schema: Any) -> Any:
    """The server drops what it does not know (fieldValidation Ignore and Warn)."""
    if schema is None:
        return obj
    if isinstance(schema, list):
        return [prune_unknown(item, schema[0]) for item in obj] if isinstance(obj, list) else obj
    if not isinstance(obj, dict):
        return obj
    return {key: prune_unknown(value, schema[key]) for key, value in obj.items() if key in schema}


def now_rfc3339(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def default_deployment(obj: dict[str, Any]) -> None:
    """The defaults the real server fills in that clients read back (in place, on a private copy)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    pod_spec = spec.setdefault("template", {}).setdefault("spec", {})
    default_pod_spec(pod_spec)


def default_pod_spec(pod_spec: dict[str, Any]) -> None:
    pod_spec.setdefault("restartPolicy", "Always")
    pod_spec.setdefault("terminationGracePeriodSeconds", 30)
    pod_spec.setdefault("dnsPolicy", "ClusterFirst")
    pod_spec.setdefault("securityContext", {})
    pod_spec.setdefault("schedulerName", "default-scheduler")
    for container in pod_spec.get("containers") or []:
        if isinstance(container, dict):
            container.setdefault("resources", {})
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            image = str(container.get("image", ""))
            latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def _quoted(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def check_types(resource: res.ResourceType, obj: Mapping[str, Any], *, kind: str) -> None:
    """What the real server's JSON decoder refuses with 400 before validation."""
    go_kind = kind
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad_request(f"{go_kind} in version \"{resource.version}\" cannot be handled as a {go_kind}: "
                          "json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta")
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is not None and (not isinstance(values, dict)
                                   or not all(isinstance(value, str) for value in values.values())):
            raise bad_request(f"{go_kind} in version \"{resource.version}\" cannot be handled as a {go_kind}: "
                              f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{field} "
                              "of type map[string]string")
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise bad_request(f"{go_kind} in version \"{resource.version}\" cannot be handled as a {go_kind}: "
                          "json: cannot unmarshal into Go struct field .spec of type object")
    replicas = (spec or {}).get("replicas") if go_kind in ("Deployment", "Scale") else None
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)):
        raise bad_request(f"{go_kind} in version \"{resource.version}\" cannot be handled as a {go_kind}: "
                          f"json: cannot unmarshal {type(replicas).__name__} into Go struct field "
                          f"{go_kind}Spec.spec.replicas of type int32")


def validate(resource: res.ResourceType, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
    """422 Invalid with the real field paths and wording for the rules clients are likely to break."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        causes.append(("metadata.name", f"Invalid value: {_quoted(name)}: {_SUBDOMAIN_MESSAGE}"))
    causes.extend(_annotation_causes(metadata))
    if resource is res.DEPLOYMENTS:
        causes.extend(_deployment_causes(obj, old))
    if resource is res.CONFIGMAPS:
        causes.extend(_config_map_causes(obj))
    if resource is res.LEASES:
        duration = (obj.get("spec") or {}).get("leaseDurationSeconds")
        if duration is not None and (not isinstance(duration, int) or duration <= 0):
            causes.append(("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0"))
    if resource is res.HORIZONTAL_POD_AUTOSCALERS:
        causes.extend(_hpa_causes(obj))
    if resource in (res.ROLE_BINDINGS, res.CLUSTER_ROLE_BINDINGS):
        causes.extend(_binding_causes(resource, obj, old))
    if resource is res.CUSTOM_RESOURCE_DEFINITIONS:
        causes.extend(crd.definition_causes(obj))
    if resource.custom is not None:
        causes.extend(crd.validation_causes(obj, resource.custom.schema))
    if causes:
        raise invalid(kind=resource.kind, group=resource.group, name=name, causes=causes)


TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)
"""apimachinery pkg/api/validation/objectmeta.go: TotalAnnotationSizeLimitB, keys and values counted in bytes."""
CONFIG_MAP_DATA_LIMIT = 1024 * 1024
"""pkg/apis/core/validation/validation.go ValidateConfigMap: the values of data and binaryData, core.MaxSecretSize."""
_CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIG_MAP_KEY_MESSAGE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                           "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def _too_long(limit: int) -> str:
    """field.TooLong's wording (apimachinery pkg/util/validation/field/errors.go)."""
    return f"Too long: must have at most {limit} bytes"


def _annotation_causes(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    annotations = metadata.get("annotations") or {}
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())
    return [("metadata.annotations", _too_long(TOTAL_ANNOTATION_SIZE_LIMIT))] if size > TOTAL_ANNOTATION_SIZE_LIMIT \
        else []


def _config_map_causes(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    causes = []
    size = 0
    for field, decode in (("data", str.encode), ("binaryData", _base64_length)):
        for key, value in (obj.get(field) or {}).items():
            if len(key) > 253 or not _CONFIG_MAP_KEY.match(key):
                causes.append((f"{field}[{key}]", f"Invalid value: {_quoted(key)}: {_CONFIG_MAP_KEY_MESSAGE}"))
            size += len(decode(value)) if field == "data" else decode(value)
    if size > CONFIG_MAP_DATA_LIMIT:
        # field.NewPath("") renders as "[]": the error is about the whole object.
        causes.append(("[]", _too_long(CONFIG_MAP_DATA_LIMIT)))
    return causes


def _base64_length(text: str) -> int:
    return len(text) * 3 // 4 - text.count("=")


def _deployment_causes(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    causes: list[tuple[str, str]] = []
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not selector_matches(selector, labels):
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: map[string]string{labels}: `selector` does not match template `labels`"))
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        causes.append(("spec.template.spec.containers", "Required value"))
    for index, container in enumerate(containers):
        if not isinstance(container, dict) or not container.get("name"):
            causes.append((f"spec.template.spec.containers[{index}].name", "Required value"))
        if not isinstance(container, dict) or not container.get("image"):
            causes.append((f"spec.template.spec.containers[{index}].image", "Required value"))
    if old is not None and (old.get("spec") or {}).get("selector") != selector and selector:
        causes.append(("spec.selector", f"Invalid value: {selector}: field is immutable"))
    return causes


def _binding_causes(resource: res.ResourceType, obj: Mapping[str, Any],
                    old: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """pkg/apis/rbac/validation/validation.go: ValidateRoleBinding (roleRef) and ValidateRoleBindingUpdate."""
    ref = obj.get("roleRef") or {}
    kinds_allowed = ("ClusterRole",) if resource is res.CLUSTER_ROLE_BINDINGS else ("Role", "ClusterRole")
    causes = []
    if ref.get("apiGroup") != res.RBAC_GROUP:
        causes.append(("roleRef.apiGroup", f'Unsupported value: "{ref.get("apiGroup", "")}": supported values: '
                                           f'"{res.RBAC_GROUP}"'))
    if ref.get("kind") not in kinds_allowed:
        supported = ", ".join(f'"{kind}"' for kind in kinds_allowed)
        causes.append(("roleRef.kind", f'Unsupported value: "{ref.get("kind", "")}": supported values: {supported}'))
    if not ref.get("name"):
        causes.append(("roleRef.name", "Required value"))
    if old is not None and (old.get("roleRef") or {}) != ref:
        causes.append(("roleRef", f'Invalid value: rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", '
                                  f'Kind:"{ref.get("kind", "")}", Name:"{ref.get("name", "")}"}}: cannot change roleRef'))
    return causes


def _hpa_causes(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    causes = [(f"spec.scaleTargetRef.{field}", "Required value") for field in ("kind", "name") if not target.get(field)]
    max_replicas = spec.get("maxReplicas")
    if not isinstance(max_replicas, int) or max_replicas < 1:
        causes.append(("spec.maxReplicas", f"Invalid value: {max_replicas}: must be greater than or equal to 1"))
    min_replicas = spec.get("minReplicas")
    if isinstance(min_replicas, int) and isinstance(max_replicas, int) and min_replicas > max_replicas:
        causes.append(("spec.maxReplicas", f"Invalid value: {max_replicas}: must be greater than or equal to "
                                           "`minReplicas`"))
    return causes


def validate_scale(name: str, scale: Mapping[str, Any]) -> None:
    replicas = (scale.get("spec") or {}).get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        raise invalid(kind="Scale", group="autoscaling", name=name,
                      causes=[("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")])


def human_duration(seconds: float) -> str:
    """kubectl's short age format (`45s`, `3m12s`, `5h`, `2d`)."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _age(obj: Mapping[str, Any]) -> str:
    created = parse_rfc3339((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(time.time() - created)


def _name(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _deployment_cells(obj: Mapping[str, Any]) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [_name(obj), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(obj)]


def _pod_cells(obj: Mapping[str, Any]) -> list[Any]:
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for status in statuses if status.get("ready"))
    containers = len((obj.get("spec") or {}).get("containers") or [])
    return [_name(obj), f"{ready}/{containers}", (obj.get("status") or {}).get("phase", ""), 0, _age(obj)]


def _event_cells(obj: Mapping[str, Any]) -> list[Any]:
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    last = parse_rfc3339(obj.get("lastTimestamp") or obj.get("eventTime")
                         or (obj.get("metadata") or {}).get("creationTimestamp"))
    return ["<unknown>" if last is None else human_duration(time.time() - last), obj.get("type", ""),
            obj.get("reason", ""), f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            obj.get("message") or obj.get("note") or ""]


def _lease_cells(obj: Mapping[str, Any]) -> list[Any]:
    return [_name(obj), (obj.get("spec") or {}).get("holderIdentity", ""), _age(obj)]


def _hpa_cells(obj: Mapping[str, Any]) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    target = spec.get("scaleTargetRef") or {}
    return [_name(obj), f"{target.get('kind', '')}/{target.get('name', '')}", "<unknown>",
            spec.get("minReplicas", 1), spec.get("maxReplicas", 0), status.get("currentReplicas", 0), _age(obj)]


def _column(name: str, kind: str = "string", *, format_: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": format_, "description": name, "priority": 0}


_NAME, _AGE = _column("Name", format_="name"), _column("Age")
TABLES: dict[str, tuple[list[dict[str, Any]], Callable[[Mapping[str, Any]], list[Any]]]] = {
    res.DEPLOYMENTS.key: ([_NAME, _column("Ready"), _column("Up-to-date", "integer"),
                           _column("Available", "integer"), _AGE], _deployment_cells),
    res.PODS.key: ([_NAME, _column("Ready"), _column("Status"), _column("Restarts", "integer"), _AGE], _pod_cells),
    res.CORE_EVENTS.key: ([_column("Last Seen"), _column("Type"), _column("Reason"), _column("Object"),
                           _column("Message")], _event_cells),
    res.EVENTS.key: ([_column("Last Seen"), _column("Type"), _column("Reason"), _column("Object"),
                      _column("Message")], _event_cells),
    res.LEASES.key: ([_NAME, _column("Holder"), _AGE], _lease_cells),
    res.HORIZONTAL_POD_AUTOSCALERS.key: ([_NAME, _column("Reference"), _column("Targets"),
                                          _column("MinPods", "integer"), _column("MaxPods", "integer"),
                                          _column("Replicas", "integer"), _AGE], _hpa_cells),
}
_DEFAULT_TABLE = ([_NAME, _AGE], lambda obj: [_name(obj), _age(obj)])


def table_columns(resource: res.ResourceType) -> list[dict[str, Any]]:
    if resource.custom is not None:
        return crd.table_columns(resource.custom)
    return TABLES.get(resource.key, _DEFAULT_TABLE)[0]


def _date_cell(value: str) -> str:
    moment = parse_rfc3339(value)
    return "<invalid>" if moment is None else human_duration(time.time() - moment)


def table_cells(resource: res.ResourceType, obj: Mapping[str, Any]) -> list[Any]:
    if resource.custom is not None:
        return crd.table_cells(resource.custom, obj, human_age=_date_cell)
    return TABLES.get(resource.key, _DEFAULT_TABLE)[1](obj)


def check_kind(resource: res.ResourceType, body: Mapping[str, Any], *, expected_kind: str,
               expected_api_version: str) -> None:
    """A body of another version or kind is refused (an absent one is taken from the URL), as the real decoder does."""
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if api_version and api_version != expected_api_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({expected_api_version})")
    if kind and kind != expected_kind:
        raise bad_request(f'{kind} in version "{resource.version}" cannot be handled as a {expected_kind}: '
                          f'no kind "{kind}" is registered for version "{expected_api_version}"')
