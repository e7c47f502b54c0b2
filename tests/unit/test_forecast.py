"""The forecaster of `predictive` (scalerd.forecast): cold start, experts, margin, gaps, spikes, regime changes.

Every series is synthetic and sampled every 15 s with a 60 s lead time, so a horizon is 4 samples.
"""
from __future__ import annotations

import math
import struct
from bisect import bisect_right

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.forecast import DAY, Forecaster, _ErrorWindow, _Floats, _Times

STEP = 15.0
LEAD = 60.0


def fed(values_at, *, start: float = 0.0, end: float, quantile: float = 0.9) -> Forecaster:
    """A forecaster fed `values_at(time)` every 15 s from `start` to `end`; a 0.9 quantile unless told."""
    forecaster = Forecaster(lead_time=LEAD, quantile=quantile)
    steps = int((end - start) // STEP)
    for index in range(steps + 1):
        time = start + index * STEP
        forecaster.observe(time, values_at(time))
    return forecaster


def test_cold_start_no_forecast_before_an_hour_of_samples():
    forecaster = fed(lambda time: 100.0, end=3600 - STEP)
    assert forecaster.forecast() is None, "59 min 45 s of history: decide as without predictive"

    forecaster.observe(3600.0, 100.0)

    forecast = forecaster.forecast()
    assert forecast is not None
    assert (forecast.value, forecast.down_value, forecast.margin, forecast.expert) == (100.0, 100.0, 0.0, "last value")
    assert forecast.horizon == LEAD
    assert not forecast.holding, "no bound has come due yet: scale-downs keep the HPA's rules"
    for index in range(1, 21):
        forecaster.observe(3600.0 + index * STEP, 100.0)
        assert forecaster.forecast().holding == (index >= 20), "holding once 5 horizons of bounds covered the value"


def test_a_ramp_is_forecast_by_the_damped_trend_and_its_constant_error_is_the_margin():
    forecaster = fed(lambda time: time / STEP, end=2 * 3600)

    forecast = forecaster.forecast()
    now_value = 2 * 3600 / STEP
    assert forecast.expert == "damped trend"
    # The damped trend lags a ramp by a constant: that error is the margin, so the bound is the value 60 s on.
    assert forecast.value == pytest.approx(now_value + LEAD / STEP, abs=1e-6)
    assert forecast.margin == pytest.approx(forecast.value - forecast.point)
    # Over twice the lead time the largest value is the one 120 s on: the same constant error makes it exact.
    assert forecast.down_value == pytest.approx(now_value + 2 * LEAD / STEP, abs=1e-6)


def test_after_a_drop_a_scale_down_still_serves_the_bounds_made_before_it_until_they_are_due():
    forecaster = fed(lambda time: 100.0, end=2 * 3600)
    drop = 2 * 3600 + STEP

    down_values = []
    for index in range(5):
        forecaster.observe(drop + index * STEP, 50.0)
        forecast = forecaster.forecast()
        assert (forecast.value, forecast.expert) == (50.0, "last value")
        down_values.append(forecast.down_value)

    # The bound of 100 made at the last sample before the drop is due 60 s after it (the 4th sample at 50).
    assert down_values == [100.0, 100.0, 100.0, 50.0, 50.0]


def test_a_daily_step_is_ready_before_it_comes_back():
    # 100 from 00:00 to 08:00, 500 from 08:00 to 24:00, every day, plus a little noise that repeats hourly.
    def load(time: float) -> float:
        return (100.0 if (time % DAY) < 8 * 3600 else 500.0) + (time % 3600) / 360

    forecaster = fed(load, end=3 * DAY + 8 * 3600 - LEAD)

    forecast = forecaster.forecast()
    assert forecaster.season_present(DAY)
    assert forecast.expert == "daily seasonal"
    assert load(3 * DAY + 8 * 3600) == 500.0
    assert forecast.value >= 500.0, "60 s before the daily step the bound already covers it"
    assert forecast.point == pytest.approx(500.0 + (load(3 * DAY + 8 * 3600 - LEAD) - load(2 * DAY + 8 * 3600 - LEAD)),
                                           abs=1.0)


def test_noise_has_no_season():
    values = iter(math.sin(index * index) * 50 + 200 for index in range(10**6))
    forecaster = fed(lambda time: next(values), end=3 * DAY)

    assert not forecaster.season_present(DAY)
    assert forecaster.forecast().expert in {"last value", "damped trend"}


def test_a_gap_drops_the_predictions_it_spans_and_restarts():
    forecaster = fed(lambda time: 100.0, end=2 * 3600)
    assert forecaster.forecast().holding

    resumed = 2 * 3600 + 600.0  # ten minutes without a sample: more than the lead time
    forecaster.observe(resumed, 100.0)
    assert forecaster.forecast() is None, "no forecast for one horizon after a gap"
    for index in range(1, 4):
        forecaster.observe(resumed + index * STEP, 100.0)
        assert forecaster.forecast() is None
    forecaster.observe(resumed + LEAD, 100.0)
    forecast = forecaster.forecast()
    assert forecast is not None and forecast.value == 100.0
    assert not forecast.holding, "a gap makes the recent bounds unknowable: not holding for 5 horizons"
    for index in range(5, 21):
        forecaster.observe(resumed + index * STEP, 100.0)
    assert forecaster.forecast().holding


def test_a_non_finite_value_is_a_missing_sample_not_a_zero():
    forecaster = fed(lambda time: 100.0, end=2 * 3600)
    forecaster.observe(2 * 3600 + STEP, math.nan)

    assert forecaster.forecast().value == 100.0


def test_a_sample_before_the_previous_one_is_refused():
    forecaster = fed(lambda time: 100.0, end=600)

    with pytest.raises(ValueError, match="before the previous sample"):
        forecaster.observe(300.0, 100.0)


def test_a_spike_barely_moves_the_margin():
    spike_at = 2 * 3600.0
    forecaster = fed(lambda time: 1000.0 if time == spike_at else 100.0, end=spike_at + 2 * STEP)

    forecast = forecaster.forecast()
    # One error of +900 among the hour's 240: the 0.9 quantile stays 0, and the last value speaks again.
    assert (forecast.value, forecast.margin) == (100.0, 0.0)


def test_a_regime_change_clears_holding_until_the_margin_has_grown_to_the_new_noise():
    # Flat at 100 for two hours, then a noisier regime: 300, 300, 400 in turn.
    shift_at = 2 * 3600.0

    def load(time: float) -> float:
        return 100.0 if time < shift_at else 300.0 + 100.0 * (int(time // STEP) % 3 == 0)

    forecaster = fed(load, end=shift_at + 300)
    assert not forecaster.forecast().holding, "half the bounds made after the shift missed"

    time = shift_at + 300
    while not forecaster.forecast().holding:
        time += STEP
        forecaster.observe(time, load(time))
    # A third of the new errors are +100: once they are more than a tenth of the last hour's errors (the flat
    # ones before the shift count too), that hour's 0.9 quantile is about 100, and holding comes back once the
    # misses before that left the 10-horizon window: about half an hour after the shift.
    assert shift_at + 1200 < time < shift_at + 2400
    forecast = forecaster.forecast()
    assert forecast.value >= 400.0, "the bound covers the new regime's peaks"
    assert forecast.margin > 90.0


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=250, max_size=400),
    cut=st.integers(min_value=1, max_value=249),
)
def test_deterministic_and_causal(values, cut):
    times = [index * STEP for index in range(len(values))]
    # A short history so that an hour of samples (240) is enough to forecast.
    whole = Forecaster(lead_time=LEAD, history=3600.0)
    forecasts = []
    for time, value in zip(times, values):
        whole.observe(time, value)
        forecasts.append(whole.forecast())

    again = Forecaster.from_series(times[:cut], values[:cut], lead_time=LEAD, history=3600.0)

    assert again.forecast() == forecasts[cut - 1], "the forecast at a step depends on the samples up to it only"
    for index, forecast in enumerate(forecasts):
        if forecast is not None:
            assert forecast.down_value >= forecast.value >= forecast.point and forecast.margin >= 0
            # The bounds of the last 3 samples (made within the 60 s horizon) are still standing.
            standing = [earlier.value for earlier in forecasts[max(0, index - 3):index] if earlier is not None]
            assert forecast.down_value >= max(standing, default=forecast.value)


def test_the_daily_expert_looks_no_further_back_than_history():
    # The daily step of test_a_daily_step_is_ready_before_it_comes_back, with a history of one day: the expert
    # would need the half hour before one day ago, which is forgotten.
    def load(time: float) -> float:
        return (100.0 if (time % DAY) < 8 * 3600 else 500.0) + (time % 3600) / 360

    forecaster = Forecaster(lead_time=LEAD, history=DAY, quantile=0.9)
    experts = set()
    for index in range(int((3 * DAY + 8 * 3600 - LEAD) // STEP) + 1):
        forecaster.observe(index * STEP, load(index * STEP))
        if forecaster.forecast() is not None:
            experts.add(forecaster.forecast().expert)

    assert forecaster.season_present(DAY), "the half-hour changes of one day ago are still remembered"
    assert experts == {"last value", "damped trend"}


ascending_times = st.lists(
    st.tuples(st.sampled_from([0.0, 15.0, 60.0, 0.1, 1e-3]), st.floats(min_value=0, max_value=3600)),
    min_size=1, max_size=200,
).map(lambda steps: _accumulate(1.7e9, steps))


def _accumulate(start: float, steps) -> list[float]:
    """Mostly regular steps (0 repeats a time), some jittered or long ones."""
    times, time = [], start
    for step, jitter in steps:
        time += step if jitter < 3000 else jitter
        times.append(time)
    return times


@settings(max_examples=200, deadline=None)
@given(times=ascending_times, dropped=st.integers(min_value=0, max_value=199), probes=st.lists(st.floats(0, 1), max_size=5))
def test_times_give_back_every_time_exactly_and_bisect_like_a_list(times, dropped, probes):
    kept = _Times()
    for time in times:
        kept.append(time)
    dropped = min(dropped, len(times) - 1)
    kept.drop_front(dropped)
    live = times[dropped:]

    assert len(kept) == len(live)
    assert [kept[index] for index in range(len(live))] == live
    assert kept[-1] == live[-1]
    span = live[-1] - live[0]
    for probe in [*live, *(time - 1e-7 for time in live), live[0] - 1, *(live[0] + span * p for p in probes)]:
        assert kept.index_after(probe) == bisect_right(live, probe), probe


def test_a_regular_series_of_times_is_one_run_of_numbers_not_a_time_per_sample():
    kept = _Times()
    for index in range(10_000):
        kept.append(1.7e9 + 0.123 + index * 60.0)

    assert kept.runs is None, "one run: first time and step"
    assert (kept[0], kept[9_999], kept.index_after(1.7e9 + 60 * 5_000)) == (1.7e9 + 0.123, 1.7e9 + 0.123 + 599_940.0, 5_000)


@settings(max_examples=100, deadline=None)
@given(operations=st.lists(st.one_of(st.floats(-1e6, 1e6, width=32), st.integers(min_value=0, max_value=40)),
                           max_size=300))
def test_floats_hold_what_was_appended_less_what_was_dropped(operations):
    floats, model = _Floats(), []
    for operation in operations:
        if isinstance(operation, float):
            floats.append(operation)
            model.append(operation)
        else:
            count = min(operation, len(model))
            floats.drop_front(count)
            del model[:count]
        assert len(floats) == len(model)
        assert list(floats.between(0, len(model))) == model
    if model:
        assert (floats[0], floats[-1]) == (model[0], model[-1])


@settings(max_examples=100, deadline=None)
@given(errors=st.lists(st.one_of(st.floats(-1e4, 1e4), st.sampled_from([0.0, 1.0])), min_size=1, max_size=300), level=st.sampled_from([0.5, 0.8, 0.9]))
def test_an_error_window_quantile_is_the_conformal_quantile_of_the_day_and_of_the_hour(errors, level):
    def conformal(values):
        ordered = sorted(struct.unpack("f", struct.pack("f", value))[0] for value in values)
        return ordered[max(min(len(ordered), math.ceil((len(ordered) + 1) * level)) - 1, 0)]

    window = _ErrorWindow()
    for index, error in enumerate(errors):
        window.add(index * 600.0, error)  # 10 minutes apart: the last 144 make the day, the last 6 the hour
        # Asked after each error, as a forecast does: the remembered quantile must follow the window.
        assert window.quantile(level) == conformal(errors[max(0, index - 143):index + 1])

    assert len(window) == min(len(errors), 144)
    assert window.quantile(level, within=3600.0) == conformal(errors[-6:])
    assert window.span() == (min(len(errors), 144) - 1) * 600.0
