"""What one cycle did for a target, and how it is told: as `once` prints it (`TargetResult.to_json`), in the
`decision` log line and the decision metrics, and in Events on the Deployment (`Reporter`)."""
from __future__ import annotations

from dataclasses import dataclass

import structlog

from scalerd.config.model import Target
from scalerd.daemon.collaborators import Writer
from scalerd.engine import Decision
from scalerd.health import DaemonMetrics
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import FAILED_WRITES, WriteOutcome
from scalerd.writeahead import Intent

log = structlog.get_logger()


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


class Reporter:
    """Tells what each decision was: the `decision` log line, the decision metrics, and the Events on the
    Deployment (ScaledUp/ScaledDown for an applied change, ScaleFailed for a failed write, HPAConflict)."""

    def __init__(self, *, writer: Writer, metrics: DaemonMetrics) -> None:
        self._writer = writer
        self._metrics = metrics

    def report(self, target: Target, decision: Decision, result: TargetResult, *, view: DeploymentView,
                intent: Intent | None) -> None:
        direction = direction_of(decision)
        self._metrics.decisions.labels(target=target.name, direction=direction).inc()
        self._metrics.record_decision(
            target=target.name, current=decision.current, desired=decision.desired, reason=decision.reason,
            min_replicas=target.min_replicas, max_replicas=target.max_replicas,
            values=[(m.name, m.type, None if m.error else m.value) for m in decision.metrics],
        )
        log.info(
            "decision", target=target.name, namespace=target.namespace, deployment=target.deployment,
            current=decision.current, desired=decision.desired, applied=result.applied, reason=decision.reason,
            message=decision.message, bound_by=decision.bound_by, write_status=result.write_status,
            intent=None if intent is None else intent.id,
            metrics=[{"name": m.name, "value": m.value, "proposal": m.proposal, "error": m.error}
                     for m in result.metrics],
        )
        if result.write_status in FAILED_WRITES:
            self.emit(target, view, reason="ScaleFailed", event_type="Warning",
                       message=f"scale to {decision.desired} failed: {result.error}")
        if not result.applied:
            return
        self.emit(target, view, reason="ScaledUp" if direction == "up" else "ScaledDown", event_type="Normal",
                   message=event_message(decision))

    def emit(self, target: Target, view: DeploymentView, *, reason: str, event_type: str, message: str) -> None:
        try:
            self._writer.event(namespace=target.namespace, involved=view, reason=reason, message=message,
                               event_type=event_type)
        except Exception:  # an Event is an explanation; its loss must not fail the target
            log.exception("event_failed", target=target.name, reason=reason)
