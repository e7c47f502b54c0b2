"""What a metric type declares (`MetricType`), and what several types share: the name, the target pair, onMissing."""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from scalerd.config.checks import Section, metric_name_problem
from scalerd.config.model import Metric
from scalerd.readings import Reading
from scalerd.replica_math import Arithmetic, MetricOutcome, average_value_replicas, value_replicas


class OnMissing(str, enum.Enum):
    """What an answer without a usable number means (for prometheus: an empty, NaN or infinite result)."""

    FAIL = "fail"  # an error: counts toward the fallback, never a silent zero
    ZERO = "zero"  # the value 0
    HOLD = "hold"  # propose the current replica count


@dataclass(frozen=True)
class MetricType:
    name: str
    """The `type:` value in the configuration."""
    fields: tuple[str, ...]
    """The keys a metric of this type may have; any other is reported as unknown."""
    read: Callable[[Section], Metric]
    """Builds the metric from its configuration mapping, reporting every problem on the section."""
    outcome: Callable[..., MetricOutcome]
    """`outcome(metric, reading, *, current, tolerance)`: the value and proposals of a reading that neither failed
    nor holds (those two are answered once for every type, by `registry.metric_outcome`)."""


def metric_name(section: Section, metric_type: str) -> str | None:
    """`name`: optional, defaults to the type."""
    return section.checked_string("name", check=metric_name_problem, default=metric_type)


def check_one_target(section: Section) -> None:
    """Exactly one of targetPerReplica (AverageValue) and targetValue (Value) is given."""
    has_per_replica = section.has("targetPerReplica")
    has_value = section.has("targetValue")
    if has_per_replica and has_value:
        section.problems.add(section.path, "give exactly one of targetPerReplica and targetValue, not both")
    elif not has_per_replica and not has_value:
        section.problems.add(
            section.path, "needs targetPerReplica (average per replica) or targetValue (value for the whole target)"
        )


def average_or_value(*, target_per_replica: float | None, target_value: float | None) -> tuple[Arithmetic, float]:
    """AverageValue when `targetPerReplica` is set, else Value: the arithmetic and its target."""
    if target_per_replica is not None:
        return average_value_replicas, target_per_replica
    return value_replicas, target_value


def missing_value_reading(name: str, on_missing: OnMissing, *, why: str) -> Reading:
    """The Reading of a metric whose answer held no usable number, as its `onMissing` says."""
    if on_missing is OnMissing.ZERO:
        return Reading(name=name, value=0.0)
    if on_missing is OnMissing.HOLD:
        return Reading(name=name, hold=True)
    return Reading(name=name, error=why)
