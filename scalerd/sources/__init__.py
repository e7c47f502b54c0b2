"""The metric sources behind one factory: a cycle hands every target over and gets one Reading per metric.

`Sources` is built once per process from the configuration's defaults and reused across cycles (its HTTP
session, Kafka clients and thread pools live as long as it does); the daemon builds a new one when a reload
changes `defaults.prometheus` or `defaults.kafka`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from scalerd.config.model import Defaults, Metric, Target
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.base import Source
from scalerd.sources.cpu import CpuSource
from scalerd.sources.kafka import KafkaSource
from scalerd.sources.prometheus import PrometheusSource

NO_KUBERNETES_ACCESS = "cpu metrics need Kubernetes access (metrics.k8s.io), and no API client was given"


class Sources:
    def __init__(self, *, defaults: Defaults, kube_api_client=None, clock: Callable[[], float] = time.time) -> None:
        self._prometheus = PrometheusSource(defaults.prometheus, clock=clock)
        self._kafka = KafkaSource(defaults.kafka)
        self._cpu: Source | None = None
        if kube_api_client is not None:
            self._cpu = CpuSource(kube_api_client, clock=clock)
        # One thread per source type: a slow broker must not delay the Prometheus readings.
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sources")

    def read_all(self, targets: Sequence[Target], *, at: float | None = None) -> dict[tuple[str, str], Reading]:
        """(target name, metric name) -> Reading for every metric of every target; never raises for a metric.

        `at`: the cycle's wall-clock time (Unix seconds) Prometheus evaluates its queries at; default now.
        """
        return {key: future.result() for key, future in self.submit_all(targets, at=at).items()}

    def submit_all(
        self, targets: Sequence[Target], *, at: float | None = None
    ) -> dict[tuple[str, str], Future[Reading]]:
        """As `read_all`, but at once: each metric's future Reading is settled as soon as its own source has it,
        a Prometheus metric as soon as its own query is answered, so a slow server delays only what it serves.
        The futures never raise."""
        by_source: dict[str, list[tuple[Target, Metric]]] = {"prometheus": [], "kafka": [], "cpu": []}
        for target in targets:
            for metric in target.metrics:
                by_source[_source_name(metric)].append((target, metric))

        prometheus = by_source["prometheus"]
        pending = {
            (target.name, metric.name): future
            for (target, metric), future in zip(prometheus, self._prometheus.submit(prometheus, at=at))
        }
        pending.update(_per_metric(self._executor.submit(self._kafka.read, by_source["kafka"]), by_source["kafka"],
                                   source="kafka"))
        if self._cpu is not None:
            pending.update(_per_metric(self._executor.submit(self._cpu.read, by_source["cpu"]), by_source["cpu"],
                                       source="cpu"))
        else:
            for target, metric in by_source["cpu"]:
                pending[(target.name, metric.name)] = _settled(Reading(name=metric.name, error=NO_KUBERNETES_ACCESS))
        return pending

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for source in (self._prometheus, self._kafka, self._cpu):
            if source is not None:
                source.close()


def _per_metric(
    batch: Future[list[Reading]], wanted: Sequence[tuple[Target, Metric]], *, source: str
) -> dict[tuple[str, str], Future[Reading]]:
    """One future per metric of a source that reads its metrics in one batch (Kafka, cpu)."""
    futures: dict[tuple[str, str], Future[Reading]] = {(target.name, metric.name): Future() for target, metric in wanted}

    def settle(done: Future[list[Reading]]) -> None:
        try:
            outcome = done.result()
        except Exception as error:  # noqa: BLE001 - a defect in a source costs its metrics, not the cycle
            message = f"{source} source failed: {type(error).__name__}: {error}"
            outcome = [Reading(name=metric.name, error=message) for _target, metric in wanted]
        for future, reading in zip(futures.values(), outcome):
            future.set_result(reading)

    batch.add_done_callback(settle)
    return futures


def _settled(reading: Reading) -> Future[Reading]:
    future: Future[Reading] = Future()
    future.set_result(reading)
    return future


def _source_name(metric: Metric) -> str:
    if isinstance(metric, PrometheusMetric):
        return "prometheus"
    if isinstance(metric, KafkaMetric):
        return "kafka"
    if isinstance(metric, CpuMetric):
        return "cpu"
    raise TypeError(f"no source reads metrics of type {type(metric).__name__}")
