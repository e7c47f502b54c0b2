"""A keda.sh/v1alpha1 ScaledObject as a scalerd target.

Defaults are KEDA's own (apis/keda/v1alpha1/scaledobject_types.go, pkg/scalers/kafka_scaler.go): minReplicaCount 0,
maxReplicaCount 100, scaleTargetRef kind Deployment, apiVersion apps/v1, a trigger's metricType AverageValue, kafka
lagThreshold 10, offsetResetPolicy latest, prometheus ignoreNullValues true (an empty result counts as 0),
metrics-api format json. Triggers mapped: kafka, prometheus, cpu, cron (a schedule window), metrics-api (http).
A field set to the value under which KEDA behaves as scalerd does (activationLagThreshold 0, ...) maps silently;
any other value is named with its path and the reason.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from scalerd.config.durations import format_duration
from scalerd.migrate.draft import Draft, ObjectRef, behavior, boolean, number, whole_number
from scalerd.migrate.hpa import deployment_ref
from scalerd.migrate.quantity import plain

KIND = "ScaledObject"
API_VERSIONS = ("keda.sh/v1alpha1",)
KEDA_DEFAULT_MIN_REPLICAS = 0
KEDA_DEFAULT_MAX_REPLICAS = 100
KEDA_DEFAULT_LAG_THRESHOLD = 10
"""kafka_scaler.go's defaultKafkaLagThreshold (some versions of the docs say 5; the code says 10)."""
PAUSED_ANNOTATION = "autoscaling.keda.sh/paused"
PAUSED_REPLICAS_ANNOTATION = "autoscaling.keda.sh/paused-replicas"
# Cron windows are measured over one year of start times from a fixed instant, so that the output never depends on
# the day it is made.
_CRON_REFERENCE = datetime(2025, 1, 1)
_CRON_HORIZON = timedelta(days=366)
_CRON_MAX_STARTS = 1000

_SPEC_WHY = {
    # field: (KEDA's default, why another value cannot be mapped); None: any value set
    "pollingInterval": (30, "scalerd reads every metric each defaults.interval (15s unless set) for all targets"),
    # 300 s before a scale to 0 is what scalerd's default scale-down stabilization window of 5m gives.
    "cooldownPeriod": (300, "KEDA waits this long before scaling to 0; scalerd delays every scale-down, to 0 "
                            "included, by behavior.scaleDown.stabilizationWindow (5m unless set)"),
    "initialCooldownPeriod": (0, "scalerd has no start-up grace period before a scale to 0"),
    "idleReplicaCount": (None, "scalerd has no idle count: with no load a target goes to minReplicas"),
}
_KAFKA_SCALER_DEFAULTS = {
    # field: (the value under which KEDA behaves as scalerd, why another value cannot be mapped)
    "activationLagThreshold": ("0", "scalerd has no activation threshold: any lag proposes replicas"),
    "unsafeSsl": ("false", "TLS settings are defaults.kafka.config (enable.ssl.certificate.verification) for all "
                           "kafka metrics"),
    "tls": ("disable", "TLS settings are defaults.kafka.config (librdkafka: security.protocol: SSL, "
                       "ssl.ca.location) for all kafka metrics"),
    "sasl": ("none", "SASL settings are defaults.kafka.config (librdkafka: security.protocol, sasl.mechanism, ...) "
                     "for all kafka metrics"),
    "scaleToZeroOnInvalidOffset": ("false", "scalerd keeps one consumer for a partition without a committed offset "
                                            "that holds messages (offsetResetPolicy latest)"),
    "excludePersistentLag": ("false", "scalerd counts all lag, stuck partitions included"),
    "limitToPartitionsWithLag": ("false", "scalerd caps the proposal at the number of partitions, not of those "
                                          "with lag"),
}
_KAFKA_UNMAPPED = {
    "partitionLimitation": "scalerd sums the lag of every partition of the topics",
    "version": "scalerd's client (librdkafka) negotiates the protocol version itself",
    "saslTokenProvider": "SASL settings are defaults.kafka.config for all kafka metrics",
    "awsRegion": "scalerd has no AWS MSK IAM authentication",
}
_PROMETHEUS_UNMAPPED = {
    "activationThreshold": "scalerd has no activation threshold: any value proposes replicas",
    "namespace": "scalerd sends no namespace parameter (Thanos); put it into the url",
    "cortexOrgID": "scalerd sends no custom headers (X-Scope-OrgID)",
    "customHeaders": "scalerd sends no custom headers",
    "queryParameters": "scalerd sends no extra query parameters",
    "authModes": "Prometheus credentials are defaults.prometheus (bearerTokenFile, username/passwordFile, caFile) "
                 "for all prometheus metrics",
    "unsafeSsl": "defaults.prometheus.insecureSkipVerify applies to all prometheus metrics",
    "timeout": "defaults.prometheus.timeout applies to all prometheus metrics",
}
_CREDENTIALS = {
    "kafka": "credentials are defaults.kafka.config (librdkafka: sasl.username, sasl.password, ssl.ca.location, ...)",
    "metrics-api": "credentials are the http metric's bearerTokenFile and caFile",
    "prometheus": "credentials are defaults.prometheus (bearerTokenFile, username/passwordFile, caFile)",
}
_OTHER_SCALERS_WHY = {
    "memory": "scalerd has no memory metric",
    "external": "scalerd speaks no KEDA external-scaler gRPC",
    "external-push": "scalerd speaks no KEDA external-scaler gRPC",
    "apache-kafka": "the experimental kafka-go scaler: write it as a scalerd kafka metric by hand",
}


class TriggerProblem(ValueError):
    """A trigger that cannot be mapped, because of the field at `field` (a path below the trigger)."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(why)
        self.field = field
        self.why = why


_REQUIRED = object()


def _read(metadata: dict, key: str, parse=str, default: object = _REQUIRED):
    """metadata[key] parsed; TriggerProblem naming metadata.KEY when it is missing (and required) or unreadable."""
    if metadata.get(key) in (None, ""):
        if default is _REQUIRED:
            raise TriggerProblem(f"metadata.{key}", "required")
        return default
    try:
        return parse(metadata[key])
    except ValueError as error:
        raise TriggerProblem(f"metadata.{key}", str(error)) from None


def translate(document: dict[str, Any], obj: ObjectRef) -> Draft:
    draft = Draft(obj)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return draft.leave_out("spec", "missing: nothing to import")
    ref = spec.get("scaleTargetRef")
    if not deployment_ref(ref, path="spec.scaleTargetRef", draft=draft, default_kind="Deployment",
                          default_api_version="apps/v1"):
        return draft
    if isinstance(ref, dict) and ref.get("envSourceContainerName"):
        draft.cannot_map("spec.scaleTargetRef.envSourceContainerName", "scalerd reads no container environment")
    try:
        min_replicas = whole_number(spec.get("minReplicaCount", KEDA_DEFAULT_MIN_REPLICAS), minimum=0)
        max_replicas = whole_number(spec.get("maxReplicaCount", KEDA_DEFAULT_MAX_REPLICAS), minimum=1)
    except ValueError as error:
        return draft.leave_out("spec.minReplicaCount/maxReplicaCount", str(error))
    draft.target.update(minReplicas=min_replicas, maxReplicas=max_replicas)
    _paused(document.get("metadata") or {}, draft=draft)
    draft.target["metrics"] = []
    draft.target["schedule"] = []
    triggers = spec.get("triggers")
    if not isinstance(triggers, list):
        return draft.leave_out("spec.triggers", f"must be a list of triggers (got {triggers!r})")
    for index, trigger in enumerate(triggers):
        _trigger(trigger, path=f"spec.triggers[{index}]", draft=draft)
    metrics = draft.target["metrics"]
    if min_replicas == 0 and metrics and not draft.target["schedule"] and all(
            metric["type"] == "cpu" for metric in metrics):
        draft.target["minReplicas"] = 1
        draft.notes.append("minReplicas: 1, not 0: with cpu as its only metric a target at 0 replicas has no CPU to "
                           "read and would never wake (KEDA too never scales to 0 on cpu and memory triggers alone)")
    advanced = spec.get("advanced") or {}
    hpa_config = advanced.get("horizontalPodAutoscalerConfig") or {}
    draft.target["behavior"] = behavior(hpa_config.get("behavior"),
                                        path="spec.advanced.horizontalPodAutoscalerConfig.behavior", draft=draft)
    _fallback(spec.get("fallback"), draft=draft)
    _advanced_rest(advanced, hpa_config, draft=draft)
    for key, value in spec.items():
        if key in _SPEC_WHY:
            keda_default, why = _SPEC_WHY[key]
            if value != keda_default:
                draft.cannot_map(f"spec.{key}", f"{why} (got {value})")
        elif key not in ("scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers", "advanced", "fallback"):
            draft.cannot_map(f"spec.{key}", "not a field of a keda.sh/v1alpha1 ScaledObject")
    return draft


def _paused(metadata: dict, *, draft: Draft) -> None:
    annotations = metadata.get("annotations") or {}
    if PAUSED_REPLICAS_ANNOTATION in annotations:
        count = annotations[PAUSED_REPLICAS_ANNOTATION]
        draft.target["paused"] = True
        draft.cannot_map(
            f"metadata.annotations[{PAUSED_REPLICAS_ANNOTATION}]",
            f"paused: scalerd holds the count the Deployment has, where KEDA first sets {count}: run kubectl scale "
            f"deployment/{draft.target['deployment']} -n {draft.obj.namespace} --replicas={count}",
        )
    elif str(annotations.get(PAUSED_ANNOTATION, "")).lower() == "true":
        draft.target["paused"] = True


def _fallback(raw: object, *, draft: Draft) -> None:
    if raw is None:
        return
    try:
        if not isinstance(raw, dict):
            raise ValueError(f"must be a mapping (got {raw!r})")
        draft.target["fallback"] = {
            "failureThreshold": whole_number(raw.get("failureThreshold"), minimum=1),
            "replicas": whole_number(raw.get("replicas"), minimum=0),
        }
    except ValueError as error:
        draft.cannot_map("spec.fallback", f"{error}; no fallback")
        return
    if raw.get("behavior", "static") != "static":
        draft.cannot_map("spec.fallback.behavior", f"scalerd's fallback proposes the fixed count (KEDA's static), "
                                                   f"not {raw['behavior']}")
    for key in raw:
        if key not in ("failureThreshold", "replicas", "behavior"):
            draft.cannot_map(f"spec.fallback.{key}", "not a field of KEDA's fallback")


def _advanced_rest(advanced: dict, hpa_config: dict, *, draft: Draft) -> None:
    for key, value in advanced.items():
        path = f"spec.advanced.{key}"
        if key == "restoreToOriginalReplicaCount":
            if boolean(value):
                draft.cannot_map(path, "scalerd leaves the count as it is when a target is removed")
        elif key == "scalingModifiers":
            draft.cannot_map(path, "scalerd has no formula over metrics: each metric proposes on its own and the "
                                   "largest proposal wins")
        elif key != "horizontalPodAutoscalerConfig":
            draft.cannot_map(path, "not a field of KEDA's advanced section")
    for key in hpa_config:
        if key == "name":
            draft.cannot_map("spec.advanced.horizontalPodAutoscalerConfig.name", "scalerd creates no HPA to name")
        elif key != "behavior":
            draft.cannot_map(f"spec.advanced.horizontalPodAutoscalerConfig.{key}", "not a field KEDA knows")


def _trigger(trigger: object, *, path: str, draft: Draft) -> None:
    if not isinstance(trigger, dict):
        draft.cannot_map(path, f"must be a mapping (got {trigger!r})")
        return
    trigger_type = trigger.get("type")
    metadata = trigger.get("metadata") or {}
    translate_trigger = _TRIGGERS.get(trigger_type)
    if translate_trigger is None:
        why = _OTHER_SCALERS_WHY.get(trigger_type, f"the KEDA scaler {trigger_type!r} has no scalerd counterpart")
        draft.cannot_map(f"{path}.type", why)
        return
    if trigger.get("authenticationRef") is not None:
        draft.cannot_map(f"{path}.authenticationRef",
                         f"scalerd reads no TriggerAuthentication: {_CREDENTIALS.get(trigger_type, 'no credentials')}")
    if trigger.get("useCachedMetrics") not in (None, False, "false"):
        draft.cannot_map(f"{path}.useCachedMetrics", "scalerd reads each metric once a cycle anyway")
    for key in metadata:
        if isinstance(key, str) and key.endswith("FromEnv"):
            draft.cannot_map(f"{path}.metadata.{key}", "scalerd reads no container environment: give the value")
    try:
        translate_trigger(trigger, metadata, path=path, draft=draft)
    except TriggerProblem as problem:
        draft.cannot_map(f"{path}.{problem.field}", f"{problem.why}; trigger left out")


def _kafka(trigger: dict, metadata: dict, *, path: str, draft: Draft) -> None:
    if trigger.get("metricType", "AverageValue") != "AverageValue":
        raise TriggerProblem("metricType", f"scalerd's kafka metric is AverageValue only (got {trigger['metricType']})")
    if metadata.get("topic") in (None, ""):
        raise TriggerProblem("metadata.topic", "without it KEDA reads every topic the group committed to; scalerd "
                                               "needs the topics listed")
    metric: dict[str, Any] = {
        "type": "kafka",
        "name": draft.metric_name(trigger.get("name") or "kafka"),
        "group": _read(metadata, "consumerGroup"),
        "topics": [topic.strip() for topic in str(metadata["topic"]).split(",") if topic.strip()],
        "lagPerReplica": plain(_read(metadata, "lagThreshold", number, KEDA_DEFAULT_LAG_THRESHOLD)),
        "offsetResetPolicy": _read(metadata, "offsetResetPolicy", str, "latest"),
        "allowIdleConsumers": _read(metadata, "allowIdleConsumers", boolean, False),
        "bootstrapServers": _read(metadata, "bootstrapServers"),
    }
    known = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold", "offsetResetPolicy", "allowIdleConsumers"}
    for key, value in metadata.items():
        if key in _KAFKA_SCALER_DEFAULTS:
            scalerd_like, why = _KAFKA_SCALER_DEFAULTS[key]
            if str(value).strip().lower() != scalerd_like:
                draft.cannot_map(f"{path}.metadata.{key}", f"{why} (got {value})")
        elif key in _KAFKA_UNMAPPED:
            draft.cannot_map(f"{path}.metadata.{key}", _KAFKA_UNMAPPED[key])
        elif key not in known and not key.endswith("FromEnv"):
            draft.cannot_map(f"{path}.metadata.{key}", "not a parameter of KEDA's kafka scaler")
    draft.target["metrics"].append(metric)


def _prometheus(trigger: dict, metadata: dict, *, path: str, draft: Draft) -> None:
    metric_type = trigger.get("metricType", "AverageValue")
    if metric_type not in ("AverageValue", "Value"):
        raise TriggerProblem("metricType", f"must be AverageValue or Value (got {metric_type})")
    metric: dict[str, Any] = {
        "type": "prometheus",
        "name": draft.metric_name(trigger.get("name") or "prometheus"),
        "query": _read(metadata, "query"),
        ("targetPerReplica" if metric_type == "AverageValue" else "targetValue"):
            plain(_read(metadata, "threshold", number)),
        # KEDA's ignoreNullValues (default true) takes an empty result for 0; false makes it an error.
        "onMissing": "zero" if _read(metadata, "ignoreNullValues", boolean, True) else "fail",
        "url": _read(metadata, "serverAddress"),
    }
    for key, value in metadata.items():
        if key == "activationThreshold" and str(value).strip() in ("0", "0.0"):
            continue
        if key == "unsafeSsl" and str(value).strip().lower() == "false":
            continue
        if key in _PROMETHEUS_UNMAPPED:
            draft.cannot_map(f"{path}.metadata.{key}", _PROMETHEUS_UNMAPPED[key])
        elif key not in ("serverAddress", "query", "threshold", "ignoreNullValues") and not key.endswith("FromEnv"):
            draft.cannot_map(f"{path}.metadata.{key}", "not a parameter of KEDA's prometheus scaler")
    draft.target["metrics"].append(metric)


def _cpu(trigger: dict, metadata: dict, *, path: str, draft: Draft) -> None:
    metric_type = trigger.get("metricType") or metadata.get("type") or "Utilization"
    if metric_type != "Utilization":
        raise TriggerProblem("metricType", f"scalerd's cpu metric targets a utilization, not {metric_type}")
    if metadata.get("containerName"):
        raise TriggerProblem("metadata.containerName", "scalerd averages the CPU of whole pods, not of one container "
                                                       f"({metadata['containerName']})")
    for key in metadata:
        if key not in ("type", "value", "containerName"):
            draft.cannot_map(f"{path}.metadata.{key}", "not a parameter of KEDA's cpu scaler")
    draft.target["metrics"].append({"type": "cpu", "name": draft.metric_name(trigger.get("name") or "cpu"),
                                     "targetUtilization": plain(_read(metadata, "value", number))})


def _cron(trigger: dict, metadata: dict, *, path: str, draft: Draft) -> None:
    for key in metadata:
        if key not in ("timezone", "start", "end", "desiredReplicas"):
            draft.cannot_map(f"{path}.metadata.{key}", "not a parameter of KEDA's cron scaler")
    timezone, start, end = _read(metadata, "timezone"), _read(metadata, "start"), _read(metadata, "end")
    replicas = _read(metadata, "desiredReplicas", lambda value: whole_number(value, minimum=0))
    if draft.target.get("timezone", timezone) != timezone:
        raise TriggerProblem("metadata.timezone", f"a target's schedule has one time zone "
                                                  f"({draft.target['timezone']}), this trigger's is {timezone}")
    durations = window_durations(start, end, timezone)
    duration, _ = durations.most_common(1)[0]
    if len(durations) > 1:
        others = ", ".join(format_duration(other) for other in sorted(durations) if other != duration)
        draft.cannot_map(f"{path}.metadata.end", f"KEDA's window lasts {format_duration(duration)} but {others} "
                                                 "across daylight-saving changes; scalerd's lasts "
                                                 f"{format_duration(duration)} every time")
    draft.target["timezone"] = timezone
    draft.target["schedule"].append({"cron": start, "duration": format_duration(duration), "replicas": replicas})


def window_durations(start: str, end: str, timezone: str) -> Counter[float]:
    """How long KEDA's cron window lasts (from a start match to the next end match), counted over a year of starts."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TriggerProblem("metadata.timezone", f"unknown time zone {timezone!r}") from error
    for key, expression in (("start", start), ("end", end)):
        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            raise TriggerProblem(f"metadata.{key}", f"not a 5-field cron expression ({expression!r})")
    if start.split() == end.split():
        raise TriggerProblem("metadata.end", "must differ from start (KEDA refuses equal ones)")
    reference = _CRON_REFERENCE.replace(tzinfo=zone)
    starts = croniter(start, reference)
    durations: Counter[float] = Counter()
    for _ in range(_CRON_MAX_STARTS):
        opened = starts.get_next(datetime)
        if opened - reference > _CRON_HORIZON:
            break
        closed = croniter(end, opened).get_next(datetime)
        durations[closed.timestamp() - opened.timestamp()] += 1
    if not durations:
        raise TriggerProblem("metadata.start", f"{start!r} matches no time within a year")
    return durations


def _metrics_api(trigger: dict, metadata: dict, *, path: str, draft: Draft) -> None:
    """KEDA's metrics-api as scalerd's http metric: a GET, JSON, a dotted path of keys and list indexes."""
    metric_type = trigger.get("metricType", "AverageValue")
    if metric_type not in ("AverageValue", "Value"):
        raise TriggerProblem("metricType", f"must be AverageValue or Value (got {metric_type})")
    if str(metadata.get("format", "json")).lower() != "json":
        raise TriggerProblem("metadata.format", f"scalerd's http metric reads JSON only (got {metadata['format']})")
    location = _read(metadata, "valueLocation")
    if any(character in location for character in _GJSON_SYNTAX) or any(not part for part in location.split(".")):
        raise TriggerProblem("metadata.valueLocation", f"scalerd reads a dotted path of keys and list indexes, not "
                                                       f"GJSON's queries and modifiers (got {location!r})")
    metric: dict[str, Any] = {
        "type": "http",
        "name": draft.metric_name(trigger.get("name") or "http"),
        "url": _read(metadata, "url"),
        "valueLocation": location,
        ("targetPerReplica" if metric_type == "AverageValue" else "targetValue"):
            plain(_read(metadata, "targetValue", number)),
    }
    if _read(metadata, "unsafeSsl", boolean, False):
        metric["insecureSkipVerify"] = True
    for key, value in metadata.items():
        if key == "activationTargetValue" and str(value).strip() in ("0", "0.0"):
            continue
        if key in _METRICS_API_UNMAPPED:
            draft.cannot_map(f"{path}.metadata.{key}", _METRICS_API_UNMAPPED[key])
        elif key not in ("url", "valueLocation", "targetValue", "format", "unsafeSsl") and not key.endswith("FromEnv"):
            draft.cannot_map(f"{path}.metadata.{key}", "not a parameter of KEDA's metrics-api scaler")
    draft.target["metrics"].append(metric)


_GJSON_SYNTAX = "*?#|@\\!=<>%"
_METRICS_API_UNMAPPED = {
    "activationTargetValue": "scalerd has no activation threshold: any value proposes replicas",
    "authMode": "scalerd's http metric authenticates with bearerTokenFile (and caFile) only: set them by hand",
    "method": "scalerd sends no API key",
    "keyParamName": "scalerd sends no API key",
}
_TRIGGERS = {"kafka": _kafka, "prometheus": _prometheus, "cpu": _cpu, "cron": _cron, "metrics-api": _metrics_api}
