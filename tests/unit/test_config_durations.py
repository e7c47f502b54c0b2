"""Durations: the contract's spellings to float seconds, and a clear message for anything else."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalerd.config import parse_duration
from scalerd.config.durations import format_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("15s", 15.0, id="seconds"),
        pytest.param("2m", 120.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("1h30m", 5400.0, id="hours-and-minutes"),
        pytest.param("8d", 691200.0, id="days"),
        pytest.param("1d12h", 129600.0, id="days-and-hours"),
        pytest.param("2m30s500ms", 150.5, id="every-unit-but-hours"),
        pytest.param("1.5s", 1.5, id="decimal"),
        pytest.param("0s", 0.0, id="zero"),
        pytest.param(15, 15.0, id="bare-integer"),
        pytest.param("15", 15.0, id="integer-string"),
        pytest.param(0, 0.0, id="bare-zero"),
    ],
)
def test_valid_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, path="behavior.cooldown") == seconds


HINT = "use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("fast", f"x.timeout: invalid duration 'fast': {HINT}", id="word"),
        pytest.param("1h1d", f"x.timeout: invalid duration '1h1d': {HINT}", id="days-after-hours"),
        pytest.param("30m1h", f"x.timeout: invalid duration '30m1h': {HINT}", id="units-out-of-order"),
        pytest.param("-5s", "x.timeout: must not be negative (got '-5s')", id="negative-string"),
        pytest.param("--5s", f"x.timeout: invalid duration '--5s': {HINT}", id="double-sign"),
        pytest.param("", f"x.timeout: invalid duration '': {HINT}", id="empty"),
        pytest.param(-5, "x.timeout: must not be negative (got -5)", id="negative-integer"),
        pytest.param(True, f"x.timeout: must be a duration ({HINT}) (got true)", id="boolean"),
        pytest.param(None, f"x.timeout: must be a duration ({HINT}) (got null)", id="null"),
        pytest.param(
            2.5, f"x.timeout: must be a duration ({HINT}); a bare number must be whole seconds (got 2.5)", id="float"
        ),
        pytest.param("9" * 400 + "h", f"x.timeout: invalid duration '{'9' * 57}...': too large", id="overflow"),
    ],
)
def test_invalid_durations_name_the_path(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value, path="x.timeout")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.0, "0s", id="zero"),
        pytest.param(0.5, "500ms", id="milliseconds"),
        pytest.param(90.0, "1m30s", id="minutes-and-seconds"),
        pytest.param(3600.0, "1h", id="hour"),
        pytest.param(1800.0, "30m", id="half-hour"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(
    hours=st.integers(0, 1000), minutes=st.integers(0, 59), seconds=st.integers(0, 59), millis=st.integers(0, 999)
)
def test_composed_durations_add_up_and_format_back(hours: int, minutes: int, seconds: int, millis: int) -> None:
    text = format_duration(hours * 3600 + minutes * 60 + seconds + millis / 1000)
    assert parse_duration(text, path="d") == pytest.approx(hours * 3600 + minutes * 60 + seconds + millis / 1000)
    parts = f"{hours}h{minutes}m{seconds}s{millis}ms"
    assert parse_duration(parts, path="d") == pytest.approx(hours * 3600 + minutes * 60 + seconds + millis / 1000)
