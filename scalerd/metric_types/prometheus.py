"""prometheus: one instant query's single sample, AverageValue (`targetPerReplica`) or Value (`targetValue`)."""
from __future__ import annotations

from dataclasses import dataclass

from scalerd.config.checks import Section, url_problem
from scalerd.metric_types.base import (
    MetricType,
    OnMissing,
    Source,
    SourceContext,
    average_or_value_outcome,
    check_one_target,
    metric_name,
)


@dataclass(frozen=True)
class PrometheusMetric:
    name: str
    query: str
    target_per_replica: float | None = None
    """AverageValue: proposal = ceil(value / target_per_replica). Exactly one of the two targets is set."""
    target_value: float | None = None
    """Value: proposal = ceil(current * value / target_value)."""
    on_missing: OnMissing = OnMissing.FAIL
    url: str | None = None
    """Overrides defaults.prometheus.url for this metric."""
    type: str = "prometheus"


FIELDS = ("type", "name", "query", "targetPerReplica", "targetValue", "onMissing", "url")


def read(section: Section) -> PrometheusMetric:
    check_one_target(section)
    return PrometheusMetric(
        name=metric_name(section, "prometheus"),
        query=section.string("query"),
        target_per_replica=section.positive_number("targetPerReplica", default=None),
        target_value=section.positive_number("targetValue", default=None),
        on_missing=section.choice("onMissing", OnMissing, default=OnMissing.FAIL),
        url=section.checked_string("url", check=url_problem, default=None, nullable=True),
    )


def source(context: SourceContext) -> Source:
    from scalerd.sources.prometheus import PrometheusSource  # the HTTP client loads only where metrics are read

    return PrometheusSource(context.defaults.prometheus, clock=context.clock)


PROMETHEUS = MetricType(name="prometheus", fields=FIELDS, read=read, outcome=average_or_value_outcome,
                        source=source)
