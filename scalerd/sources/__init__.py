"""The metric sources behind one factory: a cycle hands every target over and gets one Reading per metric.

`Sources` builds one source per registered metric type (`scalerd.metric_types.registry`) once per process and
reuses it across cycles (its HTTP sessions, Kafka clients and threads live as long as it does); the daemon
builds a new one when a reload changes `defaults`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from scalerd.config.model import Defaults, Metric, Target
from scalerd.metric_types.base import SourceContext
from scalerd.metric_types.registry import METRIC_TYPES
from scalerd.readings import Reading


class Sources:
    def __init__(self, *, defaults: Defaults, kube_api_client=None, clock: Callable[[], float] = time.time) -> None:
        context = SourceContext(defaults=defaults, kube_api_client=kube_api_client, clock=clock)
        self._clock = clock
        self._sources = {name: metric_type.source(context) for name, metric_type in METRIC_TYPES.items()}

    def read_all(self, targets: Sequence[Target], *, at: float | None = None) -> dict[tuple[str, str], Reading]:
        """(target name, metric name) -> Reading for every metric of every target; never raises for a metric.

        `at`: the cycle's wall-clock time (Unix seconds) Prometheus evaluates its queries at; default now.
        """
        return {key: future.result() for key, future in self.submit_all(targets, at=at).items()}

    def submit_all(
        self, targets: Sequence[Target], *, at: float | None = None
    ) -> dict[tuple[str, str], Future[Reading]]:
        """As `read_all`, but at once: each metric's future Reading is settled as soon as its own source has it
        (a Prometheus metric as soon as its own query is answered), so a slow source delays only what it serves.
        The futures never raise."""
        if at is None:
            at = self._clock()
        by_type: dict[str, list[tuple[Target, Metric]]] = {}
        for target in targets:
            for metric in target.metrics:
                by_type.setdefault(metric.type, []).append((target, metric))
        pending = {}
        for metric_type, wanted in by_type.items():
            futures = self._sources[metric_type].submit(wanted, at=at)
            pending.update({(target.name, metric.name): future for (target, metric), future in zip(wanted, futures)})
        return pending

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
