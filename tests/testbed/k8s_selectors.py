"""Label and field selectors as list/watch query parameters: `a=b,c!=d,e in (x,y),!f` and `metadata.name=x`."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.testbed.k8s_errors import bad_request

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_REQUIREMENT = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EXISTS_REQUIREMENT = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")
_EQUALITY_REQUIREMENT = re.compile(r"^\s*([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=()]*)\s*$")


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # in, notin, exists, !exists
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


def _split_terms(selector: str) -> list[str]:
    """Commas separate requirements except inside the parentheses of a set."""
    terms, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def _parse_label_term(term: str) -> _Requirement:
    if match := _SET_REQUIREMENT.match(term):
        if match.group(1):
            raise bad_request(f"unable to parse requirement: found '!', expected: identifier in {term!r}")
        values = frozenset(value.strip() for value in match.group(4).split(",") if value.strip())
        return _Requirement(match.group(2), match.group(3), values)
    if match := _EQUALITY_REQUIREMENT.match(term):
        operator = "notin" if match.group(2) == "!=" else "in"
        return _Requirement(match.group(1), operator, frozenset([match.group(3)]))
    if match := _EXISTS_REQUIREMENT.match(term):
        return _Requirement(match.group(2), "!exists" if match.group(1) else "exists", frozenset())
    raise bad_request(f"unable to parse requirement: invalid label selector term {term!r}")


def label_matcher(selector: str | None) -> Matcher:
    """A matcher on an object's metadata.labels; 400 BadRequest for a selector that does not parse."""
    if not selector:
        return lambda obj: True
    requirements = [_parse_label_term(term) for term in _split_terms(selector)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement.matches(labels) for requirement in requirements)

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_matcher(selector: str | None) -> Matcher:
    """Field selectors on any dotted path (the real server allows only a few fields per resource)."""
    if not selector:
        return lambda obj: True
    requirements = []
    for term in _split_terms(selector):
        match = _EQUALITY_REQUIREMENT.match(term)
        if not match:
            raise bad_request(f"invalid field selector: {term!r}")
        requirements.append((match.group(1), match.group(2) != "!=", match.group(3)))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in requirements)

    return matches


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector object (matchLabels, matchExpressions) as the query string the Scale status carries."""
    if not selector:
        return ""
    terms = []
    for key, value in (selector.get("matchLabels") or {}).items():
        terms.append((key, f"{key}={value}"))
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(sorted(expression.get("values") or []))
        rendered = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                    "Exists": key, "DoesNotExist": f"!{key}"}[operator]
        terms.append((key, rendered))
    return ",".join(rendered for _, rendered in sorted(terms))


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    return label_matcher(selector_string(selector))({"metadata": {"labels": labels}})
