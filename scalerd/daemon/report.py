"""What one cycle did for a target, as `once` prints it (`TargetResult.to_json`) and a ScaledUp/ScaledDown Event
tells it (`event_message`). No I/O."""
from __future__ import annotations

from dataclasses import dataclass

from scalerd.config.model import Target
from scalerd.engine import Decision
from scalerd.kube.writer import FAILED_WRITES, WriteOutcome


@dataclass(frozen=True)
class MetricResult:
    name: str
    type: str
    value: float | None
    proposal: int | None
    error: str | None

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value, "proposal": self.proposal}


@dataclass(frozen=True)
class TargetResult:
    """What one cycle did for one target: the `once` output line, and the decision log line."""

    target: str
    namespace: str
    deployment: str
    current: int | None
    desired: int | None
    applied: bool
    reason: str
    metrics: tuple[MetricResult, ...] = ()
    error: str | None = None
    """Set when the target could not be decided or its write failed: `once` then exits 1."""
    write_status: str | None = None
    message: str = ""
    """The decision's sentence (or the error's), for an AutoScalerPolicy's status.lastDecision."""
    bound_by: str | None = None

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "namespace": self.namespace,
            "deployment": self.deployment,
            "current": self.current,
            "desired": self.desired,
            "applied": self.applied,
            "reason": self.reason,
            "metrics": [metric.to_json() for metric in self.metrics],
        }


def direction_of(decision: Decision) -> str:
    if decision.desired > decision.current:
        return "up"
    if decision.desired < decision.current:
        return "down"
    return "none"


def _metric_results(decision: Decision) -> tuple[MetricResult, ...]:
    return tuple(
        MetricResult(name=m.name, type=m.type, value=m.value, proposal=m.proposal, error=m.error)
        for m in decision.metrics
    )


def result_of(target: Target, decision: Decision, *, applied: bool, outcome: WriteOutcome | None) -> TargetResult:
    status = None if outcome is None else outcome.status
    error = None
    if status in FAILED_WRITES:
        error = f"write {status}: {outcome.detail}"
    return TargetResult(
        target=target.name, namespace=target.namespace, deployment=target.deployment, current=decision.current,
        desired=decision.desired, applied=applied, reason=decision.reason, metrics=_metric_results(decision),
        error=error, write_status=status, message=decision.message, bound_by=decision.bound_by,
    )


def failed_result(target: Target, *, reason: str, error: str) -> TargetResult:
    return TargetResult(
        target=target.name, namespace=target.namespace, deployment=target.deployment, current=None, desired=None,
        applied=False, reason=reason, error=error, message=error,
    )


def event_message(decision: Decision) -> str:
    """`ScaledUp`/`ScaledDown` text: from and to, each metric's value and proposal, and the limit that bound it."""
    parts = []
    for m in decision.metrics:
        if m.error:
            parts.append(f"{m.name}: error ({m.error})")
        else:
            parts.append(f"{m.name}={_number(m.value)} proposes {m.proposal}")
    if decision.schedule_proposal is not None:
        parts.append(f"schedule proposes {decision.schedule_proposal}")
    bound = f"; bound by {decision.bound_by}" if decision.bound_by else ""
    metrics_text = ", ".join(parts) if parts else "no metrics"
    return f"{decision.current} -> {decision.desired} ({decision.reason}): {metrics_text}{bound}"


def _number(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value:g}"
