"""Durations as the configuration writes them: "500ms", "15s", "2m", "1h", "1h30m", "8d", or whole seconds."""
from __future__ import annotations

import math
import re

from scalerd.config.describe import describe

# Units in decreasing size, each at most once: "1h30m" reads naturally, "30m1h" is almost surely a typo.
_DURATION = re.compile(
    r"(?:(?P<d>\d+(?:\.\d+)?)d)?(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+(?:\.\d+)?)ms)?"
)
_SECONDS_PER_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_HINT = "use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds"


def read_duration(value: object) -> tuple[float | None, str | None]:
    """(seconds, None) for a duration, else (None, the reason without a path).

    A leading "-" is read, so that the caller's bounds check can say "must be >= 0 (got '-5s')".
    """
    if isinstance(value, bool) or value is None:
        return None, f"must be a duration ({_HINT}) (got {describe(value)})"
    if isinstance(value, int):
        return _finite_seconds(value, value)
    if isinstance(value, float):
        return None, f"must be a duration ({_HINT}); a bare number must be whole seconds (got {describe(value)})"
    if not isinstance(value, str):
        return None, f"must be a duration ({_HINT}) (got {describe(value)})"
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    unsigned = text.removeprefix("-")
    if unsigned.isascii() and unsigned.isdigit():
        return _finite_seconds(value, sign * int(unsigned))
    match = _DURATION.fullmatch(unsigned)
    if not unsigned or match is None or not any(match.groupdict().values()):
        return None, f"invalid duration {describe(value)}: {_HINT}"
    seconds = sum(float(amount) * _SECONDS_PER_UNIT[unit] for unit, amount in match.groupdict().items() if amount)
    return _finite_seconds(value, sign * seconds)


def _finite_seconds(value: object, seconds: float) -> tuple[float | None, str | None]:
    try:
        as_float = float(seconds)
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float):
        return None, f"invalid duration {describe(value)}: too large"
    return as_float, None


def parse_duration(value: object, *, path: str) -> float:
    """Seconds for a duration; ValueError("<path>: <reason>") otherwise. Negative durations are never valid."""
    seconds, problem = read_duration(value)
    if problem is None and seconds < 0:
        problem = f"must not be negative (got {describe(value)})"
    if problem is not None:
        raise ValueError(f"{path}: {problem}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest config spelling of a duration, for messages: 3600 -> "1h", 90 -> "1m30s", 0.5 -> "500ms", 86400 -> "1d"."""
    if seconds == 0:
        return "0s"
    parts = []
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    millis = round((seconds - whole) * 1000)
    for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s"), (millis, "ms")):
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
