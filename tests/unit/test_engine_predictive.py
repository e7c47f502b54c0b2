"""The engine with `predictive`: a metric's forecast bound proposes, the live value's own proposal is a floor (the
HPA's, tolerance included, where it is below the live count), scale-downs follow the bound only while it holds, and
every limit of the HPA still applies.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.config.model import Behavior, Predictive
from scalerd.engine import EngineState, decide
from scalerd.forecast import Forecast
from scalerd.readings import Reading
from tests.unit.test_engine import NOW, history, run, target

PREDICTIVE = Predictive(lead_time=60.0)
RPS_500 = replace(target().metrics[0], target_per_replica=500.0)


def forecast(value: float, *, down: float | None = None, holding: bool = True, margin: float = 420.0) -> Forecast:
    return Forecast(value=value, down_value=value if down is None else down, point=value - margin, margin=margin,
                    expert="daily seasonal", horizon=60.0, error_window=86400.0, holding=holding)


def predictive_run(*, current: int, rps: float, bound: Forecast | None, state: EngineState | None = None, **overrides):
    spec = target(metrics=(RPS_500,), predictive=PREDICTIVE, **overrides)
    return decide(spec, current=current, readings=[Reading("rps", value=rps)], now=NOW,
                  wall_time=datetime.fromtimestamp(NOW, UTC), state=state or EngineState(),
                  forecasts=None if bound is None else {"rps": bound})


def test_the_sentence_names_expert_horizon_forecast_margin_and_what_leads():
    decision, _ = predictive_run(current=10, rps=5100, bound=forecast(5800))

    assert decision.message == (
        "prometheus rps forecast 5,800 within 60s (daily seasonal, +420 margin from the last 24 h of errors) → 12 replicas;"
        " live 5,100 → 11; live floor 10 within tolerance 0.1; forecast leads; proposal 12; 10 → 12"
    )
    assert (decision.desired, decision.reason, decision.metric_proposal, decision.forecast_proposal) == (
        12, "scale_up", 11, 12)


@pytest.mark.parametrize(
    ("current", "rps", "bound", "expected_desired", "expected_tail"),
    [
        pytest.param(10, 6100, forecast(5800), 13, "live floor leads; proposal 13; 10 → 13",
                     id="the-live-proposal-is-a-floor"),
        pytest.param(10, 5020, forecast(5050), 10,
                     "→ 10 replicas; live 5,020 → 11; live floor 10 within tolerance 0.1; forecast leads; proposal 10;"
                     " staying at 10",
                     id="within-the-band-a-bound-0.1-replica-above-10-asks-for-10"),
        pytest.param(10, 5020, forecast(5150), 11, "→ 11 replicas; live 5,020 → 11; live floor 10 within tolerance 0.1;"
                     " forecast leads; proposal 11; 10 → 11",
                     id="within-the-band-a-bound-0.3-replica-above-10-asks-for-11"),
        pytest.param(10, 5600, forecast(5550), 12, "→ 11 replicas; live 5,600 → 12; live floor leads; proposal 12; 10 → 12",
                     id="outside-the-band-the-slack-never-goes-below-the-live-count"),
        pytest.param(12, 3000, forecast(4100, down=4400), 9,
                     "bound 4,400 over 120s → 9 (holding: no scale-down window); proposal 9; 12 → 9",
                     id="holding-scale-down-to-the-longer-bound-without-the-window"),
        pytest.param(12, 3000, forecast(4100, down=9000), 12,
                     "bound 9,000 over 120s → 12 (holding: no scale-down window); proposal 12; staying at 12",
                     id="a-scale-down-bound-above-the-count-keeps-it-never-scales-up"),
        pytest.param(12, 3000, forecast(4300, down=4400, holding=False), 12,
                     "the bound missed within 120s: HPA scale-down rules → 9; proposal 9;"
                     " limited to 12 by scaleDown stabilization window; staying at 12",
                     id="not-holding-the-hpa-window-holds"),
    ],
)
def test_predictive_proposals(current, rps, bound, expected_desired, expected_tail):
    decision, _ = predictive_run(current=current, rps=rps, bound=bound, state=history((60, 12)),
                                 behavior=Behavior(cooldown=0.0))

    assert decision.desired == expected_desired
    assert decision.message.endswith(expected_tail), decision.message


def test_bounds_and_rate_limits_still_apply():
    decision, _ = predictive_run(current=2, rps=1000, bound=forecast(50_000), max_replicas=20)

    assert (decision.desired, decision.bound_by) == (6, "scaleUp policy Pods 4/15s")
    assert decision.forecast_proposal == 100


def test_cooldown_still_holds():
    state = EngineState(last_change=NOW - 30)
    decision, _ = predictive_run(current=10, rps=5100, bound=forecast(5800), state=state,
                                 behavior=Behavior(cooldown=120.0))

    assert (decision.desired, decision.reason) == (10, "cooldown")


@settings(max_examples=60, deadline=None)
@given(
    current=st.integers(min_value=0, max_value=30),
    rps=st.floats(min_value=0, max_value=20_000, allow_nan=False),
    bound=st.none() | st.floats(min_value=0, max_value=20_000, allow_nan=False),
    holding=st.booleans(),
    age=st.sampled_from([10.0, 60.0, 400.0]),
    recommended=st.integers(min_value=0, max_value=30),
)
def test_without_a_forecast_exactly_as_without_predictive_and_never_below_the_live_floor_or_the_hpa(
    current, rps, bound, holding, age, recommended
):
    state = history((age, recommended))
    reactive, reactive_state = run(target(metrics=(RPS_500,)), current=current, rps=rps, state=state)
    cold, cold_state = predictive_run(current=current, rps=rps, bound=None, state=state)
    assert (cold, cold_state) == (reactive, reactive_state), "too little history: exactly the reactive decision"

    if bound is None:
        return
    decision, _ = predictive_run(current=current, rps=rps, bound=forecast(bound, holding=holding, margin=0.0),
                                 state=state)
    spec = target()
    assert spec.min_replicas <= decision.desired <= spec.max_replicas or decision.reason == "manual_zero"
    live = decision.metric_proposal
    if decision.desired < current:
        assert decision.desired >= min(max(live, spec.min_replicas), spec.max_replicas), "never scales below live"
    if decision.desired > current:
        assert decision.desired - current <= max(4, current), "the HPA's scale-up policies still bound the step"
    if not (holding and decision.desired < current):
        assert decision.desired >= reactive.desired, "never below the HPA's own decision from the same state"


def test_forecasts_for_a_target_without_predictive_are_ignored():
    with_forecast, _ = decide(target(metrics=(RPS_500,)), current=10, readings=[Reading("rps", value=5100)], now=NOW,
                              wall_time=datetime.fromtimestamp(NOW, UTC), state=EngineState(),
                              forecasts={"rps": forecast(9000)})
    without, _ = run(target(metrics=(RPS_500,)), current=10, rps=5100)

    assert with_forecast == without
