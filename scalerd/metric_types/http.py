"""http: a number read from a JSON answer by a dotted path (KEDA's metrics-api), AverageValue or Value."""
from __future__ import annotations

from dataclasses import dataclass

from scalerd.config.checks import Section, url_problem
from scalerd.config.describe import describe
from scalerd.metric_types.base import (
    MetricType,
    OnMissing,
    Source,
    SourceContext,
    average_or_value_outcome,
    check_one_target,
    metric_name,
)

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class HttpMetric:
    name: str
    url: str
    """GET; the answer is JSON."""
    value_location: tuple[str, ...]
    """The dotted path split at its dots: keys of objects, or indexes (digits) of lists."""
    target_per_replica: float | None = None
    """AverageValue: proposal = ceil(value / target_per_replica). Exactly one of the two targets is set."""
    target_value: float | None = None
    """Value: proposal = ceil(current * value / target_value)."""
    on_missing: OnMissing = OnMissing.FAIL
    """A missing key or index, null, or a value that is not a finite number."""
    timeout: float = DEFAULT_TIMEOUT
    bearer_token_file: str | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    type: str = "http"

    @property
    def path(self) -> str:
        return ".".join(self.value_location)


FIELDS = (
    "type", "name", "url", "valueLocation", "targetPerReplica", "targetValue", "onMissing", "timeout",
    "bearerTokenFile", "caFile", "insecureSkipVerify",
)


def read(section: Section) -> HttpMetric:
    check_one_target(section)
    name = metric_name(section, "http")
    url = section.checked_string("url", check=url_problem)
    location = section.checked_string("valueLocation", check=_location_problem)
    return HttpMetric(
        name=name,
        url=url,
        value_location=tuple(location.split(".")) if location is not None else None,
        target_per_replica=section.positive_number("targetPerReplica", default=None),
        target_value=section.positive_number("targetValue", default=None),
        on_missing=section.choice("onMissing", OnMissing, default=OnMissing.FAIL),
        timeout=section.duration("timeout", default=DEFAULT_TIMEOUT, exclusive_minimum=True),
        bearer_token_file=section.string("bearerTokenFile", default=None, nullable=True),
        ca_file=section.string("caFile", default=None, nullable=True),
        insecure_skip_verify=section.boolean("insecureSkipVerify", default=False),
    )


def _location_problem(location: str) -> str | None:
    if any(not part.strip() for part in location.split(".")):
        return f"must be a dotted path of keys and list indexes, such as items.0.depth (got {describe(location)})"
    return None


def source(context: SourceContext) -> Source:
    from scalerd.sources.http import HttpSource  # the HTTP client loads only where metrics are read

    return HttpSource()


def secret_files(metric: HttpMetric) -> tuple[str, ...]:
    return (metric.bearer_token_file,) if metric.bearer_token_file else ()


HTTP = MetricType(
    name="http", fields=FIELDS, read=read, outcome=average_or_value_outcome, source=source, secret_files=secret_files,
)
