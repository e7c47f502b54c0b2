"""How the Kafka source talks to a cluster: which requests, how many, with which settings, and what a failure
of each gives. A fake AdminClient stands in for librdkafka here; lag against a real broker is tested in
tests/integration/test_source_kafka.py.
"""
from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ClusterMetadata,
    ListOffsetsResultInfo,
    PartitionMetadata,
    TopicMetadata,
)

from scalerd.config.model import KafkaSettings, Target
from scalerd.metric_types.kafka import KafkaMetric, OffsetResetPolicy
from scalerd.readings import PartitionLag, Reading
from scalerd.sources.kafka import KafkaSource

EARLIEST, LATEST = -2, -1  # OffsetSpec.earliest() / latest() as librdkafka numbers them


def done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def failed(error: Exception) -> Future:
    future: Future = Future()
    future.set_exception(error)
    return future


class FakeAdmin:
    """An AdminClient over fixed offsets: topics {name: [(low, high), ...]}, commits {group: {(t, p): offset}}.

    Requests go through the real client's own argument checks (its `_check_*_request` helpers), so a request the
    real AdminClient refuses (an empty partition list, a malformed request) raises here exactly as it would there.
    """

    def __init__(self, config: dict, *, topics: dict, commits: dict) -> None:
        self.config = config
        self.topics = topics
        self.commits = commits
        self.calls: list[tuple] = []
        self.metadata_error: KafkaException | None = None
        self.group_error: KafkaException | None = None
        self.pending_latest = False
        self.topic_errors: dict[str, KafkaError] = {}

    def list_topics(self, *, timeout: float) -> ClusterMetadata:
        self.calls.append(("list_topics",))
        if self.metadata_error:
            raise self.metadata_error
        metadata = ClusterMetadata()
        for name, partitions in self.topics.items():
            topic = TopicMetadata()
            topic.topic = name
            topic.partitions = {index: PartitionMetadata() for index in range(len(partitions))}
            metadata.topics[name] = topic
        for name, error in self.topic_errors.items():
            topic = TopicMetadata()
            topic.topic, topic.error = name, error
            metadata.topics[name] = topic
        return metadata

    def list_offsets(self, specs: dict, *, request_timeout: float) -> dict:
        AdminClient._check_list_offsets_request(specs, {"request_timeout": request_timeout})
        kinds = {spec._value for spec in specs.values()}
        self.calls.append(("list_offsets", kinds.pop(), sorted((tp.topic, tp.partition) for tp in specs)))
        answers = {}
        for tp, spec in specs.items():
            low, high = self.topics[tp.topic][tp.partition]
            if spec._value == LATEST and self.pending_latest:
                answers[tp] = Future()  # never answered
            else:
                answers[tp] = done(ListOffsetsResultInfo(low if spec._value == EARLIEST else high, -1, -1))
        return answers

    def list_consumer_group_offsets(self, requests: list, *, request_timeout: float) -> dict:
        AdminClient._check_list_consumer_group_offsets_request(requests)
        (request,) = requests
        self.calls.append(("list_consumer_group_offsets", request.group_id,
                           sorted((tp.topic, tp.partition) for tp in request.topic_partitions)))
        if self.group_error:
            return {request.group_id: failed(self.group_error)}
        committed = self.commits.get(request.group_id, {})
        partitions = [TopicPartition(tp.topic, tp.partition, committed.get((tp.topic, tp.partition), -1001))
                      for tp in request.topic_partitions]
        return {request.group_id: done(ConsumerGroupTopicPartitions(request.group_id, partitions))}

    def poll(self, timeout: float) -> int:
        return 0


class FakeAdmins:
    def __init__(self, **fixtures) -> None:
        self.fixtures = fixtures
        self.created: dict[str, FakeAdmin] = {}

    def __call__(self, config: dict) -> FakeAdmin:
        admin = FakeAdmin(config, **self.fixtures)
        self.created[config["bootstrap.servers"]] = admin
        return admin


def kafka_metric(name: str, group: str, *topics: str, **options) -> KafkaMetric:
    return KafkaMetric(name=name, group=group, topics=topics, lag_per_replica=10.0, **options)


def pairs(*metrics: KafkaMetric) -> list[tuple[Target, KafkaMetric]]:
    target = Target(name="t", namespace="default", deployment="t", min_replicas=1, max_replicas=10,
                    timezone="UTC", metrics=metrics)
    return [(target, metric) for metric in metrics]


TOPICS = {"orders": [(0, 5), (0, 3), (2, 2)], "refunds": [(0, 4)]}
COMMITS = {"billing": {("orders", 0): 2, ("refunds", 0): 1}, "audit": {("orders", 1): 3}}


@pytest.fixture
def admins() -> FakeAdmins:
    return FakeAdmins(topics=TOPICS, commits=COMMITS)


def test_one_cycle_costs_one_metadata_call_two_batched_offset_calls_and_one_call_per_group(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)
    wanted = pairs(
        kafka_metric("billing-orders", "billing", "orders"),
        kafka_metric("billing-all", "billing", "orders", "refunds"),
        kafka_metric("audit-orders", "audit", "orders", offset_reset_policy=OffsetResetPolicy.EARLIEST),
    )

    readings = source.read(wanted)

    everything = [("orders", 0), ("orders", 1), ("orders", 2), ("refunds", 0)]
    assert sorted(admins.created["k:9092"].calls) == [
        ("list_consumer_group_offsets", "audit", [("orders", 0), ("orders", 1), ("orders", 2)]),
        ("list_consumer_group_offsets", "billing", everything),
        ("list_offsets", EARLIEST, everything),
        ("list_offsets", LATEST, everything),
        ("list_topics",),
    ]
    assert readings[0] == Reading(
        name="billing-orders", value=4.0, partition_count=3,
        partitions=(PartitionLag("orders", 0, 2, 0, 5, 3), PartitionLag("orders", 1, None, 0, 3, 1),
                    PartitionLag("orders", 2, None, 2, 2, 0)))
    assert (readings[1].value, readings[1].partition_count) == (7.0, 4)
    assert (readings[2].value, readings[2].partition_count) == (5.0, 3)
    assert [p.lag for p in readings[2].partitions] == [5, 0, 0]  # no commit on p0: 5 - 0 under earliest


def test_clients_are_made_once_per_cluster_with_the_extra_settings_and_reused(admins):
    settings = KafkaSettings(bootstrap_servers="k:9092",
                             config={"security.protocol": "SASL_SSL", "sasl.password": "planted-secret"})
    source = KafkaSource(settings, admin_factory=admins)
    wanted = pairs(kafka_metric("a", "billing", "orders"),
                   kafka_metric("b", "billing", "orders", bootstrap_servers="other:9093"))

    source.read(wanted)
    first = dict(admins.created)
    source.read(wanted)

    assert admins.created == first
    assert sorted(admins.created) == ["k:9092", "other:9093"]
    config = admins.created["other:9093"].config
    assert (config["bootstrap.servers"], config["security.protocol"], config["sasl.password"]) == (
        "other:9093", "SASL_SSL", "planted-secret")
    assert len(admins.created["k:9092"].calls) == 2 * 4


def test_a_missing_topic_fails_only_the_metrics_that_need_it(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)

    readings = source.read(pairs(kafka_metric("a", "billing", "orders", "typo", "gone"),
                                 kafka_metric("b", "billing", "refunds")))

    assert readings == [Reading(name="a", error="kafka k:9092: topics 'typo', 'gone' not found"),
                        Reading(name="b", value=3.0, partition_count=1,
                                partitions=(PartitionLag("refunds", 0, 1, 0, 4, 3),))]


@pytest.mark.parametrize(
    ("ghost_topics", "error"),
    [
        pytest.param(("gone",), "kafka k:9092: topic 'gone' not found", id="missing"),
        pytest.param(("gone", "typo"), "kafka k:9092: topics 'gone', 'typo' not found", id="all-missing"),
        pytest.param(("payments",), "kafka k:9092: topic 'payments': Broker: Leader not available",
                     id="listed-with-an-error"),
    ],
)
def test_a_group_whose_only_topics_cannot_be_read_fails_alone_with_the_topic_named(admins, ghost_topics, error):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)
    source.read(pairs(kafka_metric("a", "billing", "orders")))
    admin = admins.created["k:9092"]
    admin.topic_errors["payments"] = KafkaError(KafkaError.LEADER_NOT_AVAILABLE)
    admin.calls.clear()

    readings = source.read(pairs(kafka_metric("good", "billing", "refunds"),
                                 kafka_metric("ghost", "ghosts", *ghost_topics)))

    assert readings == [Reading(name="good", value=3.0, partition_count=1,
                                partitions=(PartitionLag("refunds", 0, 1, 0, 4, 3),)),
                        Reading(name="ghost", error=error)]
    # Nothing to ask about the ghosts' offsets: no request names that group.
    assert [call[1] for call in admin.calls if call[0] == "list_consumer_group_offsets"] == ["billing"]
    assert admins.created["k:9092"] is admin


def test_a_group_request_the_client_refuses_fails_that_group_only(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)

    readings = source.read(pairs(kafka_metric("good", "billing", "refunds"), kafka_metric("blank", "", "orders")))

    assert readings[0].value == 3.0
    assert readings[1] == Reading(name="blank", error="kafka k:9092: committed offsets of group '': request refused "
                                                      "by the client: 'group_id' cannot be empty")


def test_a_topic_listed_with_an_error_says_so_rather_than_not_found(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)
    source.read(pairs(kafka_metric("a", "billing", "orders")))
    admins.created["k:9092"].topic_errors["payments"] = KafkaError(KafkaError.LEADER_NOT_AVAILABLE)

    readings = source.read(pairs(kafka_metric("a", "billing", "orders", "payments"),
                                 kafka_metric("b", "billing", "orders")))

    assert readings[0] == Reading(name="a", error="kafka k:9092: topic 'payments': Broker: Leader not available")
    assert readings[1].value == 4.0


def test_a_cluster_that_does_not_answer_fails_each_of_its_metrics_with_librdkafkas_reason(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)
    source.read(pairs(kafka_metric("a", "billing", "orders")))
    admins.created["k:9092"].metadata_error = KafkaException(KafkaError(KafkaError._TRANSPORT))

    readings = source.read(pairs(kafka_metric("a", "billing", "orders"), kafka_metric("b", "audit", "orders")))

    assert [reading.error for reading in readings] == [
        "kafka k:9092: cannot read topic metadata: Local: Broker transport failure"] * 2
    assert all(reading.value is None for reading in readings)


@pytest.mark.parametrize("failure", ["metadata_error", "group_error"])
def test_a_client_that_failed_is_replaced_in_the_next_cycle(admins, failure):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)
    source.read(pairs(kafka_metric("a", "billing", "orders")))
    first = admins.created["k:9092"]
    setattr(first, failure, KafkaException(KafkaError(KafkaError._TIMED_OUT)))

    source.read(pairs(kafka_metric("a", "billing", "orders")))
    (reading,) = source.read(pairs(kafka_metric("a", "billing", "orders")))

    assert admins.created["k:9092"] is not first
    assert reading.value == 4.0


def test_a_group_read_failure_fails_that_group_only(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092"), admin_factory=admins)
    source.read(pairs(kafka_metric("a", "billing", "orders")))
    admins.created["k:9092"].group_error = KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED))

    (reading,) = source.read(pairs(kafka_metric("a", "billing", "orders")))

    assert reading.error == "kafka k:9092: committed offsets of group 'billing': Broker: Group authorization failed"


def test_an_offset_request_that_never_answers_ends_in_an_error_within_the_timeout(admins):
    source = KafkaSource(KafkaSettings(bootstrap_servers="k:9092", timeout=0.2), admin_factory=admins)
    source.read(pairs(kafka_metric("a", "billing", "orders")))
    admins.created["k:9092"].pending_latest = True

    (reading,) = source.read(pairs(kafka_metric("a", "billing", "orders")))

    assert reading.error == "kafka k:9092: latest offsets: no answer within the timeout"


def test_nothing_wanted_asks_nothing(admins):
    assert KafkaSource(KafkaSettings(), admin_factory=admins).read([]) == []
    assert admins.created == {}
