"""tansu in the test bed reports exact watermarks and committed offsets when records go one per batch."""
from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.testbed.kafka_tools import unique_name

OFFSET_INVALID = -1001  # librdkafka: no committed offset


def test_watermarks_and_committed_offsets_are_exact(kafka, make_topic, group_name):
    topic = make_topic(3)

    kafka.produce(topic, {0: 5, 1: 3, 2: 0})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 2})

    assert kafka.watermarks(topic=topic, partitions=3) == {0: (0, 5), 1: (0, 3), 2: (0, 0)}
    assert kafka.committed(group=group_name, topic=topic, partitions=3) == {
        0: 2, 1: OFFSET_INVALID, 2: OFFSET_INVALID}


def test_admin_api_reads_the_committed_offsets(kafka, make_topic, group_name):
    topic = make_topic(2)
    kafka.produce(topic, {0: 4, 1: 6})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 4, 1: 1})

    request = ConsumerGroupTopicPartitions(group_name, [TopicPartition(topic, 0), TopicPartition(topic, 1)])
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})  # must outlive the future it answers
    listed = admin.list_consumer_group_offsets([request])[group_name].result(timeout=10)

    assert {tp.partition: tp.offset for tp in listed.topic_partitions} == {0: 4, 1: 1}


def test_a_later_commit_replaces_the_earlier_one(kafka, make_topic, group_name):
    topic = make_topic(1)
    kafka.produce(topic, {0: 3})

    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 1})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 3})

    assert kafka.committed(group=group_name, topic=topic, partitions=1) == {0: 3}


def test_restart_keeps_the_address_and_loses_every_topic(testbed, kafka, make_topic):
    topic = make_topic(1)
    kafka.produce(topic, {0: 2})

    testbed.stop_kafka()
    assert not kafka.answers(timeout=0.5)
    testbed.start_kafka()

    assert kafka.answers()
    topics = AdminClient({"bootstrap.servers": testbed.kafka_bootstrap}).list_topics(timeout=10).topics
    assert topic not in topics
    fresh_topic = unique_name("after-restart")
    kafka.create_topic(fresh_topic, partitions=1)
    kafka.produce(fresh_topic, {0: 1})
    assert kafka.watermarks(topic=fresh_topic, partitions=1) == {0: (0, 1)}
