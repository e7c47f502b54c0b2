"""decide() and its HPA normalization, with exact numbers; cases named Test... come from upstream horizontal_test.go."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scalerd.config.model import (
    Behavior,
    CronWindow,
    DailyEntry,
    Fallback,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    Target,
)
from scalerd.engine import (
    EngineState,
    MetricProposal,
    decide,
    limit_by_policies,
    stabilize_recommendation,
)
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import PodCpu, Reading
from tests.builders import make_target

NOW = 1_781_000_000.0
RPS = PrometheusMetric(name="rps", query="sum(rate(x[1m]))", target_per_replica=100.0)
NO_COOLDOWN = Behavior(cooldown=0.0)
DEFAULT_UP = Behavior().scale_up
DEFAULT_DOWN = Behavior().scale_down


def rules(*, pods=None, percent=None, window=0.0, select=SelectPolicy.MAX) -> ScalingRules:
    """Like upstream's generateScalingRules: pods/percent are (value, period) or None."""
    policies = []
    if pods:
        policies.append(ScalingPolicy(PolicyType.PODS, pods[0], float(pods[1])))
    if percent:
        policies.append(ScalingPolicy(PolicyType.PERCENT, percent[0], float(percent[1])))
    return ScalingRules(stabilization_window=float(window), select_policy=select, policies=tuple(policies))


def uniform_events(changes, period, *, sign=1):
    """Like upstream's generateEventsUniformDistribution: each event in the middle of its segment of the period."""
    segment = period / len(changes)
    return tuple((NOW - (period - segment * (index + 1) + segment / 2), sign * change)
                 for index, change in enumerate(changes))


def target(*, metrics=(RPS,), **overrides) -> Target:
    return make_target("api", *metrics, **{"max_replicas": 20, "behavior": NO_COOLDOWN, **overrides})


def run(spec: Target, *, current: int, readings=None, rps=None, now: float = NOW,
        state: EngineState | None = None, paused: bool = False):
    if readings is None:
        readings = [Reading("rps", value=rps)]
    return decide(spec, current=current, readings=readings, now=now,
                  wall_time=datetime.fromtimestamp(now, UTC), state=state or EngineState(), paused=paused)


def history(*entries) -> EngineState:
    """entries: (seconds ago, recommendation)."""
    return EngineState(recommendations=tuple((NOW - age, count) for age, count in entries))


# --- stabilization windows (upstream TestNormalizeDesiredReplicasWithBehavior) -------------------------------

@pytest.mark.parametrize(
    ("recommendations", "current", "proposal", "up_window", "down_window", "expected"),
    [
        pytest.param([], 100, 5, 0, 0, (5, None), id="empty recommendations for scaling down"),
        pytest.param([(120, 4), (60, 5)], 100, 3, 0, 180, (5, "scaleDown stabilization window"),
                     id="simple scale down stabilization"),
        pytest.param([(120, 4), (60, 5)], 1, 7, 300, 0, (4, "scaleUp stabilization window"),
                     id="simple scale up stabilization"),
        pytest.param([(120, 1), (60, 2)], 100, 3, 300, 0, (3, None), id="no scale down stabilization"),
        pytest.param([(120, 4), (60, 5)], 1, 3, 0, 300, (3, None), id="no scale up stabilization"),
        pytest.param([(600, 10), (540, 9)], 100, 3, 0, 0, (3, None),
                     id="no scale down stabilization, reuse recommendation element"),
        pytest.param([(600, 10), (540, 9)], 1, 100, 0, 0, (100, None),
                     id="no scale up stabilization, reuse recommendation element"),
        pytest.param([(600, 10), (60, 4), (120, 5), (540, 9)], 100, 3, 0, 180, (5, "scaleDown stabilization window"),
                     id="scale down stabilization, reuse one of obsolete recommendation element"),
        pytest.param([(6000, 10), (60, 6), (120, 5), (180, 9)], 1, 100, 300, 0, (5, "scaleUp stabilization window"),
                     id="scale up stabilization, reuse one of obsolete recommendation element"),
        pytest.param([(300, 9)], 10, 3, 0, 300, (3, None), id="recommendation-exactly-window-old-is-out"),
        pytest.param([(299.5, 9)], 10, 3, 0, 300, (9, "scaleDown stabilization window"),
                     id="recommendation-just-inside-window-counts"),
        pytest.param([(60, 2)], 8, 5, 300, 300, (5, None), id="down-window-max-below-proposal"),
        pytest.param([(60, 12), (30, 2)], 5, 8, 300, 300, (5, "scaleUp stabilization window"),
                     id="both-windows-current-between-floor-and-ceiling-stays"),
    ],
)
def test_stabilize_recommendation(recommendations, current, proposal, up_window, down_window, expected):
    behavior = Behavior(scale_up=rules(window=up_window), scale_down=rules(window=down_window))
    # Upstream reuses slots, so its log is not in time order; ours is appended in time order, which the helper relies on.
    recorded = sorted((NOW - age, count) for age, count in recommendations)
    assert stabilize_recommendation(behavior, current=current, proposal=proposal, now=NOW,
                                    recommendations=recorded) == expected


# --- rate limits and bounds (upstream TestScalingWithRules, TestCalculateScale*Limit*) --------------------------

UP_1_5_9 = uniform_events([1, 5, 9], 120)
DOWN_1_5_9 = uniform_events([1, 5, 9], 120, sign=-1)


@pytest.mark.parametrize(
    ("bounds", "up", "down", "events", "current", "stabilized", "expected"),
    [
        pytest.param((3, 8), DEFAULT_UP, DEFAULT_DOWN, (), 5, 7, (7, None),
                     id="prenormalized desired replicas within range"),
        pytest.param((2, 8), DEFAULT_UP, DEFAULT_DOWN, (), 3, 1, (2, "minReplicas"),
                     id="prenormalized desired replicas < minReplicas"),
        pytest.param((0, 10), DEFAULT_UP, DEFAULT_DOWN, (), 1, 0, (0, None),
                     id="prenormalized desired replicas within range when minReplicas is 0"),
        pytest.param((1, 10), DEFAULT_UP, DEFAULT_DOWN, (), 20, 1000, (10, "maxReplicas"),
                     id="maxReplicas is the limit because maxReplicas < scaleUpLimit"),
        pytest.param((100, 150), DEFAULT_UP, DEFAULT_DOWN, (), 100, 1000, (150, "maxReplicas"),
                     id="desired replica count is more than the maximum replica count"),
        pytest.param((1, 2000), rules(percent=(1, 60)), DEFAULT_DOWN, (), 3, 1000,
                     (4, "scaleUp policy Percent 1/60s"),
                     id="scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies"),
        pytest.param((3, 2000), DEFAULT_UP, rules(pods=(20, 60)), (), 1000, 3, (980, "scaleDown policy Pods 20/60s"),
                     id="scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies"),
        pytest.param((1, 1000), DEFAULT_UP, DEFAULT_DOWN, (), 10, 50, (20, "scaleUp policy Percent 100/15s"),
                     id="scaleUp with default behavior"),
        pytest.param((1, 1000), rules(pods=(100, 60), percent=(100, 60)), DEFAULT_DOWN, (), 10, 500,
                     (110, "scaleUp policy Pods 100/60s"), id="scaleUp with pods policy larger than percent policy"),
        pytest.param((1, 1000), rules(pods=(2, 60), percent=(100, 60)), DEFAULT_DOWN, (), 10, 500,
                     (20, "scaleUp policy Percent 100/60s"), id="scaleUp with percent policy larger than pods policy"),
        pytest.param((1, 1000), rules(pods=(100, 60)), DEFAULT_DOWN, (), 10, 50, (50, None),
                     id="scaleUp with spec MaxReplicas limitation with large pod policy"),
        pytest.param((1, 1000), rules(pods=(10000, 60)), DEFAULT_DOWN, (), 10, 50, (50, None),
                     id="scaleUp with spec MaxReplicas limitation with large percent policy"),
        pytest.param((1, 1000), rules(pods=(30, 60)), DEFAULT_DOWN, (), 10, 50, (40, "scaleUp policy Pods 30/60s"),
                     id="scaleUp with pod policy limitation"),
        pytest.param((1, 1000), rules(percent=(200, 60)), DEFAULT_DOWN, (), 10, 50,
                     (30, "scaleUp policy Percent 200/60s"), id="scaleUp with percent policy limitation"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(20, 60), percent=(1, 60), window=300), (), 100, 2,
                     (80, "scaleDown policy Pods 20/60s"), id="scaleDown with percent policy larger than pod policy"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(2, 60), percent=(1, 60), window=300), (), 100, 2,
                     (98, "scaleDown policy Pods 2/60s"), id="scaleDown with pod policy larger than percent policy"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(100, 60), window=300), (), 10, 0, (1, "minReplicas"),
                     id="scaleDown with spec MinReplicas limitation with large pod policy"),
        pytest.param((5, 1000), DEFAULT_UP, rules(percent=(100, 60), window=300), (), 10, 2, (5, "minReplicas"),
                     id="scaleDown with spec MinReplicas limitation with large percent policy"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(5, 60), window=300), (), 10, 2,
                     (5, "scaleDown policy Pods 5/60s"), id="scaleDown with pod policy limitation"),
        pytest.param((1, 1000), DEFAULT_UP, rules(percent=(50, 60), window=300), (), 10, 5, (5, None),
                     id="scaleDown with percent policy limitation"),
        pytest.param((1, 200), rules(pods=(300, 60)), DEFAULT_DOWN, UP_1_5_9, 100, 500, (200, "maxReplicas"),
                     id="scaleUp with spec MaxReplicas limitation with large pod policy and events"),
        pytest.param((1, 200), rules(percent=(10000, 60)), DEFAULT_DOWN, UP_1_5_9, 100, 500, (200, "maxReplicas"),
                     id="scaleUp with spec MaxReplicas limitation with large percent policy and events"),
        pytest.param((1, 1000), rules(pods=(5, 120)), DEFAULT_DOWN, UP_1_5_9, 100, 500,
                     (100, "scaleUp policy Pods 5/120s"),
                     id="scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events"),
        pytest.param((1, 1000), rules(pods=(150, 120)), DEFAULT_DOWN, UP_1_5_9, 100, 500,
                     (235, "scaleUp policy Pods 150/120s"), id="scaleUp with pod policy and previous scale up events"),
        pytest.param((1, 1000), rules(percent=(200, 120)), DEFAULT_DOWN, UP_1_5_9, 100, 500,
                     (255, "scaleUp policy Percent 200/120s"),
                     id="scaleUp with percent policy and previous scale up events"),
        pytest.param((1, 1000), DEFAULT_UP, DEFAULT_DOWN, DOWN_1_5_9, 10, 5, (5, None),
                     id="scaleDown with default policy and previous events"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(115, 120), window=300), DOWN_1_5_9, 100, 0, (1, "minReplicas"),
                     id="scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events"),
        pytest.param((5, 1000), DEFAULT_UP, rules(pods=(130, 120), window=300), DOWN_1_5_9, 100, 0, (5, "minReplicas"),
                     id="scaleDown with spec MinReplicas limitation with large pod policy and previous events"),
        pytest.param((5, 1000), DEFAULT_UP, rules(percent=(100, 120), window=300), DOWN_1_5_9, 100, 2,
                     (5, "minReplicas"),
                     id="scaleDown with spec MinReplicas limitation with large percent policy and previous events"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(5, 120), window=300), DOWN_1_5_9, 100, 2,
                     (100, "scaleDown policy Pods 5/120s"), id="scaleDown with pod policy limitation and previous events"),
        pytest.param((1, 1000), DEFAULT_UP, rules(percent=(50, 120), window=300),
                     uniform_events([2, 4, 6], 120, sign=-1), 100, 0, (56, "scaleDown policy Percent 50/120s"),
                     id="scaleDown with percent policy limitation and previous events"),
        pytest.param((1, 1000), DEFAULT_UP, rules(percent=(10, 120), window=300),
                     uniform_events([10, 10, 10], 120, sign=-1), 100, 0, (100, "scaleDown policy Percent 10/120s"),
                     id="scaleDown with previous events preventing further scale down"),
        pytest.param((1, 1000), DEFAULT_UP, rules(percent=(1000, 120), window=300),
                     uniform_events([10, 10, 10], 120, sign=-1), 10, 5, (5, None),
                     id="scaleDown with with previous events still allowing more scale down"),
        pytest.param((1, 1000), rules(pods=(1000, 60)), DEFAULT_DOWN, uniform_events([8, 12, 9, 11], 120), 100, 200,
                     (200, None), id="check 'outdated' flag for events for one behavior for up"),
        pytest.param((1, 1000), rules(pods=(1000, 120), percent=(100, 60)), DEFAULT_DOWN,
                     uniform_events([8, 12, 9, 11], 120), 100, 200, (200, None),
                     id="check that events were not marked 'outdated' for two different policies in the behavior for up"),
        pytest.param((1, 1000), DEFAULT_UP, rules(pods=(1000, 60), window=300),
                     uniform_events([8, 12, 9, 11], 120, sign=-1), 100, 5, (5, None),
                     id="check 'outdated' flag for events for one behavior for down"),
        pytest.param((1, 1000), rules(pods=(2, 60), percent=(50, 60), select=SelectPolicy.MIN), DEFAULT_DOWN, (), 1, 10,
                     (2, "scaleUp policy Percent 50/60s"), id="TestCalculateScaleUpLimitWithScalingRules"),
        pytest.param((0, 1000), DEFAULT_UP, rules(pods=(2, 60), percent=(50, 60), select=SelectPolicy.MIN), (), 5, 0,
                     (3, "scaleDown policy Pods 2/60s"), id="TestCalculateScaleDownLimitWithBehaviors"),
        pytest.param((1, 20), rules(pods=(4, 15), select=SelectPolicy.DISABLED), DEFAULT_DOWN, (), 5, 10,
                     (5, "scaleUp policy Disabled"), id="scale-up-disabled-never-scales-up"),
        pytest.param((1, 20), DEFAULT_UP, rules(percent=(100, 15), select=SelectPolicy.DISABLED), (), 5, 1,
                     (5, "scaleDown policy Disabled"), id="scale-down-disabled-never-scales-down"),
        pytest.param((0, 20), rules(percent=(100, 15)), DEFAULT_DOWN, (), 0, 3, (1, "scale from zero"),
                     id="percent-policy-keeps-zero-at-zero-so-go-to-one"),
        pytest.param((0, 20), DEFAULT_UP, DEFAULT_DOWN, (), 0, 9, (4, "scaleUp policy Pods 4/15s"),
                     id="default-policies-from-zero-add-4-pods"),
        pytest.param((0, 20), rules(percent=(100, 15), select=SelectPolicy.DISABLED), DEFAULT_DOWN, (), 0, 3,
                     (0, "scaleUp policy Disabled"), id="disabled-scale-up-stays-at-zero"),
        pytest.param((1, 20), rules(percent=(100, 15)), DEFAULT_DOWN, ((NOW - 15, 2),), 4, 30,
                     (8, "scaleUp policy Percent 100/15s"), id="event-exactly-one-period-old-no-longer-counts"),
        pytest.param((1, 20), rules(percent=(100, 15)), DEFAULT_DOWN, ((NOW - 14.9, 2),), 4, 30,
                     (4, "scaleUp policy Percent 100/15s"), id="event-inside-period-counts"),
    ],
)
def test_limit_by_policies(bounds, up, down, events, current, stabilized, expected):
    spec = target(min_replicas=bounds[0], max_replicas=bounds[1],
                  behavior=Behavior(cooldown=0.0, scale_up=up, scale_down=down))
    assert limit_by_policies(spec, current=current, stabilized=stabilized, now=NOW, scale_events=events) == expected


# --- decide(): step 1, pause, cooldown ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("current", "paused_spec", "paused_arg", "expected", "recorded"),
    [
        pytest.param(25, False, False, (20, "clamped_to_max", "maxReplicas"), ((NOW, 25),),
                     id="above-max-goes-to-max"),
        pytest.param(0, False, False, (0, "manual_zero", None), ((NOW, 0),), id="zero-with-min-1-left-alone"),
        pytest.param(3, False, True, (3, "paused", None), (), id="paused-by-annotation"),
        pytest.param(3, True, False, (3, "paused", None), (), id="paused-by-config"),
        pytest.param(25, False, True, (25, "paused", None), (), id="pause-wins-over-bounds"),
    ],
)
def test_bounds_manual_zero_and_pause(current, paused_spec, paused_arg, expected, recorded):
    """A first cycle records only the current count (upstream's recordInitialRecommendation); a pause nothing."""
    decision, state = run(target(paused=paused_spec), current=current, rps=5000, paused=paused_arg)
    assert (decision.desired, decision.reason, decision.bound_by) == expected
    assert state.recommendations == recorded


def test_below_min_goes_to_min_without_behaviors():
    decision, state = run(target(min_replicas=4), current=2, rps=0)
    assert (decision.desired, decision.reason, decision.bound_by) == (4, "clamped_to_min", "minReplicas")
    assert decision.message == "current 2 is below minReplicas 4: set to 4"
    assert state.recommendations == ((NOW, 2),)


def test_a_clamp_keeps_history_it_did_not_start():
    decision, state = run(target(min_replicas=4), current=2, rps=0, state=history((30, 6)))
    assert decision.reason == "clamped_to_min"
    assert state.recommendations == ((NOW - 30, 6),)


def test_the_scale_up_window_starts_at_the_first_cycle_even_when_it_clamps():
    """Upstream records the initial recommendation before it branches: a clamp from 1 to minReplicas 2 at t0
    puts (t0, 1) in the history, and a 60 s scale-up window holds the count at 2 until t0 + 60 exactly."""
    spec = target(min_replicas=2, max_replicas=10, behavior=Behavior(cooldown=0.0, scale_up=rules(
        pods=(4, 15), percent=(100, 15), window=60)))
    decision, state = run(spec, current=1, rps=600, now=NOW)
    assert (decision.desired, decision.reason) == (2, "clamped_to_min")
    state = state.with_change(now=NOW, from_replicas=1, to_replicas=2)
    outcomes = []
    for step in (15, 30, 45, 60):
        decision, state = run(spec, current=2, rps=600, now=NOW + step, state=state)
        outcomes.append((step, decision.desired, decision.reason))
    assert outcomes == [(15, 2, "stabilized"), (30, 2, "stabilized"), (45, 2, "stabilized"), (60, 6, "scale_up")]


def test_manual_zero_is_explained():
    decision, _ = run(target(min_replicas=2), current=0, rps=900)
    assert decision.message == "scaled to 0 by hand while minReplicas is 2: left alone, as the HPA does"
    assert not decision.changed


@pytest.mark.parametrize(
    ("seconds_since_change", "expected"),
    [
        pytest.param(45.0, (4, "cooldown", "cooldown"), id="45s-into-2m-cooldown"),
        pytest.param(119.5, (4, "cooldown", "cooldown"), id="half-second-left"),
        pytest.param(120.0, (8, "scale_up", "scaleUp policy Pods 4/15s"), id="cooldown-just-passed-pods-4-ties-percent-100"),
    ],
)
def test_cooldown_holds_a_due_change(seconds_since_change, expected):
    state = EngineState(last_change=NOW - seconds_since_change)
    decision, new_state = run(target(behavior=Behavior(cooldown=120.0)), current=4, rps=2000, state=state)
    assert (decision.desired, decision.reason, decision.bound_by) == expected
    assert new_state.recommendations[-1] == (NOW, 20)


def test_cooldown_message_says_how_long_is_left():
    state = EngineState(last_change=NOW - 45)
    decision, _ = run(target(behavior=Behavior(cooldown=120.0)), current=4, rps=2000, state=state)
    assert decision.message == (
        "prometheus rps 2000 → 20 replicas; proposal 20; limited to 8 by scaleUp policy Pods 4/15s; "
        "cooldown: 75s left of 120s since the last change, staying at 4 instead of 8"
    )


def test_cooldown_also_holds_a_bounds_correction():
    decision, _ = run(target(behavior=Behavior(cooldown=120.0)), current=25, rps=100,
                      state=EngineState(last_change=NOW - 100))
    assert (decision.desired, decision.reason) == (25, "cooldown")


def test_cooldown_zero_disables_it():
    decision, _ = run(target(), current=4, rps=2000, state=EngineState(last_change=NOW))
    assert (decision.desired, decision.reason) == (8, "scale_up")


# --- decide(): reasons and messages -------------------------------------------------------------------------------

def test_scale_up_message_names_metric_proposal_and_limit():
    decision, _ = run(target(metrics=(KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=1000),)),
                      current=1, readings=[Reading("lag", value=12000)])
    assert decision.message == "kafka lag 12000 → 12 replicas; proposal 12; limited to 5 by scaleUp policy Pods 4/15s; 1 → 5"
    assert (decision.desired, decision.reason, decision.metric_proposal) == (5, "scale_up", 12)
    assert decision.metrics == (MetricProposal("lag", "kafka", 12000, 12, None),)


@pytest.mark.parametrize(
    ("current", "rps", "state", "expected"),
    [
        pytest.param(4, 400, history((600, 4)), ("no_change", None, 4), id="exact-match-no-change"),
        pytest.param(4, 430, history((600, 4)), ("within_tolerance", None, 5), id="ratio-1.075-within-tolerance"),
        pytest.param(5, 100, history((60, 5)), ("stabilized", "scaleDown stabilization window", 1),
                     id="default-5m-scale-down-window"),
        pytest.param(20, 5000, history((600, 20)), ("at_max", "maxReplicas", 50), id="already-at-max"),
        pytest.param(1, 10, history((600, 1)), ("no_change", None, 1), id="at-min-proposal-equal"),
        pytest.param(5, 100, EngineState(), ("stabilized", "scaleDown stabilization window", 1),
                     id="first-cycle-records-current-like-recordInitialRecommendation"),
    ],
)
def test_no_change_reasons(current, rps, state, expected):
    decision, _ = run(target(behavior=Behavior(cooldown=0.0)), current=current, rps=rps, state=state)
    assert (decision.reason, decision.bound_by, decision.metric_proposal) == expected
    assert decision.desired == current


def test_at_min_reason_when_min_holds_the_count():
    spec = target(min_replicas=3, behavior=Behavior(cooldown=0.0, scale_down=rules(percent=(100, 15))))
    decision, _ = run(spec, current=3, rps=0, state=history((600, 3)))
    assert (decision.desired, decision.reason, decision.bound_by) == (3, "at_min", "minReplicas")


def test_rate_limited_reason_when_scale_up_is_disabled():
    spec = target(behavior=Behavior(cooldown=0.0, scale_up=rules(pods=(4, 15), select=SelectPolicy.DISABLED)))
    decision, _ = run(spec, current=3, rps=900)
    assert (decision.desired, decision.reason, decision.bound_by) == (3, "rate_limited", "scaleUp policy Disabled")


def test_scale_down_after_window_passes():
    decision, state = run(target(), current=6, rps=150, state=history((301, 6), (300, 6)))
    assert (decision.desired, decision.reason, decision.bound_by) == (2, "scale_down", None)
    assert state.recommendations == ((NOW, 2),)


def test_tolerance_hold_reports_the_raw_proposal():
    decision, _ = run(target(), current=10, rps=1090, state=history((600, 10)))
    assert (decision.desired, decision.reason, decision.metric_proposal) == (10, "within_tolerance", 11)
    assert decision.metrics[0].proposal == 11


# --- decide(): failures and fallback -----------------------------------------------------------------------------

CPU_30 = CpuMetric(name="cpu", target_utilization=30)
CPU_50 = CpuMetric(name="cpu", target_utilization=50)
QPS = PrometheusMetric(name="qps", query="q", target_value=0.1)


def cpu_pods(*usages):
    return tuple(PodCpu(f"pod-{i}", 1000, usage, True) for i, usage in enumerate(usages))


def test_scale_up_despite_a_failed_metric_TestScaleUpOneMetricEmpty():
    spec = target(min_replicas=2, max_replicas=6, metrics=(CPU_30, QPS))
    readings = [Reading("cpu", pods=cpu_pods(300, 400, 500)), Reading("qps", error="something went wrong")]
    decision, state = run(spec, current=3, readings=readings, state=history((600, 3)))
    assert (decision.desired, decision.reason) == (4, "scale_up")
    assert state.failed_cycles == 1


def test_no_scale_down_while_a_metric_failed_TestNoScaleDownOneMetricEmpty():
    spec = target(min_replicas=2, max_replicas=6, metrics=(CPU_50, QPS))
    readings = [Reading("cpu", pods=cpu_pods(100, 300, 500, 250, 250)), Reading("qps", error="something went wrong")]
    state = history((600, 5))
    decision, new_state = run(spec, current=5, readings=readings, state=state)
    assert (decision.desired, decision.reason) == (5, "metric_failed_hold")
    assert decision.metric_proposal == 3
    assert decision.metrics[1] == MetricProposal("qps", "prometheus", None, None, "something went wrong")
    assert new_state.recommendations == state.recommendations and new_state.failed_cycles == 1


def test_all_metrics_failed_holds():
    decision, state = run(target(), current=4, readings=[Reading("rps", error="connection refused")])
    assert (decision.desired, decision.reason, decision.metric_proposal) == (4, "metric_failed_hold", None)
    assert decision.message == "prometheus rps failed (connection refused); a metric failed: keeping 4 replicas"
    assert state.failed_cycles == 1


def test_a_missing_reading_counts_as_a_failure():
    decision, _ = run(target(), current=4, readings=[])
    assert decision.metrics == (MetricProposal("rps", "prometheus", None, None, "metric rps: no reading this cycle"),)
    assert decision.reason == "metric_failed_hold"


def test_fallback_joins_after_threshold_and_goes_through_rate_limits():
    spec = target(fallback=Fallback(failure_threshold=3, replicas=10))
    failing = [Reading("rps", error="timeout")]
    state = history((600, 2))
    reasons = []
    for cycle in range(3):
        decision, state = run(spec, current=2, readings=failing, now=NOW + 15 * cycle, state=state)
        reasons.append((decision.reason, decision.desired, state.failed_cycles))
    assert reasons == [("metric_failed_hold", 2, 1), ("metric_failed_hold", 2, 2), ("fallback", 6, 3)]
    assert decision.bound_by == "scaleUp policy Pods 4/15s"
    assert decision.message.startswith("prometheus rps failed (timeout); 3 failed cycles in a row: fallback → 10 replicas")


def test_fallback_may_scale_down_but_only_through_the_stabilization_window():
    spec = target(fallback=Fallback(failure_threshold=1, replicas=2))
    decision, _ = run(spec, current=8, readings=[Reading("rps", error="timeout")], state=history((60, 8)))
    assert (decision.desired, decision.reason, decision.bound_by) == (8, "stabilized", "scaleDown stabilization window")
    decision, _ = run(spec, current=8, readings=[Reading("rps", error="timeout")], state=history((400, 8)))
    assert (decision.desired, decision.reason) == (2, "fallback")


def test_a_fallback_above_max_replicas_is_clipped_to_it():
    spec = target(max_replicas=5, fallback=Fallback(failure_threshold=1, replicas=50))
    decision, _ = run(spec, current=4, readings=[Reading("rps", error="timeout")], state=history((600, 4)))
    assert (decision.desired, decision.reason, decision.bound_by) == (5, "fallback", "maxReplicas")


def test_success_resets_the_failed_cycles():
    _, state = run(target(), current=2, rps=200, state=EngineState(failed_cycles=7))
    assert state.failed_cycles == 0


def test_fallback_below_a_working_metric_does_not_lead():
    spec = target(metrics=(RPS, QPS), fallback=Fallback(failure_threshold=1, replicas=3))
    readings = [Reading("rps", value=900), Reading("qps", error="timeout")]
    decision, _ = run(spec, current=2, readings=readings, state=history((600, 2)))
    assert (decision.desired, decision.reason) == (6, "scale_up")


# --- decide(): schedules -----------------------------------------------------------------------------------------

def test_schedule_joins_the_maximum():
    spec = target(schedule=(DailyEntry(0, 10),))
    decision, _ = run(spec, current=2, rps=100, state=history((600, 2)))
    assert (decision.desired, decision.schedule_proposal, decision.metric_proposal) == (6, 10, 1)
    assert decision.message == "prometheus rps 100 → 1 replicas; schedule → 10 replicas; proposal 10; limited to 6 by scaleUp policy Pods 4/15s; 2 → 6"


def test_schedule_keeps_a_count_while_metrics_fail():
    spec = target(schedule=(DailyEntry(0, 3),))
    decision, _ = run(spec, current=2, readings=[Reading("rps", error="timeout")], state=history((600, 2)))
    assert (decision.desired, decision.reason) == (3, "scale_up")


def test_no_metric_and_no_active_window_proposes_min_replicas():
    spec = target(metrics=(), min_replicas=2, schedule=(CronWindow("0 3 * * *", 60.0, 9),))
    wall = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    decision, _ = decide(spec, current=6, readings=[], now=NOW, wall_time=wall, state=history((600, 6)))
    assert (decision.desired, decision.reason, decision.schedule_proposal) == (2, "scale_down", None)
    assert decision.message.startswith("no metric or schedule entry proposes a count: minReplicas 2")


# --- EngineState ----------------------------------------------------------------------------------------------------

def test_with_change_records_a_signed_event_and_the_time():
    state = EngineState().with_change(now=10.0, from_replicas=5, to_replicas=2)
    assert (state.scale_events, state.last_change) == (((10.0, -3),), 10.0)
    assert state.with_change(now=20.0, from_replicas=2, to_replicas=2) is state


def test_shifted_moves_every_time():
    state = EngineState(recommendations=((10.0, 3),), scale_events=((11.0, 2),), last_change=11.0, failed_cycles=2)
    assert state.shifted(-10.0) == EngineState(((0.0, 3),), ((1.0, 2),), 1.0, 2)


def test_json_round_trip():
    state = EngineState(recommendations=((1.0004, 3), (2.5, 4)), scale_events=((2.5, 1),), last_change=2.5,
                        failed_cycles=1)
    data = state.to_json()
    assert data == {"recommendations": [[1.0, 3], [2.5, 4]], "scale_events": [[2.5, 1]], "last_change": 2.5,
                    "failed_cycles": 1}
    assert EngineState.from_json(data) == EngineState(((1.0, 3), (2.5, 4)), ((2.5, 1),), 2.5, 1)
    assert EngineState.from_json({}) == EngineState()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param([], r"state: expected an object \(got list\)", id="not-an-object"),
        pytest.param({"recommendations": {}}, r"state.recommendations: expected a list \(got dict\)", id="not-a-list"),
        pytest.param({"scale_events": [[1.0]]}, r"state.scale_events\[0\]: expected \[time, integer\] \(got \[1.0\]\)",
                     id="short-pair"),
        pytest.param({"recommendations": [[1.0, 2.5]]}, r"state.recommendations\[0\]", id="float-count"),
        pytest.param({"last_change": "yesterday"}, "state.last_change: expected a number or null", id="bad-time"),
        pytest.param({"failed_cycles": -1}, "state.failed_cycles: expected an integer >= 0", id="negative-count"),
    ],
)
def test_from_json_names_the_bad_field(data, message):
    with pytest.raises(ValueError, match=message):
        EngineState.from_json(data)


def test_decide_prunes_history_older_than_the_longest_window_and_period():
    old = EngineState(recommendations=((NOW - 301, 9), (NOW - 299, 4)),
                      scale_events=((NOW - 16, 1), (NOW - 14, 2)))
    _, state = run(target(), current=4, rps=400, state=old)
    assert state.recommendations == ((NOW - 299, 4), (NOW, 4))
    assert state.scale_events == ((NOW - 14, 2),)


# --- decide(): several metrics, hold, scale from zero --------------------------------------------------------------

def test_the_largest_metric_proposal_wins():
    spec = target(metrics=(RPS, CpuMetric(name="cpu", target_utilization=50)))
    readings = [Reading("rps", value=300), Reading("cpu", value=125.0)]
    decision, _ = run(spec, current=2, readings=readings, state=history((600, 2)))
    assert [metric.proposal for metric in decision.metrics] == [3, 5]
    assert (decision.metric_proposal, decision.desired, decision.reason) == (5, 5, "scale_up")


def test_a_held_prometheus_reading_proposes_the_current_count():
    spec = target(metrics=(RPS, QPS))
    readings = [Reading("rps", value=100), Reading("qps", hold=True)]
    decision, _ = run(spec, current=4, readings=readings, state=history((600, 4)))
    assert decision.metrics[1] == MetricProposal("qps", "prometheus", None, 4, None)
    assert (decision.desired, decision.reason) == (4, "no_change")
    assert "prometheus qps held → 4 replicas" in decision.message


def test_kafka_lag_wakes_a_target_at_zero():
    lag = KafkaMetric(name="lag", group="g", topics=("t",), lag_per_replica=1000)
    spec = target(min_replicas=0, metrics=(lag,), behavior=Behavior(cooldown=0.0, scale_up=rules(percent=(100, 15))))
    decision, _ = run(spec, current=0, readings=[Reading("lag", value=1, partition_count=3)])
    assert (decision.desired, decision.reason, decision.bound_by) == (1, "scale_up", "scale from zero")


def test_value_target_at_zero_uses_the_bare_ratio():
    spec = target(min_replicas=0, metrics=(PrometheusMetric(name="queue", query="q", target_value=10.0),))
    decision, _ = run(spec, current=0, readings=[Reading("queue", value=25.0)])
    assert (decision.metric_proposal, decision.desired) == (3, 3)


def test_raw_proposal_is_part_of_the_engine_api():
    from scalerd.engine import raw_proposal

    assert raw_proposal(RPS, Reading("rps", value=250.0), current=2, tolerance=0.1) == 3


def test_a_first_cycle_that_holds_on_a_failed_metric_records_the_current_count():
    decision, state = run(target(), current=3, readings=[Reading("rps", error="down")])
    assert decision.reason == "metric_failed_hold"
    assert (state.recommendations, state.failed_cycles) == (((NOW, 3),), 1)
