"""One Event, two APIs: stored as core/v1 and shown as events.k8s.io/v1, as the real server converts them."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# events.k8s.io/v1 field -> core/v1 field; the other fields have the same name in both.
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_NAMES = {core: events for events, core in _RENAMED.items()}


def to_core(event: Mapping[str, Any]) -> dict[str, Any]:
    converted = {_RENAMED.get(key, key): value for key, value in event.items()}
    return converted | {"apiVersion": "v1", "kind": "Event"}


def to_events_v1(event: Mapping[str, Any]) -> dict[str, Any]:
    converted = {_CORE_NAMES.get(key, key): value for key, value in event.items() if value not in (None, "", {})}
    return converted | {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
