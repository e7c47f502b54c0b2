"""The leader's status writes on AutoScalerPolicies (`PolicyStatusWriter`), counted against a fake cluster: a write
happens only when a state an operator reads changed, not each time the metric values in a decision's message move."""
from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from scalerd.config.model import Config, Defaults
from scalerd.daemon.report import TargetResult
from scalerd.kube.policies import PolicyStatusWriter
from scalerd.kube.writer import WriteOutcome, WriteStatus
from scalerd.policies import merge
from scalerd.reasons import Reason

KEY = ("team-a", "web")
POLICY = {"metadata": {"name": "web", "namespace": "team-a", "generation": 1, "uid": "u1", "resourceVersion": "1"},
          "spec": {"maxReplicas": 20, "metrics": [{"type": "prometheus", "query": "rps", "targetPerReplica": 25}]}}


class _Cluster:
    """The policy cache and the API server in one: what a status write sends is what the next cycle's `get`
    returns, as if the watch had brought it back."""

    def __init__(self) -> None:
        self.policy: dict[str, Any] = copy.deepcopy(POLICY)
        self.status_writes: list[dict[str, Any]] = []
        self.events: list[str] = []

    def get(self, key):
        return copy.deepcopy(self.policy) if key == KEY else None

    def update_status(self, *, path: str, obj: dict[str, Any], planned: str) -> WriteOutcome:
        self.status_writes.append(copy.deepcopy(obj["status"]))
        self.policy = copy.deepcopy(obj)
        return WriteOutcome(applied=True, status=WriteStatus.APPLIED, detail="", attempts=1, resource_version="2")

    def event(self, *, reason: str, **_) -> WriteOutcome:
        self.events.append(reason)
        return WriteOutcome(applied=True, status=WriteStatus.APPLIED, detail="", attempts=1, resource_version="1")


def _cycles(cluster: _Cluster):
    """A writer over `cluster` and a function running one cycle with a result; the wall clock moves 15 s a cycle."""
    policies = merge(Config(defaults=Defaults(), targets=()), [POLICY])
    clock = iter(range(1_780_000_000, 1_790_000_000, 15))
    writer = PolicyStatusWriter(provider=SimpleNamespace(current=policies), cache=cluster, writer=cluster,
                                wall=lambda: float(next(clock)))
    return lambda result: writer([result])


def _decided(rps: int, *, current: int, desired: int, reason: Reason = Reason.NO_CHANGE) -> TargetResult:
    return TargetResult(target="team-a/web", namespace="team-a", deployment="web", current=current, desired=desired,
                        applied=desired != current, reason=reason,
                        message=f"prometheus rps = {rps} / 25 per pod → {desired}")


def test_a_steady_count_under_a_moving_metric_is_written_once_and_a_new_desired_count_once_more():
    cluster = _Cluster()
    cycle = _cycles(cluster)
    for rps in (101, 103, 99, 100, 97, 104, 102, 98, 100, 101):  # always 4 pods at 25 per pod
        cycle(_decided(rps, current=4, desired=4))
    assert len(cluster.status_writes) == 1
    assert cluster.policy["status"]["lastDecision"] == {
        "reason": "no_change", "message": "prometheus rps = 101 / 25 per pod → 4"}

    cycle(_decided(124, current=4, desired=5, reason=Reason.SCALE_UP))
    assert len(cluster.status_writes) == 2
    written = cluster.status_writes[-1]
    assert (written["currentReplicas"], written["desiredReplicas"], written["lastDecision"]) == (
        4, 5, {"reason": "scale_up", "message": "prometheus rps = 124 / 25 per pod → 5"})
    assert written["lastScaleTime"] == "2026-05-28T20:29:10Z"

    for rps in (118, 122, 126, 120):  # settled at 5
        cycle(_decided(rps, current=5, desired=5))
    assert len(cluster.status_writes) == 3  # current 4 → 5 and the reason scale_up → no_change, then nothing
    assert cluster.status_writes[-1]["lastDecision"]["message"] == "prometheus rps = 118 / 25 per pod → 5"
    assert cluster.events == []


_STATES = st.tuples(st.integers(1, 3), st.integers(1, 3), st.sampled_from([Reason.NO_CHANGE, Reason.SCALE_UP]))


@given(st.lists(st.tuples(_STATES, st.integers(0, 10_000)), min_size=1, max_size=30))
def test_one_write_per_change_of_state_whatever_the_metric_values(cycles):
    """A cycle writes when it is the first, its (current, desired, reason) differs from the last cycle's, or it
    scaled (lastScaleTime moves); the metric value in its message never decides."""
    cluster = _Cluster()
    cycle = _cycles(cluster)
    expected, previous = 0, None
    for (current, desired, reason), rps in cycles:
        cycle(_decided(rps, current=current, desired=desired, reason=reason))
        expected += previous != (current, desired, reason) or desired != current
        previous = (current, desired, reason)
    assert len(cluster.status_writes) == expected
