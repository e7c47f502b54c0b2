"""Adapters onto the one source interface (`scalerd.metric_types.base.Source`) for sources that read a batch."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from scalerd.config.model import Metric, Target
from scalerd.readings import Reading

BatchRead = Callable[[Sequence[tuple[Target, Metric]]], list[Reading]]


class BatchSource:
    """A source that reads all its metrics in one call (Kafka: one batch of requests per cluster; cpu: one read
    per Deployment), run on its own thread so that it delays no other source; its metrics settle together.

    While a read is under way, the batches of later cycles wait together for one next read, which reads each
    (target, metric) once: a source that hangs for several intervals owes one read when it comes back, not one per
    cycle it missed."""

    def __init__(self, name: str, *, read: BatchRead, close: Callable[[], None]) -> None:
        self._name = name
        self._read = read
        self._close = close
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._reading = False
        self._waiting: list[_Batch] = []

    def submit(self, wanted: Sequence[tuple[Target, Metric]], *, at: float) -> list[Future[Reading]]:
        batch = _Batch(wanted=list(wanted), futures=[Future() for _ in wanted])
        if not wanted:
            return batch.futures
        with self._lock:
            if self._reading:
                self._waiting.append(batch)
                return batch.futures
            self._reading = True
        self._executor.submit(self._read_until_none_wait, [batch])
        return batch.futures

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._close()

    def _read_until_none_wait(self, batches: list[_Batch]) -> None:
        while batches:
            self._read_once(batches)
            with self._lock:
                batches, self._waiting = self._waiting, []
                self._reading = bool(batches)

    def _read_once(self, batches: list[_Batch]) -> None:
        """One read for every (target, metric) the batches ask for, the latest configuration of each."""
        unique = {(target.name, metric.name): (target, metric) for batch in batches for target, metric in batch.wanted}
        wanted = list(unique.values())
        try:
            readings = dict(zip(unique, self._read(wanted)))
        except Exception as error:  # noqa: BLE001 - a defect in a source costs its metrics, not the cycle
            message = f"{self._name} source failed: {type(error).__name__}: {error}"
            readings = {key: Reading(name=metric.name, error=message) for key, (_target, metric) in unique.items()}
        for batch in batches:
            for (target, metric), future in zip(batch.wanted, batch.futures):
                future.set_result(readings.get((target.name, metric.name)) or Reading(
                    name=metric.name, error=f"{self._name} source failed: it gave no reading for this metric"))


@dataclass(frozen=True)
class _Batch:
    """One cycle's request to a batch source: what it wants, and the futures its readings settle."""

    wanted: list[tuple[Target, Metric]]
    futures: list[Future[Reading]]


class UnavailableSource:
    """A source that cannot read at all in this process: every metric's reading is the same error."""

    def __init__(self, why: str) -> None:
        self._why = why

    def submit(self, wanted: Sequence[tuple[Target, Metric]], *, at: float) -> list[Future[Reading]]:
        futures = []
        for _target, metric in wanted:
            future: Future[Reading] = Future()
            future.set_result(Reading(name=metric.name, error=self._why))
            futures.append(future)
        return futures

    def close(self) -> None:
        pass
