"""`scalerd simulate --from-prometheus`: a target replayed over its metrics' real history, next to what really ran.

Each metric's history is its own query over the range: a prometheus metric's `query` (at its `url`, else
defaults.prometheus.url), any other metric's from `--metric-query NAME=QUERY` (kafka: the total lag, e.g. from
kafka-exporter; cpu: the demand in percent of one replica's request, as in a trace; http: the value). The series
are merged on their timestamps as a trace is read: a step reads each metric's latest sample at or before it, and
the replay starts where every series (and what ran, when asked) has its first sample.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scalerd.config.model import Defaults, Target
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.prometheus_history import load_range
from scalerd.simulate import SLACK_SECONDS, Summary, TraceRow
from scalerd.sources.http_client import Credentials, HttpClient

Samples = list[tuple[float, float]]


@dataclass(frozen=True)
class HistoryQuery:
    metric: str
    url: str
    query: str


def history_queries(target: Target, *, defaults: Defaults, overrides: Mapping[str, str]) -> list[HistoryQuery]:
    """One query per metric of the target, in its order; LookupError naming what is missing or unknown."""
    names = [metric.name for metric in target.metrics]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise LookupError(f"--metric-query: target {target.name} has no metric {', '.join(unknown)} "
                          f"(its metrics: {', '.join(names) or 'none'})")
    queries = []
    for metric in target.metrics:
        if metric.name in overrides:
            queries.append(HistoryQuery(metric.name, defaults.prometheus.url, overrides[metric.name]))
        elif isinstance(metric, PrometheusMetric):
            queries.append(HistoryQuery(metric.name, metric.url or defaults.prometheus.url, metric.query))
        else:
            raise LookupError(f"metric {metric.name} ({metric.type}) has no Prometheus query: give its history with "
                              f"--metric-query {metric.name}=QUERY")
    return queries


def load_histories(queries: Sequence[HistoryQuery], *, defaults: Defaults, start: float, end: float, step: float,
                   extra: Sequence[str] = ()) -> list[Samples]:
    """Each query's samples, then each of `extra` (queries at defaults.prometheus.url), through one session."""
    settings = defaults.prometheus
    credentials = Credentials(bearer_token_file=settings.bearer_token_file, ca_file=settings.ca_file,
                              insecure_skip_verify=settings.insecure_skip_verify, username=settings.username,
                              password_file=settings.password_file)
    client = HttpClient(credentials, pool_size=1)
    try:
        wanted = [(query.url, query.query) for query in queries] + [(settings.url, query) for query in extra]
        return [load_range(url=url, query=query, start=start, end=end, step=step, timeout=settings.timeout,
                           client=client) for url, query in wanted]
    finally:
        client.close()


def merge(histories: Sequence[Samples], *, names: Sequence[str], not_before: float | None = None,
          ) -> tuple[list[TraceRow], dict[str, int]]:
    """Trace rows from one history per metric, and per metric the timestamps it had no sample of its own at.

    A row at each timestamp of any history, from the first at which every history has a sample (and not before
    `not_before`); a metric without a sample there keeps its previous value.
    """
    empty = [name for name, history in zip(names, histories) if not history]
    if empty:
        raise LookupError(f"no samples in the range for: {', '.join(empty)}")
    start = max([history[0][0] for history in histories] + ([not_before] if not_before is not None else []))
    timestamps = sorted({timestamp for history in histories for timestamp, _ in history if timestamp >= start})
    positions = [0] * len(histories)
    latest = [0.0] * len(histories)
    gaps = dict.fromkeys(names, 0)
    rows = []
    for timestamp in timestamps:
        for index, history in enumerate(histories):
            position = positions[index]
            own = False
            while position < len(history) and history[position][0] <= timestamp + SLACK_SECONDS:
                latest[index] = history[position][1]
                own = history[position][0] >= timestamp - SLACK_SECONDS
                position += 1
            positions[index] = position
            if not own:
                gaps[names[index]] += 1
        rows.append(TraceRow(timestamp, tuple(latest)))
    return rows, gaps


def grid_rows(*, start: float, end: float) -> list[TraceRow]:
    """A target without metrics (schedule only) replays over the range all the same."""
    return [TraceRow(start, ()), TraceRow(end, ())]


def comparison(summary: Summary) -> str:
    """The one line that says what scalerd would have changed against what ran."""
    saved_hours = (summary.actual_replica_seconds - summary.replica_seconds) / 3600
    fewer_minutes = (summary.actual_underprovisioned_seconds - summary.underprovisioned_seconds) / 60
    return (f"scalerd would have used {abs(saved_hours):.1f} replica-hours {'fewer' if saved_hours >= 0 else 'more'} "
            f"and been under capacity {abs(fewer_minutes):.1f} minutes {'less' if fewer_minutes >= 0 else 'more'} "
            "than what ran")
