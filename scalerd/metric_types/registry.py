"""Every metric type scalerd knows, by its `type:` value: the one list to extend when adding a type.

The loader accepts exactly these types (any other is a configuration error naming them), and every metric
of a loaded configuration is therefore answered by its own type's rules, never by a fallback.
"""
from __future__ import annotations

from collections.abc import Mapping

from scalerd.config.model import Metric
from scalerd.metric_types.base import MetricType
from scalerd.metric_types.cpu import CPU
from scalerd.metric_types.http import HTTP
from scalerd.metric_types.kafka import KAFKA
from scalerd.metric_types.prometheus import PROMETHEUS
from scalerd.readings import Reading
from scalerd.replica_math import MetricOutcome

REGISTERED = (KAFKA, PROMETHEUS, CPU, HTTP)
METRIC_TYPES: Mapping[str, MetricType] = {metric_type.name: metric_type for metric_type in REGISTERED}


def metric_outcome(metric: Metric, reading: Reading, *, current: int, tolerance: float) -> MetricOutcome:
    """The metric's value and proposals (with and without tolerance) this cycle, or the error that made it fail."""
    if reading.failed:
        return MetricOutcome(value=reading.value, proposal=None, untolerated=None, error=reading.error)
    if reading.hold:
        return MetricOutcome(value=None, proposal=current, untolerated=current)
    return METRIC_TYPES[metric.type].outcome(metric, reading, current=current, tolerance=tolerance)


def raw_proposal(metric: Metric, reading: Reading, *, current: int, tolerance: float) -> int | None:
    """The replica count this metric alone asks for; None when the reading failed.

    Pass tolerance=0.0 for the count before tolerance (what `scalerd metrics` and decisions report).
    A kafka proposal already includes the partition cap unless `allowIdleConsumers`.
    """
    return metric_outcome(metric, reading, current=current, tolerance=tolerance).proposal
