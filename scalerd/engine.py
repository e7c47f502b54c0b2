"""The rule engine: one target, one cycle, no I/O. The daemon and the simulator run this same code.

`decide` follows the Kubernetes HPA controller (`reconcileAutoscaler`, `computeReplicasForMetrics`,
`normalizeDesiredReplicasWithBehaviors`) and adds schedules, a fallback, a cooldown and a pause:

1. Paused (config or annotation) → no change. Current 0 with minReplicas > 0 → someone scaled it to zero by
   hand: no change (as the HPA). Current above maxReplicas → max; below minReplicas → min; like the HPA these
   corrections skip the behaviors (no recommendation of their own is recorded), but not the cooldown.
2. Each metric's proposal (`scalerd.replica_math`), tolerance included.
3. The proposal is the maximum of the metric proposals, the schedule's active proposal and, after
   `fallback.failureThreshold` failed cycles in a row, the fallback replicas. A cycle counts as failed when
   any metric failed (KEDA counts per scaler; a target here has one counter). While a metric fails and no
   fallback is active, a proposal below the current count keeps the current count (the HPA refuses to scale
   down on partial data); an active fallback replaces the failing metrics, as in KEDA, so it may scale down.
   With no metric and no active schedule entry the proposal is minReplicas (KEDA: no active trigger).
4. Behaviors as `normalizeDesiredReplicasWithBehaviors`: the unstabilized proposal is recorded; the
   recommendations strictly newer than now - window count; the stabilized count is the current count raised
   to the scale-up window's minimum, then lowered to the scale-down window's maximum; then the rate limits
   from the scale events strictly newer than now - period, clamped to [minReplicas, maxReplicas].
   A first cycle (empty history) first records the current count, as the HPA's `recordInitialRecommendation`
   does before step 1 branches, so also in a cycle that ends in step 1 or 3 (a paused target records nothing).
   A scale-up from 0 that the rate limits keep at 0 goes to 1 (unless scale-up is Disabled).
5. Cooldown: no change while less than `cooldown` has passed since the last applied change.

Reason codes (`Decision.reason`): `scalerd.reasons.Reason`.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter

from scalerd.config.model import Behavior, Metric, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy, Target
from scalerd.forecast import Forecast
from scalerd.metric_types.registry import metric_outcome, raw_proposal
from scalerd.readings import Reading
from scalerd.reasons import Reason
from scalerd.replica_math import MetricOutcome
from scalerd.schedule import active_schedule_proposal

_time_of = itemgetter(0)
_count_of = itemgetter(1)

__all__ = [
    "Decision",
    "EngineState",
    "MetricProposal",
    "active_schedule_proposal",
    "decide",
    "raw_proposal",
]


@dataclass(frozen=True, slots=True)
class EngineState:
    """What the engine remembers about one target between cycles. Times are on the caller's timeline."""

    recommendations: tuple[tuple[float, int], ...] = ()
    """(time, unstabilized proposal) of recent cycles, for the stabilization windows."""
    scale_events: tuple[tuple[float, int], ...] = ()
    """(time, signed replica delta) of applied changes, for the scaling policies' periods."""
    last_change: float | None = None
    failed_cycles: int = 0
    """Consecutive cycles in which a metric failed."""

    def with_change(self, *, now: float, from_replicas: int, to_replicas: int) -> EngineState:
        """The state after the caller applied a change (the simulator: always; the daemon: once written)."""
        if to_replicas == from_replicas:
            return self
        return replace(
            self,
            scale_events=self.scale_events + ((now, to_replicas - from_replicas),),
            last_change=now,
        )

    def shifted(self, offset: float) -> EngineState:
        """The same state with every time moved by `offset` (e.g. from wall-clock to monotonic seconds)."""
        return replace(
            self,
            recommendations=tuple((time + offset, count) for time, count in self.recommendations),
            scale_events=tuple((time + offset, delta) for time, delta in self.scale_events),
            last_change=None if self.last_change is None else self.last_change + offset,
        )

    def to_json(self) -> dict:
        """A compact form for the Deployment annotation `scalerd.io/state`. `decide` already pruned old entries."""
        return {
            "recommendations": [[round(time, 3), count] for time, count in self.recommendations],
            "scale_events": [[round(time, 3), delta] for time, delta in self.scale_events],
            "last_change": None if self.last_change is None else round(self.last_change, 3),
            "failed_cycles": self.failed_cycles,
        }

    @classmethod
    def from_json(cls, data: dict) -> EngineState:
        """Parse `to_json`'s form (entries put in time order); raises ValueError naming the field when malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"state: expected an object (got {type(data).__name__})")  # noqa: TRY004 - one error type for a bad annotation

        def pairs(field: str) -> tuple[tuple[float, int], ...]:
            items = data.get(field, [])
            if not isinstance(items, list):
                raise ValueError(f"state.{field}: expected a list (got {type(items).__name__})")  # noqa: TRY004
            parsed = []
            for index, item in enumerate(items):
                if (
                    not isinstance(item, list)
                    or len(item) != 2
                    or not isinstance(item[0], (int, float))
                    or isinstance(item[1], bool)
                    or not isinstance(item[1], int)
                ):
                    raise ValueError(f"state.{field}[{index}]: expected [time, integer] (got {item!r})")
                parsed.append((float(item[0]), item[1]))
            return tuple(sorted(parsed, key=_time_of))

        last_change = data.get("last_change")
        if last_change is not None and not isinstance(last_change, (int, float)):
            raise ValueError(f"state.last_change: expected a number or null (got {last_change!r})")
        failed_cycles = data.get("failed_cycles", 0)
        if isinstance(failed_cycles, bool) or not isinstance(failed_cycles, int) or failed_cycles < 0:
            raise ValueError(f"state.failed_cycles: expected an integer >= 0 (got {failed_cycles!r})")
        return cls(
            recommendations=pairs("recommendations"),
            scale_events=pairs("scale_events"),
            last_change=None if last_change is None else float(last_change),
            failed_cycles=failed_cycles,
        )


@dataclass(frozen=True, slots=True)
class MetricProposal:
    name: str
    type: str
    value: float | None
    proposal: int | None
    """The count this metric alone asks for, before tolerance, bounds and behaviors; None when it failed."""
    error: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    target: str
    current: int
    desired: int
    reason: Reason
    """A stable code: `scalerd.reasons.Reason`."""
    message: str
    metrics: tuple[MetricProposal, ...]
    metric_proposal: int | None
    """The largest metric proposal before tolerance, bounds, schedule and behaviors; None if none succeeded."""
    schedule_proposal: int | None
    bound_by: str | None
    """The limit that bound the result: maxReplicas, minReplicas, a stabilization window, a policy, cooldown."""
    forecast_proposal: int | None = None
    """`predictive`: the largest count the metrics' forecast bounds ask for; None without a forecast."""

    @property
    def changed(self) -> bool:
        return self.desired != self.current


def _duration_text(seconds: float) -> str:
    return f"{seconds:g}s"


def _policy_text(direction: str, policy: ScalingPolicy) -> str:
    return f"{direction} policy {policy.type.value} {policy.value}/{_duration_text(policy.period)}"


def _replicas_changed_in_period(scale_events: Sequence[tuple[float, int]], cutoff: float) -> tuple[int, int]:
    """(added, removed) by the scale events strictly newer than `cutoff`."""
    added = removed = 0
    for time, delta in scale_events:
        if time > cutoff:
            if delta > 0:
                added += delta
            else:
                removed -= delta
    return added, removed


def _scale_up_limit(rules: ScalingRules, *, current: int, now: float, scale_events: Sequence[tuple[float, int]]) -> tuple[int, str]:
    """The most replicas the policies allow now, and which policy set it (`calculateScaleUpLimitWithScalingRules`)."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return current, "scaleUp policy Disabled"
    limit, label = None, ""
    for policy in rules.policies:
        added, removed = _replicas_changed_in_period(scale_events, now - policy.period)
        period_start = current - added + removed
        if policy.type is PolicyType.PODS:
            proposed = period_start + policy.value
        else:
            proposed = math.ceil(period_start * (1 + policy.value / 100))
        better = limit is None or (proposed < limit if rules.select_policy is SelectPolicy.MIN else proposed > limit)
        if better:
            limit, label = proposed, _policy_text("scaleUp", policy)
    return (current, "scaleUp policies (none configured)") if limit is None else (limit, label)


def _scale_down_limit(
    rules: ScalingRules, *, current: int, now: float, scale_events: Sequence[tuple[float, int]]
) -> tuple[int, str]:
    """The fewest replicas the policies allow now, and which policy set it (`calculateScaleDownLimitWithBehaviors`)."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return current, "scaleDown policy Disabled"
    limit, label = None, ""
    for policy in rules.policies:
        added, removed = _replicas_changed_in_period(scale_events, now - policy.period)
        period_start = current - added + removed
        if policy.type is PolicyType.PODS:
            proposed = period_start - policy.value
        else:
            proposed = int(period_start * (1 - policy.value / 100))
        better = limit is None or (proposed > limit if rules.select_policy is SelectPolicy.MIN else proposed < limit)
        if better:
            limit, label = proposed, _policy_text("scaleDown", policy)
    return (current, "scaleDown policies (none configured)") if limit is None else (limit, label)


def stabilize_recommendation(
    behavior: Behavior, *, current: int, proposal: int, now: float, recommendations: Sequence[tuple[float, int]]
) -> tuple[int, str | None]:
    """`stabilizeRecommendationWithBehaviors`: the count the windows allow, and which window bound it.

    `recommendations` are in time order (as `decide` records them), so each window is a suffix.
    """
    up_floor = down_ceiling = proposal
    up_start = bisect_right(recommendations, now - behavior.scale_up.stabilization_window, key=_time_of)
    if up_start < len(recommendations):
        up_floor = min(up_floor, min(recommendations[up_start:], key=_count_of)[1])
    down_start = bisect_right(recommendations, now - behavior.scale_down.stabilization_window, key=_time_of)
    if down_start < len(recommendations):
        down_ceiling = max(down_ceiling, max(recommendations[down_start:], key=_count_of)[1])
    stabilized = current
    stabilized = max(stabilized, up_floor)
    stabilized = min(stabilized, down_ceiling)
    if stabilized == proposal:
        return stabilized, None
    window = "scaleUp" if proposal > current else "scaleDown"
    return stabilized, f"{window} stabilization window"


def limit_by_policies(
    target: Target, *, current: int, stabilized: int, now: float, scale_events: Sequence[tuple[float, int]]
) -> tuple[int, str | None]:
    """`convertDesiredReplicasWithBehaviorRate`: the policies and [min, max] applied to the stabilized count."""
    behavior = target.behavior
    if stabilized > current:
        limit, policy = _scale_up_limit(behavior.scale_up, current=current, now=now, scale_events=scale_events)
        limit = max(limit, current)
        if target.max_replicas > limit:
            allowed, bound = limit, policy
        else:
            allowed, bound = target.max_replicas, "maxReplicas"
        if stabilized > allowed:
            if allowed == 0 and current == 0 and behavior.scale_up.select_policy is not SelectPolicy.DISABLED:
                return 1, "scale from zero"
            return allowed, bound
    elif stabilized < current:
        limit, policy = _scale_down_limit(behavior.scale_down, current=current, now=now, scale_events=scale_events)
        limit = min(limit, current)
        if target.min_replicas < limit:
            allowed, bound = limit, policy
        else:
            allowed, bound = target.min_replicas, "minReplicas"
        if stabilized < allowed:
            return allowed, bound
    return stabilized, None


def _newer_than(entries: tuple[tuple[float, int], ...], cutoff: float) -> tuple[tuple[float, int], ...]:
    """The entries strictly newer than `cutoff`; entries are appended in time order, so only a prefix is old."""
    start = 0
    while start < len(entries) and entries[start][0] <= cutoff:
        start += 1
    return entries[start:] if start else entries


_horizons_by_behavior: dict[int, tuple[Behavior, float, float]] = {}


def _horizons(behavior: Behavior) -> tuple[float, float]:
    """(longest stabilization window, longest policy period): history older than these can never count again.

    Cached by identity: a config's Behavior objects live as long as the config, and hashing the nested frozen
    dataclasses every cycle would cost more than computing the answer.
    """
    cached = _horizons_by_behavior.get(id(behavior))
    if cached is None or cached[0] is not behavior:
        periods = [policy.period for rules in (behavior.scale_up, behavior.scale_down) for policy in rules.policies]
        windows = (behavior.scale_up.stabilization_window, behavior.scale_down.stabilization_window)
        if len(_horizons_by_behavior) > 4096:
            _horizons_by_behavior.clear()
        cached = _horizons_by_behavior[id(behavior)] = (behavior, max(windows), max(periods, default=0.0))
    return cached[1], cached[2]


def _metric_label(metric: Metric) -> str:
    return metric.type if metric.name == metric.type else f"{metric.type} {metric.name}"


def _join(*parts: str) -> str:
    return "; ".join(filter(None, parts))


def _amount(value: float) -> str:
    """A forecast figure for a sentence: thousands separated, at most three significant decimals."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _window_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


ROUNDING_SLACK = 0.25
"""`predictive`: a bound that exceeds a whole count by less than this share of one replica's load asks for that count
(at most one replica fewer than the bound's plain count). Chosen from the sweep in docs/predictive.md."""


@dataclass(frozen=True, slots=True)
class _PredictiveProposal:
    candidate: int
    """The metric's proposal in the decision."""
    forecast_proposal: int
    free_scale_down: bool
    """The forecast has been holding and asks for fewer replicas: no scale-down stabilization window."""
    text: str


def _predictive_proposal(
    metric: Metric, reading: Reading, outcome: MetricOutcome, forecast: Forecast, *, current: int, tolerance: float,
    rounding_slack: float,
) -> _PredictiveProposal:
    """A metric's proposal from its forecast bound, with the live value's own proposal as a floor.

    The floor is the smaller of the HPA's proposal (tolerance included) and the live count: where the HPA would
    stay, so may the forecast; where it would scale up, predictive asks for at least as much. Upwards the bound's
    count stands (the margin is the safety), less the rounding slack. Downwards, only while the bound has been
    holding: the bound over twice the lead time, and no scale-down window; otherwise the HPA's rules (the live
    proposal with tolerance, under the scale-down window).
    """

    def replicas_for(value: float) -> int:
        def plain(scaled: float) -> int:
            bound = Reading(metric.name, value=scaled, partition_count=reading.partition_count)
            return metric_outcome(metric, bound, current=current, tolerance=0.0).untolerated

        count = plain(value)
        # Every count rule is ceil(value × k): value / count is at most one replica's load (1 / k), so taking
        # rounding_slack of it off lowers the count by at most one.
        return plain(value * (1 - rounding_slack / count)) if count > 0 else count

    live = outcome.untolerated
    floor = min(live, outcome.proposal)
    forecast_proposal = replicas_for(forecast.value)
    upward = max(forecast_proposal, floor)
    text = (
        f"{_metric_label(metric)} forecast {_amount(forecast.value)} within {_duration_text(forecast.horizon)}"
        f" ({forecast.expert}, +{_amount(forecast.margin)} margin from the last"
        f" {_window_text(forecast.error_window)} of errors) → {forecast_proposal} replicas;"
        f" live {_amount(outcome.value)} → {live}"
    )
    if floor < live:
        text += f"; live floor {floor} within tolerance {tolerance:g}"
    if upward >= current:
        led_by = "forecast" if forecast_proposal >= floor else "live floor"
        return _PredictiveProposal(upward, forecast_proposal, False, f"{text}; {led_by} leads")
    # Below current the HPA's proposal is outside its band, so the floor is the live count itself.
    if forecast.holding:
        down = min(current, max(upward, replicas_for(forecast.down_value)))
        text += (
            f"; bound {_amount(forecast.down_value)} over {_duration_text(2 * forecast.horizon)} → {down}"
            " (holding: no scale-down window)"
        )
        return _PredictiveProposal(down, forecast_proposal, True, text)
    held = max(upward, outcome.proposal)
    text += f"; the bound missed within {_duration_text(2 * forecast.horizon)}: HPA scale-down rules → {held}"
    return _PredictiveProposal(held, forecast_proposal, False, text)


def decide(
    target: Target,
    *,
    current: int,
    readings: Sequence[Reading],
    now: float,
    wall_time: datetime,
    state: EngineState,
    paused: bool = False,
    forecasts: Mapping[str, Forecast] | None = None,
    rounding_slack: float = ROUNDING_SLACK,
) -> tuple[Decision, EngineState]:
    """The decision for this cycle and the state after it (without the change: see `EngineState.with_change`).

    now: seconds on the caller's timeline (windows, periods, cooldown); wall_time: an aware datetime, for
    schedules only; paused: the config's or the Deployment annotation's pause; forecasts: for a `predictive`
    target, each metric's forecast by name (`scalerd.forecast`); a metric without one decides as without
    `predictive` (too little history); rounding_slack: see `ROUNDING_SLACK`.
    """
    behavior = target.behavior
    by_name = {reading.name: reading for reading in readings}
    reports, candidates, raw_proposals, texts = [], [], [], []
    any_failed = tolerance_held = False
    forecasts = forecasts if target.predictive is not None and forecasts else {}
    forecast_proposal = None
    free_scale_down = bool(forecasts)
    forecast_spoke = False
    reactive_candidates: list[int] = []
    for metric in target.metrics:
        reading = by_name.get(metric.name) or Reading(metric.name, error=f"metric {metric.name}: no reading this cycle")
        outcome = metric_outcome(metric, reading, current=current, tolerance=behavior.tolerance)
        reports.append(MetricProposal(metric.name, metric.type, outcome.value, outcome.untolerated, outcome.error))
        if outcome.error is not None:
            any_failed = True
            texts.append(f"{_metric_label(metric)} failed ({outcome.error})")
            continue
        raw_proposals.append(outcome.untolerated)
        forecast = forecasts.get(metric.name)
        if forecast is not None and outcome.value is not None:
            predictive = _predictive_proposal(
                metric, reading, outcome, forecast, current=current, tolerance=behavior.tolerance,
                rounding_slack=rounding_slack,
            )
            candidates.append(predictive.candidate)
            # The windows remember what the HPA would have proposed: when the forecast stops holding, its
            # scale-down rules are the HPA's own, not held up by the forecast's earlier overshoots.
            forecast_spoke = True
            reactive_candidates.append(outcome.proposal)
            forecast_proposal = max(forecast_proposal or 0, predictive.forecast_proposal)
            free_scale_down = free_scale_down and predictive.free_scale_down
            texts.append(predictive.text)
            continue
        free_scale_down = False
        candidates.append(outcome.proposal)
        reactive_candidates.append(outcome.proposal)
        tolerance_held = tolerance_held or outcome.proposal != outcome.untolerated
        value = "held" if outcome.value is None else f"{outcome.value:g}"
        texts.append(f"{_metric_label(metric)} {value} → {outcome.untolerated} replicas")
    failed_cycles = state.failed_cycles + 1 if any_failed else 0
    metric_proposal = max(raw_proposals) if raw_proposals else None
    schedule_proposal = active_schedule_proposal(target.schedule, wall_time, target.timezone) if target.schedule else None
    metrics_text = "; ".join(texts)
    schedule_text = "" if schedule_proposal is None else f"schedule → {schedule_proposal} replicas"

    def verdict(desired: int, reason: Reason, message: str, *, bound_by: str | None = None) -> Decision:
        return Decision(
            target=target.name,
            current=current,
            desired=desired,
            reason=reason,
            message=message,
            metrics=tuple(reports),
            metric_proposal=metric_proposal,
            schedule_proposal=schedule_proposal,
            bound_by=bound_by,
            forecast_proposal=forecast_proposal,
        )

    def cooldown_left() -> float:
        if state.last_change is None or behavior.cooldown <= 0:
            return 0.0
        return behavior.cooldown - (now - state.last_change)

    def held_by_cooldown(desired: int, why: str) -> Decision:
        message = _join(
            why,
            f"cooldown: {_duration_text(math.ceil(cooldown_left()))} left of {_duration_text(behavior.cooldown)} "
            f"since the last change, staying at {current} instead of {desired}",
        )
        return verdict(current, Reason.COOLDOWN, message, bound_by="cooldown")

    # As the HPA's recordInitialRecommendation, before it branches: a first cycle records the current count,
    # whichever way it then goes (a clamp, a manual zero, a failed metric), so the windows start from that cycle.
    history = state.recommendations or ((now, current),)
    if history is state.recommendations and failed_cycles == state.failed_cycles:
        counted_state = state
    else:
        counted_state = replace(state, recommendations=history, failed_cycles=failed_cycles)

    if paused or target.paused:
        # A pause is scalerd's own: the target is not evaluated, so it records nothing but the failure count.
        paused_state = state if failed_cycles == state.failed_cycles else replace(state, failed_cycles=failed_cycles)
        return verdict(current, Reason.PAUSED, _join("paused: no change", metrics_text)), paused_state
    if current == 0 and target.min_replicas > 0:
        message = f"scaled to 0 by hand while minReplicas is {target.min_replicas}: left alone, as the HPA does"
        return verdict(0, Reason.MANUAL_ZERO, message), counted_state
    if current > target.max_replicas or current < target.min_replicas:
        above = current > target.max_replicas
        bound, reason = (
            (target.max_replicas, Reason.CLAMPED_TO_MAX) if above else (target.min_replicas, Reason.CLAMPED_TO_MIN)
        )
        bound_name = "maxReplicas" if above else "minReplicas"
        why = f"current {current} is {'above' if above else 'below'} {bound_name} {bound}"
        if cooldown_left() > 0:
            return held_by_cooldown(bound, why), counted_state
        return verdict(bound, reason, f"{why}: set to {bound}", bound_by=bound_name), counted_state

    fallback = target.fallback
    fallback_active = fallback is not None and any_failed and failed_cycles >= fallback.failure_threshold
    if schedule_proposal is not None:
        candidates.append(schedule_proposal)
        reactive_candidates.append(schedule_proposal)
    fallback_leads = fallback_active and fallback.replicas > max(candidates, default=-1)
    if fallback_active:
        candidates.append(fallback.replicas)
        reactive_candidates.append(fallback.replicas)
    fallback_text = (
        f"{failed_cycles} failed cycles in a row: fallback → {fallback.replicas} replicas" if fallback_active else ""
    )
    if any_failed and not fallback_active and (not candidates or max(candidates) < current):
        message = _join(metrics_text, schedule_text, f"a metric failed: keeping {current} replicas")
        return verdict(current, Reason.METRIC_FAILED_HOLD, message), counted_state

    proposal = max(candidates) if candidates else target.min_replicas
    recorded = proposal
    if forecast_spoke:
        # What the HPA would have recorded: the metrics' own proposals, the schedule and the fallback.
        recorded = max(reactive_candidates) if reactive_candidates else target.min_replicas
    if proposal == current:
        # The windows only ever pull the count back towards current, so there is nothing to stabilize.
        desired, bound_by = current, None
    else:
        windows = behavior
        if free_scale_down and proposal < current:
            windows = replace(behavior, scale_down=replace(behavior.scale_down, stabilization_window=0.0))
        stabilized, window_bound = stabilize_recommendation(
            windows, current=current, proposal=proposal, now=now, recommendations=history
        )
        desired, rate_bound = limit_by_policies(
            target, current=current, stabilized=stabilized, now=now, scale_events=state.scale_events
        )
        bound_by = rate_bound or window_bound
    longest_window, longest_period = _horizons(behavior)
    new_state = EngineState(
        recommendations=_newer_than(history, now - longest_window) + ((now, recorded),),
        scale_events=_newer_than(state.scale_events, now - longest_period),
        last_change=state.last_change,
        failed_cycles=failed_cycles,
    )

    limit_text = f"limited to {desired} by {bound_by}" if bound_by is not None and desired != proposal else ""
    if not candidates:
        basis = f"no metric or schedule entry proposes a count: minReplicas {target.min_replicas}"
    else:
        basis = _join(metrics_text, schedule_text, fallback_text)
    why = _join(basis, f"proposal {proposal}", limit_text)

    if desired != current:
        if cooldown_left() > 0:
            return held_by_cooldown(desired, why), new_state
        if fallback_leads:
            reason = Reason.FALLBACK
        else:
            reason = Reason.SCALE_UP if desired > current else Reason.SCALE_DOWN
        return verdict(desired, reason, _join(why, f"{current} → {desired}"), bound_by=bound_by), new_state

    if proposal == current:
        if tolerance_held:
            why = _join(why, f"within tolerance {behavior.tolerance:g}")
            return verdict(current, Reason.WITHIN_TOLERANCE, _join(why, f"staying at {current}")), new_state
        return verdict(current, Reason.NO_CHANGE, _join(why, f"staying at {current}")), new_state
    if bound_by == "maxReplicas":
        reason = Reason.AT_MAX
    elif bound_by == "minReplicas":
        reason = Reason.AT_MIN
    elif rate_bound is not None:
        reason = Reason.RATE_LIMITED
    else:
        reason = Reason.STABILIZED
    return verdict(current, reason, _join(why, f"staying at {current}"), bound_by=bound_by), new_state
