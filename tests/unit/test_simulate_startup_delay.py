"""`scalerd simulate --startup-delay`: replicas serve a delay after they are added, removals take starting ones first.

Expected numbers are worked out by hand from the load step of test_simulate.py (see each case).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.simulate import Summary, replay
from tests.unit.test_simulate import STEP_EXPECTED, STEP_TRACE, columns, rps_target, trace_rows


def test_a_delay_leaves_the_decisions_alone_and_counts_under_provisioning_against_the_serving_replicas():
    summary = Summary(interval=5.0, startup_delay_seconds=10.0)
    steps = []
    for step in replay(rps_target(), interval=5.0, rows=STEP_TRACE, startup_delay=10.0):
        summary.add(step)
        steps.append(step)

    # The engine decides on the load, not on the serving replicas: the same counts as without a delay.
    assert columns(steps, "timestamp", "metric_proposal", "desired", "replicas") == STEP_EXPECTED
    # +4 at t=5 serve from 15, +5 at 20 from 30, +10 at 35 from 45; -19 at 50 at once.
    assert [step.ready for step in steps] == [1, 1, 1, 5, 5, 5, 10, 10, 10, 20, 1, 1, 1]
    # Proposal 20 (19 from t=40) above the serving replicas at t=5..40: 8 steps of 5 s, 10 more than without.
    assert summary.underprovisioned_seconds == 40
    # The baseline scales up the same way (its 5-minute window only holds scale-downs), with the same delay.
    assert [step.baseline_ready for step in steps] == [1, 1, 1, 5, 5, 5, 10, 10, 10, 20, 20, 20, 20]
    assert summary.baseline_underprovisioned_seconds == 40
    assert summary.as_dict()["startup_delay_seconds"] == 10


@pytest.mark.parametrize(
    ("delay", "expected_ready", "expected_underprovisioned"),
    [
        # From 3 serving: t=5 load 200 -> +4 (7, the Pods 4 limit), t=10 load 40 -> 4: the 3 removed are
        # taken from the 4 still starting, so the 3 serving stay and the last starting one serves at 5 + delay.
        pytest.param(30.0, [3, 3, 3, 3, 3, 3, 3, 4, 4], 6 * 5, id="removal-takes-starting-replicas-first"),
        # Without a delay the +4 serve at once (t=5 is still short of 20) and the removal takes serving ones.
        pytest.param(0.0, [3, 7, 4, 4, 4, 4, 4, 4, 4], 5, id="no-delay-every-replica-serves-at-once"),
        # A delay shorter than a step: the +4 added at t=5 serve from t=8, i.e. at the step t=10.
        pytest.param(3.0, [3, 3, 4, 4, 4, 4, 4, 4, 4], 5, id="delay-shorter-than-a-step"),
    ],
)
def test_serving_replicas_after_an_up_and_down(delay, expected_ready, expected_underprovisioned):
    rows = trace_rows((0, 30), (5, 200), (10, 40), (40, 40))

    summary = Summary(interval=5.0, startup_delay_seconds=delay)
    steps = []
    for step in replay(rps_target(), interval=5.0, rows=rows, initial_replicas=3, startup_delay=delay):
        summary.add(step)
        steps.append(step)

    assert [step.replicas for step in steps] == [3, 7, 4, 4, 4, 4, 4, 4, 4]
    assert [step.ready for step in steps] == expected_ready
    assert summary.underprovisioned_seconds == expected_underprovisioned


@settings(max_examples=40, deadline=None)
@given(
    loads=st.lists(st.floats(min_value=0, max_value=400, allow_nan=False), min_size=1, max_size=40),
    delay=st.sampled_from([0.0, 5.0, 12.0, 60.0]),
    cooldown=st.sampled_from([0.0, 20.0]),
)
def test_a_delay_never_changes_the_counts_and_zero_delay_is_the_old_replay(loads, delay, cooldown):
    target = rps_target(cooldown=cooldown)
    rows = trace_rows(*[(index * 5.0, load) for index, load in enumerate(loads)])

    without = list(replay(target, interval=5.0, rows=rows))
    delayed = list(replay(target, interval=5.0, rows=rows, startup_delay=delay))

    assert [step[:10] for step in delayed] == [step[:10] for step in without]
    assert all(step.ready == step.replicas and step.baseline_ready == step.baseline_replicas for step in without)
    for step in delayed:
        assert 0 <= step.ready <= step.replicas and 0 <= step.baseline_ready <= step.baseline_replicas
    # Removals take the newest replicas first, so the serving ones are those present ever since the last step
    # at least `delay` ago (or since the start, when all of the initial replicas serve).
    initial = target.min_replicas
    for index, step in enumerate(delayed):
        since = [earlier.replicas for earlier in delayed[: index + 1] if earlier.timestamp > step.timestamp - delay]
        older = [earlier.replicas for earlier in delayed[: index + 1] if earlier.timestamp <= step.timestamp - delay]
        assert step.ready == min([older[-1] if older else initial, *since])
