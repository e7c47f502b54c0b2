"""Policies beside the file's targets (`scalerd.policies`): the merge, claims on one Deployment, and the status
shaped like the HPA's, whose conditions keep their lastTransitionTime until their status flips."""
from __future__ import annotations

import pytest

from scalerd.config.model import Config, Defaults
from scalerd.daemon.report import TargetResult
from scalerd.policies import PolicySet, merge, policy_status, status_changed
from scalerd.reasons import Reason
from tests.builders import make_target

T0, T1 = "2026-12-05T06:00:00Z", "2026-12-05T06:00:15Z"


def _policy(name: str, *, namespace: str = "team-a", generation: int = 1, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "generation": generation},
            "spec": spec or {"maxReplicas": 5, "schedule": [{"time": "00:00", "replicas": 2}]}}


def _file(*targets) -> Config:
    return Config(defaults=Defaults(timezone="Asia/Tokyo"), targets=targets)


def test_valid_policies_join_the_file_targets_with_its_defaults():
    merged = merge(_file(make_target("api")), [_policy("web"), _policy("web", namespace="team-b")])
    assert [(t.name, t.namespace, t.deployment, t.timezone) for t in merged.config.targets] == [
        ("api", "default", "api", "UTC"),
        ("team-a/web", "team-a", "web", "Asia/Tokyo"), ("team-b/web", "team-b", "web", "Asia/Tokyo")]
    assert merged.problems == {} and merged.claimed_twice == {}


def test_an_invalid_policy_is_left_out_with_its_problems_and_the_others_stay():
    merged = merge(_file(), [_policy("bad", maxReplicas="x", schedule=[]), _policy("good")])
    assert [t.name for t in merged.config.targets] == ["team-a/good"]
    assert merged.problems == {("team-a", "bad"): ("spec.maxReplicas: must be an integer (got 'x')",
                                                   "spec: needs at least one metric or schedule entry")}


@pytest.mark.parametrize(("file_targets", "policies", "managed", "claim"), [
    pytest.param((), [_policy("a", deployment="shared", maxReplicas=3, schedule=[{"time": "00:00", "replicas": 1}]),
                      _policy("b", deployment="shared", maxReplicas=3, schedule=[{"time": "00:00", "replicas": 1}])],
                 [], "Deployment team-a/shared is claimed by AutoScalerPolicy team-a/a and AutoScalerPolicy team-a/b: "
                     "scalerd scales it for neither until one claim is removed", id="two-policies"),
    pytest.param((make_target("file-web", namespace="team-a", deployment="web"), make_target("other")),
                 [_policy("web")], ["other"],
                 "Deployment team-a/web is claimed by target file-web of the configuration file and AutoScalerPolicy "
                 "team-a/web: scalerd scales it for neither until one claim is removed", id="policy-and-file"),
])
def test_a_deployment_claimed_twice_is_managed_by_neither(file_targets, policies, managed, claim):
    merged = merge(_file(*file_targets), policies)
    assert [t.name for t in merged.config.targets] == managed
    assert set(merged.claimed_twice.values()) == {claim}


def _result(**fields) -> TargetResult:
    base = {"target": "team-a/web", "namespace": "team-a", "deployment": "web", "current": 2, "desired": 4,
            "applied": True, "reason": Reason.SCALE_UP, "message": "schedule proposes 4"}
    return TargetResult(**(base | fields))


def _status(old, result, *, policies: PolicySet | None = None, now: str = T0) -> dict:
    policies = policies or merge(_file(), [_policy("web")])
    return policy_status(old, policies=policies, key=("team-a", "web"), result=result, now=now)


def test_the_status_of_a_scaling_decision():
    assert _status(None, _result()) == {
        "observedGeneration": 1, "deployment": "web", "minReplicas": 1, "maxReplicas": 5,
        "currentReplicas": 2, "desiredReplicas": 4, "lastScaleTime": T0,
        "lastDecision": {"reason": "scale_up", "message": "schedule proposes 4"},
        "conditions": [
            {"type": "Valid", "status": "True", "reason": "ValidSpec", "message": "the spec is a valid target",
             "lastTransitionTime": T0},
            {"type": "ScalingActive", "status": "True", "reason": "ValidDecision",
             "message": "scalerd decides the replica count from the metrics and schedule", "lastTransitionTime": T0},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange",
             "message": "the desired count is within the acceptable range", "lastTransitionTime": T0}]}


def test_a_steady_cycle_changes_nothing_and_transition_times_move_only_on_a_flip():
    first = _status(None, _result())
    steady = _result(current=4, desired=4, applied=False, reason=Reason.NO_CHANGE, message="at 4")
    second = _status(first, steady, now=T1)
    assert _status(second, steady, now="2026-12-05T06:00:30Z") == second
    assert second["lastScaleTime"] == T0
    limited = _status(second, _result(current=4, desired=5, applied=True, reason=Reason.AT_MAX, message="at 5"),
                      now=T1)
    times = {c["type"]: (c["status"], c["reason"], c["lastTransitionTime"]) for c in limited["conditions"]}
    assert times == {"Valid": ("True", "ValidSpec", T0), "ScalingActive": ("True", "ValidDecision", T0),
                     "ScalingLimited": ("True", "TooManyReplicas", T1)}


@pytest.mark.parametrize(("result", "active"), [
    pytest.param(_result(current=None, desired=None, applied=False, reason=Reason.DEPLOYMENT_NOT_FOUND,
                         error="deployment team-a/web not found", message="deployment team-a/web not found"),
                 ("False", "FailedDecision", "deployment team-a/web not found"), id="failed"),
    pytest.param(_result(applied=False, reason=Reason.HPA_CONFLICT, message="HorizontalPodAutoscaler web also ..."),
                 ("False", "HPAConflict", "HorizontalPodAutoscaler web also ..."), id="hpa-conflict"),
    pytest.param(_result(applied=False, reason=Reason.PAUSED, message="paused"),
                 ("False", "ScalingDisabled", "paused"), id="paused"),
])
def test_scaling_active_says_why_not(result, active):
    status = _status(None, result)
    condition = next(c for c in status["conditions"] if c["type"] == "ScalingActive")
    assert (condition["status"], condition["reason"], condition["message"]) == active


def test_an_invalid_policy_keeps_its_last_counts_and_says_why():
    before = _status(None, _result())
    policies = merge(_file(), [_policy("web", generation=2, minReplicas=3, maxReplicas=2,
                                       schedule=[{"time": "00:00", "replicas": 1}])])
    status = _status(before, None, policies=policies, now=T1)
    assert (status["observedGeneration"], status["currentReplicas"], status["desiredReplicas"]) == (2, 2, 4)
    assert [(c["type"], c["status"], c["reason"], c["message"], c["lastTransitionTime"])
            for c in status["conditions"]] == [
        ("Valid", "False", "InvalidSpec", "spec.maxReplicas: must be >= minReplicas (got 2 < 3)", T1),
        ("ScalingActive", "False", "InvalidSpec", "the spec is invalid: scalerd does not act on it", T1)]


def test_a_cycle_without_a_decision_keeps_what_the_last_one_said():
    first = _status(None, _result())
    assert _status(first, None, now=T1) == first


def _with_condition(old: dict, kind: str, **fields) -> dict:
    return old | {"conditions": [c | fields if c["type"] == kind else c for c in old["conditions"]]}


_WRITTEN = _status(None, _result(current=4, desired=4, applied=False, reason=Reason.NO_CHANGE,
                                 message="rps 101 / 25 per pod → 4, staying at 4"))
_INVALID = _status(None, None, policies=merge(_file(), [_policy("web", maxReplicas="x")]))
_CLAIMED = _status(None, None, policies=merge(_file(make_target("file-web", namespace="team-a", deployment="web")),
                                                [_policy("web")]))


@pytest.mark.parametrize(("old", "new", "changed"), [
    pytest.param(None, _WRITTEN, True, id="never-written"),
    pytest.param(_WRITTEN, _WRITTEN | {"lastDecision": {"reason": "no_change", "message": "rps 103 / 25 per pod → 4"}},
                 False, id="decision-message-only"),
    pytest.param(_with_condition(_WRITTEN, "ScalingLimited", status="True", reason="TooManyReplicas",
                                 message="rps 300 → 12, set to 10"),
                 _with_condition(_WRITTEN, "ScalingLimited", status="True", reason="TooManyReplicas",
                                 message="rps 310 → 13, set to 10"), False, id="limited-message-only"),
    pytest.param(_WRITTEN, _WRITTEN | {"lastDecision": {"reason": "scale_up", "message": "rps 101 / 25 per pod → 4"}},
                 True, id="decision-reason"),
    pytest.param(_WRITTEN, _WRITTEN | {"desiredReplicas": 5}, True, id="desired"),
    pytest.param(_WRITTEN, _WRITTEN | {"currentReplicas": 5}, True, id="current"),
    pytest.param(_WRITTEN, _WRITTEN | {"lastScaleTime": T1}, True, id="scale-time"),
    pytest.param(_WRITTEN, _WRITTEN | {"observedGeneration": 2}, True, id="generation"),
    pytest.param(_WRITTEN, _with_condition(_WRITTEN, "ScalingLimited", status="True", lastTransitionTime=T1), True,
                 id="condition-status"),
    pytest.param(_WRITTEN, _with_condition(_WRITTEN, "ScalingLimited", reason="BoundBy",
                                           message="the desired count is limited by cooldown"), True,
                 id="condition-reason"),
    pytest.param(_INVALID, _with_condition(_INVALID, "Valid", message="spec.maxReplicas: must be >= minReplicas"),
                 True, id="validation-lines"),
    pytest.param(_CLAIMED, _with_condition(_CLAIMED, "ScalingActive", message="claimed by two other claims"), True,
                 id="claims"),
])
def test_a_status_is_written_only_when_a_state_changed(old, new, changed):
    assert status_changed(old, new) is changed
