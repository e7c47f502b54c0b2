"""The loop: each cycle reads every metric once, decides every target, and writes what changed (as the leader).

The rule engine is pure; this module is the edge that feeds it (the cache, the sources, the clock) and carries
its decisions out (the writer: scale; the history: `scalerd.daemon.history`; the decision line and Events:
`scalerd.daemon.report`). One target's failure never stops another's cycle, and no failure stops the loop.

A HorizontalPodAutoscaler scaling a managed Deployment wins: two controllers writing one count would flap it. The
target is still decided (for the log, reason `hpa_conflict`) but never written, one `HPAConflict` Warning Event
says why (again only when a conflict comes back after it went away), and the next cycle after the HPA is deleted
manages the Deployment again from its stored history, as a new leader would.

Engine state (recommendation history, scale events, last change) and how it outlives a leader: see
`scalerd.daemon.history`. A steady cycle makes no API request at all.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Union

import structlog

from scalerd.config.model import Config, Target
from scalerd.daemon.collaborators import (
    ConfigProvider,
    DeploymentReader,
    Elector,
    HpaReader,
    MetricSources,
    Writer,
)
from scalerd.daemon.forecasts import Forecasts, HistoryLoader
from scalerd.daemon.history import History
from scalerd.daemon.report import (
    Reporter,
    TargetResult,
    failed_result,
    result_of,
)
from scalerd.engine import Decision, EngineState, decide
from scalerd.forecast import Forecast
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import WriteOutcome, WriteStatus
from scalerd.logs import REDACTOR, config_secrets
from scalerd.readings import Reading
from scalerd.reasons import Reason
from scalerd.writeahead import Intent

log = structlog.get_logger()

PAUSED_ANNOTATION = "scalerd.io/paused"
MAX_DECIDE_ATTEMPTS = 3
"""A write that meets a conflict is re-read and decided again, at most this many times in all."""
CYCLE_DEADLINE_FRACTION = 0.8
"""A target still running after this fraction of the interval is logged as overrunning."""
NO_READING = "no reading: the metric sources returned nothing for this metric"
HPA_SYNC_TIMEOUT = 10.0
"""How long `once` (a cycle waiting for every target) waits for the HPAs' first list."""


@dataclass(frozen=True)
class CycleClock:
    """The cycle's one reading of time: both clocks, read together at its start and handed down to everything
    the cycle decides and persists (so the monotonic history and the wall-clock stored one agree exactly). Only
    a change's own time is read later, on the monotonic clock when its scale write answered
    (`History.record_outcome`), and stored through this reading's `wall_offset`."""

    monotonic: float
    wall: float

    @property
    def wall_time(self) -> datetime:
        return datetime.fromtimestamp(self.wall, tz=UTC)

    @property
    def wall_offset(self) -> float:
        """What turns this process's monotonic times into wall-clock times (subtract it for the reverse)."""
        return self.wall - self.monotonic


Step = Callable[[], Union[TargetResult, "Step", None]]
"""What remains of a target's cycle: it returns the result (None: nothing was decided) or the next step."""

DeploymentKey = tuple[str, str]
"""(namespace, name) of a Deployment: what engine state describes, whichever target names it."""


class Daemon:
    """One scalerd instance's loop. Collaborators are injected; the clocks too, so tests control time.

    `max_concurrent_writes`: how many targets' API writes run at once (deciding takes one thread: `_decide`).

    `history`: what is remembered of each Deployment, in memory and in the state store.
    """

    def __init__(
        self,
        *,
        config: Config,
        config_provider: ConfigProvider | None,
        cache: DeploymentReader,
        writer: Writer,
        sources_factory: Callable[[Config], MetricSources],
        elector: Elector | None,
        metrics: DaemonMetrics,
        health: HealthState,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_concurrent_writes: int = 8,
        interval_override: float | None = None,
        history: History,
        hpas: HpaReader | None = None,
        history_loader: HistoryLoader | None = None,
        after_cycle: Callable[[list[TargetResult]], None] | None = None,
    ) -> None:
        self._config = config
        self._config_provider = config_provider
        self._cache = cache
        self._writer = writer
        self._reporter = Reporter(writer=writer, metrics=metrics)
        self._sources_factory = sources_factory
        self._sources = sources_factory(config)
        self._elector = elector
        self._metrics = metrics
        self._health = health
        self._monotonic = monotonic
        self._wall = wall
        self._interval_override = interval_override
        self._history = history
        """Keyed by Deployment: a target moved to another Deployment starts from that one's history."""
        self._forecasts = Forecasts(load_history=history_loader)
        """`predictive` metrics' forecasters (scalerd.daemon.forecasts); `history_loader` loads their past."""
        self._hpas = hpas
        self._after_cycle = after_cycle
        """Called with the leader's results after each of its cycles (the AutoScalerPolicy status writer)."""
        self._hpa_conflicts: dict[DeploymentKey, str] = {}
        """Deployment -> the HPA its HPAConflict Event named: the Event is not repeated while this holds."""
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._leadership_changed = threading.Event()
        self._decider = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="decide")
        self._write_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent_writes, thread_name_prefix="write"
        )
        self._cycle_lock = threading.Lock()
        self._wake = threading.Event()
        self._health.interval = self.interval
        self._health.config_loaded = True
        self._metrics.interval.set(self.interval)

    @property
    def config(self) -> Config:
        return self._config

    @property
    def interval(self) -> float:
        return self._interval_override or self._config.defaults.interval

    def run_forever(self, stop: threading.Event) -> None:
        """Run cycles every interval until `stop` is set. A cycle that overruns makes the loop skip, never stack.

        `wake()` starts the next cycle at once (leadership just acquired, or shutdown) and restarts the ticks.
        """
        next_due = self._monotonic()
        while not stop.is_set():
            try:
                self.run_cycle(stop=stop)
            except Exception:  # a defect in a collaborator costs this cycle, never the loop
                log.exception("cycle_failed")
            next_due += self.interval
            now = self._monotonic()
            if now > next_due:
                missed = int((now - next_due) // self.interval) + 1
                log.warning("cycle_skipped", missed=missed, interval=self.interval)
                next_due += missed * self.interval
            if self._wake.wait(max(0.0, next_due - self._monotonic())):
                self._wake.clear()
                next_due = self._monotonic()

    def wake(self) -> None:
        self._wake.set()

    def leadership_changed(self, leading: bool) -> None:
        """The elector's news: forget the in-memory state, and a new leader decides at once, not at its next tick."""
        self._leadership_changed.set()
        if leading:
            self.wake()

    def run_cycle(
        self, *, stop: threading.Event | None = None, wait_for_every_target: bool = False
    ) -> list[TargetResult]:
        """One cycle: reload, read the clock once, read every metric once, decide each target as its readings
        arrive (one thread), and write its change in the write pool.

        The results of the targets done within the cycle's deadline, or with `wait_for_every_target` (`once`) of all.
        """
        if not self._cycle_lock.acquire(blocking=False):
            log.warning("cycle_skipped", why="previous cycle still running")
            return []
        try:
            clock = CycleClock(monotonic=self._monotonic(), wall=self._wall())
            results = self._cycle(stop, clock=clock, wait_for_every_target=wait_for_every_target)
            if results is None:
                return []
            self._metrics.cycle_duration.observe(max(0.0, self._monotonic() - clock.monotonic))
            self._metrics.last_successful_cycle.set(clock.wall)
            self._health.cycle_completed()
            return results
        finally:
            self._cycle_lock.release()

    def close(self) -> None:
        self._decider.shutdown(wait=False, cancel_futures=True)
        self._write_pool.shutdown(wait=False, cancel_futures=True)
        self._forecasts.close()
        self._sources.close()

    def _cycle(self, stop: threading.Event | None, *, clock: CycleClock,
               wait_for_every_target: bool) -> list[TargetResult] | None:
        """The results, or None when the cycle could not run (the cache has not listed the Deployments yet)."""
        self._apply_reload()
        # Each cycle: a credential file rotated since the last one must be masked before anything logs it.
        REDACTOR.register(config_secrets(self._config))
        self._forecasts.apply(self._config, now=clock.wall, interval=self.interval)
        if wait_for_every_target and self._hpas is not None:
            self._hpas.wait_synced(HPA_SYNC_TIMEOUT)
        if wait_for_every_target:
            self._forecasts.wait_loaded()
        if not self._cache.synced():
            # Deciding now would report every target's Deployment as missing.
            log.info("cycle_waiting", why="the Deployment cache has not synced yet")
            return None
        leader = self._elector is None or self._elector.is_leader()
        self._metrics.leader.set(1 if leader else 0)
        if not leader or self._leadership_changed.is_set():
            # Another instance may have written meanwhile: memory is stale, the store is not.
            self._leadership_changed.clear()
            self._history.forget()
        if not leader:
            self._metrics.forget_targets()
            return []
        if not self._history.ready():
            return None
        config = self._config
        # Every metric is asked for at once, and each target waits only for its own readings: a slow metric
        # source delays the targets it serves, no other.
        pending = self._sources.submit_all(config.targets, at=clock.wall)
        futures = {}
        for target in config.targets:
            if not self._claim(target.name):
                log.warning("target_skipped", target=target.name, why="still running from the previous cycle")
                continue
            futures[self._start(target, pending=pending, clock=clock, stop=stop)] = target
        deadline = None if wait_for_every_target else CYCLE_DEADLINE_FRACTION * self.interval
        done, overrunning = concurrent.futures.wait(futures, timeout=deadline)
        for future in overrunning:
            # It goes on in the background, still claimed: the next cycles skip it until it ends.
            log.warning("target_overran", target=futures[future].name, deadline_seconds=deadline)
        self._history.end_cycle(flush_all=wait_for_every_target)
        results = [result for future in futures if future in done and (result := future.result()) is not None]
        if self._after_cycle is not None:
            try:
                self._after_cycle(results)
            except Exception:  # reporting what was done must not cost the cycle its results
                log.exception("after_cycle_failed")
        return results

    def _apply_reload(self) -> None:
        if self._config_provider is None:
            return
        new_config = self._config_provider.poll()
        self._metrics.config_rejected.set(1 if self._config_provider.holds_rejected_edit else 0)
        if new_config is None:
            return
        if new_config.defaults != self._config.defaults:
            old_sources = self._sources
            self._sources = self._sources_factory(new_config)
            old_sources.close()
        removed = {t.name for t in self._config.targets} - {t.name for t in new_config.targets}
        managed = {_deployment_key(target) for target in new_config.targets}
        self._history.keep_only(managed)
        for key in set(self._hpa_conflicts) - managed:
            del self._hpa_conflicts[key]
        self._cache.set_deployments(managed)
        self._metrics.forget_targets(keep={target.name for target in new_config.targets})
        self._config = new_config
        self._health.interval = self.interval
        self._metrics.interval.set(self.interval)
        log.info("config_applied", targets=len(new_config.targets), removed=sorted(removed))

    def _count_metric_errors(self, target: Target, readings: Sequence[Reading]) -> None:
        for metric, reading in zip(target.metrics, readings):
            if reading.failed:
                self._metrics.metric_errors.labels(source=metric.type).inc()
        self._metrics.record_failures(target=target.name, outcomes=[
            (metric.name, metric.type, reading.failed) for metric, reading in zip(target.metrics, readings)])

    def _claim(self, name: str) -> bool:
        with self._in_flight_lock:
            if name in self._in_flight:
                return False
            self._in_flight.add(name)
            return True

    def _start(
        self, target: Target, *, pending: Mapping[tuple[str, str], concurrent.futures.Future[Reading]],
        clock: CycleClock, stop: threading.Event | None,
    ) -> concurrent.futures.Future[TargetResult | None]:
        """Run a claimed target through its stages; the future returned holds its result, and its claim is
        released just before it completes.

        When its last reading arrives it is queued for the decide thread; a change's writes go on in the write
        pool (`_decide`). Its result is None when a shutdown began while its metrics were read.
        """
        finished: concurrent.futures.Future[TargetResult | None] = concurrent.futures.Future()
        readings = {metric.name: pending.get((target.name, metric.name)) for metric in target.metrics}

        def decide_when_read() -> None:
            self._run_step(target, finished=finished, executor=self._decider,
                           step=partial(self._read_and_decide, target, readings=readings, clock=clock, stop=stop))

        _when_all_done([reading for reading in readings.values() if reading is not None], then=decide_when_read)
        return finished

    def _run_step(self, target: Target, *, finished: concurrent.futures.Future[TargetResult | None],
                  executor: concurrent.futures.Executor, step: Step) -> None:
        """Run `step` in `executor`; a step it returns goes on in the write pool, a result completes `finished`."""

        def finish(result: TargetResult | None) -> None:
            with self._in_flight_lock:
                self._in_flight.discard(target.name)
            finished.set_result(result)

        def run() -> None:
            try:
                outcome = step()
                if not (outcome is None or isinstance(outcome, TargetResult)):
                    self._run_step(target, finished=finished, executor=self._write_pool, step=outcome)
                    return
            except Exception as error:  # one target's bug must not stop the others or the loop
                log.exception("target_failed", target=target.name)
                outcome = failed_result(target, reason=Reason.ERROR, error=f"{type(error).__name__}: {error}")
            finish(outcome)

        try:
            executor.submit(run)
        except RuntimeError:  # the daemon is closing: nothing more is decided
            finish(None)

    def _read_and_decide(self, target: Target, *, readings: Mapping[str, concurrent.futures.Future[Reading] | None],
                         clock: CycleClock, stop: threading.Event | None) -> TargetResult | Step | None:
        values = [Reading(metric.name, error=NO_READING) if (reading := readings[metric.name]) is None
                  else reading.result() for metric in target.metrics]
        self._count_metric_errors(target, values)
        if stop is not None and stop.is_set():
            return None
        return self._decide(target, readings=values, clock=clock)

    def _decide(self, target: Target, *, readings: list[Reading], clock: CycleClock) -> TargetResult | Step:
        """In the decide thread: the result of a target with nothing to write, else the step that writes.

        Deciding is CPU-bound (engine, forecasters, decision line), so one thread does it for every target:
        threads sharing the interpreter's lock would only take it from each other (at 1,000 predictive targets,
        eight deciding threads took 1.6 times as long as one; bench/RESULTS.md). What waits on the API (the
        state store, the scale write, Events, the old annotations' removal) is a step for the write pool, so
        a slow write delays its own target only.
        """
        view = self._cache.get(target.namespace, target.deployment)
        if view is None:
            return _not_found(target)
        hpa = None if self._hpas is None else self._hpas.hpa_for(target.namespace, target.deployment)
        if hpa is not None:
            return partial(self._stand_back, target, view=view, hpa=hpa, readings=readings, clock=clock)
        self._hpa_conflicts.pop(_deployment_key(target), None)
        if self._history.migrates(view):  # in the pool: the step, then its change's writes (one more step)
            return partial(self._decide_change, target, view=view, readings=readings, clock=clock)
        return self._decide_change(target, view=view, readings=readings, clock=clock)

    def _decide_change(self, target: Target, *, view: DeploymentView, readings: list[Reading],
                       clock: CycleClock) -> TargetResult | Step:
        """The result of a target with nothing to write, else the step that writes its change."""
        state = self._history.state_of(target, view, clock=clock)
        forecasts = self._forecasts.observe(target, readings, current=view.replicas, now=clock.wall)
        decision, new_state = self._decide_once(target, view=view, readings=readings, state=state,
                                                forecasts=forecasts, clock=clock)
        if not decision.changed:
            self._history.remember(_deployment_key(target), new_state)
            return self._report(target, decision, view=view, outcome=None, intent=None)
        return partial(self._write, target, view=view, readings=readings, clock=clock, state=state,
                       forecasts=forecasts, decision=decision, new_state=new_state)

    def _decide_once(self, target: Target, *, view: DeploymentView, readings: list[Reading], state: EngineState,
                     forecasts: Mapping[str, Forecast], clock: CycleClock) -> tuple[Decision, EngineState]:
        paused = target.paused or view.annotations.get(PAUSED_ANNOTATION) == "true"
        return decide(target, current=view.replicas, readings=readings, now=clock.monotonic,
                      wall_time=clock.wall_time, state=state, paused=paused, forecasts=forecasts)

    def _write(self, target: Target, *, view: DeploymentView, readings: list[Reading], clock: CycleClock,
               state: EngineState, forecasts: Mapping[str, Forecast], decision: Decision,
               new_state: EngineState) -> TargetResult:
        """A change: its intent stored first, then the scale write; a conflict re-reads the Deployment and
        decides again from `state`, at most MAX_DECIDE_ATTEMPTS decisions in all."""
        outcome = intent = None
        for attempt in range(1, MAX_DECIDE_ATTEMPTS + 1):
            if attempt > 1:
                decision, new_state = self._decide_once(target, view=view, readings=readings, state=state,
                                                        forecasts=forecasts, clock=clock)
                if not decision.changed:
                    break
            intent, stored = self._history.write_intent(view, decision, state=new_state, clock=clock)
            if not stored.applied and stored.status != WriteStatus.DRY_RUN:
                outcome = replace(stored, status=WriteStatus.STATE_NOT_WRITTEN,
                                  detail=f"the intent could not be stored first ({stored.status}): {stored.detail}")
                self._history.remember(_deployment_key(target), new_state)
                break
            outcome = self._writer.scale(view=view, replicas=decision.desired)
            new_state = self._history.record_outcome(view, decision, state=new_state, outcome=outcome, clock=clock,
                                                     answered=self._monotonic())
            if outcome.status != WriteStatus.CONFLICT or attempt == MAX_DECIDE_ATTEMPTS:
                break
            log.info("scale_conflict", target=target.name, resource_version=view.resource_version)
            view = self._cache.refresh(target.namespace, target.deployment)
            if view is None:
                return _not_found(target)
        return self._report(target, decision, view=view, outcome=outcome, intent=intent)

    def _report(self, target: Target, decision: Decision, *, view: DeploymentView, outcome: WriteOutcome | None,
                intent: Intent | None) -> TargetResult:
        result = result_of(target, decision, applied=outcome is not None and outcome.applied, outcome=outcome)
        self._reporter.report(target, decision, result, view=view, intent=intent)
        return result

    def _stand_back(self, target: Target, *, view: DeploymentView, hpa: str, readings: list[Reading],
                    clock: CycleClock) -> TargetResult:
        """Decide for the log only: `hpa` scales this Deployment, and scalerd does not fight it."""
        # No state is kept meanwhile: the HPA changes the count, and when it is gone the stored history is taken
        # up again as on a takeover.
        state = self._history.state_of(target, view, clock=clock)
        self._history.drop(_deployment_key(target))
        forecasts = self._forecasts.observe(target, readings, current=view.replicas, now=clock.wall)
        decision, _ = self._decide_once(target, view=view, readings=readings, state=state, forecasts=forecasts,
                                        clock=clock)
        conflict = (f"HorizontalPodAutoscaler {hpa} also scales Deployment {target.namespace}/{target.deployment}: "
                    "scalerd does not write its replicas while that HPA exists")
        decision = replace(decision, reason=Reason.HPA_CONFLICT,
                           message=f"{conflict} (it would have set {decision.desired}: {decision.message})")
        if self._hpa_conflicts.get(_deployment_key(target)) != hpa:
            self._hpa_conflicts[_deployment_key(target)] = hpa
            log.warning("hpa_conflict", target=target.name, namespace=target.namespace,
                        deployment=target.deployment, hpa=hpa)
            self._reporter.emit(target, view, reason="HPAConflict", event_type="Warning",
                       message=f"{conflict}; delete the HPA or the scalerd target {target.name}")
        return self._report(target, decision, view=view, outcome=None, intent=None)


def _not_found(target: Target) -> TargetResult:
    log.warning("deployment_not_found", target=target.name, namespace=target.namespace,
                deployment=target.deployment)
    return failed_result(target, reason=Reason.DEPLOYMENT_NOT_FOUND,
                         error=f"deployment {target.namespace}/{target.deployment} not found")


def _when_all_done(futures: Sequence[concurrent.futures.Future], *, then: Callable[[], None]) -> None:
    """Call `then` once, in the thread that completes the last of `futures` (at once when they are all done)."""
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_future: concurrent.futures.Future) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            then()

    if not futures:
        then()
    for future in futures:
        future.add_done_callback(one_done)


def _deployment_key(target: Target) -> DeploymentKey:
    return (target.namespace, target.deployment)
