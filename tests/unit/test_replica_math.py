"""One metric's proposal: the HPA's float64 arithmetic, with cases from upstream replica_calculator_test.go."""
from __future__ import annotations

import math

import pytest

from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.metric_types.registry import metric_outcome, raw_proposal
from scalerd.readings import PodCpu, Reading
from scalerd.replica_math import (
    CpuDataError,
    average_value_replicas,
    cpu_pod_replicas,
    cpu_utilization_replicas,
    value_replicas,
    within_tolerance,
)

KAFKA = KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=1000)
RPS = PrometheusMetric(name="rps", query="q", target_per_replica=50.0)
QUEUE = PrometheusMetric(name="queue", query="q", target_value=100.0)
CPU = CpuMetric(name="cpu", target_utilization=70)


@pytest.mark.parametrize(
    ("ratio", "tolerance", "inside"),
    [
        pytest.param(1.1, 0.1, True, id="upper-edge-1.1-inside-band (abs(1-1.1)>0.1 would say outside)"),
        pytest.param(0.9, 0.1, True, id="lower-edge-0.9-inside"),
        pytest.param(1.1000000000000003, 0.1, False, id="just-above-upper-edge"),
        pytest.param(0.8999999999999999, 0.1, False, id="just-below-lower-edge"),
        pytest.param(1.0, 0.0, True, id="zero-tolerance-exact-ratio"),
        pytest.param(1.0000000000000002, 0.0, False, id="zero-tolerance-next-float"),
        pytest.param(math.inf, 0.1, False, id="infinite-ratio"),
    ],
)
def test_tolerance_band_is_compared_in_float64_like_upstream_isWithin(ratio, tolerance, inside):
    assert within_tolerance(ratio, tolerance) is inside


@pytest.mark.parametrize(
    ("value", "target", "current", "expected"),
    [
        pytest.param(8600, 2150, 3, 4, id="TestReplicaCalcScaleUpPerPodCMExternal"),
        pytest.param(8600, 2867, 5, 3, id="TestReplicaCalcScaleDownPerPodCMExternal"),
        pytest.param(8600, 2900, 3, 3, id="TestReplicaCalcTolerancePerPodCMExternal"),
        pytest.param(20000, 5000, 3, 4, id="TestReplicaCalcScaleUpCMPerPodObject"),
        pytest.param(6000, 2000, 5, 3, id="TestReplicaCalcScaleDownPerPodCMObject"),
        pytest.param(20166, 5000, 4, 4, id="TestReplicaCalcTolerancePerPodCMObject"),
        pytest.param(12000, 1000, 0, 12, id="from-zero-ratio-infinite-no-tolerance"),
        pytest.param(0, 1000, 0, 0, id="zero-at-zero-stays-zero"),
        pytest.param(550, 50, 10, 10, id="ratio-1.1-exactly-within-tolerance"),
        pytest.param(551, 50, 10, 12, id="ratio-just-above-band-ceil-value-over-target"),
        pytest.param(-20, 50, 3, 0, id="negative-value-never-negative-proposal"),
    ],
)
def test_average_value(value, target, current, expected):
    assert average_value_replicas(value, target, current=current, tolerance=0.1) == expected


@pytest.mark.parametrize(
    ("value", "target", "current", "expected"),
    [
        pytest.param(8600, 14334, 5, 3, id="TestReplicaCalcScaleDownCMExternal"),
        pytest.param(8600, 8888, 3, 3, id="TestReplicaCalcToleranceCMExternal"),
        pytest.param(20000, 15000, 3, 4, id="TestReplicaCalcScaleUpCMObject"),
        pytest.param(12000, 20000, 5, 3, id="TestReplicaCalcScaleDownCMObject"),
        pytest.param(20666, 20000, 3, 3, id="TestReplicaCalcToleranceCMObject"),
        pytest.param(250, 100, 0, 3, id="current-zero-ceil-ratio-as-getUsageRatioReplicaCount"),
        pytest.param(110, 100, 4, 4, id="ratio-1.1-within"),
        pytest.param(300, 100, 4, 12, id="ceil-ratio-times-current"),
    ],
)
def test_value(value, target, current, expected):
    assert value_replicas(value, target, current=current, tolerance=0.1) == expected


@pytest.mark.parametrize(
    ("utilization", "target", "current", "expected"),
    [
        pytest.param(140.0, 70, 2, 4, id="double-utilization-doubles"),
        pytest.param(75.0, 70, 4, 4, id="within-tolerance"),
        pytest.param(35.0, 70, 4, 2, id="half-utilization-halves"),
        pytest.param(77.0, 70, 10, 10, id="ratio-1.1-exactly-within"),
        pytest.param(90.0, 70, 3, 4, id="ceil-3.857"),
    ],
)
def test_cpu_from_average_utilization(utilization, target, current, expected):
    assert cpu_utilization_replicas(utilization, target, current=current, tolerance=0.1) == expected


def pods(*spec):
    """spec items: (usage or None, ready) with 1000m requests, or (usage, ready, request)."""
    made = []
    for index, item in enumerate(spec):
        usage, ready, *request = item
        made.append(PodCpu(f"pod-{index}", request[0] if request else 1000, usage, ready))
    return tuple(made)


@pytest.mark.parametrize(
    ("pod_list", "target", "current", "expected"),
    [
        pytest.param(pods((300, True), (500, True), (700, True)), 30, 3, (5, 50), id="TestReplicaCalcScaleUp"),
        pytest.param(pods((300, False), (500, True), (700, True)), 30, 3, (4, 60),
                     id="TestReplicaCalcScaleUpUnreadyLessScale"),
        pytest.param(pods((400, True), (500, False), (700, False)), 30, 3, (3, 40),
                     id="TestReplicaCalcScaleUpUnreadyNoScale"),
        pytest.param(pods((100, True), (300, True), (500, True), (250, True), (250, True)), 50, 5, (3, 28),
                     id="TestReplicaCalcScaleDown"),
        pytest.param(pods((100, True), (300, True), (500, True), (250, False), (250, False)), 50, 5, (2, 30),
                     id="TestReplicaCalcScaleDownExcludeUnreadyPods"),
        pytest.param(pods((1010, True, 900), (1030, True, 1000), (1020, True, 1100)), 100, 3, (3, 102),
                     id="TestReplicaCalcTolerance"),
        pytest.param(pods((400, True), (95, True), (None, True), (None, True)), 100, 4, (3, 24),
                     id="TestReplicaCalcMissingMetrics"),
        pytest.param(pods((1000, True), (None, True)), 100, 2, (2, 100),
                     id="TestReplicaCalcMissingMetricsNoChangeEq"),
        pytest.param(pods((1900, True), (None, True)), 100, 2, (2, 190),
                     id="TestReplicaCalcMissingMetricsNoChangeGt"),
        pytest.param(pods((600, True), (None, True)), 100, 2, (2, 60),
                     id="TestReplicaCalcMissingMetricsNoChangeLt"),
        pytest.param(pods((100, False), (450, True), (None, True)), 50, 3, (3, 45),
                     id="TestReplicaCalcMissingMetricsUnreadyChange"),
        pytest.param(pods((100, False), (2000, True), (None, True)), 50, 3, (4, 200),
                     id="TestReplicaCalcMissingMetricsUnreadyScaleUp"),
        pytest.param(pods((100, False), (100, True), (100, True), (None, True)), 50, 4, (3, 10),
                     id="TestReplicaCalcMissingMetricsUnreadyScaleDown"),
        pytest.param(pods((200, False, 1000), (100, True, 1000), (100, True, 2000), (None, True, 2000)), 300, 4, (2, 6),
                     id="TestReplicaCalcMissingMetricsScaleDownTargetOver100"),
        pytest.param(pods((100, True), (100, True), (None, True)), 50, 2, (2, 10),
                     id="TestReplicaCalcDuringRollingUpdateWithMaxSurge"),
    ],
)
def test_cpu_with_pod_detail_follows_GetResourceReplicas(pod_list, target, current, expected):
    assert cpu_pod_replicas(pod_list, target, current=current, tolerance=0.1) == expected


@pytest.mark.parametrize(
    ("pod_list", "message"),
    [
        pytest.param((), "no pods", id="no-pods"),
        pytest.param(pods((None, True), (300, False)), "no CPU sample from any ready pod", id="no-ready-sample"),
        pytest.param(pods((300, True, 0)), "pod pod-0 has no CPU request", id="TestReplicaCalcEmptyCPURequest"),
    ],
)
def test_cpu_without_usable_pods_is_an_error(pod_list, message):
    with pytest.raises(CpuDataError, match=message):
        cpu_pod_replicas(pod_list, 50, current=3, tolerance=0.1)


@pytest.mark.parametrize(
    ("metric", "reading", "current", "expected"),
    [
        pytest.param(KAFKA, Reading("lag", value=12000, partition_count=8), 2, 8, id="kafka-capped-at-partitions"),
        pytest.param(KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=1000, allow_idle_consumers=True),
                     Reading("lag", value=12000, partition_count=8), 2, 12, id="kafka-idle-consumers-allowed"),
        pytest.param(KAFKA, Reading("lag", value=12000), 2, 12, id="kafka-partition-count-unknown"),
        pytest.param(KAFKA, Reading("lag", value=50000, partition_count=11), 10, 10,
                     id="kafka-cap-on-the-lag-then-tolerance-11000/10000-within"),
        pytest.param(KAFKA, Reading("lag", value=0, partition_count=0), 0, 0, id="kafka-empty-topic"),
        pytest.param(RPS, Reading("rps", value=260.0), 2, 6, id="prometheus-average-value"),
        pytest.param(QUEUE, Reading("queue", value=250.0), 2, 5, id="prometheus-value"),
        pytest.param(RPS, Reading("rps", hold=True), 7, 7, id="prometheus-hold-proposes-current"),
        pytest.param(CPU, Reading("cpu", value=140.0), 3, 6, id="cpu-average-utilization"),
        pytest.param(CPU, Reading("cpu", pods=pods((700, True), (1400, True))), 2, 3, id="cpu-pods"),
        pytest.param(RPS, Reading("rps", error="timeout"), 2, None, id="failed-reading"),
    ],
)
def test_raw_proposal(metric, reading, current, expected):
    assert raw_proposal(metric, reading, current=current, tolerance=0.1) == expected


@pytest.mark.parametrize(
    ("reading", "error"),
    [
        pytest.param(Reading("rps", value=math.nan), "metric rps: no finite value (got nan)", id="nan"),
        pytest.param(Reading("rps", value=math.inf), "metric rps: no finite value (got inf)", id="inf"),
        pytest.param(Reading("rps"), "metric rps: no finite value (got None)", id="no-value"),
        pytest.param(Reading("rps", error="HTTP 500 from http://prom:9090"), "HTTP 500 from http://prom:9090",
                     id="source-error-passed-through"),
    ],
)
def test_unusable_readings_fail_with_a_message(reading, error):
    outcome = metric_outcome(RPS, reading, current=2, tolerance=0.1)
    assert (outcome.proposal, outcome.error) == (None, error)


def test_cpu_pod_failure_names_the_metric_type():
    outcome = metric_outcome(CPU, Reading("cpu", pods=()), current=2, tolerance=0.1)
    assert (outcome.proposal, outcome.error) == (None, "cpu: no pods")
