"""`Sources.read_all`: every metric of every target gets its Reading under (target, metric), whatever fails."""
from __future__ import annotations

import socket

import pytest

from scalerd.config.model import Defaults, KafkaSettings, PrometheusSettings
from scalerd.metric_types.cpu import NO_KUBERNETES_ACCESS, CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources import Sources
from tests.builders import make_target


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sources():
    prometheus_port, kafka_port = closed_port(), closed_port()
    defaults = Defaults(
        prometheus=PrometheusSettings(url=f"http://127.0.0.1:{prometheus_port}", timeout=1.0),
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{kafka_port}", timeout=0.3),
    )
    sources = Sources(defaults=defaults)
    yield sources, prometheus_port, kafka_port
    sources.close()


def test_every_metric_is_answered_under_its_target_and_name(sources):
    the_sources, prometheus_port, kafka_port = sources
    rps = PrometheusMetric(name="rps", query="sum(rate(x[1m]))", target_per_replica=5.0)
    lag = KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=100.0)
    cpu = CpuMetric(name="cpu", target_utilization=70.0)
    targets = [make_target("api", rps, cpu), make_target("worker", lag, PrometheusMetric(name="rps", query="up",
                                                                                target_value=1.0))]

    readings = the_sources.read_all(targets)

    refused = f"http://127.0.0.1:{prometheus_port}/api/v1/query: cannot connect: Connection refused"
    assert readings == {
        ("api", "rps"): Reading(name="rps", error=refused),
        ("api", "cpu"): Reading(name="cpu", error=NO_KUBERNETES_ACCESS),
        ("worker", "lag"): Reading(name="lag", error=f"kafka 127.0.0.1:{kafka_port}: cannot read topic metadata: "
                                                     "Failed to get metadata: Local: Broker transport failure"),
        ("worker", "rps"): Reading(name="rps", error=refused),
    }


def test_a_defect_in_one_source_costs_its_metrics_only(sources, monkeypatch):
    the_sources, _prometheus_port, _kafka_port = sources

    def broken(wanted):
        raise KeyError("partition")

    monkeypatch.setattr(the_sources._sources["kafka"], "_read", broken)
    lag = KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=100.0)
    cpu = CpuMetric(name="cpu", target_utilization=70.0)

    readings = the_sources.read_all([make_target("worker", lag, cpu)])

    assert readings == {
        ("worker", "lag"): Reading(name="lag", error="kafka source failed: KeyError: 'partition'"),
        ("worker", "cpu"): Reading(name="cpu", error=NO_KUBERNETES_ACCESS),
    }


def test_targets_without_metrics_read_nothing(sources):
    the_sources, _prometheus_port, _kafka_port = sources

    assert the_sources.read_all([make_target("scheduled-only")]) == {}
