"""What one metric alone asks for: the HPA's replica arithmetic, one function per target type.
Each function is the float64 arithmetic of the upstream replica calculator
(kubernetes `pkg/controller/podautoscaler/replica_calculator.go`), with the current replica count
standing in for the ready-pod count where upstream lists pods:

- AverageValue (`lagPerReplica`, `targetPerReplica`), as `GetExternalPerPodMetricReplicas`:
  ratio = value / (target × current), within tolerance → current, else ceil(value / target).
  At current 0 the ratio is ∞ (upstream: +Inf or NaN, both outside the band), so the count is ceil(value / target).
- Value (`targetValue`), as `GetExternalMetricReplicas`: ratio = value / target, within tolerance → current,
  else ceil(ratio × current); at current 0 upstream skips the tolerance and returns ceil(ratio).
- cpu with per-pod detail, as `GetResourceReplicas` and `GetResourceUtilizationRatio` (see `cpu_pod_replicas`).
- cpu without pod detail (the simulator hands the average utilization in percent): ratio = utilization / target,
  within tolerance → current, else ceil(ratio × current).

Tolerance is the upstream band `(1 - tolerance) <= ratio <= (1 + tolerance)` compared in float64, which is not
the same as `abs(1 - ratio) <= tolerance` at the edges (1.1 is inside the band, |1 - 1.1| is not <= 0.1).

Values are used as float64; upstream first turns an external metric into a milli-quantity, which this engine
does not imitate. A proposal is never negative. Each metric type (`scalerd.metric_types`) picks the rule its
configuration names.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scalerd.readings import PodCpu


@dataclass(frozen=True, slots=True)
class MetricOutcome:
    """One metric's answer in one cycle: the value it read and the replica count it asks for, or why not."""

    value: float | None
    proposal: int | None
    """Tolerance applied: what the metric asks for in the decision."""
    untolerated: int | None
    """Tolerance 0: what the metric alone asks for, as `scalerd metrics` and the decisions report it."""
    error: str | None = None


Arithmetic = Callable[..., int]
"""`arithmetic(value, target, *, current, tolerance)`: one of the three rules below."""


def within_tolerance(ratio: float, tolerance: float) -> bool:
    return (1.0 - tolerance) <= ratio <= (1.0 + tolerance)


def average_value_replicas(value: float, target: float, *, current: int, tolerance: float) -> int:
    if current > 0 and within_tolerance(value / (target * current), tolerance):
        return current
    return max(0, math.ceil(value / target))


def value_replicas(value: float, target: float, *, current: int, tolerance: float) -> int:
    ratio = value / target
    if current == 0:
        return max(0, math.ceil(ratio))
    if within_tolerance(ratio, tolerance):
        return current
    return max(0, math.ceil(ratio * current))


def cpu_utilization_replicas(utilization: float, target: float, *, current: int, tolerance: float) -> int:
    """cpu from the average utilization alone: no pods to tell ready from missing, so the plain HPA rule."""
    ratio = utilization / target
    if within_tolerance(ratio, tolerance):
        return current
    return max(0, math.ceil(ratio * current))


class CpuDataError(ValueError):
    """The pods do not allow a utilization (no request, or no usable sample); the metric fails this cycle."""


def utilization_percent(usage_by_pod: dict[str, int], request_by_pod: dict[str, int]) -> int:
    """Integer percent of the requests, truncated, as upstream's `GetResourceUtilizationRatio`."""
    usage_total = sum(usage_by_pod.values())
    request_total = sum(request_by_pod[name] for name in usage_by_pod)
    if request_total <= 0:
        raise CpuDataError("the pods with a CPU sample request no CPU")
    return usage_total * 100 // request_total


def cpu_pod_replicas(pods: Sequence[PodCpu], target: float, *, current: int, tolerance: float) -> tuple[int, int]:
    """(replicas, utilization percent) following upstream's `GetResourceReplicas`.

    Ready pods with a sample give the utilization. Unready pods with a sample are left out, and on a scale-up
    counted at 0 %. Pods without a sample ("missing") count at max(100 %, target) of their request on a
    scale-down and 0 % on a scale-up. When either adjustment applies, the ratio is computed again; if it is
    within tolerance or flips the direction, or the new count would move against the direction, the count stays.
    """
    if not pods:
        raise CpuDataError("no pods")
    for pod in pods:
        if pod.request_millicores <= 0:
            raise CpuDataError(f"pod {pod.name} has no CPU request")
    request_by_pod = {pod.name: pod.request_millicores for pod in pods}
    usage_by_pod = {pod.name: pod.usage_millicores for pod in pods if pod.ready and pod.usage_millicores is not None}
    unready = [pod.name for pod in pods if not pod.ready and pod.usage_millicores is not None]
    missing = [pod.name for pod in pods if pod.usage_millicores is None]
    if not usage_by_pod:
        raise CpuDataError("no CPU sample from any ready pod")

    utilization = utilization_percent(usage_by_pod, request_by_pod)
    ratio = utilization / target
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if within_tolerance(ratio, tolerance):
            return current, utilization
        return math.ceil(ratio * len(usage_by_pod)), utilization

    adjusted = dict(usage_by_pod)
    if missing:
        if ratio < 1.0:
            assumed_percent = max(100, int(target))
            for name in missing:
                adjusted[name] = request_by_pod[name] * assumed_percent // 100
        elif ratio > 1.0:
            for name in missing:
                adjusted[name] = 0
    if scale_up_with_unready:
        for name in unready:
            adjusted[name] = 0

    new_ratio = utilization_percent(adjusted, request_by_pod) / target
    direction_flipped = (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio)
    if within_tolerance(new_ratio, tolerance) or direction_flipped:
        return current, utilization
    replicas = math.ceil(new_ratio * len(adjusted))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, utilization
    return replicas, utilization


def value_outcome(
    name: str, value: float | None, arithmetic: Arithmetic, target: float, *, current: int, tolerance: float,
    measured: Callable[[float], float] | None = None,
) -> MetricOutcome:
    """The outcome of a metric read as one number: `arithmetic` on `measured(value)` (default: the value itself)."""
    if value is None or not math.isfinite(value):
        return MetricOutcome(
            value=value, proposal=None, untolerated=None, error=f"metric {name}: no finite value (got {value})"
        )
    seen = value if measured is None else measured(value)
    return MetricOutcome(
        value=value,
        proposal=arithmetic(seen, target, current=current, tolerance=tolerance),
        untolerated=arithmetic(seen, target, current=current, tolerance=0.0),
    )
