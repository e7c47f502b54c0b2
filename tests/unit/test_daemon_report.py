"""How a decision is told, without the loop: the Events on the Deployment and the decision counter."""
from __future__ import annotations

import pytest

from scalerd.daemon.report import Reporter, result_of
from scalerd.engine import Decision, MetricProposal
from scalerd.health import DaemonMetrics
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import WriteOutcome, WriteStatus
from scalerd.reasons import Reason
from tests.builders import make_target

VIEW = DeploymentView(namespace="default", name="api", uid="u", resource_version="7", replicas=2, ready_replicas=2,
                      selector={}, annotations={}, generation=1, observed_generation=1)
TARGET = make_target("api")


class RecordingWriter:
    def __init__(self, *, failing: bool = False) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.failing = failing

    def event(self, *, namespace: str, involved, reason: str, message: str, event_type: str = "Normal"):
        if self.failing:
            raise RuntimeError("events API down")
        self.events.append((event_type, reason, message))


def decision(current: int, desired: int, reason: Reason) -> Decision:
    return Decision(target="api", current=current, desired=desired, reason=reason, message="m",
                    metrics=(MetricProposal("rps", "prometheus", 45.0, desired, None),), metric_proposal=desired,
                    schedule_proposal=None, bound_by=None)


def outcome(status: WriteStatus) -> WriteOutcome:
    return WriteOutcome(applied=status == WriteStatus.APPLIED, status=status, detail=f"{status} detail", attempts=1,
                        resource_version=None)


@pytest.mark.parametrize(("made", "status", "expected"), [
    pytest.param(decision(2, 5, Reason.SCALE_UP), WriteStatus.APPLIED,
                 [("Normal", "ScaledUp", "2 -> 5 (scale_up): rps=45 proposes 5")], id="applied-up"),
    pytest.param(decision(5, 2, Reason.SCALE_DOWN), WriteStatus.APPLIED,
                 [("Normal", "ScaledDown", "5 -> 2 (scale_down): rps=45 proposes 2")], id="applied-down"),
    pytest.param(decision(2, 5, Reason.SCALE_UP), WriteStatus.FORBIDDEN,
                 [("Warning", "ScaleFailed", "scale to 5 failed: write forbidden: forbidden detail")], id="failed"),
    pytest.param(decision(2, 5, Reason.SCALE_UP), WriteStatus.DRY_RUN, [], id="dry-run"),
    pytest.param(decision(2, 2, Reason.NO_CHANGE), None, [], id="no-change"),
])
def test_events_say_what_was_done(made, status, expected) -> None:
    writer, metrics = RecordingWriter(), DaemonMetrics()
    written = None if status is None else outcome(status)
    result = result_of(TARGET, made, applied=written is not None and written.applied, outcome=written)

    Reporter(writer=writer, metrics=metrics).report(TARGET, made, result, view=VIEW, intent=None)

    assert writer.events == expected
    direction = "up" if made.desired > made.current else "down" if made.desired < made.current else "none"
    assert metrics.decisions.labels(target="api", direction=direction)._value.get() == 1


def test_an_event_that_cannot_be_written_does_not_fail_the_target() -> None:
    made = decision(2, 5, Reason.SCALE_UP)
    result = result_of(TARGET, made, applied=True, outcome=outcome(WriteStatus.APPLIED))

    metrics = DaemonMetrics()

    Reporter(writer=RecordingWriter(failing=True), metrics=metrics).report(TARGET, made, result, view=VIEW,
                                                                         intent=None)

    assert metrics.decisions.labels(target="api", direction="up")._value.get() == 1, "reported all the same"
