"""`scalerd metrics` output from readings: the contract's JSON line, the table, and the exit codes that need no
source. Reading real sources through the command is tested in tests/integration/test_metrics_command.py.
"""
from __future__ import annotations

import io
import json

import pytest

from scalerd.cli import main
from scalerd.commands.metrics import print_json, print_table, target_report
from scalerd.config.model import Target
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import PartitionLag, PodCpu, Reading
from tests.builders import make_target

KAFKA = KafkaMetric(name="lag", group="orders", topics=("orders",), lag_per_replica=10.0)
RPS = PrometheusMetric(name="rps", query="q1", target_per_replica=50.0)
LATENCY = PrometheusMetric(name="latency", query="q2", target_value=0.2, on_missing=OnMissing.HOLD)
CPU = CpuMetric(name="cpu", target_utilization=50.0)
PARTITIONS = (PartitionLag("orders", 0, 2, 0, 30, 28), PartitionLag("orders", 1, None, 0, 7, 1))


def target(*metrics) -> Target:
    return make_target("orders", *metrics, namespace="shop", max_replicas=20)


def report(the_target: Target, **readings: Reading) -> dict:
    return target_report(the_target, {(the_target.name, name): reading for name, reading in readings.items()})


def test_kafka_line_carries_total_lag_partition_detail_and_the_capped_proposal():
    reading = Reading(name="lag", value=29.0, partition_count=2, partitions=PARTITIONS)

    assert report(target(KAFKA), lag=reading) == {
        "target": "orders",
        "metrics": [{
            "name": "lag", "type": "kafka", "value": 29, "proposal": 2, "error": None,  # ceil(2.9) = 3, 2 partitions
            "partitions": [
                {"topic": "orders", "partition": 0, "committed": 2, "low": 0, "high": 30, "lag": 28},
                {"topic": "orders", "partition": 1, "committed": None, "low": 0, "high": 7, "lag": 1},
            ],
        }],
    }


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        pytest.param(
            {"rps": Reading(name="rps", value=120.5), "latency": Reading(name="latency", value=0.5)},
            [("rps", 120.5, 3, None), ("latency", 0.5, 3, None)],
            id="value-target-assumes-one-current-replica"),
        pytest.param(
            {"rps": Reading(name="rps", value=120.0), "latency": Reading(name="latency", hold=True)},
            [("rps", 120, 3, None), ("latency", None, 1, None)],
            id="hold-proposes-the-assumed-current"),
        pytest.param(
            {"rps": Reading(name="rps", error="query returned 2 series, expected 1"),
             "latency": Reading(name="latency", value=0.1)},
            [("rps", None, None, "query returned 2 series, expected 1"), ("latency", 0.1, 1, None)],
            id="a-failed-metric-has-no-value-or-proposal"),
    ],
)
def test_prometheus_lines(readings, expected):
    lines = report(target(RPS, LATENCY), **readings)["metrics"]

    assert [(line["name"], line["value"], line["proposal"], line["error"]) for line in lines] == expected
    assert [(line["type"], line["partitions"]) for line in lines] == [("prometheus", None)] * 2


def test_the_replicas_the_cpu_source_read_stand_in_for_current():
    pods = (PodCpu("a", 500, 400, True), PodCpu("b", 500, 300, True))
    readings = {"cpu": Reading(name="cpu", pods=pods, current_replicas=4),
                "latency": Reading(name="latency", value=0.3)}

    lines = report(target(CPU, LATENCY), **readings)["metrics"]

    # cpu: 700m of 1000m = 70 % against 50 % over 2 pods -> ceil(1.4 * 2); latency: ceil(4 * 0.3 / 0.2)
    assert [(line["name"], line["value"], line["proposal"]) for line in lines] == [("cpu", 70, 3), ("latency", 0.3, 6)]


def test_json_is_one_object_per_line():
    stream = io.StringIO()
    reports = [report(target(RPS), rps=Reading(name="rps", value=1.0)), {"target": "other", "metrics": []}]

    print_json(reports, stream=stream)

    assert [json.loads(line) for line in stream.getvalue().splitlines()] == reports


def test_table_aligns_columns_and_keeps_errors_whole():
    stream = io.StringIO()
    the_report = report(target(KAFKA, RPS), lag=Reading(name="lag", value=1234.0, partition_count=4),
                        rps=Reading(name="rps", error="http://p:9090/api/v1/query: cannot connect: Connection refused"))

    print_table([the_report], stream=stream)

    assert stream.getvalue().splitlines() == [
        "TARGET  METRIC  TYPE        VALUE  PROPOSAL  ERROR",
        "orders  lag     kafka       1234   4",
        "orders  rps     prometheus  -      -         http://p:9090/api/v1/query: cannot connect: Connection refused",
    ]


def test_an_invalid_configuration_exits_2_with_the_validation_lines(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("apiVersion: scalerd/v1\ntargets: []\n")

    code = main(["metrics", "--config", str(config)])

    assert (code, capsys.readouterr()) == (2, ("", "targets: at least one target is required\n"))


def test_an_unknown_target_exits_2_naming_the_known_ones(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: scalerd/v1\n"
        "targets:\n"
        "  - {name: api, namespace: default, deployment: api, minReplicas: 1, maxReplicas: 3,\n"
        "     schedule: [{time: '09:00', replicas: 2}]}\n"
    )

    code = main(["metrics", "--config", str(config), "--target", "nope"])

    assert (code, capsys.readouterr().err) == (2, "--target: no target named 'nope' (known: api)\n")


def test_cpu_without_kubernetes_access_fails_those_metrics_naming_why(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: scalerd/v1\n"
        "targets:\n"
        "  - {name: api, namespace: default, deployment: api, minReplicas: 1, maxReplicas: 3,\n"
        "     metrics: [{type: cpu, targetUtilization: 60}]}\n"
    )
    missing = tmp_path / "no-kubeconfig"

    code = main(["metrics", "--config", str(config), "--output", "json", "--kubeconfig", str(missing)])

    (line,) = capsys.readouterr().out.splitlines()
    (metric,) = json.loads(line)["metrics"]
    assert code == 1
    assert (metric["name"], metric["value"], metric["proposal"]) == ("cpu", None, None)
    # the rest of the message is the kube client loader's own; it names the file it tried
    assert metric["error"].startswith("no Kubernetes access for cpu metrics: ")
    assert f"--kubeconfig {missing}: no such file" in metric["error"]
