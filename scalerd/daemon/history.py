"""What the loop remembers about each managed Deployment, and how that memory outlives the process holding it.

While an instance leads, each Deployment's engine state lives in memory on the monotonic timeline. Between
leaders it lives in the state store (`scalerd.kube.state_store`), on the wall-clock timeline, and every change is
written ahead (`scalerd.writeahead`): the intent before the scale write, the outcome after it. A new leader (or a
`scalerd once`) reads the store once and settles any intent left unconfirmed against the Deployment's count, so
a SIGKILL at any instant leaves its successor the history the killed leader had: cooldown, stabilization windows
and rate limits are never broken by a failover.

Between changes nothing is written: a steady cycle sends no request. The recommendations made since the last
change are therefore not in the store; a new leader assumes they kept the current count (as the HPA's
`recordInitialRecommendation` does when its controller starts), so its first scale-down can come up to one
stabilization window later than the old leader's would have, never earlier.

Deployments still carrying the annotations where older versions kept this history (`scalerd.io/state`,
`scalerd.io/last-decision`) are migrated once: read into the store, then the annotations removed with one
conditional patch — the only write scalerd ever makes to a Deployment's metadata.

`SCALERD_TEST_HALT_AT=<point>` (tests only) stops the thread that reaches the point for good, after logging
`halted_for_test`, so that a test can SIGKILL the process exactly there: `before_intent`, `before_scale`,
`before_outcome` (the scale write answered, its outcome not yet recorded), `after_outcome` (the outcome written).
"""
from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import Protocol

import structlog

from scalerd.config.model import Target
from scalerd.engine import Decision, EngineState
from scalerd.kube.cache import DeploymentView
from scalerd.kube.state_store import StoreUnavailable, TargetKey
from scalerd.kube.writer import WriteOutcome, WriteStatus
from scalerd.writeahead import Intent, TargetRecord, migrated_record, settle

log = structlog.get_logger()

STATE_ANNOTATION = "scalerd.io/state"
LAST_DECISION_ANNOTATION = "scalerd.io/last-decision"
OLD_ANNOTATIONS = (STATE_ANNOTATION, LAST_DECISION_ANNOTATION)
HALT_ENVIRONMENT = "SCALERD_TEST_HALT_AT"
HALT_POINTS = ("before_intent", "before_scale", "before_outcome", "after_outcome")


class Clock(Protocol):
    """The cycle's one reading of both clocks (`scalerd.daemon.loop.CycleClock`)."""

    monotonic: float
    wall: float

    @property
    def wall_offset(self) -> float: ...


class Store(Protocol):
    """`scalerd.kube.state_store.StateStore`."""

    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def invalidate(self) -> None: ...

    def record(self, key: TargetKey) -> TargetRecord | None: ...

    def put(self, key: TargetKey, record: TargetRecord) -> WriteOutcome: ...

    def stage(self, key: TargetKey, record: TargetRecord) -> None: ...

    def end_cycle(self, *, flush_all: bool = False) -> None: ...

    def has_staged(self) -> bool: ...


class AnnotationRemover(Protocol):
    def remove_annotations(self, *, view: DeploymentView, keys: tuple[str, ...]) -> WriteOutcome: ...


def halt_if_asked(point: str) -> None:
    """Tests only (see the module docstring): never returns when `SCALERD_TEST_HALT_AT` names `point`."""
    if os.environ.get(HALT_ENVIRONMENT) == point:
        log.warning("halted_for_test", point=point)
        threading.Event().wait()


class History:
    def __init__(self, store: Store, writer: AnnotationRemover, *, identity: str,
                 hold_current_on_takeover: bool = True) -> None:
        self._store = store
        self._writer = writer
        self._identity = identity
        self._hold_current_on_takeover = hold_current_on_takeover
        self._states: dict[TargetKey, EngineState] = {}

    def forget(self) -> None:
        """Another instance may have written meanwhile: memory is stale; the store is read again when needed."""
        self._states.clear()
        self._store.invalidate()

    def ready(self) -> bool:
        """Before a leader's cycle: the store loaded (one list, only after a takeover or a conflict)."""
        if self._store.loaded():
            return True
        self._states.clear()
        try:
            self._store.load()
        except StoreUnavailable as error:
            log.warning("state_unavailable", error=str(error), consequence="this cycle decides nothing")
            return False
        return True

    def keep_only(self, keys: set[TargetKey]) -> None:
        """A reload: the Deployments no target names any longer are forgotten (their records stay stored)."""
        for key in set(self._states) - keys:
            del self._states[key]

    def drop(self, key: TargetKey) -> None:
        """Take this Deployment's history from the store again next time (after an HPA let go of it)."""
        self._states.pop(key, None)

    def migrates(self, view: DeploymentView) -> bool:
        """Whether `state_of` moves this Deployment's old annotations into the store: API writes."""
        return (view.namespace, view.name) not in self._states and _has_old_annotations(view)

    def state_of(self, target: Target, view: DeploymentView, *, clock: Clock) -> EngineState:
        """The engine state on the monotonic timeline: from memory, else from the store (a takeover)."""
        key = (view.namespace, view.name)
        remembered = self._states.get(key)
        if remembered is not None:
            return remembered
        record = self._store.record(key)
        if _has_old_annotations(view):
            record = self._migrate(target, view, stored=record)
        intent = None if record is None else record.intent
        record, settlement = settle(record or TargetRecord(), current=view.replicas, now=clock.wall)
        if intent is not None:
            log.info("intent_settled", target=target.name, namespace=view.namespace, deployment=view.name,
                     intent=intent.id, by=intent.by, at=intent.at, from_replicas=intent.from_replicas,
                     to_replicas=intent.to_replicas, current=view.replicas, settlement=settlement.value)
            self._store.stage(key, record)
        state = record.state.shifted(-clock.wall_offset)
        if self._hold_current_on_takeover:
            state = replace(state, recommendations=(*state.recommendations, (clock.monotonic, view.replicas)))
        return state

    def remember(self, key: TargetKey, state: EngineState) -> None:
        """A cycle without a change: memory only."""
        self._states[key] = state

    def write_intent(self, view: DeploymentView, decision: Decision, *, state: EngineState,
                     clock: Clock) -> tuple[Intent, WriteOutcome]:
        """Step 1: the change about to be made, written before the scale write (`state`: after `decide`)."""
        key = (view.namespace, view.name)
        intent = Intent(from_replicas=decision.current, to_replicas=decision.desired, at=clock.wall,
                        by=self._identity)
        record = TargetRecord.for_intent(intent, state=state.shifted(clock.wall_offset), reason=decision.reason)
        halt_if_asked("before_intent")
        outcome = self._store.put(key, record)
        if outcome.status in (WriteStatus.APPLIED, WriteStatus.DRY_RUN):
            halt_if_asked("before_scale")
        return intent, outcome

    def record_outcome(self, view: DeploymentView, decision: Decision, *, state: EngineState,
                       outcome: WriteOutcome, clock: Clock, answered: float) -> EngineState:
        """Step 3: the scale write's answer; returns the state to go on with (with the change when applied).

        An applied change is dated `answered` (monotonic: when the answer came, after any retries), as the HPA
        dates its scale events (horizontal.go: `storeScaleEvent` after `Scales().Update` returned, at
        `time.Now()`): its policy periods and the cooldown run from when the count had surely changed.

        A write that got no final answer (`failed`: retries spent on 5xx or timeouts) may still land: its intent
        stays, memory is dropped, and the next cycle settles it against the count like a successor would.
        """
        halt_if_asked("before_outcome")
        key = (view.namespace, view.name)
        record = self._store.record(key)
        if outcome.status == WriteStatus.FAILED:
            self._states.pop(key, None)
            return state
        if record is not None and record.intent is not None and outcome.status != WriteStatus.DRY_RUN:
            self._store.stage(key, record.confirmed(applied=outcome.applied, at=answered + clock.wall_offset))
        if outcome.applied:
            state = state.with_change(now=answered, from_replicas=decision.current, to_replicas=decision.desired)
        self._states[key] = state
        return state

    def end_cycle(self, *, flush_all: bool = False) -> None:
        """Write the outcomes no intent write carried (`flush_all`: every one, for a process about to exit)."""
        had_staged = self._store.has_staged()
        self._store.end_cycle(flush_all=flush_all)
        if had_staged and not self._store.has_staged():
            halt_if_asked("after_outcome")

    def _migrate(self, target: Target, view: DeploymentView, *, stored: TargetRecord | None) -> TargetRecord | None:
        """Old annotations into the store (unless a record is there already), then off the Deployment."""
        key = (view.namespace, view.name)
        if stored is None:
            try:
                stored = migrated_record(state_annotation=view.annotations.get(STATE_ANNOTATION, "{}"),
                                         decision_annotation=view.annotations.get(LAST_DECISION_ANNOTATION))
            except ValueError as error:  # a hand-edited annotation: start afresh, say so
                log.warning("state_annotation_invalid", target=target.name, error=str(error))
                stored = TargetRecord()
            if self._store.put(key, stored).status != WriteStatus.APPLIED:
                return stored  # the annotations stay until the record is stored
        removed = self._writer.remove_annotations(view=view, keys=OLD_ANNOTATIONS)
        log.info("state_migrated", target=target.name, namespace=view.namespace, deployment=view.name,
                 annotations_removed=removed.applied, write_status=removed.status)
        return stored


def _has_old_annotations(view: DeploymentView) -> bool:
    return any(name in view.annotations for name in OLD_ANNOTATIONS)
