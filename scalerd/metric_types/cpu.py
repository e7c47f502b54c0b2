"""cpu: the pods' CPU usage in percent of their requests (metrics.k8s.io), with the HPA's resource-metric rules."""
from __future__ import annotations

from dataclasses import dataclass

from scalerd.config.checks import Section
from scalerd.metric_types.base import MetricType, Source, SourceContext, metric_name
from scalerd.readings import Reading
from scalerd.replica_math import CpuDataError, MetricOutcome, cpu_pod_replicas, cpu_utilization_replicas, value_outcome


@dataclass(frozen=True)
class CpuMetric:
    name: str
    target_utilization: float
    """Percent of requested CPU, averaged over the pods as the HPA does."""
    type: str = "cpu"


FIELDS = ("type", "name", "targetUtilization")
NO_KUBERNETES_ACCESS = "cpu metrics need Kubernetes access (metrics.k8s.io), and no API client was given"


def read(section: Section) -> CpuMetric:
    return CpuMetric(name=metric_name(section, "cpu"), target_utilization=section.positive_number("targetUtilization"))


def outcome(metric: CpuMetric, reading: Reading, *, current: int, tolerance: float) -> MetricOutcome:
    """With per-pod detail (the daemon) the HPA's pod rules; with the average utilization alone (the simulator)
    the plain ratio rule."""
    if reading.pods is None:
        return value_outcome(metric.name, reading.value, cpu_utilization_replicas, metric.target_utilization,
                             current=current, tolerance=tolerance)
    try:
        replicas, utilization = cpu_pod_replicas(
            reading.pods, metric.target_utilization, current=current, tolerance=tolerance
        )
        untolerated, _ = cpu_pod_replicas(reading.pods, metric.target_utilization, current=current, tolerance=0.0)
    except CpuDataError as error:
        return MetricOutcome(value=None, proposal=None, untolerated=None, error=f"cpu: {error}")
    return MetricOutcome(value=float(utilization), proposal=replicas, untolerated=untolerated)


def source(context: SourceContext) -> Source:
    # Imported here: the Kubernetes client loads only where metrics are read.
    from scalerd.sources.base import BatchSource, UnavailableSource
    from scalerd.sources.cpu import CpuSource

    if context.kube_api_client is None:
        return UnavailableSource(NO_KUBERNETES_ACCESS)
    cpu = CpuSource(context.kube_api_client, clock=context.clock)
    return BatchSource("cpu", read=cpu.read, close=cpu.close)


CPU = MetricType(name="cpu", fields=FIELDS, read=read, outcome=outcome, source=source)
