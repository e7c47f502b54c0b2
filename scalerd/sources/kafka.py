"""Kafka consumer-group lag through confluent-kafka's AdminClient.

One cycle costs, per cluster: one metadata request (partition counts, missing topics), one batched
`list_offsets` for the earliest and one for the latest offsets of every partition any metric needs, and one
`list_consumer_group_offsets` per consumer group. Every wait is bounded by `KafkaSettings.timeout` for the
whole cluster, so a broker that is down turns into an error per metric, never a hang and never a zero lag.

Clients are created once per bootstrap-servers string and reused across cycles (a client whose read failed is
replaced in the next cycle); librdkafka settings from `defaults.kafka.config` (SASL/TLS) are passed through
and never logged.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from scalerd.config.model import KafkaSettings, Target
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.readings import Reading
from scalerd.sources.broker_log import BrokerLog
from scalerd.sources.lag import TopicPartitionKey, partition_lags, total_lag

AdminFactory = Callable[[dict], AdminClient]


class KafkaReadError(Exception):
    """Why a cluster, a group or a partition could not be read; the message names what failed."""


@dataclass(frozen=True)
class _ClusterOffsets:
    partitions_by_topic: Mapping[str, tuple[int, ...]]
    topic_errors: Mapping[str, str]
    """Topics the broker listed with an error instead of partitions (leader not available, ...)."""
    watermarks: Mapping[TopicPartitionKey, tuple[int, int]]
    committed_by_group: Mapping[str, Mapping[TopicPartitionKey, int] | KafkaReadError]


class KafkaSource:
    def __init__(self, settings: KafkaSettings, *, admin_factory: AdminFactory = AdminClient) -> None:
        self._settings = settings
        self._admin_factory = admin_factory
        self._clients: dict[str, AdminClient] = {}
        self._broker_logs: dict[str, BrokerLog] = {}
        self._executor: ThreadPoolExecutor | None = None

    def read(self, wanted: Sequence[tuple[Target, KafkaMetric]]) -> list[Reading]:
        by_cluster: dict[str, list[int]] = {}
        for index, (_target, metric) in enumerate(wanted):
            servers = metric.bootstrap_servers or self._settings.bootstrap_servers
            by_cluster.setdefault(servers, []).append(index)
        if not by_cluster:
            return []
        # Clusters are read side by side so that one broker that is down costs one timeout, not one per cluster.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kafka")
        futures = {
            servers: self._executor.submit(self._read_cluster, servers, [wanted[i][1] for i in indices])
            for servers, indices in by_cluster.items()
        }
        readings: list[Reading | None] = [None] * len(wanted)
        for servers, indices in by_cluster.items():
            for index, reading in zip(indices, futures[servers].result()):
                readings[index] = reading
        return readings  # type: ignore[return-value]  # every slot was filled above

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        # AdminClient has no close(): dropping the last reference destroys the librdkafka handle.
        self._clients.clear()

    def _admin(self, servers: str) -> AdminClient:
        admin = self._clients.get(servers)
        if admin is None:
            admin = self._admin_factory(
                {
                    **self._settings.config,
                    "bootstrap.servers": servers,
                    # librdkafka logs through this object instead of writing to stderr itself.
                    "logger": self._broker_logs.setdefault(servers, BrokerLog(servers)),
                }
            )
            self._clients[servers] = admin
        return admin

    def _read_cluster(self, servers: str, metrics: Sequence[KafkaMetric]) -> list[Reading]:
        deadline = time.monotonic() + self._settings.timeout
        admin = self._admin(servers)
        try:
            offsets = self._fetch_offsets(admin, metrics, deadline=deadline)
        except KafkaReadError as error:
            self._forget(servers)
            return [Reading(name=metric.name, error=f"kafka {servers}: {error}") for metric in metrics]
        finally:
            admin.poll(0)  # hands queued librdkafka log lines to the logger
        if any(isinstance(committed, KafkaReadError) for committed in offsets.committed_by_group.values()):
            self._forget(servers)
        else:
            self._broker_logs[servers].recovered()
        return [_reading(metric, offsets, servers=servers) for metric in metrics]

    def _forget(self, servers: str) -> None:
        """Drops a client after a failed read, so the next cycle starts from a fresh one.

        After a broker restart librdkafka keeps waiting on the group coordinator it knew (measured on tansu:
        committed offsets time out in every later cycle), while a new client finds the new one at once.
        """
        self._clients.pop(servers, None)

    def _fetch_offsets(
        self, admin: AdminClient, metrics: Sequence[KafkaMetric], *, deadline: float
    ) -> _ClusterOffsets:
        partitions_by_topic, topic_errors = _topics(admin, deadline=deadline)
        wanted_topics = {topic for metric in metrics for topic in metric.topics if topic in partitions_by_topic}
        partitions = [
            TopicPartition(topic, partition)
            for topic in sorted(wanted_topics)
            for partition in partitions_by_topic[topic]
        ]
        if not partitions:
            return _ClusterOffsets(partitions_by_topic, topic_errors, {}, {})

        # Every request is sent before waiting on any, so they overlap within the one deadline.
        earliest = admin.list_offsets(
            {tp: OffsetSpec.earliest() for tp in partitions}, request_timeout=_remaining(deadline)
        )
        latest = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in partitions}, request_timeout=_remaining(deadline)
        )
        committed_requests: dict[str, Future | KafkaReadError] = {}
        for group, group_partitions in _partitions_by_group(metrics, partitions).items():
            try:
                committed_requests[group] = admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group, group_partitions)], request_timeout=_remaining(deadline),
                )[group]
            except (KafkaException, ValueError, TypeError) as error:
                # The client refused this group's request outright: its metrics fail, the other groups are read.
                committed_requests[group] = KafkaReadError(f"request refused by the client: {error}")

        low = _offsets(earliest, deadline=deadline, what="earliest offsets")
        high = _offsets(latest, deadline=deadline, what="latest offsets")
        watermarks = {key: (low[key], high[key]) for key in high}
        committed_by_group: dict[str, Mapping[TopicPartitionKey, int] | KafkaReadError] = {}
        for group, request in committed_requests.items():
            try:
                if isinstance(request, KafkaReadError):
                    raise request
                committed_by_group[group] = _committed(request, deadline=deadline)
            except KafkaReadError as error:
                committed_by_group[group] = KafkaReadError(f"committed offsets of group {group!r}: {error}")
        return _ClusterOffsets(partitions_by_topic, topic_errors, watermarks, committed_by_group)


def _reading(metric: KafkaMetric, offsets: _ClusterOffsets, *, servers: str) -> Reading:
    for topic in metric.topics:
        if topic in offsets.topic_errors:
            return Reading(name=metric.name, error=f"kafka {servers}: topic {topic!r}: {offsets.topic_errors[topic]}")
    missing = [topic for topic in metric.topics if topic not in offsets.partitions_by_topic]
    if missing:
        listed = ", ".join(repr(topic) for topic in missing)
        noun = "topic" if len(missing) == 1 else "topics"
        return Reading(name=metric.name, error=f"kafka {servers}: {noun} {listed} not found")
    committed = offsets.committed_by_group[metric.group]
    if isinstance(committed, KafkaReadError):
        return Reading(name=metric.name, error=f"kafka {servers}: {committed}")
    watermarks = {
        (topic, partition): offsets.watermarks[(topic, partition)]
        for topic in metric.topics
        for partition in offsets.partitions_by_topic[topic]
    }
    lags = partition_lags(watermarks=watermarks, committed=committed, policy=metric.offset_reset_policy)
    return Reading(name=metric.name, value=float(total_lag(lags)), partition_count=len(lags), partitions=lags)


def _topics(admin: AdminClient, *, deadline: float) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """(partitions by topic, error by topic) of every topic of the cluster."""
    # list_topics() for every topic: asking for one topic by name makes brokers with auto-creation
    # (tansu among them) create it, which would turn a typo into an empty topic with zero lag.
    try:
        metadata = admin.list_topics(timeout=_remaining(deadline))
    except KafkaException as error:
        raise KafkaReadError(f"cannot read topic metadata: {_kafka_message(error)}") from None
    partitions = {
        name: tuple(sorted(topic.partitions)) for name, topic in metadata.topics.items() if topic.error is None
    }
    errors = {name: topic.error.str() for name, topic in metadata.topics.items() if topic.error is not None}
    return partitions, errors


def _partitions_by_group(
    metrics: Iterable[KafkaMetric], partitions: Sequence[TopicPartition]
) -> dict[str, list[TopicPartition]]:
    """The readable partitions each group's metrics need. A group none of whose topics can be read (all missing or
    listed with an error) is left out: there is nothing to ask, and its metrics fail naming those topics."""
    topics_by_group: dict[str, set[str]] = {}
    for metric in metrics:
        topics_by_group.setdefault(metric.group, set()).update(metric.topics)
    by_group = {group: [tp for tp in partitions if tp.topic in topics] for group, topics in topics_by_group.items()}
    return {group: group_partitions for group, group_partitions in by_group.items() if group_partitions}


def _offsets(requests: Mapping[TopicPartition, Future], *, deadline: float, what: str) -> dict[TopicPartitionKey, int]:
    offsets = {}
    for tp, request in requests.items():
        try:
            offsets[(tp.topic, tp.partition)] = request.result(timeout=_remaining(deadline)).offset
        except FutureTimeout:
            raise KafkaReadError(f"{what}: no answer within the timeout") from None
        except KafkaException as error:
            raise KafkaReadError(f"{what} of {tp.topic}[{tp.partition}]: {_kafka_message(error)}") from None
    return offsets


def _committed(request: Future, *, deadline: float) -> dict[TopicPartitionKey, int]:
    try:
        answer = request.result(timeout=_remaining(deadline))
    except FutureTimeout:
        raise KafkaReadError("no answer within the timeout") from None
    except KafkaException as error:
        raise KafkaReadError(_kafka_message(error)) from None
    committed = {}
    for tp in answer.topic_partitions:
        if tp.error is not None:
            raise KafkaReadError(f"{tp.topic}[{tp.partition}]: {tp.error.str()}")
        # librdkafka reports "no committed offset" as a negative sentinel (OFFSET_INVALID, -1001).
        if tp.offset >= 0:
            committed[(tp.topic, tp.partition)] = tp.offset
    return committed


def _remaining(deadline: float) -> float:
    # Never zero or negative: librdkafka reads a negative timeout as "wait forever".
    return max(deadline - time.monotonic(), 0.001)


def _kafka_message(error: KafkaException) -> str:
    if error.args and hasattr(error.args[0], "str"):
        return error.args[0].str()
    return str(error)
