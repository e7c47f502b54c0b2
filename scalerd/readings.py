"""What a metric source hands the engine for one metric in one cycle: a value, or why there is none."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PodCpu:
    """One pod of the Deployment as the HPA's CPU rules see it."""

    name: str
    request_millicores: int
    usage_millicores: int | None
    """None: metrics.k8s.io has no sample for the pod (a "missing" pod in the HPA's terms)."""
    ready: bool


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    """None: the group has no committed offset for this partition."""
    low: int
    high: int
    lag: int


@dataclass(frozen=True)
class Reading:
    """One metric's reading. Exactly one of `value`, `error`, `hold` carries the outcome.

    - prometheus: `value` is the sample; `hold` when onMissing=hold met an empty/NaN result.
    - kafka: `value` is the total lag; `partition_count` the partitions of its topics; `partitions` the detail.
    - cpu: `pods` holds the per-pod detail and `current_replicas` the Deployment's replicas (the daemon);
      or `value` is the average utilization in percent of requests when no pod detail exists (the simulator).
    """

    name: str
    value: float | None = None
    error: str | None = None
    hold: bool = False
    pods: tuple[PodCpu, ...] | None = None
    partition_count: int | None = None
    partitions: tuple[PartitionLag, ...] = ()
    current_replicas: int | None = None
    """cpu: the Deployment's spec.replicas, read together with its pods (None elsewhere)."""

    @property
    def failed(self) -> bool:
        return self.error is not None
