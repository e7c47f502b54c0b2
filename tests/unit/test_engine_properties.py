"""Invariants of decide() over random behaviors and metric sequences (hypothesis), replayed like the simulator."""
from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalerd.config.model import Behavior, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy, Target
from scalerd.engine import EngineState, decide
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.replica_math import within_tolerance

START = 1_781_000_000.0
STEP = 15.0
TARGET_PER_REPLICA = 100.0
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

policies = st.builds(
    ScalingPolicy,
    type=st.sampled_from(PolicyType),
    value=st.integers(min_value=1, max_value=200),
    period=st.sampled_from([1.0, 15.0, 30.0, 60.0, 120.0]),
)


def scaling_rules(selects):
    return st.builds(
        ScalingRules,
        stabilization_window=st.sampled_from([0.0, 30.0, 60.0, 300.0]),
        select_policy=st.sampled_from(selects),
        policies=st.lists(policies, min_size=1, max_size=3).map(tuple),
    )


def behaviors(selects=(SelectPolicy.MAX, SelectPolicy.MIN, SelectPolicy.DISABLED)):
    return st.builds(
        Behavior,
        cooldown=st.sampled_from([0.0, 15.0, 45.0, 120.0, 180.0]),
        tolerance=st.sampled_from([0.0, 0.05, 0.1, 0.3]),
        scale_up=scaling_rules(selects),
        scale_down=scaling_rules(selects),
    )


@st.composite
def targets(draw, behavior_strategy=None):
    min_replicas = draw(st.integers(min_value=0, max_value=5))
    max_replicas = draw(st.integers(min_value=max(1, min_replicas), max_value=30))
    return Target(
        name="t", namespace="default", deployment="t", min_replicas=min_replicas, max_replicas=max_replicas,
        timezone="UTC", metrics=(PrometheusMetric(name="rps", query="q", target_per_replica=TARGET_PER_REPLICA),),
        behavior=draw(behavior_strategy if behavior_strategy is not None else behaviors()),
    )


readings = st.one_of(
    st.floats(min_value=0.0, max_value=5000.0, allow_nan=False).map(lambda value: Reading("rps", value=value)),
    st.just(Reading("rps", error="timeout")),
)


def replay(target: Target, initial: int, metric_readings):
    """Run decide every STEP seconds, applying every change at once; returns [(time, before, decision)]."""
    state, current, log = EngineState(), initial, []
    for index, reading in enumerate(metric_readings):
        now = START + STEP * index
        decision, state = decide(target, current=current, readings=[reading], now=now,
                                 wall_time=datetime.fromtimestamp(now, UTC), state=state)
        log.append((now, current, decision))
        if decision.changed:
            state = state.with_change(now=now, from_replicas=current, to_replicas=decision.desired)
            current = decision.desired
    return log


@PROPERTY_SETTINGS
@given(target=targets(), initial=st.integers(min_value=0, max_value=40), sequence=st.lists(readings, max_size=60))
def test_replicas_always_within_bounds_except_a_manual_zero(target, initial, sequence):
    for _, current, decision in replay(target, initial, sequence):
        if decision.reason == "manual_zero":
            assert current == decision.desired == 0 and target.min_replicas > 0
        else:
            assert target.min_replicas <= decision.desired <= target.max_replicas


def behaviors_with_cooldown():
    """Nimble behaviors (no windows, short periods), so that only the cooldown can keep changes apart."""
    nimble = st.builds(
        ScalingRules,
        stabilization_window=st.just(0.0),
        select_policy=st.just(SelectPolicy.MAX),
        policies=st.lists(policies.filter(lambda policy: policy.period <= STEP), min_size=1, max_size=2).map(tuple),
    )
    return st.builds(Behavior, cooldown=st.sampled_from([30.0, 45.0, 120.0]), tolerance=st.just(0.1),
                     scale_up=nimble, scale_down=nimble)


@PROPERTY_SETTINGS
@given(target=st.one_of(targets(), targets(behaviors_with_cooldown())), initial=st.integers(min_value=0, max_value=40),
       sequence=st.lists(readings, max_size=60))
def test_no_two_changes_closer_than_the_cooldown(target, initial, sequence):
    change_times = [now for now, _, decision in replay(target, initial, sequence) if decision.changed]
    gaps = [later - earlier for earlier, later in pairwise(change_times)]
    assert all(gap >= target.behavior.cooldown for gap in gaps)


def allowed_by(rules: ScalingRules, start_of_period, *, up: bool) -> int:
    """The count the policies allow, given each policy's period-start count (upstream's formulas)."""
    limits = []
    for policy in rules.policies:
        start = start_of_period(policy.period)
        if policy.type is PolicyType.PODS:
            limits.append(start + policy.value if up else start - policy.value)
        else:
            limits.append(math.ceil(start * (1 + policy.value / 100)) if up else int(start * (1 - policy.value / 100)))
    pick_larger_change = rules.select_policy is SelectPolicy.MAX
    return (max if pick_larger_change == up else min)(limits)


@PROPERTY_SETTINGS
@given(target=targets(), initial=st.integers(min_value=1, max_value=30), sequence=st.lists(readings, max_size=60))
def test_no_period_window_ever_exceeds_its_policy(target, initial, sequence):
    log = replay(target, initial, sequence)
    changes = [(now, current, decision.desired) for now, current, decision in log if decision.changed]

    def replicas_at(moment: float) -> int:
        """The count after every change at or before `moment` (a change exactly one period ago is outside it)."""
        count = initial
        for when, _, after in changes:
            if when <= moment:
                count = after
        return count

    for now, before, after in changes:
        if before > target.max_replicas or before < target.min_replicas:
            continue  # the bounds correction of step 1 skips the behaviors, as the HPA's does
        behavior = target.behavior
        if after > before:
            assert behavior.scale_up.select_policy is not SelectPolicy.DISABLED
            ceiling = allowed_by(behavior.scale_up, lambda period, now=now: replicas_at(now - period), up=True)
            assert after <= max(ceiling, 1 if before == 0 else ceiling)
        else:
            assert behavior.scale_down.select_policy is not SelectPolicy.DISABLED
            floor = allowed_by(behavior.scale_down, lambda period, now=now: replicas_at(now - period), up=False)
            assert after >= floor


@PROPERTY_SETTINGS
@given(
    target=targets(behaviors(selects=(SelectPolicy.MAX, SelectPolicy.MIN))),
    initial=st.integers(min_value=1, max_value=30),
    value=st.floats(min_value=0.0, max_value=4000.0, allow_nan=False),
)
def test_a_constant_metric_converges_and_stays(target, initial, value):
    steps = 600
    log = replay(target, initial, [Reading("rps", value=value)] * steps)
    settled = [before for _, before, _ in log[-100:]]
    final = log[-1][2].desired
    assert set(settled) == {final}, "still changing after 7500 s"
    wanted = min(max(math.ceil(value / TARGET_PER_REPLICA), target.min_replicas), target.max_replicas)
    held_by_tolerance = final > 0 and within_tolerance(value / (TARGET_PER_REPLICA * final), target.behavior.tolerance)
    assert final == wanted or held_by_tolerance
