"""The typed configuration: frozen dataclasses with the contract's defaults (HPA autoscaling/v2 plus cooldown).

Durations are float seconds. Every object here is immutable and already validated: the loader
(`scalerd.config.loader`) is the only place that builds them from YAML.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

API_VERSION = "scalerd/v1"
POLICY_GROUP, POLICY_VERSION, POLICY_KIND = "scalerd.io", "v1alpha1", "AutoScalerPolicy"
POLICY_API_VERSION = f"{POLICY_GROUP}/{POLICY_VERSION}"
"""An AutoScalerPolicy object: one target in the cluster (manifests/crd/)."""


class PolicyType(str, enum.Enum):
    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(str, enum.Enum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


@dataclass(frozen=True)
class ScalingPolicy:
    type: PolicyType
    """Pods: change by at most `value` pods per `period`; Percent: by at most `value` percent."""
    value: int
    """> 0."""
    period: float
    """Seconds, 1 s to 30 min: the window over which past scale events count against `value`."""


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window: float
    """Seconds, 0 to 1 h: recommendations newer than now - window are considered."""
    select_policy: SelectPolicy = SelectPolicy.MAX
    policies: tuple[ScalingPolicy, ...] = ()


def _default_scale_up() -> ScalingRules:
    return ScalingRules(
        stabilization_window=0.0,
        select_policy=SelectPolicy.MAX,
        policies=(ScalingPolicy(PolicyType.PODS, 4, 15.0), ScalingPolicy(PolicyType.PERCENT, 100, 15.0)),
    )


def _default_scale_down() -> ScalingRules:
    return ScalingRules(
        stabilization_window=300.0,
        select_policy=SelectPolicy.MAX,
        policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15.0),),
    )


@dataclass(frozen=True)
class Behavior:
    cooldown: float = 120.0
    """Seconds: minimum time between two replica changes of the target; 0 disables."""
    tolerance: float = 0.1
    """In [0, 1): no change while the usage ratio is within 1 +- tolerance."""
    scale_up: ScalingRules = field(default_factory=_default_scale_up)
    scale_down: ScalingRules = field(default_factory=_default_scale_down)


@dataclass(frozen=True)
class Fallback:
    failure_threshold: int
    """>= 1: failed cycles in a row before `replicas` joins the proposals."""
    replicas: int
    """>= 0. Like any proposal it is clipped to [minReplicas, maxReplicas]: a count outside them is valid and
    gives the nearest bound (config/README.md)."""


class Metric(Protocol):
    """One metric of a target: a frozen dataclass of its type's module (`scalerd.metric_types`)."""

    @property
    def name(self) -> str:
        """Unique within the target; defaults to the type."""

    @property
    def type(self) -> str:
        """The registered type that reads and answers it."""


@dataclass(frozen=True)
class DailyEntry:
    """Seed form: from `minute_of_day` until the next entry's time, propose `replicas`."""

    minute_of_day: int
    """0..1439, parsed from "HH:MM"."""
    replicas: int


@dataclass(frozen=True)
class CronWindow:
    """Window form: from each match of `cron`, for `duration` seconds, propose `replicas`."""

    cron: str
    duration: float
    replicas: int


ScheduleEntry = DailyEntry | CronWindow


@dataclass(frozen=True)
class HistoryFromPrometheus:
    """`predictive.historyFrom.prometheus`: a Prometheus that scrapes scalerd's /metrics. At start, the target's
    kafka, cpu and http metrics load their past from the `scalerd_metric_value` it kept (docs/predictive.md)."""

    url: str | None = None
    """None: defaults.prometheus.url. Credentials and timeout are defaults.prometheus' either way, as for a
    prometheus metric with its own `url`."""
    labels: tuple[tuple[str, str], ...] = ()
    """Extra exact-match label matchers, sorted by name (e.g. job: the scrape job of this scalerd)."""


@dataclass(frozen=True)
class Predictive:
    """`predictive`: proposals from a forecast of each metric over the next `lead_time` (see docs/predictive.md)."""

    lead_time: float
    """Seconds, 0 to 30 min: how long a new replica takes to serve; the forecast looks this far ahead."""
    history: float = 8 * 86400.0
    """Seconds, 1 h to 35 d: how far back the forecast may look."""
    history_from: HistoryFromPrometheus | None = None
    """None: the metrics other than prometheus start from their own samples."""


@dataclass(frozen=True)
class Target:
    name: str
    """Unique, a DNS-1123 label."""
    namespace: str
    deployment: str
    min_replicas: int
    max_replicas: int
    timezone: str
    """IANA name; schedules are read in it."""
    metrics: tuple[Metric, ...] = ()
    schedule: tuple[ScheduleEntry, ...] = ()
    behavior: Behavior = field(default_factory=Behavior)
    fallback: Fallback | None = None
    paused: bool = False
    predictive: Predictive | None = None
    """None: the HPA's reactive math, unchanged."""


@dataclass(frozen=True)
class PrometheusSettings:
    url: str = "http://127.0.0.1:9090"
    timeout: float = 5.0
    bearer_token_file: str | None = None
    """Read at each request when it changed; its content is never logged."""
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    username: str | None = None
    """Optional basic auth, with the password read from `password_file`."""
    password_file: str | None = None
    max_concurrency: int = 8
    """How many queries run at once in one cycle."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    config: Mapping[str, str] = field(default_factory=dict)
    """Extra librdkafka settings (SASL/TLS); values are never logged."""
    timeout: float = 10.0
    """Seconds: a broker that is down gives an error within this time."""


@dataclass(frozen=True)
class Defaults:
    interval: float = 15.0
    timezone: str = "UTC"
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)


@dataclass(frozen=True)
class Config:
    defaults: Defaults
    targets: tuple[Target, ...]

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)
