"""Why a target ended a cycle at its count (`Decision.reason`, the `once` output, logs, Events, /metrics).

String enums: each member is its own value on the wire and in logs (`Reason.SCALE_UP == "scale_up"`).
"""
from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # Decided by the engine.
    SCALE_UP = "scale_up"
    """The count changes on the metrics/schedule (bound_by names a limit that bound it)."""
    SCALE_DOWN = "scale_down"
    FALLBACK = "fallback"
    """The count changes because the fallback replicas are the largest proposal."""
    CLAMPED_TO_MAX = "clamped_to_max"
    """The current count was outside [minReplicas, maxReplicas] and is brought back."""
    CLAMPED_TO_MIN = "clamped_to_min"
    NO_CHANGE = "no_change"
    """The proposal equals the current count."""
    WITHIN_TOLERANCE = "within_tolerance"
    """A metric asked for another count, but its ratio is within the tolerance band."""
    STABILIZED = "stabilized"
    """A stabilization window holds the count."""
    RATE_LIMITED = "rate_limited"
    """A scaling policy (or selectPolicy Disabled) allows no change yet."""
    AT_MAX = "at_max"
    """The proposal is beyond a bound the count already sits on."""
    AT_MIN = "at_min"
    METRIC_FAILED_HOLD = "metric_failed_hold"
    """A metric failed and the others would scale down (or all failed): the count is kept."""
    COOLDOWN = "cooldown"
    """A change is due but the cooldown since the last change has not passed (the message says how long)."""
    PAUSED = "paused"
    MANUAL_ZERO = "manual_zero"
    """The count is 0 while minReplicas > 0: left alone."""
    # Decided by the daemon around the engine.
    HPA_CONFLICT = "hpa_conflict"
    """A HorizontalPodAutoscaler scales the Deployment: decided for the log, never written."""
    DEPLOYMENT_NOT_FOUND = "deployment_not_found"
    ERROR = "error"
    """The target could not be decided (a defect); the error says why."""
