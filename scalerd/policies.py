"""AutoScalerPolicy objects beside the configuration file's targets (contract §1c). Pure: no I/O, no clock.

`merge` turns the file's configuration and the policies the cache holds into the configuration the daemon runs:
each valid policy one more target, an invalid one left out with its problems, and a Deployment claimed twice
(two policies, or a policy and the file) managed by neither. `policy_status` is the status scalerd writes on a
policy, shaped like the HPA's: its conditions keep their lastTransitionTime until their status flips.
`status_changed` says whether it is worth a write: only a change an operator reads as a state is, so a metric that
moves a little every cycle at a steady count writes nothing, and `lastDecision.message` is the message of the
decision that caused the last write.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scalerd.config import ConfigError, policy_target
from scalerd.config.model import (
    POLICY_API_VERSION,
    POLICY_GROUP,
    POLICY_KIND,
    POLICY_VERSION,
    Config,
    Target,
)
from scalerd.daemon.report import TargetResult
from scalerd.reasons import Reason

GROUP, VERSION, KIND, API_VERSION = POLICY_GROUP, POLICY_VERSION, POLICY_KIND, POLICY_API_VERSION
PLURAL = "autoscalerpolicies"

PolicyKey = tuple[str, str]
"""(namespace, name) of an AutoScalerPolicy."""


def key_of(policy: Mapping[str, Any]) -> PolicyKey:
    metadata = policy.get("metadata") or {}
    return metadata.get("namespace", ""), metadata.get("name", "")


@dataclass(frozen=True)
class PolicySet:
    """The daemon's configuration, and what became of each policy."""

    config: Config
    targets: Mapping[PolicyKey, Target] = field(default_factory=dict)
    """Every valid policy's target, managed or not."""
    problems: Mapping[PolicyKey, tuple[str, ...]] = field(default_factory=dict)
    """Invalid policies: their problems, paths from `spec.`."""
    claimed_twice: Mapping[PolicyKey, str] = field(default_factory=dict)
    """Valid policies whose Deployment another claim names too: the sentence naming both claims."""
    generations: Mapping[PolicyKey, int] = field(default_factory=dict)


def merge(base: Config, policies: Iterable[Mapping[str, Any]]) -> PolicySet:
    targets: dict[PolicyKey, Target] = {}
    problems: dict[PolicyKey, tuple[str, ...]] = {}
    generations: dict[PolicyKey, int] = {}
    for policy in sorted(policies, key=key_of):
        key = key_of(policy)
        generations[key] = int((policy.get("metadata") or {}).get("generation") or 0)
        try:
            targets[key] = policy_target(dict(policy), defaults=base.defaults)
        except ConfigError as error:
            problems[key] = error.problems
    claims: dict[tuple[str, str], list[str]] = {}
    for target in base.targets:
        claims.setdefault((target.namespace, target.deployment), []).append(
            f"target {target.name} of the configuration file")
    for (namespace, name), target in targets.items():
        claims.setdefault((target.namespace, target.deployment), []).append(f"{KIND} {namespace}/{name}")
    contested = {deployment: claimants for deployment, claimants in claims.items() if len(claimants) > 1}
    claimed_twice = {
        key: _claimed_twice_message(target, contested[(target.namespace, target.deployment)])
        for key, target in targets.items() if (target.namespace, target.deployment) in contested}
    managed = [target for target in base.targets if (target.namespace, target.deployment) not in contested]
    managed += [target for key, target in targets.items() if key not in claimed_twice]
    return PolicySet(config=replace(base, targets=tuple(managed)), targets=targets, problems=problems,
                     claimed_twice=claimed_twice, generations=generations)


def _claimed_twice_message(target: Target, claimants: list[str]) -> str:
    return (f"Deployment {target.namespace}/{target.deployment} is claimed by {' and '.join(claimants)}: "
            "scalerd scales it for neither until one claim is removed")


# --- status ------------------------------------------------------------------------------------------------------

_TOO_MANY = (Reason.AT_MAX, Reason.CLAMPED_TO_MAX)
_TOO_FEW = (Reason.AT_MIN, Reason.CLAMPED_TO_MIN)


def policy_status(old: Mapping[str, Any] | None, *, policies: PolicySet, key: PolicyKey,
                  result: TargetResult | None, now: str) -> dict[str, Any]:
    """The status to hold after this cycle; `now` (RFC 3339) stamps what changed. Fields this cycle says nothing
    about (the counts of a policy not decided) keep their old values. Whether it is written: `status_changed`."""
    old = dict(old or {})
    status: dict[str, Any] = {"observedGeneration": policies.generations.get(key, 0)}
    target = policies.targets.get(key)
    if target is not None:
        status |= {"deployment": target.deployment, "minReplicas": target.min_replicas,
                   "maxReplicas": target.max_replicas}
    for kept in ("currentReplicas", "desiredReplicas", "lastScaleTime", "lastDecision"):
        if kept in old:
            status[kept] = old[kept]
    if key in policies.problems:
        wanted = [("Valid", False, "InvalidSpec", "\n".join(policies.problems[key])),
                  ("ScalingActive", False, "InvalidSpec", "the spec is invalid: scalerd does not act on it")]
    elif key in policies.claimed_twice:
        wanted = [("Valid", True, "ValidSpec", "the spec is a valid target"),
                  ("ScalingActive", False, "ClaimedTwice", policies.claimed_twice[key])]
    else:
        wanted = [("Valid", True, "ValidSpec", "the spec is a valid target")]
        if result is not None:
            wanted += _scaling_conditions(result)
            status |= _counts(result, now=now)
        else:  # not decided this cycle (still running from the last one): what the last decision said stands
            wanted += [(c["type"], c.get("status") == "True", c.get("reason", ""), c.get("message", ""))
                       for c in old.get("conditions") or [] if c.get("type") in ("ScalingActive", "ScalingLimited")]
    status["conditions"] = _conditions(old.get("conditions") or [], wanted, now=now)
    return status


_SPEC_REASONS = frozenset({"InvalidSpec", "ClaimedTwice"})
"""Condition reasons whose message states the spec (its problems, the claims on its Deployment); the other
messages are one cycle's sentence and may hold metric values."""


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether `new` is worth a status write over `old`: a field other than the messages changed (observedGeneration,
    the counts, lastScaleTime, lastDecision.reason, a condition's status, reason or lastTransitionTime), or the
    message of an `InvalidSpec` or `ClaimedTwice` condition (the problems, the claims) did. A message of one cycle's
    decision, which may change every cycle with the metric values, is written only along with such a change: 1,000
    policies at a steady count send no write per cycle."""
    return old is None or _state(old) != _state(new)


def _state(status: Mapping[str, Any]) -> dict[str, Any]:
    state = dict(status)
    if isinstance(decision := state.get("lastDecision"), Mapping):
        state["lastDecision"] = {name: value for name, value in decision.items() if name != "message"}
    if "conditions" in state:
        state["conditions"] = [
            entry if entry.get("reason") in _SPEC_REASONS
            else {name: value for name, value in entry.items() if name != "message"}
            for entry in state["conditions"] or []]
    return state


def _counts(result: TargetResult, *, now: str) -> dict[str, Any]:
    counts: dict[str, Any] = {"lastDecision": {"reason": result.reason, "message": result.message}}
    if result.current is not None:
        counts["currentReplicas"] = result.current
    if result.desired is not None:
        counts["desiredReplicas"] = result.desired
    if result.applied:
        counts["lastScaleTime"] = now
    return counts


def _scaling_conditions(result: TargetResult) -> list[tuple[str, bool, str, str]]:
    if result.error is not None:
        return [("ScalingActive", False, "FailedDecision", result.error)]
    if result.reason == Reason.HPA_CONFLICT:
        return [("ScalingActive", False, "HPAConflict", result.message)]
    if result.reason == Reason.PAUSED:
        return [("ScalingActive", False, "ScalingDisabled", result.message)]
    active = ("ScalingActive", True, "ValidDecision", "scalerd decides the replica count from the metrics and "
                                                       "schedule")
    if result.reason in _TOO_MANY:
        limited = ("ScalingLimited", True, "TooManyReplicas", result.message)
    elif result.reason in _TOO_FEW:
        limited = ("ScalingLimited", True, "TooFewReplicas", result.message)
    elif result.bound_by is not None:
        limited = ("ScalingLimited", True, "BoundBy", f"the desired count is limited by {result.bound_by}")
    else:
        limited = ("ScalingLimited", False, "DesiredWithinRange", "the desired count is within the acceptable range")
    return [active, limited]


def _conditions(old: list[Mapping[str, Any]], wanted: list[tuple[str, bool, str, str]], *,
                now: str) -> list[dict[str, Any]]:
    """As the HPA controller's setCondition: lastTransitionTime moves only when the status flips."""
    previous = {condition.get("type"): condition for condition in old}
    conditions = []
    for kind, flag, reason, message in wanted:
        value = "True" if flag else "False"
        before = previous.get(kind)
        since = before.get("lastTransitionTime", now) if before and before.get("status") == value else now
        conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                           "lastTransitionTime": since})
    return conditions


def condition(status: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == kind), None)
