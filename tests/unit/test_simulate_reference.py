"""`scalerd simulate` step by step against a second, deliberately plain reading of the HPA's controller.

`HpaReference` is written from upstream's `reconcileAutoscaler`, `replica_calculator.go` and
`normalizeDesiredReplicasWithBehaviors` alone, with none of the engine's code: lists instead of pruned tuples,
the HPA's separate scale-up and scale-down event lists, plain loops over the trace. Hypothesis draws targets
(bounds, tolerance, cooldown, windows, policies, select policies, daily schedules) and traces; every step's
metric proposal, desired count and replicas, and the baseline's replicas, must be the same in both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.config.model import (
    Behavior,
    DailyEntry,
    Metric,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    Target,
)
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.simulate import TraceRow, baseline_of, replay

START = 1_700_000_000.0


def _within(ratio: float, tolerance: float) -> bool:
    return 1.0 - tolerance <= ratio <= 1.0 + tolerance


def _metric_replicas(metric: Metric, load: float, current: int, tolerance: float) -> int | None:
    """GetExternalPerPodMetricReplicas, GetExternalMetricReplicas, or GetResourceReplicas on `load` (None: no sample)."""
    if isinstance(metric, CpuMetric):
        if current == 0:
            return None
        ratio = math.floor(load / current) / metric.target_utilization
        return current if _within(ratio, tolerance) else math.ceil(ratio * current)
    if metric.target_per_replica is not None:
        if current > 0 and _within(load / (metric.target_per_replica * current), tolerance):
            return current
        return max(0, math.ceil(load / metric.target_per_replica))
    ratio = load / metric.target_value
    if current == 0:
        return max(0, math.ceil(ratio))
    return current if _within(ratio, tolerance) else max(0, math.ceil(ratio * current))


def _daily_replicas(schedule: tuple[DailyEntry, ...], now: float) -> int | None:
    """The latest entry at or before now's time of day (UTC), else yesterday's last one."""
    if not schedule:
        return None
    minute = int(now % 86400) // 60
    ordered = sorted(schedule, key=lambda entry: entry.minute_of_day)
    started = [entry for entry in ordered if entry.minute_of_day <= minute]
    return (started or ordered)[-1].replicas


@dataclass
class HpaReference:
    target: Target
    replicas: int
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)
    last_change: float | None = None

    def step(self, now: float, loads: tuple[float, ...]) -> tuple[int | None, int]:
        """(largest raw metric proposal, desired) for one cycle; applies the change."""
        target, current = self.target, self.replicas
        tolerance = target.behavior.tolerance
        proposals = [_metric_replicas(metric, load, current, tolerance) for metric, load in zip(target.metrics, loads)]
        raw = [_metric_replicas(metric, load, current, 0.0) for metric, load in zip(target.metrics, loads)]
        raw = [count for count in raw if count is not None]
        metric_proposal = max(raw) if raw else None
        if not self.recommendations:  # recordInitialRecommendation, before any branch
            self.recommendations.append((now, current))
        if current == 0 and target.min_replicas > 0:
            return metric_proposal, 0
        if current > target.max_replicas or current < target.min_replicas:
            bound = target.max_replicas if current > target.max_replicas else target.min_replicas
            return metric_proposal, self._apply(now, bound if self._cooled(now) else current)
        working = [count for count in proposals if count is not None]
        scheduled = _daily_replicas(target.schedule, now)
        candidates = working + ([scheduled] if scheduled is not None else [])
        if len(working) < len(proposals) and (not candidates or max(candidates) < current):
            return metric_proposal, current
        proposal = max(candidates) if candidates else target.min_replicas
        desired = self._rate_limited(now, current, self._stabilized(now, current, proposal))
        return metric_proposal, self._apply(now, desired if self._cooled(now) else current)

    def _stabilized(self, now: float, current: int, proposal: int) -> int:
        up_window = self.target.behavior.scale_up.stabilization_window
        down_window = self.target.behavior.scale_down.stabilization_window
        up = min([proposal] + [count for time, count in self.recommendations if time > now - up_window])
        down = max([proposal] + [count for time, count in self.recommendations if time > now - down_window])
        self.recommendations.append((now, proposal))
        return min(max(current, up), down)

    def _limit(self, rules: ScalingRules, now: float, current: int, *, up: bool) -> int:
        if rules.select_policy is SelectPolicy.DISABLED:
            return current
        limits = []
        for policy in rules.policies:
            added = sum(change for time, change in self.scale_up_events if time > now - policy.period)
            removed = sum(change for time, change in self.scale_down_events if time > now - policy.period)
            start = current - added + removed
            if policy.type is PolicyType.PODS:
                limits.append(start + policy.value if up else start - policy.value)
            elif up:
                limits.append(math.ceil(start * (1 + policy.value / 100)))
            else:
                limits.append(int(start * (1 - policy.value / 100)))
        most_change = max if up else min
        least_change = min if up else max
        return (least_change if rules.select_policy is SelectPolicy.MIN else most_change)(limits)

    def _rate_limited(self, now: float, current: int, stabilized: int) -> int:
        behavior, target = self.target.behavior, self.target
        if stabilized > current:
            allowed = min(target.max_replicas, max(self._limit(behavior.scale_up, now, current, up=True), current))
            if stabilized > allowed:
                scale_from_zero = allowed == 0 and behavior.scale_up.select_policy is not SelectPolicy.DISABLED
                return 1 if scale_from_zero else allowed
        elif stabilized < current:
            allowed = max(target.min_replicas, min(self._limit(behavior.scale_down, now, current, up=False), current))
            return max(stabilized, allowed)
        return stabilized

    def _cooled(self, now: float) -> bool:
        cooldown = self.target.behavior.cooldown
        return cooldown <= 0 or self.last_change is None or now - self.last_change >= cooldown

    def _apply(self, now: float, desired: int) -> int:
        change = desired - self.replicas
        if change > 0:
            self.scale_up_events.append((now, change))
        elif change < 0:
            self.scale_down_events.append((now, -change))
        if change:
            self.last_change = now
        self.replicas = desired
        return desired


def reference_replay(target: Target, *, interval: float, rows: list[TraceRow], initial: int):
    ours, baseline = HpaReference(target, initial), HpaReference(baseline_of(target), initial)
    row_index, steps = 0, []
    for index in range(int((rows[-1].timestamp - rows[0].timestamp) // interval) + 1):
        now = rows[0].timestamp + index * interval
        while row_index + 1 < len(rows) and rows[row_index + 1].timestamp <= now:
            row_index += 1
        loads = rows[row_index].values
        metric_proposal, desired = ours.step(now, loads)
        baseline.step(now, loads)
        steps.append((now, metric_proposal, desired, ours.replicas, baseline.replicas))
    return steps


_periods = st.sampled_from([1.0, 5.0, 15.0, 30.0, 60.0, 120.0])
_policies = st.lists(
    st.builds(ScalingPolicy, st.sampled_from(list(PolicyType)), st.sampled_from([1, 2, 4, 10, 50, 100, 200]), _periods),
    min_size=1, max_size=3,
).map(tuple)
_rules = st.builds(
    ScalingRules, st.sampled_from([0.0, 10.0, 30.0, 60.0, 300.0]), st.sampled_from(list(SelectPolicy)), _policies
)
_metrics = st.sampled_from([
    PrometheusMetric(name="m", query="q", target_per_replica=7.5),
    PrometheusMetric(name="m", query="q", target_per_replica=50.0),
    PrometheusMetric(name="m", query="q", target_value=3.0),
    CpuMetric(name="m", target_utilization=60.0),
])


@st.composite
def _cases(draw):
    min_replicas = draw(st.integers(0, 3))
    target = Target(
        name="t", namespace="default", deployment="t", min_replicas=min_replicas,
        max_replicas=min_replicas + draw(st.sampled_from([1, 4, 12, 30])), timezone="UTC",
        metrics=(draw(_metrics),),
        schedule=tuple(draw(st.lists(st.builds(DailyEntry, st.integers(0, 1439), st.integers(0, 12)),
                                     max_size=2, unique_by=lambda entry: entry.minute_of_day))),
        behavior=Behavior(cooldown=draw(st.sampled_from([0.0, 15.0, 60.0, 120.0])),
                          tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
                          scale_up=draw(_rules), scale_down=draw(_rules)),
    )
    gaps = draw(st.lists(st.sampled_from([1.0, 5.0, 10.0, 20.0, 45.0, 120.0]), min_size=1, max_size=30))
    loads = draw(st.lists(st.floats(0, 600, allow_nan=False), min_size=len(gaps) + 1, max_size=len(gaps) + 1))
    times = [START + sum(gaps[:index]) for index in range(len(gaps) + 1)]
    rows = [TraceRow(time, (load,)) for time, load in zip(times, loads)]
    initial = draw(st.integers(0, 3) | st.integers(0, 40))  # below, within and above the bounds
    return target, draw(st.sampled_from([5.0, 10.0, 15.0, 30.0])), rows, initial


@settings(max_examples=80, deadline=None)
@given(_cases())
def test_every_step_matches_the_hpa_reference(case):
    target, interval, rows, initial = case
    steps = [(step.timestamp, step.metric_proposal, step.desired, step.replicas, step.baseline_replicas)
             for step in replay(target, interval=interval, rows=rows, initial_replicas=initial)]
    assert steps == reference_replay(target, interval=interval, rows=rows, initial=initial)
