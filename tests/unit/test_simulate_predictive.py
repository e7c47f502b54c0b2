"""`scalerd simulate` with a `predictive` target: causal, deterministic, within the HPA's limits, and ahead of the load."""
from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.config.model import Behavior, Predictive
from scalerd.engine import ROUNDING_SLACK
from scalerd.simulate import Summary, replay
from tests.unit.test_simulate import rps_target, trace_rows

STEP = 15.0
HOUR_PREDICTIVE = Predictive(lead_time=60.0, history=3600.0)


def predictive_target(**overrides):
    return replace(rps_target(**overrides), predictive=HOUR_PREDICTIVE)


loads = st.lists(st.floats(min_value=0, max_value=300, allow_nan=False), min_size=260, max_size=330)


@settings(max_examples=12, deadline=None)
@given(values=loads, cut=st.integers(min_value=1, max_value=259), cooldown=st.sampled_from([0.0, 45.0]))
def test_causal_deterministic_and_within_the_hpa_limits(values, cut, cooldown):
    target = predictive_target(cooldown=cooldown)
    rows = trace_rows(*[(index * STEP, value) for index, value in enumerate(values)])

    whole = list(replay(target, interval=STEP, rows=rows, startup_delay=60.0))
    again = list(replay(target, interval=STEP, rows=rows, startup_delay=60.0))
    prefix = list(replay(target, interval=STEP, rows=rows[:cut], startup_delay=60.0))

    assert again == whole, "deterministic"
    assert prefix == whole[:cut], "a step's decision depends on the trace up to that step only"
    assert any(step.forecast_proposal is not None for step in whole), "an hour of history is enough to forecast"
    previous = target.min_replicas
    for step in whole:
        assert target.min_replicas <= step.replicas <= target.max_replicas
        if step.replicas < previous:
            assert step.replicas >= min(max(step.metric_proposal, target.min_replicas), target.max_replicas), (
                "never below the live proposal"
            )
        if step.replicas > previous:
            assert step.replicas - previous <= max(4, previous), "scale-up policies Pods 4 / Percent 100 per 15 s"
        previous = step.replicas
    change_times = [step.timestamp for step in whole if step.scaled]
    assert all(later - earlier >= cooldown for earlier, later in itertools.pairwise(change_times))


def test_before_an_hour_of_history_a_predictive_target_replays_exactly_as_the_reactive_one():
    values = [100 + 80 * math.sin(index / 7) for index in range(239)]
    rows = trace_rows(*[(index * STEP, value) for index, value in enumerate(values)])

    predictive = list(replay(predictive_target(), interval=STEP, rows=rows, startup_delay=60.0))
    reactive = list(replay(rps_target(), interval=STEP, rows=rows, startup_delay=60.0))

    assert predictive == reactive
    assert all(step.forecast_proposal is None for step in predictive)


@pytest.mark.parametrize(
    ("rounding_slack", "expected_under_steps"),
    [
        pytest.param(0.0, 9, id="no-rounding-slack"),
        pytest.param(ROUNDING_SLACK, 24, id="the-default-rounding-slack-one-step-per-replica-more"),
    ],
)
def test_a_predictable_ramp_is_served_on_time_where_the_hpa_is_late(rounding_slack, expected_under_steps):
    # Two hours flat at 50 (5 replicas), then a steady ramp of 2 requests/s every 15 s for 20 minutes.
    values = [50.0] * 480 + [50.0 + 2 * index for index in range(1, 81)] + [210.0] * 40
    rows = trace_rows(*[(index * STEP, value) for index, value in enumerate(values)])
    target = replace(rps_target(max_replicas=30), behavior=Behavior(cooldown=0.0), predictive=Predictive(lead_time=60.0))

    summary = Summary(interval=STEP, startup_delay_seconds=60.0)
    for step in replay(target, interval=STEP, rows=rows, startup_delay=60.0, initial_replicas=5,
                       rounding_slack=rounding_slack):
        summary.add(step)

    # The HPA (the baseline) reacts once a step's load is above its tolerance and serves 60 s later: behind all
    # along the ramp (119 steps). The forecast's damped trend is chosen within the ramp's first minute and
    # covers the rest: only the first 9 steps are short of a replica. With the rounding slack (0.25), the bound
    # (which trails the ramp a little) asks for the lower count while it is within a quarter of a replica above
    # it, so the load passes each whole count (every 5 steps) one step before its replica serves: 15 steps more.
    assert summary.baseline_underprovisioned_seconds == 119 * STEP
    assert summary.underprovisioned_seconds == expected_under_steps * STEP
