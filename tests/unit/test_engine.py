"""decide(): the HPA's normalization, bounds, failures, fallback, cooldown and pause, with exact numbers."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from scalerd.config.model import (
    Behavior,
    CpuMetric,
    DailyEntry,
    Fallback,
    KafkaMetric,
    PolicyType,
    PrometheusMetric,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    Target,
)
from scalerd.engine import EngineState, decide
from scalerd.readings import Reading

T0 = 1_700_000_000.0
NO_COOLDOWN = Behavior(cooldown=0.0)


def rps_target(**overrides) -> Target:
    fields = dict(
        name="api",
        namespace="default",
        deployment="api",
        min_replicas=1,
        max_replicas=20,
        timezone="UTC",
        metrics=(PrometheusMetric(name="rps", query="q", target_per_replica=100.0),),
        behavior=NO_COOLDOWN,
    )
    fields.update(overrides)
    return Target(**fields)


def run(target: Target, *, current: int, value: float | None = None, now: float = T0,
        state: EngineState = EngineState(), paused: bool = False, error: str | None = None):
    reading = Reading("rps", value=value, error=error)
    return decide(target, current=current, readings=[reading], now=now,
                  wall_time=datetime.fromtimestamp(now, timezone.utc), state=state, paused=paused)


def test_first_scale_up_is_limited_by_the_default_pods_policy():
    decision, state = run(rps_target(), current=1, value=1200)
    assert (decision.desired, decision.reason, decision.bound_by) == (5, "scale_up", "scaleUp policy Pods 4/15s")
    assert decision.metric_proposal == 12
    assert state.recommendations == ((T0, 1), (T0, 12))
