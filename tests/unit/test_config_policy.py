"""AutoScalerPolicy objects to targets (contract §1c): the spec is one target without name and namespace, or the
seed's compact form; problems come as the §2 lines with paths from `spec.`."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalerd.config import ConfigError, load_config_text, policy_target
from scalerd.config.model import Behavior, DailyEntry, Defaults, HistoryFromPrometheus, Predictive
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from tests.builders import make_target
from tests.testbed import k8s_crd

from .test_config_fuzz import EXAMPLE, SEED, mutated
from .test_config_good import REPO


def _policy(spec: object, *, name: str = "web", namespace: str | None = "team-a") -> dict:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "scalerd.io/v1alpha1", "kind": "AutoScalerPolicy", "metadata": metadata, "spec": spec}


def test_the_full_form_takes_name_and_namespace_from_the_object_and_defaults_the_deployment_to_its_name():
    target = policy_target(_policy({"maxReplicas": 6, "metrics": [{"type": "cpu", "targetUtilization": 60}]}),
                           defaults=Defaults(timezone="Europe/Berlin"))
    assert target == make_target("team-a/web", CpuMetric(name="cpu", target_utilization=60.0), namespace="team-a",
                                 deployment="web", max_replicas=6, timezone="Europe/Berlin", behavior=Behavior())


def test_the_full_form_names_another_deployment():
    target = policy_target(_policy({"deployment": "web-v2", "minReplicas": 0, "maxReplicas": 3,
                                    "schedule": [{"time": "08:00", "replicas": 2}]}, namespace=None),
                           defaults=Defaults())
    assert (target.name, target.namespace, target.deployment) == ("default/web", "default", "web-v2")
    assert (target.min_replicas, target.max_replicas) == (0, 3)
    assert target.schedule == (DailyEntry(minute_of_day=480, replicas=2),)


def test_the_seed_example_as_an_object():
    seed = yaml.safe_load((REPO / "config" / "seed-policy.yaml").read_text())
    seed["apiVersion"] = "scalerd.io/v1alpha1"
    target = policy_target(seed, defaults=Defaults())
    assert target == make_target(
        "default/orders-consumer", KafkaMetric(name="kafka", group="orders", topics=("orders",), lag_per_replica=1000.0),
        CpuMetric(name="cpu", target_utilization=70.0), deployment="orders-consumer", max_replicas=10,
        schedule=(DailyEntry(minute_of_day=1320, replicas=2), DailyEntry(minute_of_day=540, replicas=10)))


def test_the_seed_form_defaults_deployment_name_to_the_object_name():
    target = policy_target(_policy({"metrics": [{"type": "CPU", "threshold": 50}], "maxReplicas": 4}),
                           defaults=Defaults())
    assert (target.name, target.namespace, target.deployment, target.max_replicas) == ("team-a/web", "team-a", "web", 4)


@pytest.mark.parametrize(("spec", "lines"), [
    pytest.param(None, ["spec: required"], id="no-spec"),
    pytest.param([], ["spec: must be a mapping (got a list)"], id="spec-not-a-mapping"),
    pytest.param({"maxReplicas": 3}, ["spec: needs at least one metric or schedule entry"], id="nothing-to-scale-on"),
    pytest.param({"metrics": [{"type": "cpu", "targetUtilization": 70}]}, ["spec.maxReplicas: required"],
                 id="max-required-in-the-full-form"),
    pytest.param({"name": "x", "maxReplicas": 3, "metrics": [{"type": "cpu", "targetUtilization": 70}]},
                 ["spec.name: unknown field"], id="name-is-the-objects"),
    pytest.param({"maxReplicas": 2, "minReplicas": 5, "metrics": [{"type": "cpu", "targetUtilization": -1}]},
                 ["spec.maxReplicas: must be >= minReplicas (got 2 < 5)",
                  "spec.metrics[0].targetUtilization: must be > 0 (got -1)"], id="bounds-and-threshold"),
    pytest.param({"maxReplicas": 3, "deployment": "Web", "behavior": {"cooldown": "soon"},
                  "metrics": [{"type": "cpu", "targetUtilization": 70}]},
                 ["spec.deployment: must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting "
                  "and ending with a letter or digit, at most 253 characters (got 'Web')",
                  "spec.behavior.cooldown: invalid duration 'soon': use e.g. 500ms, 15s, 2m, 1h30m, or a whole "
                  "number of seconds"], id="deployment-and-duration"),
    pytest.param({"deploymentName": "web", "metrics": [{"type": "KafkaLag", "threshold": 100}]},
                 ["spec.kafka: required by the KafkaLag metric: {group, topics}"], id="seed-kafka-needs-its-block"),
    pytest.param({"deploymentName": "web", "deployment": "web", "metrics": [{"type": "CPU", "threshold": 0}]},
                 ["spec.deployment: unknown field (did you mean deploymentName?)",
                  "spec.metrics[0].threshold: must be > 0 (got 0)"], id="seed-form-mixed-with-the-full"),
])
def test_problems_are_rooted_at_spec(spec: object, lines: list[str]):
    with pytest.raises(ConfigError) as raised:
        policy_target(_policy(spec), defaults=Defaults())
    assert list(raised.value.problems) == lines


_EXAMPLE_SPEC = {key: value for key, value in EXAMPLE["targets"][0].items() if key not in ("name", "namespace")}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([{"spec": _EXAMPLE_SPEC}, {"spec": SEED["spec"]}]))
def test_any_mutated_spec_maps_to_a_target_or_spec_rooted_problems(data: st.DataObject, document: dict):
    spec = mutated(document, data).get("spec")
    try:
        target = policy_target(_policy(spec), defaults=Defaults())
    except ConfigError as error:
        assert error.problems and all(line.startswith("spec") for line in error.problems), error.problems
    else:
        assert (target.name, target.namespace) == ("team-a/web", "team-a")
        assert None not in (target.deployment, target.min_replicas, target.max_replicas)


@pytest.mark.parametrize(("text", "targets_required", "lines"), [
    pytest.param("apiVersion: scalerd/v1\ndefaults: {interval: 5s}\n", True, ["targets: required: at least one target"],
                 id="defaults-only-without-policies"),
    pytest.param("apiVersion: scalerd/v1\ndefaults: {interval: 5s}\n", False, [], id="defaults-only-with-policies"),
    pytest.param("apiVersion: scalerd/v1\ntargets: []\n", False, [], id="empty-targets-with-policies"),
])
def test_with_policies_a_file_may_hold_only_defaults(text: str, targets_required: bool, lines: list[str]):
    try:
        config = load_config_text(text, targets_required=targets_required)
    except ConfigError as error:
        assert list(error.problems) == lines
    else:
        assert lines == [] and config.targets == ()


_CRD_SCHEMA = yaml.safe_load((REPO / "manifests" / "crd" / "autoscalerpolicies.yaml").read_text()
                             )["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize(("history_from", "expected"), [
    pytest.param({"prometheus": None}, HistoryFromPrometheus(), id="the-default-prometheus"),
    pytest.param({"prometheus": {"url": "http://mon:9090", "labels": {"job": "scalerd"}}},
                 HistoryFromPrometheus(url="http://mon:9090", labels=(("job", "scalerd"),)), id="url-and-labels"),
])
def test_a_policy_may_load_its_predictive_history_from_prometheus_and_the_crd_keeps_it(history_from, expected):
    policy = _policy({"maxReplicas": 6, "metrics": [{"type": "cpu", "targetUtilization": 60}],
                      "predictive": {"leadTime": "60s", "historyFrom": history_from}})
    assert k8s_crd.unknown_fields(policy, _CRD_SCHEMA) == []
    assert k8s_crd.validation_causes(policy, _CRD_SCHEMA) == []
    assert k8s_crd.prune(policy, _CRD_SCHEMA) == policy
    target = policy_target(policy, defaults=Defaults())
    assert target.predictive == Predictive(lead_time=60.0, history_from=expected)
