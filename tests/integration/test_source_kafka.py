"""The Kafka source against the test bed's tansu broker: exact lag from real offsets, and every failure.

Records go one per flushed batch and offsets are committed without joining the group (tests/testbed/
kafka_tools.py), because that is what tansu gets exactly right; every test uses its own topics and group.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from scalerd.config.model import KafkaSettings, Target
from scalerd.metric_types.kafka import KafkaMetric, OffsetResetPolicy
from scalerd.metric_types.registry import raw_proposal
from scalerd.readings import PartitionLag, Reading
from scalerd.sources.kafka import KafkaSource
from tests.testbed.kafka_tools import unique_name

EARLIEST, LATEST = OffsetResetPolicy.EARLIEST, OffsetResetPolicy.LATEST


@pytest.fixture
def source(testbed) -> Iterator[KafkaSource]:
    source = KafkaSource(KafkaSettings(bootstrap_servers=testbed.kafka_bootstrap, timeout=3.0))
    yield source
    source.close()


def lag_metric(group: str, *topics: str, policy: OffsetResetPolicy = LATEST, lag_per_replica: float = 10.0,
               allow_idle_consumers: bool = False, bootstrap_servers: str | None = None) -> KafkaMetric:
    return KafkaMetric(name="lag", group=group, topics=topics, lag_per_replica=lag_per_replica,
                       offset_reset_policy=policy, allow_idle_consumers=allow_idle_consumers,
                       bootstrap_servers=bootstrap_servers)


def read(source: KafkaSource, *metrics: KafkaMetric) -> list[Reading]:
    target = Target(name="t", namespace="default", deployment="t", min_replicas=1, max_replicas=50,
                    timezone="UTC", metrics=metrics)
    return source.read([(target, metric) for metric in metrics])


@pytest.fixture
def orders(kafka, make_topic, group_name) -> str:
    """3 partitions holding 5, 3 and 0 records; the group committed 2 on partition 0 only."""
    topic = make_topic(3)
    kafka.produce(topic, {0: 5, 1: 3})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 2})
    return topic


@pytest.mark.parametrize(
    ("policy", "expected_lags"),
    [
        pytest.param(LATEST, (3, 1, 0), id="latest-uncommitted-partition-with-messages-counts-1"),
        pytest.param(EARLIEST, (3, 3, 0), id="earliest-uncommitted-partition-counts-all"),
    ],
)
def test_partial_commits(source, orders, group_name, policy, expected_lags):
    (reading,) = read(source, lag_metric(group_name, orders, policy=policy))

    assert reading == Reading(
        name="lag", value=float(sum(expected_lags)), partition_count=3,
        partitions=(PartitionLag(orders, 0, 2, 0, 5, expected_lags[0]),
                    PartitionLag(orders, 1, None, 0, 3, expected_lags[1]),
                    PartitionLag(orders, 2, None, 0, 0, expected_lags[2])))


@pytest.mark.parametrize(
    ("policy", "expected_total"),
    [pytest.param(LATEST, 2.0, id="latest"), pytest.param(EARLIEST, 11.0, id="earliest")],
)
def test_a_group_with_commits_elsewhere_but_none_on_this_topic(source, kafka, make_topic, group_name, policy,
                                                               expected_total):
    topic, elsewhere = make_topic(3), make_topic(1)
    kafka.produce(topic, {0: 4, 1: 7})
    kafka.produce(elsewhere, {0: 2})
    kafka.commit(group=group_name, topic=elsewhere, offsets_by_partition={0: 1})

    (reading,) = read(source, lag_metric(group_name, topic, policy=policy))

    assert (reading.value, reading.error) == (expected_total, None)
    assert [p.committed for p in reading.partitions] == [None, None, None]


@pytest.mark.parametrize(
    ("policy", "expected_total"),
    [pytest.param(LATEST, 1.0, id="latest"), pytest.param(EARLIEST, 6.0, id="earliest")],
)
def test_an_unknown_group_has_no_commits(source, kafka, make_topic, policy, expected_total):
    topic = make_topic(2)
    kafka.produce(topic, {1: 6})

    (reading,) = read(source, lag_metric(unique_name("never-seen"), topic, policy=policy))

    assert reading == Reading(
        name="lag", value=expected_total, partition_count=2,
        partitions=(PartitionLag(topic, 0, None, 0, 0, 0), PartitionLag(topic, 1, None, 0, 6, expected_total)))


def test_lag_is_summed_over_the_metric_topics(source, kafka, make_topic, group_name):
    first, second = make_topic(2), make_topic(1)
    kafka.produce(first, {0: 4, 1: 2})
    kafka.produce(second, {0: 9})
    kafka.commit(group=group_name, topic=first, offsets_by_partition={0: 4, 1: 1})
    kafka.commit(group=group_name, topic=second, offsets_by_partition={0: 3})

    (reading,) = read(source, lag_metric(group_name, first, second))

    assert (reading.value, reading.partition_count) == (7.0, 3)  # 0 + 1 + 6
    assert [(p.topic, p.partition, p.lag) for p in reading.partitions] == sorted(
        [(first, 0, 0), (first, 1, 1), (second, 0, 6)])


def test_a_caught_up_group_has_zero_lag(source, kafka, make_topic, group_name):
    topic = make_topic(2)
    kafka.produce(topic, {0: 3, 1: 1})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 3, 1: 1})

    (reading,) = read(source, lag_metric(group_name, topic, policy=EARLIEST))

    assert (reading.value, reading.error) == (0.0, None)


def test_the_same_clients_see_new_records_and_commits_in_the_next_cycle(source, kafka, make_topic, group_name):
    topic = make_topic(1)
    kafka.produce(topic, {0: 2})
    (first,) = read(source, lag_metric(group_name, topic, policy=EARLIEST))
    kafka.produce(topic, {0: 5})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 4})
    (second,) = read(source, lag_metric(group_name, topic, policy=EARLIEST))

    assert (first.value, second.value) == (2.0, 3.0)


@pytest.mark.parametrize(
    ("allow_idle_consumers", "expected_proposal"),
    [
        # 35 / 10 = 3 in integer division is not above 3 partitions, so KEDA's cap lets ceil(3.5) = 4 through;
        # the cap here is on the count: never more consumers than partitions.
        pytest.param(False, 3, id="capped-at-partitions-no-keda-off-by-one"),
        pytest.param(True, 4, id="idle-consumers-allowed"),
    ],
)
def test_partition_cap(source, kafka, make_topic, group_name, allow_idle_consumers, expected_proposal):
    topic = make_topic(3)
    kafka.produce(topic, {0: 15, 1: 12, 2: 8})
    metric = lag_metric(group_name, topic, policy=EARLIEST, allow_idle_consumers=allow_idle_consumers)

    (reading,) = read(source, metric)

    assert (reading.value, reading.partition_count) == (35.0, 3)
    assert raw_proposal(metric, reading, current=1, tolerance=0.0) == expected_proposal


def test_a_missing_topic_is_an_error_and_is_not_created(source, kafka, make_topic, group_name, testbed):
    topic, typo = make_topic(1), unique_name("no-such-topic")
    kafka.produce(topic, {0: 1})

    readings = read(source, lag_metric(group_name, topic, typo), lag_metric(group_name, topic))

    assert readings[0] == Reading(name="lag", error=f"kafka {testbed.kafka_bootstrap}: topic '{typo}' not found")
    assert readings[1].value == 1.0
    assert typo not in AdminClient({"bootstrap.servers": testbed.kafka_bootstrap}).list_topics(timeout=3).topics


def test_a_group_whose_only_topic_is_missing_fails_alone_beside_a_good_group(source, orders, group_name, testbed):
    ghost = unique_name("no-such-topic")

    good, missing = read(source, lag_metric(group_name, orders), lag_metric(unique_name("ghosts"), ghost))

    assert (good.value, good.error) == (4.0, None)
    assert missing == Reading(name="lag", error=f"kafka {testbed.kafka_bootstrap}: topic '{ghost}' not found")


def test_a_broker_that_is_down_gives_an_error_within_the_timeout_never_a_zero_lag():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{probe.getsockname()[1]}"
    timeout = 2.0
    source = KafkaSource(KafkaSettings(bootstrap_servers=down, timeout=timeout))
    try:
        started = time.monotonic()
        readings = read(source, lag_metric("g", "orders"), lag_metric("h", "refunds"))
        elapsed = time.monotonic() - started
    finally:
        source.close()

    assert [reading.error for reading in readings] == [
        f"kafka {down}: cannot read topic metadata: Failed to get metadata: Local: Broker transport failure"] * 2
    assert [reading.value for reading in readings] == [None, None]
    # One timeout for the cluster, shared by its metrics (librdkafka waits all of it for a broker that is down):
    # a timeout per metric would take two. The timeout's worth of slack is for a busy machine.
    assert elapsed < 2 * timeout, elapsed


def test_a_per_metric_bootstrap_override_reads_that_cluster_only(testbed, kafka, make_topic, group_name):
    topic = make_topic(1)
    kafka.produce(topic, {0: 3})
    source = KafkaSource(KafkaSettings(bootstrap_servers="127.0.0.1:1", timeout=2.0))
    try:
        (reading,) = read(source, lag_metric(group_name, topic, policy=EARLIEST,
                                             bootstrap_servers=testbed.kafka_bootstrap))
    finally:
        source.close()

    assert (reading.value, reading.error) == (3.0, None)


def test_the_same_source_recovers_after_a_broker_restart(testbed, kafka, make_topic, group_name):
    # Every read must get its answer within this timeout, the one after the restart from a new client: room for a
    # busy machine, paid once while the broker is down.
    source = KafkaSource(KafkaSettings(bootstrap_servers=testbed.kafka_bootstrap, timeout=5.0))
    topic = make_topic(1)
    kafka.produce(topic, {0: 3})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 1})
    (before,) = read(source, lag_metric(group_name, topic))

    testbed.stop_kafka()
    try:
        (down,) = read(source, lag_metric(group_name, topic))
    finally:
        testbed.start_kafka()
    kafka.create_topic(topic, partitions=1)  # tansu keeps nothing across a restart
    kafka.produce(topic, {0: 5})
    kafka.commit(group=group_name, topic=topic, offsets_by_partition={0: 4})
    (after,) = read(source, lag_metric(group_name, topic))
    source.close()

    assert before.value == 2.0
    assert (down.value, down.error.startswith(f"kafka {testbed.kafka_bootstrap}: ")) == (None, True)
    assert (after.value, after.error) == (1.0, None)
