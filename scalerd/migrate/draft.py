"""What every translation shares: the object's identity, the target being built, and what could not be mapped."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from scalerd.config.checks import is_dns_label
from scalerd.config.durations import format_duration
from scalerd.config.model import PolicyType, SelectPolicy
from scalerd.migrate.quantity import parse_quantity, plain

_METRIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
# The HPA's validation bounds, which scalerd's loader shares.
MAX_STABILIZATION_SECONDS = 3600
MIN_PERIOD_SECONDS, MAX_PERIOD_SECONDS = 1, 1800
HPA_DEFAULT_TOLERANCE = 0.1


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str
    source: str
    """The file it came from, or "cluster"."""

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Unmapped:
    """A field of an object that has no scalerd counterpart: `PATH: why`, said on stderr and in the output."""

    obj: ObjectRef
    path: str
    why: str

    def line(self) -> str:
        return f"{self.obj}: {self.path}: {self.why}"


@dataclass
class Draft:
    """One object on its way to a target."""

    obj: ObjectRef
    target: dict[str, Any] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Assumptions a reader should check (comments in the output only)."""
    left_out: str | None = None
    """Why the whole object gave no target; None when it gave one."""

    def cannot_map(self, path: str, why: str) -> None:
        self.unmapped.append(Unmapped(self.obj, path, why))

    def leave_out(self, path: str, why: str) -> Draft:
        self.cannot_map(path, why)
        self.left_out = f"{path}: {why}"
        return self

    def metric_name(self, wanted: str) -> str:
        """`wanted` made a valid metric name, unique within the target (a suffix -2, -3, ... when taken)."""
        name = wanted if _METRIC_NAME.fullmatch(wanted) else re.sub(r"[^A-Za-z0-9_.:-]", "-", wanted).lstrip("_.:-")
        name = name or "metric"
        taken = {metric["name"] for metric in self.target.get("metrics", [])}
        candidate, suffix = name, 2
        while candidate in taken:
            candidate, suffix = f"{name}-{suffix}", suffix + 1
        return candidate


def target_name(name: str) -> str:
    """An object's name as a target name (a DNS-1123 label): dots become dashes, cut to 63 characters."""
    if is_dns_label(name):
        return name
    return re.sub(r"[^a-z0-9-]", "-", name.lower())[:63].strip("-") or "target"


def number(value: object) -> float:
    """A KEDA metadata value (always a string there) or a YAML number as a float; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return parse_quantity(value)
    raise ValueError(f"not a number: {value!r}")


def boolean(value: object) -> bool:
    """KEDA reads booleans with Go's strconv.ParseBool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "t", "true"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "f", "false"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def whole_number(value: object, *, minimum: int) -> int:
    """An integer >= minimum, from a YAML integer or a string of digits; ValueError otherwise."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number (got {value!r})")
    if value < minimum:
        raise ValueError(f"must be >= {minimum} (got {value})")
    return value


def behavior(raw: object, *, path: str, draft: Draft) -> dict[str, Any]:
    """An HPA `behavior` (HPA and KEDA's advanced.horizontalPodAutoscalerConfig) as scalerd's, field by field.

    Fields left out keep the HPA's defaults, which are scalerd's too. `cooldown: 0s` always: neither the HPA
    nor KEDA waits between changes beyond the behavior's own windows, and scalerd's default is 2m.
    """
    if raw is None:
        return {"cooldown": "0s"}
    if not isinstance(raw, dict):
        draft.cannot_map(path, f"must be a mapping (got {raw!r}); the HPA's default behavior is used")
        return {"cooldown": "0s"}
    tolerances: dict[str, tuple[float, str]] = {}
    directions: dict[str, dict[str, Any]] = {}
    for key, rules in raw.items():
        rules_path = f"{path}.{key}"
        if key not in ("scaleUp", "scaleDown"):
            draft.cannot_map(rules_path, "not a field of the HPA's behavior (scaleUp, scaleDown)")
        elif rules is not None:
            directions[key] = _scaling_rules(rules, path=rules_path, draft=draft, tolerances=tolerances, key=key)
    mapped: dict[str, Any] = {"cooldown": "0s"}
    tolerance = _one_tolerance(tolerances, draft=draft)
    if tolerance is not None:
        mapped["tolerance"] = tolerance
    mapped.update((key, rules) for key, rules in directions.items() if rules)
    return mapped


def _scaling_rules(rules: object, *, path: str, draft: Draft, tolerances: dict, key: str) -> dict[str, Any]:
    if not isinstance(rules, dict):
        draft.cannot_map(path, f"must be a mapping (got {rules!r}); the HPA's default is used")
        return {}
    mapped: dict[str, Any] = {}
    for field_name, value in rules.items():
        field_path = f"{path}.{field_name}"
        try:
            if field_name == "stabilizationWindowSeconds":
                seconds = whole_number(value, minimum=0)
                if seconds > MAX_STABILIZATION_SECONDS:
                    raise ValueError(f"must be <= {MAX_STABILIZATION_SECONDS} (got {seconds})")
                mapped["stabilizationWindow"] = format_duration(seconds)
            elif field_name == "selectPolicy":
                mapped["selectPolicy"] = SelectPolicy(value).value
            elif field_name == "policies":
                mapped["policies"] = _policies(value, path=field_path, draft=draft)
            elif field_name == "tolerance":
                tolerance = parse_quantity(value)
                if not 0 <= tolerance < 1:
                    raise ValueError(f"scalerd's tolerance must be >= 0 and < 1 (got {value!r})")
                tolerances[key] = (tolerance, field_path)
            else:
                draft.cannot_map(field_path, "not a field of the HPA's scaling rules")
        except ValueError as error:
            draft.cannot_map(field_path, f"{error}; the HPA's default is used")
    if mapped.get("policies") == []:
        del mapped["policies"]
    return mapped


def _policies(value: object, *, path: str, draft: Draft) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        draft.cannot_map(path, f"must be a list (got {value!r}); the HPA's default policies are used")
        return []
    policies = []
    for index, policy in enumerate(value):
        policy_path = f"{path}[{index}]"
        try:
            if not isinstance(policy, dict):
                raise ValueError(f"must be a mapping (got {policy!r})")
            unknown = sorted(set(policy) - {"type", "value", "periodSeconds"})
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(unknown)}")
            period = whole_number(policy.get("periodSeconds"), minimum=MIN_PERIOD_SECONDS)
            if period > MAX_PERIOD_SECONDS:
                raise ValueError(f"periodSeconds must be <= {MAX_PERIOD_SECONDS} (got {period})")
            policies.append({
                "type": PolicyType(policy.get("type")).value,
                "value": whole_number(policy.get("value"), minimum=1),
                "period": format_duration(period),
            })
        except ValueError as error:
            draft.cannot_map(policy_path, f"{error}; policy left out")
    return policies


def _one_tolerance(tolerances: dict[str, tuple[float, str]], *, draft: Draft) -> int | float | None:
    """scalerd has one tolerance for both directions: the HPA's per-direction ones map only when they agree."""
    if not tolerances:
        return None
    up = tolerances.get("scaleUp", (HPA_DEFAULT_TOLERANCE, None))[0]
    down = tolerances.get("scaleDown", (HPA_DEFAULT_TOLERANCE, None))[0]
    if up == down:
        return plain(up)
    for value, path in tolerances.values():
        if value != HPA_DEFAULT_TOLERANCE:
            draft.cannot_map(path, f"scalerd has one tolerance for both directions (scale up {plain(up)}, "
                                   f"scale down {plain(down)}); the default {HPA_DEFAULT_TOLERANCE} is used")
    return None
