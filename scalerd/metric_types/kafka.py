"""kafka: a consumer group's lag over its topics, AverageValue (`lagPerReplica`), capped by the partitions."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from scalerd.config.checks import Section
from scalerd.config.describe import describe
from scalerd.metric_types.base import MetricType, Source, SourceContext, metric_name
from scalerd.readings import Reading
from scalerd.replica_math import MetricOutcome, average_value_replicas, value_outcome


class OffsetResetPolicy(str, enum.Enum):
    """Lag of a partition that has no committed offset for the group."""

    LATEST = "latest"  # 1 when the partition holds messages (so a target at zero still wakes), else 0
    EARLIEST = "earliest"  # high - low


@dataclass(frozen=True)
class KafkaMetric:
    name: str
    group: str
    topics: tuple[str, ...]
    lag_per_replica: float
    """AverageValue: proposal = ceil(total lag / lag_per_replica)."""
    offset_reset_policy: OffsetResetPolicy = OffsetResetPolicy.LATEST
    allow_idle_consumers: bool = False
    """False: the proposal never exceeds the number of partitions."""
    bootstrap_servers: str | None = None
    """Overrides defaults.kafka.bootstrap_servers for this metric."""
    type: str = "kafka"


FIELDS = (
    "type", "name", "group", "topics", "lagPerReplica", "offsetResetPolicy", "allowIdleConsumers", "bootstrapServers",
)


def read(section: Section) -> KafkaMetric:
    return KafkaMetric(
        name=metric_name(section, "kafka"),
        group=section.string("group"),
        topics=read_topics(section),
        lag_per_replica=section.positive_number("lagPerReplica"),
        offset_reset_policy=section.choice("offsetResetPolicy", OffsetResetPolicy, default=OffsetResetPolicy.LATEST),
        allow_idle_consumers=section.boolean("allowIdleConsumers", default=False),
        bootstrap_servers=section.string("bootstrapServers", default=None, nullable=True),
    )


def read_topics(section: Section) -> tuple[str, ...]:
    if not section.has("topics"):
        section.report("topics", "required: a list of topic names")
        return ()
    items = section.items("topics")
    if items is None:
        return ()
    if not items:
        section.report("topics", "must list at least one topic")
    topics = []
    for path, topic in items:
        if not isinstance(topic, str) or not topic.strip():
            section.problems.add(path, f"must be a topic name (got {describe(topic)})")
        elif topic in topics:
            section.problems.add(path, f"duplicate topic {describe(topic)}")
        else:
            topics.append(topic)
    return tuple(topics)


def capped_lag(metric: KafkaMetric, reading: Reading) -> float:
    """The lag the arithmetic sees: at most partitions × lagPerReplica unless idle consumers are allowed.

    Capping the value (as KEDA's Kafka scaler does) rather than the count keeps the tolerance band on the
    same number the count comes from.
    """
    lag = reading.value
    if metric.allow_idle_consumers or reading.partition_count is None:
        return lag
    return min(lag, reading.partition_count * metric.lag_per_replica)


def outcome(metric: KafkaMetric, reading: Reading, *, current: int, tolerance: float) -> MetricOutcome:
    return value_outcome(
        metric.name, reading.value, average_value_replicas, metric.lag_per_replica, current=current,
        tolerance=tolerance, measured=lambda _lag: capped_lag(metric, reading),
    )


def source(context: SourceContext) -> Source:
    # Imported here: the client library loads only where metrics are read.
    from scalerd.sources.base import BatchSource
    from scalerd.sources.kafka import KafkaSource

    kafka = KafkaSource(context.defaults.kafka)
    return BatchSource("kafka", read=kafka.read, close=kafka.close)


KAFKA = MetricType(name="kafka", fields=FIELDS, read=read, outcome=outcome, source=source)
