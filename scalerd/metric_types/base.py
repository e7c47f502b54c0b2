"""What a metric type declares (`MetricType`), and what several types share: the name, the target pair, onMissing."""
from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from scalerd.config.checks import Section, metric_name_problem
from scalerd.config.model import Defaults, Metric, Target
from scalerd.readings import Reading
from scalerd.replica_math import MetricOutcome, average_value_replicas, value_outcome, value_replicas


class OnMissing(str, enum.Enum):
    """What an answer without a usable number means (for prometheus: an empty, NaN or infinite result)."""

    FAIL = "fail"  # an error: counts toward the fallback, never a silent zero
    ZERO = "zero"  # the value 0
    HOLD = "hold"  # propose the current replica count


class Source(Protocol):
    """Reads every metric of one type for one cycle (`scalerd.sources.<type>`)."""

    def submit(self, wanted: Sequence[tuple[Target, Metric]], *, at: float) -> list[Future[Reading]]:
        """One future Reading per wanted (target, metric), in order, settled as soon as that metric's own answer is
        in; a future never raises (a failure is the Reading's error). Identical requests are sent once per call,
        however many targets use them. `at`: the cycle's wall-clock time (Unix seconds)."""

    def close(self) -> None:
        """Release clients, sessions and threads; called on shutdown and when a reload replaces the sources."""


@dataclass(frozen=True)
class SourceContext:
    """What a source factory may use: the configuration's defaults, the Kubernetes API client if any, the clock."""

    defaults: Defaults
    kube_api_client: Any | None
    clock: Callable[[], float]


def no_secret_files(_metric: Metric) -> tuple[str, ...]:
    return ()


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
    source: Callable[[SourceContext], Source]
    """Builds the source that reads every metric of this type; one per `scalerd.sources.Sources`."""
    secret_files: Callable[[Metric], tuple[str, ...]] = no_secret_files
    """Files whose content is a credential of the metric: masked in every log line."""


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


def average_or_value_outcome(metric: Any, reading: Reading, *, current: int, tolerance: float) -> MetricOutcome:
    """The outcome of a metric with `target_per_replica` (AverageValue) or else `target_value` (Value)."""
    if metric.target_per_replica is not None:
        arithmetic, target = average_value_replicas, metric.target_per_replica
    else:
        arithmetic, target = value_replicas, metric.target_value
    return value_outcome(metric.name, reading.value, arithmetic, target, current=current, tolerance=tolerance)


def missing_value_reading(name: str, on_missing: OnMissing, *, why: str) -> Reading:
    """The Reading of a metric whose answer held no usable number, as its `onMissing` says."""
    if on_missing is OnMissing.ZERO:
        return Reading(name=name, value=0.0)
    if on_missing is OnMissing.HOLD:
        return Reading(name=name, hold=True)
    return Reading(name=name, error=why)
