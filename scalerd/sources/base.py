"""Adapters onto the one source interface (`scalerd.metric_types.base.Source`) for sources that read a batch."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from scalerd.config.model import Metric, Target
from scalerd.readings import Reading

BatchRead = Callable[[Sequence[tuple[Target, Metric]]], list[Reading]]


class BatchSource:
    """A source that reads all its metrics in one call (Kafka: one batch of requests per cluster; cpu: one read
    per Deployment), run on its own thread so that it delays no other source; its metrics settle together."""

    def __init__(self, name: str, *, read: BatchRead, close: Callable[[], None]) -> None:
        self._name = name
        self._read = read
        self._close = close
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, wanted: Sequence[tuple[Target, Metric]], *, at: float) -> list[Future[Reading]]:
        futures: list[Future[Reading]] = [Future() for _ in wanted]
        if not wanted:
            return futures

        def settle(done: Future[list[Reading]]) -> None:
            try:
                outcome = done.result()
            except Exception as error:  # noqa: BLE001 - a defect in a source costs its metrics, not the cycle
                message = f"{self._name} source failed: {type(error).__name__}: {error}"
                outcome = [Reading(name=metric.name, error=message) for _target, metric in wanted]
            for future, reading in zip(futures, outcome):
                future.set_result(reading)

        self._executor.submit(self._read, wanted).add_done_callback(settle)
        return futures

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._close()


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
