"""The wall clock jumping (NTP step, VM resume, a manual `date -s`): cooldown, stabilization windows and policy
periods run on the monotonic timeline the daemon passes as `now`; only schedules read the wall clock.

Changing the machine's clock needs root, so this is tested where the clocks meet the rules: `decide()` fed the
same monotonic timeline with a steady wall clock and with one that jumps, hours forward and back.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.config.model import Behavior, DailyEntry, PolicyType, ScalingPolicy, ScalingRules, Target
from scalerd.engine import EngineState, decide
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RPS = PrometheusMetric(name="rps", query="sum(rps)", target_per_replica=10.0)
BEHAVIOR = Behavior(
    cooldown=30.0,
    scale_up=ScalingRules(stabilization_window=0.0, policies=(ScalingPolicy(PolicyType.PODS, 2, 20.0),)),
    scale_down=ScalingRules(stabilization_window=60.0, policies=(ScalingPolicy(PolicyType.PODS, 1, 20.0),)),
)
TARGET = Target(name="api", namespace="default", deployment="api", min_replicas=1, max_replicas=20,
                timezone="UTC", metrics=(RPS,), behavior=BEHAVIOR)


def run(values: list[float], *, wall_offsets: list[float], target: Target = TARGET,
        current: int = 4) -> list[tuple[int, str]]:
    """One decision per 5 s of monotonic time; the wall clock reads START + elapsed + the step's offset."""
    state, outcomes = EngineState(), []
    for step, (value, offset) in enumerate(zip(values, wall_offsets, strict=True)):
        now = 5.0 * step
        decision, state = decide(target, current=current, readings=[Reading("rps", value=value)], now=now,
                                 wall_time=START + timedelta(seconds=now + offset), state=state)
        if decision.changed:
            state = state.with_change(now=now, from_replicas=current, to_replicas=decision.desired)
            current = decision.desired
        outcomes.append((decision.desired, decision.reason))
    return outcomes


@pytest.mark.parametrize("jump", [
    pytest.param(3600.0, id="an-hour-forward"),
    pytest.param(-3600.0, id="an-hour-back"),
    pytest.param(-86400.0 * 2, id="two-days-back"),
])
def test_a_clock_jump_neither_ends_a_cooldown_nor_a_stabilization_window_early(jump):
    # Up to 6 (the policy's 2 Pods per 20 s), held by the policy, then by the 60 s stabilization window, down
    # by 1 after it, then held by the policy and by the 30 s cooldown: every time rule, over 100 s.
    values = [100.0] * 3 + [20.0] * 17
    steady = run(values, wall_offsets=[0.0] * len(values))
    jumped = run(values, wall_offsets=[(jump if step % 3 else -jump) * (step % 2) for step in range(len(values))])

    assert jumped == steady
    assert steady == [(6, "scale_up"), (6, "rate_limited"), (6, "rate_limited")] + [(6, "stabilized")] * 11 + [
        (5, "scale_down"), (5, "rate_limited"), (5, "rate_limited"), (5, "rate_limited"), (5, "cooldown"),
        (5, "cooldown")]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 15.0, 40.0, 90.0, 200.0]), min_size=1, max_size=30),
    jumps=st.lists(st.floats(-7 * 86400, 7 * 86400, allow_nan=False), min_size=30, max_size=30),
)
def test_without_a_schedule_decisions_do_not_depend_on_the_wall_clock_at_all(values, jumps):
    offsets = jumps[:len(values)]

    assert run(values, wall_offsets=offsets) == run(values, wall_offsets=[0.0] * len(values))


def test_a_schedule_follows_the_wall_clock_by_design():
    scheduled = Target(name="api", namespace="default", deployment="api", min_replicas=1, max_replicas=20,
                       timezone="UTC", metrics=(RPS,), behavior=Behavior(cooldown=0.0),
                       schedule=(DailyEntry(minute_of_day=9 * 60, replicas=8),
                                 DailyEntry(minute_of_day=18 * 60, replicas=2)))
    at_noon = run([0.0], wall_offsets=[0.0], target=scheduled, current=2)
    jumped_to_evening = run([0.0], wall_offsets=[7 * 3600.0], target=scheduled, current=2)

    # Noon: 09:00's 8 replicas, as far as the default scale-up policy allows from 2; 19:00: 18:00's 2.
    assert at_noon == [(6, "scale_up")]
    assert jumped_to_evening == [(2, "no_change")]
