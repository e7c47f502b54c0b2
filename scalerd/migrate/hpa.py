"""An autoscaling/v2 HorizontalPodAutoscaler as a scalerd target.

Mapped: scaleTargetRef (Deployments), minReplicas (default 1), maxReplicas, behavior (every field), cpu
Resource metrics with a Utilization target, and External and Object metrics whose name is a Prometheus metric
name: they become the Prometheus query that prometheus-adapter answers them with by default (the sum of the
series matching the selector, and for Object metrics the described object's `namespace` and lower-case kind
labels). Everything else is named with its path and the reason.
"""
from __future__ import annotations

import re
from typing import Any

from scalerd.migrate.draft import Draft, ObjectRef, behavior, target_name, whole_number
from scalerd.migrate.quantity import parse_quantity, plain

KIND = "HorizontalPodAutoscaler"
API_VERSIONS = ("autoscaling/v2", "autoscaling/v2beta2")
HPA_DEFAULT_MIN_REPLICAS = 1
HPA_DEFAULT_CPU_UTILIZATION = 80
"""autoscaling/v2: an HPA without metrics scales on 80 % average CPU utilization."""
DEPLOYMENT_API_VERSIONS = ("apps/v1", "apps/v1beta1", "apps/v1beta2", "extensions/v1beta1")
_SPEC_FIELDS = ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior")
_PROMETHEUS_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PROMETHEUS_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_STRING_SELECTOR_TERM = re.compile(r"\s*([^=!\s]+)\s*(==|=|!=)\s*([^,\s]*)\s*")


def translate(document: dict[str, Any], obj: ObjectRef) -> Draft:
    draft = Draft(obj)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return draft.leave_out("spec", "missing: nothing to import")
    if not deployment_ref(spec.get("scaleTargetRef"), path="spec.scaleTargetRef", draft=draft,
                          default_kind=None, default_api_version=None):
        return draft
    for key in spec:
        if key not in _SPEC_FIELDS:
            draft.cannot_map(f"spec.{key}", "not a field of an autoscaling/v2 HorizontalPodAutoscaler")
    try:
        min_replicas = whole_number(spec.get("minReplicas", HPA_DEFAULT_MIN_REPLICAS), minimum=0)
        max_replicas = whole_number(spec.get("maxReplicas"), minimum=1)
    except ValueError as error:
        return draft.leave_out("spec.minReplicas/maxReplicas", str(error))
    draft.target.update(minReplicas=min_replicas, maxReplicas=max_replicas)
    metrics = spec.get("metrics")
    draft.target["metrics"] = []
    if metrics is None:
        draft.target["metrics"].append(
            {"type": "cpu", "name": "cpu", "targetUtilization": HPA_DEFAULT_CPU_UTILIZATION})
        draft.notes.append(f"spec.metrics: none given, so the HPA's default: cpu at "
                           f"{HPA_DEFAULT_CPU_UTILIZATION}% utilization")
    elif not isinstance(metrics, list):
        return draft.leave_out("spec.metrics", f"must be a list (got {metrics!r})")
    for index, metric in enumerate(metrics or []):
        mapped = _metric(metric, path=f"spec.metrics[{index}]", draft=draft)
        if mapped is not None:
            draft.target["metrics"].append(mapped)
    draft.target["behavior"] = behavior(spec.get("behavior"), path="spec.behavior", draft=draft)
    return draft


def deployment_ref(ref: object, *, path: str, draft: Draft, default_kind: str | None,
                   default_api_version: str | None) -> bool:
    """Fill the target's name, namespace and deployment from a scaleTargetRef; False when it is not a Deployment."""
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref["name"]:
        draft.leave_out(f"{path}.name", "required: the name of the Deployment to scale")
        return False
    kind = ref.get("kind", default_kind)
    api_version = ref.get("apiVersion", default_api_version)
    if kind != "Deployment" or api_version not in DEPLOYMENT_API_VERSIONS:
        draft.leave_out(f"{path}.kind", f"scalerd scales Deployments only (got {kind} {ref['name']}, {api_version})")
        return False
    draft.target.update(name=target_name(draft.obj.name), namespace=draft.obj.namespace, deployment=ref["name"])
    return True


def _metric(metric: object, *, path: str, draft: Draft) -> dict[str, Any] | None:
    if not isinstance(metric, dict):
        draft.cannot_map(path, f"must be a mapping (got {metric!r})")
        return None
    metric_type = metric.get("type")
    if metric_type == "Resource":
        return _resource(metric.get("resource") or {}, path=f"{path}.resource", draft=draft)
    if metric_type == "ContainerResource":
        container = (metric.get("containerResource") or {}).get("container")
        draft.cannot_map(f"{path}.containerResource", f"scalerd averages the CPU of whole pods, not of one "
                                                      f"container ({container})")
        return None
    if metric_type == "Pods":
        name = ((metric.get("pods") or {}).get("metric") or {}).get("name")
        draft.cannot_map(f"{path}.pods", f"a Pods metric ({name}) comes from a custom metrics adapter whose query "
                                         "scalerd cannot know; write it as a prometheus metric with targetPerReplica")
        return None
    if metric_type in ("External", "Object"):
        return _adapter_metric(metric, kind=metric_type, path=f"{path}.{metric_type.lower()}", draft=draft)
    draft.cannot_map(f"{path}.type", f"unknown metric type {metric_type!r}")
    return None


def _resource(resource: dict, *, path: str, draft: Draft) -> dict[str, Any] | None:
    name = resource.get("name")
    target = resource.get("target") or {}
    if name == "memory":
        draft.cannot_map(path, "scalerd has no memory metric")
        return None
    if name != "cpu":
        draft.cannot_map(f"{path}.name", f"scalerd reads the cpu resource only (got {name!r})")
        return None
    if target.get("type") != "Utilization":
        draft.cannot_map(f"{path}.target", "scalerd's cpu metric targets a utilization (percent of requested CPU), "
                                           f"not {target.get('type')} {target.get('averageValue')}")
        return None
    try:
        utilization = whole_number(target.get("averageUtilization"), minimum=1)
    except ValueError as error:
        draft.cannot_map(f"{path}.target.averageUtilization", str(error))
        return None
    return {"type": "cpu", "name": draft.metric_name("cpu"), "targetUtilization": utilization}


def _adapter_metric(metric: dict, *, kind: str, path: str, draft: Draft) -> dict[str, Any] | None:
    """An External or Object metric as the Prometheus query prometheus-adapter answers it with by default."""
    body = metric.get(kind.lower()) or {}
    identity = body.get("metric") or {}
    name = identity.get("name")
    if not isinstance(name, str) or not _PROMETHEUS_METRIC.fullmatch(name):
        draft.cannot_map(f"{path}.metric.name", f"{name!r} is not a Prometheus metric name, so the adapter's query "
                                                "behind it is unknown; write it as a prometheus metric")
        return None
    try:
        matchers = _selector_matchers(identity.get("selector"))
    except ValueError as error:
        draft.cannot_map(f"{path}.metric.selector", str(error))
        return None
    if kind == "Object":
        described = body.get("describedObject") or {}
        object_kind, object_name = described.get("kind"), described.get("name")
        if not isinstance(object_kind, str) or not isinstance(object_name, str):
            draft.cannot_map(f"{path}.describedObject", "needs kind and name")
            return None
        matchers = [f'namespace="{_string(draft.obj.namespace)}"',
                    f'{object_kind.lower()}="{_string(object_name)}"', *matchers]
    target = body.get("target") or {}
    mapped: dict[str, Any] = {"type": "prometheus", "name": draft.metric_name(name),
                              "query": f"sum({name}{{{','.join(matchers)}}})" if matchers else f"sum({name})"}
    try:
        if target.get("type") == "AverageValue":
            key, value = "targetPerReplica", parse_quantity(target.get("averageValue"))
        elif target.get("type") == "Value":
            key, value = "targetValue", parse_quantity(target.get("value"))
        else:
            raise ValueError(f"target.type must be Value or AverageValue (got {target.get('type')!r})")
        if value <= 0:
            raise ValueError(f"must be > 0 (got {plain(value)})")
    except ValueError as error:
        draft.cannot_map(f"{path}.target", str(error))
        return None
    mapped[key] = plain(value)
    draft.notes.append(f"metrics: {mapped['name']}: the {kind} metric read as the Prometheus query prometheus-adapter "
                       "answers it with by default; check it against your adapter's rules and set url if your "
                       "Prometheus is not defaults.prometheus.url")
    return mapped


def _selector_matchers(selector: object) -> list[str]:
    """A label selector as PromQL matchers. The walkthrough writes it as a string ("queue=worker_tasks"): read too."""
    if selector is None:
        return []
    if isinstance(selector, str):
        return [_string_term(term) for term in selector.split(",") if term.strip()]
    if not isinstance(selector, dict):
        raise ValueError(f"must be a label selector (got {selector!r})")
    matchers = [f'{_label(key)}="{_string(str(value))}"' for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = _label(expression.get("key")), expression.get("operator"), expression.get("values")
        alternatives = "|".join(re.escape(str(value)) for value in values or [])
        if operator == "In":
            matchers.append(f'{key}=~"{_string(alternatives)}"')
        elif operator == "NotIn":
            matchers.append(f'{key}!~"{_string(alternatives)}"')
        elif operator == "Exists":
            matchers.append(f'{key}!=""')
        elif operator == "DoesNotExist":
            matchers.append(f'{key}=""')
        else:
            raise ValueError(f"unknown selector operator {operator!r}")
    return matchers


def _string_term(term: str) -> str:
    match = _STRING_SELECTOR_TERM.fullmatch(term)
    if match is None:
        raise ValueError(f"only key=value and key!=value terms can be read (got {term.strip()!r})")
    key, operator, value = match.groups()
    return f'{_label(key)}{"!=" if operator == "!=" else "="}"{_string(value)}"'


def _label(key: object) -> str:
    if not isinstance(key, str) or not _PROMETHEUS_LABEL.fullmatch(key):
        raise ValueError(f"{key!r} is not a Prometheus label name")
    return key


def _string(text: str) -> str:
    """Text inside a PromQL double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
