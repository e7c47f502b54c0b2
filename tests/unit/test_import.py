"""`scalerd import`: the documentation's HPAs and ScaledObjects, their exact output and exact stderr lines."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from scalerd.cli import main
from scalerd.config import load_config_text, policy_target
from scalerd.config.model import Defaults
from scalerd.migrate import objects_in, render, translate
from scalerd.migrate.hpa import _selector_matchers
from scalerd.migrate.keda import window_durations
from scalerd.migrate.quantity import parse_quantity
from tests.testbed import k8s_crd

FIXTURES = Path(__file__).parent / "import_fixtures"


def _import(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["import", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("fixture", "exit_code", "targets"), [
    pytest.param("hpa_php_apache", 0, 1, id="hpa-walkthrough-php-apache"),
    pytest.param("hpa_multiple_metrics", 1, 1, id="hpa-walkthrough-multiple-metrics"),
    pytest.param("hpa_external_object", 0, 1, id="hpa-walkthrough-external-object"),
    pytest.param("hpa_behavior", 0, 4, id="hpa-concepts-behavior-examples"),
    pytest.param("hpa_unmappable", 2, 0, id="hpa-memory-container-statefulset"),
    pytest.param("keda_kafka", 0, 1, id="keda-kafka"),
    pytest.param("keda_kafka_sasl_tls", 1, 1, id="keda-kafka-sasl-tls"),
    pytest.param("keda_prometheus", 1, 2, id="keda-prometheus"),
    pytest.param("keda_cpu", 1, 1, id="keda-cpu"),
    pytest.param("keda_cron", 0, 1, id="keda-cron"),
    pytest.param("keda_cron_cpu", 0, 1, id="keda-cron-cpu"),
    pytest.param("keda_scaledobject_spec", 1, 1, id="keda-scaledobject-spec"),
    pytest.param("keda_metrics_api", 1, 2, id="keda-metrics-api"),
])
def test_documentation_examples(capsys, monkeypatch, fixture, exit_code, targets):
    monkeypatch.chdir(FIXTURES)
    code, out, err = _import(capsys, f"{fixture}.yaml")
    assert code == exit_code
    assert out == (FIXTURES / f"{fixture}.out").read_text()
    assert err.splitlines() == (FIXTURES / f"{fixture}.err").read_text().splitlines()
    if targets:
        assert len(load_config_text(out, source=fixture).targets) == targets
    else:
        assert out == ""


def test_every_unmapped_line_is_also_a_comment_of_its_target(capsys, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    _, out, err = _import(capsys, "keda_scaledobject_spec.yaml")
    unmapped = [line.removeprefix("ScaledObject shop/orders: ") for line in err.splitlines()]
    comments = [line.strip().removeprefix("# not mapped: ") for line in out.splitlines() if "# not mapped:" in line]
    assert len(unmapped) == 13
    assert comments == unmapped


def test_hpa_mapping_numbers():
    objects, _ = objects_in([{
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api.v2", "namespace": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "maxReplicas": 30,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "queue_depth", "selector": {"matchExpressions": [
                    {"key": "queue", "operator": "In", "values": ["a.b", "c"]},
                    {"key": "env", "operator": "DoesNotExist"}]}},
                "target": {"type": "Value", "value": "1500m"}}}],
            "behavior": {"scaleUp": {"tolerance": "0.05", "policies": [{"type": "Pods", "value": 2,
                                                                        "periodSeconds": 90}]},
                         "scaleDown": {"tolerance": "50m", "stabilizationWindowSeconds": 3600}},
        },
    }], source="test", namespace="default")
    result = translate(objects)
    [draft] = result.targets
    assert draft.target == {
        "name": "api-v2", "namespace": "web", "deployment": "api", "minReplicas": 1, "maxReplicas": 30,
        "metrics": [{"type": "prometheus", "name": "queue_depth",
                     "query": 'sum(queue_depth{queue=~"a\\\\.b|c",env=""})', "targetValue": 1.5}],
        "behavior": {"cooldown": "0s", "tolerance": 0.05,
                     "scaleUp": {"policies": [{"type": "Pods", "value": 2, "period": "1m30s"}]},
                     "scaleDown": {"stabilizationWindow": "1h"}},
    }
    assert result.unmapped == []
    config = load_config_text(render(result))
    assert config.targets[0].behavior.tolerance == 0.05
    assert config.targets[0].behavior.scale_down.stabilization_window == 3600.0


def test_hpa_without_metrics_takes_the_hpa_default_of_80_percent_cpu():
    objects, _ = objects_in([{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                              "metadata": {"name": "web"},
                              "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                          "name": "web"}, "maxReplicas": 5}}],
                            source="test", namespace="prod")
    [draft] = translate(objects).targets
    assert draft.target["namespace"] == "prod"
    assert draft.target["metrics"] == [{"type": "cpu", "name": "cpu", "targetUtilization": 80}]


def test_different_tolerances_per_direction_are_named():
    objects, _ = objects_in([{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                              "metadata": {"name": "web"},
                              "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                          "name": "web"}, "maxReplicas": 5,
                                       "behavior": {"scaleUp": {"tolerance": "0.05"}}}}],
                            source="test", namespace="default")
    result = translate(objects)
    assert [line.line() for line in result.unmapped] == [
        "HorizontalPodAutoscaler default/web: spec.behavior.scaleUp.tolerance: scalerd has one tolerance for both "
        "directions (scale up 0.05, scale down 0.1); the default 0.1 is used"]
    assert result.targets[0].target["behavior"] == {"cooldown": "0s"}


def test_keda_defaults_are_kedas_own():
    objects, _ = objects_in([{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                              "metadata": {"name": "orders"},
                              "spec": {"scaleTargetRef": {"name": "orders"}, "triggers": [
                                  {"type": "kafka", "metadata": {"bootstrapServers": "k:9092", "consumerGroup": "g",
                                                                 "topic": "a, b"}},
                                  {"type": "prometheus", "metricType": "Value",
                                   "metadata": {"serverAddress": "http://p:9090", "query": "up",
                                                "threshold": "2.5", "ignoreNullValues": "false"}}]}}],
                            source="test", namespace="default")
    [draft] = translate(objects).targets
    assert (draft.target["minReplicas"], draft.target["maxReplicas"]) == (0, 100)
    assert draft.target["metrics"] == [
        {"type": "kafka", "name": "kafka", "group": "g", "topics": ["a", "b"], "lagPerReplica": 10,
         "offsetResetPolicy": "latest", "allowIdleConsumers": False, "bootstrapServers": "k:9092"},
        {"type": "prometheus", "name": "prometheus", "query": "up", "targetValue": 2.5, "onMissing": "fail",
         "url": "http://p:9090"},
    ]


def test_kafka_trigger_without_topic_is_left_out_with_its_path():
    objects, _ = objects_in([{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                              "metadata": {"name": "orders", "namespace": "shop"},
                              "spec": {"scaleTargetRef": {"name": "orders"}, "triggers": [
                                  {"type": "kafka", "metadata": {"bootstrapServers": "k:9092",
                                                                 "consumerGroup": "g"}},
                                  {"type": "cpu", "metadata": {"value": "60"}}]}}],
                            source="test", namespace="default")
    result = translate(objects)
    assert [line.line() for line in result.unmapped] == [
        "ScaledObject shop/orders: spec.triggers[0].metadata.topic: without it KEDA reads every topic the group "
        "committed to; scalerd needs the topics listed; trigger left out"]
    assert result.targets[0].target["metrics"] == [{"type": "cpu", "name": "cpu", "targetUtilization": 60}]
    # A cpu trigger alone never lets KEDA scale to 0.
    assert result.targets[0].target["minReplicas"] == 1


def test_metrics_api_maps_to_http_unless_its_path_is_a_gjson_query():
    objects, _ = objects_in([{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                              "metadata": {"name": "queue"},
                              "spec": {"scaleTargetRef": {"name": "queue"}, "maxReplicaCount": 8, "triggers": [
                                  {"type": "metrics-api", "name": "depth", "metricType": "Value",
                                   "metadata": {"url": "https://q/stats", "valueLocation": "items.0.depth",
                                                "targetValue": "250", "unsafeSsl": "true"}},
                                  {"type": "metrics-api",
                                   "metadata": {"url": "https://q/stats", "valueLocation": "items.#.depth",
                                                "targetValue": "5"}}]}}],
                            source="test", namespace="default")
    result = translate(objects)
    [draft] = result.targets
    assert draft.target["metrics"] == [{"type": "http", "name": "depth", "url": "https://q/stats",
                                        "valueLocation": "items.0.depth", "targetValue": 250,
                                        "insecureSkipVerify": True}]
    assert [line.line() for line in result.unmapped] == [
        "ScaledObject default/queue: spec.triggers[1].metadata.valueLocation: scalerd reads a dotted path of keys "
        "and list indexes, not GJSON's queries and modifiers (got 'items.#.depth'); trigger left out"]
    [target] = load_config_text(render(result)).targets
    assert target.metrics[0].value_location == ("items", "0", "depth")


@pytest.mark.parametrize(("start", "end", "timezone", "durations"), [
    pytest.param("0 6 * * *", "0 20 * * *", "Asia/Kolkata", {14 * 3600: 366}, id="day-window"),
    pytest.param("0 6 * * 1", "0 20 * * 5", "UTC", {4 * 86400 + 14 * 3600: 52}, id="monday-to-friday"),
    # Berlin's nights of 2025-03-30 and 2025-10-26 are an hour shorter and longer.
    pytest.param("0 22 * * *", "0 6 * * *", "Europe/Berlin", {8 * 3600: 364, 7 * 3600: 1, 9 * 3600: 1},
                 id="night-across-dst"),
])
def test_cron_window_durations(start, end, timezone, durations):
    assert dict(window_durations(start, end, timezone)) == durations


def test_a_window_that_changes_length_across_dst_is_named(capsys, tmp_path):
    manifest = tmp_path / "night.yaml"
    manifest.write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: batch}\n"
        "spec:\n  scaleTargetRef: {name: batch}\n  triggers:\n  - type: cron\n"
        "    metadata: {timezone: Europe/Berlin, start: 0 22 * * *, end: 0 6 * * *, desiredReplicas: '3'}\n")
    code, out, err = _import(capsys, str(manifest))
    assert code == 1
    assert err.splitlines() == [
        "ScaledObject default/batch: spec.triggers[0].metadata.end: KEDA's window lasts 8h but 7h, 9h across "
        "daylight-saving changes; scalerd's lasts 8h every time"]
    [target] = load_config_text(out).targets
    assert target.timezone == "Europe/Berlin"
    assert (target.schedule[0].cron, target.schedule[0].duration, target.schedule[0].replicas) == (
        "0 22 * * *", 8 * 3600.0, 3)


@pytest.mark.parametrize(("text", "value"), [
    pytest.param("500m", 0.5, id="milli"),
    pytest.param("1k", 1000.0, id="kilo"),
    pytest.param("10k", 10000.0, id="ten-kilo"),
    pytest.param("2Gi", 2.0 * 2**30, id="gibi"),
    pytest.param("1e3", 1000.0, id="exponent"),
    pytest.param(30, 30.0, id="yaml-number"),
    pytest.param("1.5", 1.5, id="decimal"),
])
def test_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", [pytest.param("1kb", id="bad-suffix"), pytest.param(True, id="boolean"),
                                  pytest.param("", id="empty")])
def test_bad_quantities(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_selector_as_matchers():
    assert _selector_matchers({"matchLabels": {"verb": 'G"ET'},
                               "matchExpressions": [{"key": "code", "operator": "NotIn", "values": ["500"]},
                                                    {"key": "path", "operator": "Exists"}]}) == [
        'verb="G\\"ET"', 'code!~"500"', 'path!=""']
    assert _selector_matchers("queue=worker_tasks, env!=dev") == ['queue="worker_tasks"', 'env!="dev"']
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        _selector_matchers({"matchLabels": {"app.kubernetes.io/name": "x"}})


def test_two_objects_for_one_deployment_give_one_target(capsys, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    code, out, err = _import(capsys, "hpa_php_apache.yaml", "hpa_multiple_metrics.yaml")
    assert code == 1
    assert err.splitlines()[-1] == (
        "HorizontalPodAutoscaler default/php-apache: spec.scaleTargetRef: Deployment default/php-apache is already "
        "scaled by HorizontalPodAutoscaler default/php-apache; two targets would fight over it")
    assert len(load_config_text(out).targets) == 1


def test_list_documents_and_namespace_flag(capsys, tmp_path):
    manifest = tmp_path / "list.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: autoscaling/v2\n  kind: HorizontalPodAutoscaler\n  metadata: {name: a}\n"
        "  spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, maxReplicas: 3}\n"
        "- apiVersion: autoscaling/v1\n  kind: HorizontalPodAutoscaler\n  metadata: {name: b}\n"
        "  spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: b}, maxReplicas: 3}\n")
    code, out, err = _import(capsys, str(manifest), "-n", "team")
    assert code == 0
    assert err.splitlines() == [f"{manifest}: documents[0]: HorizontalPodAutoscaler team/b: skipped: apiVersion "
                                "autoscaling/v1 (scalerd reads autoscaling/v2, autoscaling/v2beta2)"]
    [target] = load_config_text(out).targets
    assert (target.namespace, target.deployment, target.max_replicas) == ("team", "a", 3)


def test_unreadable_inputs(capsys, tmp_path):
    assert _import(capsys, str(tmp_path / "missing.yaml"))[0] == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [\n")
    code, out, err = _import(capsys, str(broken))
    assert (code, out) == (2, "")
    assert err.startswith(f"{broken}:")
    code, _, err = _import(capsys)
    assert (code, err) == (2, "import: give FILE... or --from-cluster\n")


_CRD_SCHEMA = yaml.safe_load((Path(__file__).parents[2] / "manifests" / "crd" / "autoscalerpolicies.yaml")
                             .read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("fixture", ["hpa_php_apache", "hpa_behavior", "keda_kafka", "keda_prometheus",
                                     "keda_cron_cpu", "keda_metrics_api", "keda_scaledobject_spec"])
def test_as_policies_writes_one_policy_per_target_the_crd_and_scalerd_accept(capsys, monkeypatch, fixture):
    monkeypatch.chdir(FIXTURES)
    file_code, file_out, _ = _import(capsys, f"{fixture}.yaml")
    code, out, err = _import(capsys, "--as-policies", f"{fixture}.yaml")
    assert code == file_code
    policies = [document for document in yaml.safe_load_all(out) if document]
    file_targets = load_config_text(file_out, source=fixture).targets
    assert len(policies) == len(file_targets)
    for policy, file_target in zip(policies, file_targets):
        assert (policy["apiVersion"], policy["kind"]) == ("scalerd.io/v1alpha1", "AutoScalerPolicy")
        assert k8s_crd.unknown_fields(policy, _CRD_SCHEMA) == []
        assert k8s_crd.validation_causes(policy, _CRD_SCHEMA) == []
        target = policy_target(policy, defaults=Defaults())
        assert target == replace(file_target, name=f"{file_target.namespace}/{file_target.name}")
