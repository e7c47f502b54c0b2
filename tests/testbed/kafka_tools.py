"""Kafka helpers for tests, the demo and benchmarks, shaped around tansu 0.6.0's defects.

tansu reports a wrong high watermark for multi-record batches, so every record goes in a batch of its own;
offsets are committed without joining the group (a fresh group.id), which tansu stores exactly and at once.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Every record flushed in a batch of its own: tansu's watermark is only right for one-record batches.
ONE_RECORD_PER_BATCH = {"linger.ms": 0, "batch.num.messages": 1}


def unique_name(prefix: str) -> str:
    """Tests share one broker for the session, and tansu misbehaves when topic or group names are reused."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class KafkaTools:
    """Topics, records and committed offsets on one broker, with exact watermarks on tansu."""

    def __init__(self, bootstrap: str, *, timeout: float = 10.0):
        self.bootstrap = bootstrap
        self._timeout = timeout
        self._producer: Producer | None = None

    def answers(self, *, timeout: float = 1.0) -> bool:
        try:
            AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=timeout)
            return True
        except KafkaException:
            return False

    def create_topic(self, topic: str, *, partitions: int) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})  # must outlive the future it answers
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)], operation_timeout=self._timeout)
        futures[topic].result(timeout=self._timeout)

    def produce(self, topic: str, counts_by_partition: Mapping[int, int]) -> None:
        """Appends `count` records to each partition, one flushed batch per record."""
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, **ONE_RECORD_PER_BATCH})
        for partition, count in counts_by_partition.items():
            for index in range(count):
                self._producer.produce(topic, value=f"record-{index}".encode(), partition=partition)
                if self._producer.flush(self._timeout):
                    raise TimeoutError(
                        f"a record to {topic}[{partition}] was not delivered to {self.bootstrap} "
                        f"within {self._timeout}s")

    def close(self) -> None:
        """Flushes and drops the producer, so librdkafka does not keep reconnecting to a stopped broker."""
        if self._producer is not None:
            self._producer.flush(self._timeout)
            self._producer = None

    def commit(self, *, group: str, topic: str, offsets_by_partition: Mapping[int, int]) -> None:
        consumer = self._offset_reader(group)
        try:
            consumer.commit(offsets=[TopicPartition(topic, partition, offset)
                                     for partition, offset in offsets_by_partition.items()],
                            asynchronous=False)
        finally:
            consumer.close()

    def committed(self, *, group: str, topic: str, partitions: int) -> dict[int, int]:
        """partition -> committed offset; librdkafka's OFFSET_INVALID (-1001) where the group has none."""
        consumer = self._offset_reader(group)
        try:
            committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                           timeout=self._timeout)
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in committed}

    def watermarks(self, *, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
        """partition -> (low, high) as the broker reports them."""
        consumer = self._offset_reader(unique_name("watermarks"))
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self._timeout)
                    for p in range(partitions)}
        finally:
            consumer.close()

    def _offset_reader(self, group: str) -> Consumer:
        """A consumer that never subscribes: it reads and commits offsets without joining the group."""
        return Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
