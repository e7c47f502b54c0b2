"""How a bad value is shown in a validation message."""
from __future__ import annotations

_LONGEST = 60


def describe(value: object) -> str:
    """A YAML-ish rendering of a bad value for a message, cut so that a message stays one short line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Python refuses to print integers of more than 4300 digits, and nobody wants to read one.
        return repr(value) if abs(value) < 10**_LONGEST else "a huge integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= _LONGEST else value[: _LONGEST - 3] + "..."
        return repr(shown)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
