"""Valid configurations map to exact dataclasses: defaults, merges, the seed's policy, the files in config/."""
from __future__ import annotations

from pathlib import Path

import pytest

from scalerd.config import load_config_file, load_config_text
from scalerd.config.model import (
    Behavior,
    Config,
    CronWindow,
    DailyEntry,
    Defaults,
    Fallback,
    HistoryFromPrometheus,
    KafkaSettings,
    PolicyType,
    Predictive,
    PrometheusSettings,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    Target,
)
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.http import HttpMetric
from scalerd.metric_types.kafka import KafkaMetric, OffsetResetPolicy
from scalerd.metric_types.prometheus import PrometheusMetric

REPO = Path(__file__).resolve().parents[2]
HPA_SCALE_UP = ScalingRules(
    stabilization_window=0.0,
    select_policy=SelectPolicy.MAX,
    policies=(ScalingPolicy(PolicyType.PODS, 4, 15.0), ScalingPolicy(PolicyType.PERCENT, 100, 15.0)),
)
HPA_SCALE_DOWN = ScalingRules(
    stabilization_window=300.0, select_policy=SelectPolicy.MAX, policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15.0),)
)


def only_target(text: str) -> Target:
    config = load_config_text(text)
    assert len(config.targets) == 1
    return config.targets[0]


def test_minimal_target_takes_every_default() -> None:
    config = load_config_text(
        "apiVersion: scalerd/v1\n"
        "targets:\n"
        "  - name: orders\n"
        "    deployment: orders\n"
        "    maxReplicas: 10\n"
        "    metrics: [{type: cpu, targetUtilization: 70}]\n"
    )
    assert config == Config(
        defaults=Defaults(
            interval=15.0, timezone="UTC", prometheus=PrometheusSettings(), kafka=KafkaSettings(),
        ),
        targets=(
            Target(
                name="orders", namespace="default", deployment="orders", min_replicas=1, max_replicas=10,
                timezone="UTC", metrics=(CpuMetric(name="cpu", target_utilization=70.0),), schedule=(),
                behavior=Behavior(cooldown=120.0, tolerance=0.1, scale_up=HPA_SCALE_UP, scale_down=HPA_SCALE_DOWN),
                fallback=None, paused=False,
            ),
        ),
    )


def test_the_contract_example_maps_field_by_field() -> None:
    config = load_config_file(REPO / "config" / "example.yaml")
    assert config == Config(
        defaults=Defaults(
            interval=15.0,
            timezone="UTC",
            prometheus=PrometheusSettings(
                url="http://127.0.0.1:9090", timeout=5.0, bearer_token_file=None, ca_file=None,
                insecure_skip_verify=False,
            ),
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9092", config={}),
        ),
        targets=(
            Target(
                name="orders-consumer",
                namespace="default",
                deployment="orders-consumer",
                min_replicas=1,
                max_replicas=20,
                timezone="Europe/Berlin",
                paused=False,
                metrics=(
                    KafkaMetric(
                        name="kafka", group="orders", topics=("orders",), lag_per_replica=1000.0,
                        offset_reset_policy=OffsetResetPolicy.LATEST, allow_idle_consumers=False,
                        bootstrap_servers=None,
                    ),
                    PrometheusMetric(
                        name="rps", query='sum(rate(http_requests_total{job="api"}[1m]))', target_per_replica=50.0,
                        target_value=None, on_missing=OnMissing.FAIL, url=None,
                    ),
                    CpuMetric(name="cpu", target_utilization=70.0),
                    HttpMetric(
                        name="backlog", url="https://queue.internal/stats", value_location=("backlog", "pending"),
                        target_per_replica=100.0, on_missing=OnMissing.FAIL, timeout=5.0,
                    ),
                ),
                schedule=(
                    DailyEntry(minute_of_day=22 * 60, replicas=2),
                    DailyEntry(minute_of_day=9 * 60, replicas=10),
                    CronWindow(cron="0 12 * * 1-5", duration=7200.0, replicas=15),
                ),
                behavior=Behavior(cooldown=120.0, tolerance=0.1, scale_up=HPA_SCALE_UP, scale_down=HPA_SCALE_DOWN),
                fallback=Fallback(failure_threshold=3, replicas=5),
                predictive=Predictive(lead_time=60.0, history=8 * 86400.0),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("predictive", "expected"),
    [
        pytest.param("{leadTime: 0s}", Predictive(lead_time=0.0, history=691200.0), id="zero-lead-default-history"),
        pytest.param("{leadTime: 30m, history: 35d}", Predictive(lead_time=1800.0, history=3024000.0),
                     id="upper-bounds"),
        pytest.param("{leadTime: 90, history: 1h}", Predictive(lead_time=90.0, history=3600.0),
                     id="bare-seconds-lower-history"),
        pytest.param("null", None, id="null-is-absent"),
        pytest.param("{leadTime: 60s, historyFrom: {prometheus: }}",
                     Predictive(lead_time=60.0, history=691200.0, history_from=HistoryFromPrometheus()),
                     id="history-from-the-default-prometheus"),
        pytest.param("{leadTime: 60s, historyFrom: {prometheus: {url: 'https://mon:9090', "
                     "labels: {namespace: scalerd, job: scalerd, _x: ''}}}}",
                     Predictive(lead_time=60.0, history=691200.0, history_from=HistoryFromPrometheus(
                         url="https://mon:9090", labels=(("_x", ""), ("job", "scalerd"), ("namespace", "scalerd")))),
                     id="history-from-a-url-and-labels-sorted"),
        pytest.param("{leadTime: 60s, historyFrom: null}", Predictive(lead_time=60.0, history=691200.0),
                     id="null-history-from-is-absent"),
    ],
)
def test_predictive(predictive, expected) -> None:
    config = load_config_text(
        "apiVersion: scalerd/v1\ntargets: [{name: a, deployment: a, maxReplicas: 3, metrics: [{type: cpu, "
        f"targetUtilization: 50}}], predictive: {predictive}}}]\n"
    )
    assert config.targets[0].predictive == expected


def test_seed_policy_maps_onto_a_target_with_the_contract_defaults() -> None:
    config = load_config_file(REPO / "config" / "seed-policy.yaml")
    assert config == Config(
        defaults=Defaults(),
        targets=(
            Target(
                name="orders-consumer", namespace="default", deployment="orders-consumer",
                min_replicas=1, max_replicas=10, timezone="UTC",
                metrics=(
                    KafkaMetric(name="kafka", group="orders", topics=("orders",), lag_per_replica=1000.0),
                    CpuMetric(name="cpu", target_utilization=70.0),
                ),
                schedule=(DailyEntry(minute_of_day=1320, replicas=2), DailyEntry(minute_of_day=540, replicas=10)),
                behavior=Behavior(),
                fallback=None,
                paused=False,
            ),
        ),
    )


SEED_WITHOUT_METADATA = """\
apiVersion: autoscale.example.com/v1
kind: AutoScalerPolicy
spec:
  deploymentName: billing
  metrics: [{type: CPU, threshold: 55.5}]
"""


@pytest.mark.parametrize(
    ("text", "name", "namespace", "min_replicas", "max_replicas"),
    [
        pytest.param(SEED_WITHOUT_METADATA, "billing", "default", 1, 10, id="name-from-deployment-max-10"),
        pytest.param(
            SEED_WITHOUT_METADATA.replace("spec:", "metadata: {name: bill, namespace: shop}\nspec:"),
            "bill", "shop", 1, 10, id="name-and-namespace-from-metadata",
        ),
        pytest.param(
            SEED_WITHOUT_METADATA + "  schedule: [{time: '22:00', replicas: 2}, {time: '09:00', replicas: 7}]\n",
            "billing", "default", 1, 7, id="max-is-largest-scheduled",
        ),
        pytest.param(
            SEED_WITHOUT_METADATA + "  minReplicas: 0\n  maxReplicas: 30\n"
            "  schedule: [{time: '22:00', replicas: 2}]\n",
            "billing", "default", 0, 30, id="explicit-bounds",
        ),
        pytest.param(
            SEED_WITHOUT_METADATA + "  minReplicas: 4\n  schedule: [{time: '22:00', replicas: 2}]\n",
            "billing", "default", 4, 4, id="default-max-never-below-min",
        ),
    ],
)
def test_seed_names_and_bounds(text: str, name: str, namespace: str, min_replicas: int, max_replicas: int) -> None:
    target = only_target(text)
    assert (target.name, target.namespace, target.deployment) == (name, namespace, "billing")
    assert (target.min_replicas, target.max_replicas) == (min_replicas, max_replicas)
    assert target.metrics == (CpuMetric(name="cpu", target_utilization=55.5),)


def test_seed_documents_join_the_scalerd_targets_and_take_its_defaults() -> None:
    config = load_config_text(
        SEED_WITHOUT_METADATA
        + "---\n"
        + "apiVersion: scalerd/v1\n"
        "defaults: {timezone: Asia/Tokyo, interval: 30s}\n"
        "targets:\n"
        "  - {name: orders, deployment: orders, maxReplicas: 5, schedule: [{time: '08:00', replicas: 3}]}\n"
    )
    assert [(t.name, t.timezone) for t in config.targets] == [("billing", "Asia/Tokyo"), ("orders", "Asia/Tokyo")]
    assert config.defaults.interval == 30.0


@pytest.mark.parametrize(
    ("behavior", "expected"),
    [
        pytest.param(
            "{scaleUp: {stabilizationWindow: 1m}}",
            Behavior(scale_up=ScalingRules(60.0, SelectPolicy.MAX, HPA_SCALE_UP.policies), scale_down=HPA_SCALE_DOWN),
            id="window-only-keeps-default-policies",
        ),
        pytest.param(
            "{scaleDown: {policies: [{type: Pods, value: 1, period: 1m}]}}",
            Behavior(
                scale_up=HPA_SCALE_UP,
                scale_down=ScalingRules(300.0, SelectPolicy.MAX, (ScalingPolicy(PolicyType.PODS, 1, 60.0),)),
            ),
            id="policies-replace-the-default-list",
        ),
        pytest.param(
            "{cooldown: 0s, tolerance: 0, scaleDown: {selectPolicy: Disabled}}",
            Behavior(
                cooldown=0.0, tolerance=0.0, scale_up=HPA_SCALE_UP,
                scale_down=ScalingRules(300.0, SelectPolicy.DISABLED, HPA_SCALE_DOWN.policies),
            ),
            id="cooldown-off-and-scale-down-disabled",
        ),
        pytest.param(
            "{cooldown: 1h30m, tolerance: 0.05, scaleUp: {stabilizationWindow: 3600, selectPolicy: Min, "
            "policies: [{type: Percent, value: 50, period: 30m}, {type: Pods, value: 2, period: 1s}]}}",
            Behavior(
                cooldown=5400.0, tolerance=0.05,
                scale_up=ScalingRules(
                    3600.0, SelectPolicy.MIN,
                    (ScalingPolicy(PolicyType.PERCENT, 50, 1800.0), ScalingPolicy(PolicyType.PODS, 2, 1.0)),
                ),
                scale_down=HPA_SCALE_DOWN,
            ),
            id="bounds-inclusive",
        ),
        pytest.param("{}", Behavior(), id="empty-block"),
    ],
)
def test_behavior_overrides_merge_field_by_field(behavior: str, expected: Behavior) -> None:
    target = only_target(
        "apiVersion: scalerd/v1\ntargets:\n"
        "  - {name: a, deployment: a, maxReplicas: 4, schedule: [{time: '01:00', replicas: 1}],\n"
        f"     behavior: {behavior}}}\n"
    )
    assert target.behavior == expected


def test_every_optional_field_is_read() -> None:
    config = load_config_text(
        """\
apiVersion: scalerd/v1
defaults:
  interval: 500ms
  timezone: America/New_York
  prometheus: {url: 'https://prom.example:9091/', timeout: 2s, caFile: /ca.pem, insecureSkipVerify: true,
               username: scalerd, passwordFile: /secrets/password, maxConcurrency: 2}
  kafka: {bootstrapServers: 'k1:9092,k2:9092', timeout: 3, config: {security.protocol: SASL_SSL,
          enable.ssl.certificate.verification: false, session.timeout.ms: 6000}}
targets:
  - name: api
    namespace: shop
    deployment: api.v2
    minReplicas: 0
    maxReplicas: 8
    paused: true
    timezone: Europe/Berlin
    metrics:
      - {type: prometheus, name: "api:p95", query: 'histogram_quantile(0.95, x)', targetValue: 1e3, onMissing: hold,
         url: 'http://other:9090'}
      - {type: kafka, name: backlog, group: g, topics: [a, b], lagPerReplica: 250, offsetResetPolicy: earliest,
         allowIdleConsumers: true, bootstrapServers: 'k3:9092'}
    schedule:
      - {time: 22:00, replicas: 0}
      - {time: '7:05', replicas: 3}
      - {cron: '*/15 9-17 * * MON-FRI', duration: 5m, replicas: 4}
    fallback: {replicas: 2}
"""
    )
    assert config.defaults == Defaults(
        interval=0.5,
        timezone="America/New_York",
        prometheus=PrometheusSettings(
            url="https://prom.example:9091/", timeout=2.0, bearer_token_file=None, ca_file="/ca.pem",
            insecure_skip_verify=True, username="scalerd", password_file="/secrets/password", max_concurrency=2,
        ),
        kafka=KafkaSettings(
            bootstrap_servers="k1:9092,k2:9092",
            config={
                "security.protocol": "SASL_SSL", "enable.ssl.certificate.verification": "false",
                "session.timeout.ms": "6000",
            },
            timeout=3.0,
        ),
    )
    assert config.targets == (
        Target(
            name="api", namespace="shop", deployment="api.v2", min_replicas=0, max_replicas=8,
            timezone="Europe/Berlin", paused=True,
            metrics=(
                PrometheusMetric(
                    name="api:p95", query="histogram_quantile(0.95, x)", target_per_replica=None, target_value=1000.0,
                    on_missing=OnMissing.HOLD, url="http://other:9090",
                ),
                KafkaMetric(
                    name="backlog", group="g", topics=("a", "b"), lag_per_replica=250.0,
                    offset_reset_policy=OffsetResetPolicy.EARLIEST, allow_idle_consumers=True,
                    bootstrap_servers="k3:9092",
                ),
            ),
            schedule=(
                DailyEntry(minute_of_day=1320, replicas=0),
                DailyEntry(minute_of_day=425, replicas=3),
                CronWindow(cron="*/15 9-17 * * MON-FRI", duration=300.0, replicas=4),
            ),
            behavior=Behavior(),
            fallback=Fallback(failure_threshold=3, replicas=2),
        ),
    )


def test_target_timezone_defaults_to_the_defaults_block() -> None:
    target = only_target(
        "apiVersion: scalerd/v1\ndefaults: {timezone: Australia/Sydney}\n"
        "targets: [{name: a, deployment: a, maxReplicas: 1, schedule: [{time: '00:00', replicas: 1}]}]\n"
    )
    assert target.timezone == "Australia/Sydney"


def test_a_fallback_count_beyond_the_bounds_is_valid_like_a_schedule_count() -> None:
    """The contract bounds replica counts only by >= 0; the engine clips a fallback like any proposal."""
    target = only_target(
        "apiVersion: scalerd/v1\n"
        "targets: [{name: a, deployment: a, minReplicas: 2, maxReplicas: 3, fallback: {replicas: 5},\n"
        "           metrics: [{type: cpu, targetUtilization: 50}], schedule: [{time: '09:00', replicas: 1}]}]\n"
    )
    assert (target.fallback, target.schedule) == (Fallback(failure_threshold=3, replicas=5), (DailyEntry(540, 1),))


def test_empty_blocks_and_trailing_documents_are_allowed() -> None:
    config = load_config_text(
        "---\napiVersion: scalerd/v1\ndefaults:\n"
        "targets: [{name: a, deployment: a, maxReplicas: 1, behavior: ,\n"
        "           metrics: [{type: cpu, targetUtilization: 1}]}]\n"
        "---\n"
    )
    assert config.defaults == Defaults()
    assert config.targets[0].behavior == Behavior()


def test_a_thousand_targets_load() -> None:
    targets = "".join(
        f"  - {{name: t{i}, deployment: t{i}, maxReplicas: 5, metrics: [{{type: cpu, targetUtilization: 70}}], "
        f"schedule: [{{cron: '0 12 * * 1-5', duration: 1h, replicas: 2}}], timezone: Europe/Paris}}\n"
        for i in range(1000)
    )
    config = load_config_text("apiVersion: scalerd/v1\ntargets:\n" + targets)
    assert [t.name for t in config.targets] == [f"t{i}" for i in range(1000)]


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda path: path.name)
def test_every_example_configuration_validates(path: Path) -> None:
    assert load_config_file(path).targets


def test_config_readme_lists_every_example_file_and_no_other():
    text = (REPO / "config" / "README.md").read_text()
    table = text[text.index("| file | what it is |"):].split("\n\n", 1)[0]
    listed = {row.split("`")[1] for row in table.splitlines()[2:]}
    assert listed == {path.name for path in (REPO / "config").glob("*.yaml")}
