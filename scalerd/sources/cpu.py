"""CPU of a Deployment's pods: requests from the pods, usage from metrics.k8s.io/v1beta1 PodMetrics.

The reading is the per-pod detail the HPA's resource rules need (the engine does the arithmetic). The pods
are grouped exactly as the HPA's `groupPods` does:

- pods being deleted and failed pods are left out;
- pending pods are unready; they carry usage 0 when metrics.k8s.io has no sample for them, because the HPA
  classes a pending pod as unready before it looks for a sample (and discards an unready pod's sample);
- a pod with no sample is missing (`usage_millicores=None`);
- otherwise a pod is unready when it has no Ready condition or start time; within the CPU initialization
  period (5 min after start) when it is not ready or its sample's window began before it became ready; after
  it, only when it is not ready and has never been ready (its readiness last changed within 30 s of start).

Every listed pod needs a CPU request in every container, else the reading fails as the HPA does
("missing request for cpu in container X of pod Y"). Quantities are rounded up to whole millicores per
container, as Kubernetes' `MilliValue()` does.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import urllib3
from kubernetes import client as kube
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from scalerd.config.model import Target
from scalerd.kube._api import request
from scalerd.metric_types.cpu import CpuMetric
from scalerd.readings import PodCpu, Reading

CPU_INITIALIZATION_PERIOD = 300.0
"""Seconds: the HPA's --horizontal-pod-autoscaler-cpu-initialization-period default."""
INITIAL_READINESS_DELAY = 30.0
"""Seconds: the HPA's --horizontal-pod-autoscaler-initial-readiness-delay default."""

Clock = Callable[[], float]
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
PODS_PATH = "/api/v1/namespaces/{namespace}/pods"
POD_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"


class CpuReadError(Exception):
    pass


@dataclass(frozen=True)
class PodSample:
    """One pod's PodMetrics: summed usage, and when the sample's window ended and how long it was."""

    usage_millicores: int
    timestamp: float | None
    window: float


class CpuSource:
    def __init__(self, api_client: kube.ApiClient, *, clock: Clock = time.time) -> None:
        self._api_client = api_client
        self._clock = clock

    def read(self, wanted: Sequence[tuple[Target, CpuMetric]]) -> list[Reading]:
        by_deployment: dict[tuple[str, str], Reading] = {}
        readings = []
        for target, metric in wanted:
            key = (target.namespace, target.deployment)
            if key not in by_deployment:
                by_deployment[key] = self._read_deployment(namespace=target.namespace, name=target.deployment)
            readings.append(replace(by_deployment[key], name=metric.name))
        return readings

    def close(self) -> None:
        """The API client belongs to the caller, who closes it."""

    def _read_deployment(self, *, namespace: str, name: str) -> Reading:
        try:
            deployment = self._get(f"deployment {namespace}/{name}", DEPLOYMENT_PATH, model="V1Deployment",
                                   path_params={"namespace": namespace, "name": name})
            selector = label_selector(deployment.spec.selector)
            pods = self._get(f"pods of deployment {namespace}/{name}", PODS_PATH, model="V1PodList",
                             path_params={"namespace": namespace}, query={"labelSelector": selector}).items
            pod_metrics = self._get(f"metrics.k8s.io pods of deployment {namespace}/{name}", POD_METRICS_PATH,
                                    path_params={"namespace": namespace}, query={"labelSelector": selector})
            detail = pod_cpu(pods, samples_by_pod(pod_metrics), now=self._clock())
        except CpuReadError as error:
            return Reading(name="", error=str(error))
        return Reading(name="", pods=detail, current_replicas=deployment.spec.replicas)


    def _get(self, what: str, path: str, *, path_params: Mapping[str, str], query: Mapping[str, str] | None = None,
             model: str | None = None) -> Any:
        """The decoded answer, as the client's `model` when given (the rules below read the typed pods)."""
        try:
            response = request(self._api_client, "GET", path, path_params=path_params, query=query)
            try:
                text = response.data.decode("utf-8")
            finally:
                response.release_conn()
        except ApiException as error:
            if error.status == 404:
                raise CpuReadError(f"{what}: not found") from None
            raise CpuReadError(f"{what}: HTTP {error.status} {_api_message(error)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise CpuReadError(f"{what}: {type(error).__name__}: {error}") from None
        if model is None:
            return json.loads(text)
        return self._api_client.deserialize(text, model, "application/json")


def pod_cpu(pods: Sequence[kube.V1Pod], samples: Mapping[str, PodSample], *, now: float) -> tuple[PodCpu, ...]:
    """The HPA's view of each pod (see the module docstring); raises CpuReadError as the HPA would fail."""
    if not samples:
        raise CpuReadError("unable to get metrics for resource cpu: no metrics returned from resource metrics API")
    if not pods:
        raise CpuReadError("no pods returned by selector while calculating replica count")
    requests = {pod.metadata.name: _request_millicores(pod) for pod in pods}
    detail = []
    for pod in sorted(pods, key=lambda pod: pod.metadata.name):
        name = pod.metadata.name
        if pod.metadata.deletion_timestamp is not None or pod.status.phase == "Failed":
            continue
        sample = samples.get(name)
        if pod.status.phase == "Pending":
            usage = sample.usage_millicores if sample else 0
            detail.append(PodCpu(name=name, request_millicores=requests[name], usage_millicores=usage, ready=False))
        elif sample is None:
            detail.append(PodCpu(name=name, request_millicores=requests[name], usage_millicores=None, ready=True))
        else:
            detail.append(
                PodCpu(
                    name=name,
                    request_millicores=requests[name],
                    usage_millicores=sample.usage_millicores,
                    ready=_counts_as_ready(pod, sample, now=now),
                )
            )
    return tuple(detail)


def samples_by_pod(pod_metrics: Mapping[str, Any]) -> dict[str, PodSample]:
    """PodMetrics by pod name; a pod with no containers or a container without a cpu figure has no sample."""
    samples = {}
    for item in pod_metrics.get("items") or ():
        containers = item.get("containers") or []
        usages = [(container.get("usage") or {}).get("cpu") for container in containers]
        if not usages or any(usage is None for usage in usages):
            continue
        samples[item["metadata"]["name"]] = PodSample(
            usage_millicores=sum(millicores(usage) for usage in usages),
            timestamp=_epoch(item.get("timestamp")),
            window=go_duration(item.get("window") or "0s"),
        )
    return samples


def millicores(quantity: str) -> int:
    """A CPU quantity ("250m", "1", "1500000n", "2u") in millicores, rounded up like MilliValue()."""
    return math.ceil(parse_quantity(quantity) * 1000)


def label_selector(selector: kube.V1LabelSelector | None) -> str:
    """A Deployment's selector as the `labelSelector` query string."""
    if selector is None:
        return ""
    terms = [f"{key}={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for expression in selector.match_expressions or ():
        values = ",".join(expression.values or ())
        operator = expression.operator
        if operator == "In":
            terms.append(f"{expression.key} in ({values})")
        elif operator == "NotIn":
            terms.append(f"{expression.key} notin ({values})")
        elif operator == "Exists":
            terms.append(expression.key)
        elif operator == "DoesNotExist":
            terms.append(f"!{expression.key}")
        else:
            raise CpuReadError(f"unsupported label selector operator {operator!r}")
    return ",".join(terms)


_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """A Go duration string as metrics-server writes the sample window ("30s", "1m0s", "15.2s") in seconds."""
    if text == "0":
        return 0.0
    parts = _GO_DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise CpuReadError(f"PodMetrics window {text!r} is not a duration")
    return sum(float(number) * _GO_DURATION_UNITS[unit] for number, unit in parts)


def _request_millicores(pod: kube.V1Pod) -> int:
    containers = list(pod.spec.containers or ())
    # Sidecars (init containers that keep running) count toward the pod's request, as in the HPA.
    containers += [c for c in pod.spec.init_containers or () if c.restart_policy == "Always"]
    total = 0
    for container in containers:
        requests = (container.resources.requests if container.resources else None) or {}
        if "cpu" not in requests:
            raise CpuReadError(f"missing request for cpu in container {container.name} of pod {pod.metadata.name}")
        total += millicores(requests["cpu"])
    return total


def _counts_as_ready(pod: kube.V1Pod, sample: PodSample, *, now: float) -> bool:
    ready = next((c for c in pod.status.conditions or () if c.type == "Ready"), None)
    started = pod.status.start_time
    if ready is None or started is None:
        return False
    started_at = started.timestamp()
    # No transition time reads as Go's zero time, long before any start.
    transitioned_at = ready.last_transition_time.timestamp() if ready.last_transition_time else 0.0
    if started_at + CPU_INITIALIZATION_PERIOD > now:
        sample_at = sample.timestamp if sample.timestamp is not None else now
        return ready.status != "False" and not sample_at < transitioned_at + sample.window
    never_been_ready = started_at + INITIAL_READINESS_DELAY > transitioned_at
    return not (ready.status == "False" and never_been_ready)


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp).timestamp()


def _api_message(error: ApiException) -> str:
    try:
        return json.loads(error.body).get("message") or error.reason
    except (TypeError, ValueError, AttributeError):
        return error.reason or ""
