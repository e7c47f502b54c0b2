"""Typed reading of one YAML mapping, reporting every problem under the field's path instead of stopping.

A getter returns the value, its default, or None when the field is missing, null where null is allowed, or
invalid (already reported); callers skip cross-field checks on None. The loader raises one ConfigError with
all problems at the end, so a half-built model with None fields never leaves it.
"""
from __future__ import annotations

import difflib
import enum
import math
import re
import urllib.parse
from collections.abc import Callable, Collection
from typing import TypeVar

from scalerd.config.describe import describe
from scalerd.config.durations import format_duration, read_duration

E = TypeVar("E", bound=enum.Enum)
REQUIRED = object()
"""The default of a field that must be given."""

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# A metric's name is a column of a simulate trace and a key in JSON output: no spaces, commas or quotes.
_METRIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


def child_path(path: str, key: object) -> str:
    # A problem is one line: a key with a line break or other control character (or not a string) is shown quoted.
    key_text = key if isinstance(key, str) and key.isprintable() else describe(key)
    return f"{path}.{key_text}" if path else key_text


def item_path(path: str, index: int) -> str:
    return f"{path}[{index}]"


def as_mapping(value: object, path: str, problems: Problems, *, known: Collection[str]) -> Section | None:
    """A Section over `value` when it is a mapping (null counts as empty); unknown keys are reported."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping (got {describe(value)})")
        return None
    for key in value:
        if not isinstance(key, str) or key not in known:
            hint = _did_you_mean(key, known) if isinstance(key, str) else ""
            problems.add(child_path(path, key), "unknown field" + hint)
    return Section(value, path, problems)


def as_list(value: object, path: str, problems: Problems) -> list[tuple[str, object]] | None:
    """(path, item) pairs when `value` is a list (null counts as empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(path, f"must be a list (got {describe(value)})")
        return None
    return [(item_path(path, index), item) for index, item in enumerate(value)]


def _did_you_mean(key: str, known: Collection[str]) -> str:
    def squashed(name: str) -> str:
        return name.lower().replace("_", "").replace("-", "")

    same_but_spelling = [name for name in known if squashed(name) == squashed(key)]
    close = same_but_spelling or difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class Section:
    """One mapping of the configuration at `path`."""

    def __init__(self, data: dict, path: str, problems: Problems) -> None:
        self.data = data
        self.path = path
        self.problems = problems

    def path_of(self, key: str) -> str:
        return child_path(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def report(self, key: str, message: str) -> None:
        self.problems.add(self.path_of(key), message)

    def _present(self, key: str, default: object) -> bool:
        """True when the field is there to check; reports it when required and missing."""
        if key in self.data:
            return True
        if default is REQUIRED:
            self.report(key, "required")
        return False

    def string(self, key: str, *, default: object = REQUIRED, nullable: bool = False) -> str | None:
        if not self._present(key, default):
            return _absent(default)
        value = self.data[key]
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            self.report(key, f"must be a string (got {describe(value)})")
            return None
        if not value.strip():
            self.report(key, "must not be empty")
            return None
        return value

    def dns_label(self, key: str, *, default: object = REQUIRED) -> str | None:
        value = self.string(key, default=default)
        if value is not None and not is_dns_label(value):
            self.report(key, dns_label_problem(value))
            return None
        return value

    def dns_subdomain(self, key: str) -> str | None:
        value = self.string(key)
        if value is not None and (len(value) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(value)):
            self.report(
                key,
                "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending "
                f"with a letter or digit, at most 253 characters (got {describe(value)})",
            )
            return None
        return value

    def boolean(self, key: str, *, default: bool) -> bool | None:
        if not self._present(key, default):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.report(key, f"must be true or false (got {describe(value)})")
            return None
        return value

    def integer(self, key: str, *, minimum: int, default: object = REQUIRED) -> int | None:
        if not self._present(key, default):
            return _absent(default)
        value = self.data[key]
        # YAML `true` is a Python int; a replica count of `true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            self.report(key, f"must be an integer (got {describe(value)})")
            return None
        if value < minimum:
            self.report(key, f"must be >= {minimum} (got {describe(value)})")
            return None
        return value

    def positive_integer(self, key: str) -> int | None:
        """A required integer > 0, worded as the HPA words a policy's value."""
        value = self.integer(key, minimum=-(2**63))
        if value is not None and value <= 0:
            self.report(key, f"must be > 0 (got {describe(value)})")
            return None
        return value

    def positive_number(self, key: str, *, default: object = REQUIRED) -> float | None:
        """A threshold: a finite number > 0."""
        value = self.number(key, default=default)
        if value is None:
            return None
        if value <= 0:
            self.report(key, f"must be > 0 (got {describe(self.data[key])})")
            return None
        return value

    def number(self, key: str, *, default: object = REQUIRED) -> float | None:
        """A finite number."""
        if not self._present(key, default):
            return _absent(default)
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.report(key, f"must be a number (got {describe(value)})")
            return None
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            self.report(key, f"must be finite (got {describe(value)})")
            return None
        return as_float

    def duration(
        self, key: str, *, default: object = REQUIRED, minimum: float = 0.0, maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float | None:
        if not self._present(key, default):
            return _absent(default)
        value = self.data[key]
        seconds, problem = read_duration(value)
        if problem is not None:
            self.report(key, problem)
            return None
        too_small = seconds <= minimum if exclusive_minimum else seconds < minimum
        if too_small or (maximum is not None and seconds > maximum):
            if maximum is not None:
                bounds = f"between {format_duration(minimum)} and {format_duration(maximum)}"
            else:
                shown_minimum = format_duration(minimum) if minimum else "0"
                bounds = f"{'>' if exclusive_minimum else '>='} {shown_minimum}"
            self.report(key, f"must be {bounds} (got {describe(value)})")
            return None
        return seconds

    def choice(self, key: str, choices: type[E], *, default: object = REQUIRED) -> E | None:
        if not self._present(key, default):
            return _absent(default)
        value = self.data[key]
        allowed = [member.value for member in choices]
        if not isinstance(value, str) or value not in allowed:
            self.report(key, f"must be one of {', '.join(allowed)} (got {describe(value)})")
            return None
        return choices(value)

    def checked_string(
        self, key: str, *, check: Callable[[str], str | None], default: object = REQUIRED, nullable: bool = False,
    ) -> str | None:
        """A string that `check` accepts (check returns the problem, or None)."""
        value = self.string(key, default=default, nullable=nullable)
        if value is None:
            return None
        problem = check(value)
        if problem is not None:
            self.report(key, problem)
            return None
        return value

    def section(self, key: str, *, known: Collection[str]) -> Section | None:
        """The nested mapping at `key`; an absent one is empty."""
        return as_mapping(self.data.get(key), self.path_of(key), self.problems, known=known)

    def optional_section(self, key: str, *, known: Collection[str]) -> Section | None:
        """The nested mapping at `key`; None when it is absent or null (an optional block that is off)."""
        if self.data.get(key) is None:
            return None
        return self.section(key, known=known)

    def items(self, key: str) -> list[tuple[str, object]] | None:
        """(path, item) pairs of the list at `key`; an absent one is empty."""
        return as_list(self.data.get(key), self.path_of(key), self.problems)


def _absent(default: object) -> object:
    return None if default is REQUIRED else default


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123_LABEL.fullmatch(value) is not None


def dns_label_problem(value: str) -> str:
    return (
        "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or "
        f"digit, at most 63 characters (got {describe(value)})"
    )


def url_problem(url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http:// or https:// URL (got {describe(url)})"
    return None


def metric_name_problem(name: str) -> str | None:
    if _METRIC_NAME.fullmatch(name) is None:
        return (
            f"must be letters, digits, '_', '.', ':' or '-', starting with a letter or digit (got {describe(name)})"
        )
    return None
