"""BatchSource: a source that reads its metrics in one batch, on a thread of its own. While a read hangs, the
batches of later cycles wait together for one next read instead of queueing one read each."""
from __future__ import annotations

import threading

from scalerd.config.model import Target
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.base import BatchSource

WAIT = 10.0


def _wanted(*names: str) -> list[tuple[Target, PrometheusMetric]]:
    metric = PrometheusMetric(name="m", query="q", target_per_replica=1.0)
    return [(Target(name=name, namespace="apps", deployment=name, min_replicas=1, max_replicas=5, timezone="UTC",
                    metrics=(metric,)), metric) for name in names]


class HangingRead:
    """Reads block until released; each read records the targets it was asked for."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.reads: list[list[str]] = []

    def __call__(self, wanted) -> list[Reading]:
        self.reads.append([target.name for target, _metric in wanted])
        self.started.set()
        self.release.wait(WAIT)
        return [Reading(name=metric.name, value=float(len(self.reads))) for _target, metric in wanted]


def test_batches_asked_for_while_a_read_hangs_share_one_next_read():
    read = HangingRead()
    source = BatchSource("test", read=read, close=lambda: None)
    first = source.submit(_wanted("a", "b"), at=0.0)
    assert read.started.wait(WAIT)
    later = [source.submit(_wanted("a", "b"), at=float(cycle)) for cycle in range(1, 5)]
    newcomer = source.submit(_wanted("c"), at=5.0)

    read.release.set()

    assert [future.result(WAIT).value for future in first] == [1.0, 1.0]
    assert [[future.result(WAIT).value for future in cycle] for cycle in later] == [[2.0, 2.0]] * 4
    assert newcomer[0].result(WAIT).value == 2.0
    assert read.reads == [["a", "b"], ["a", "b", "c"]]
    source.close()


def test_a_read_that_raises_fails_the_metrics_of_every_batch_it_served():
    def broken(wanted):
        raise RuntimeError("defect")

    source = BatchSource("test", read=broken, close=lambda: None)
    [future] = source.submit(_wanted("a"), at=0.0)

    assert future.result(WAIT) == Reading(name="m", error="test source failed: RuntimeError: defect")
    source.close()


def test_a_metric_the_read_gave_no_reading_for_fails_rather_than_waiting_for_ever():
    source = BatchSource("test", read=lambda wanted: [], close=lambda: None)
    [future] = source.submit(_wanted("a"), at=0.0)

    assert future.result(WAIT) == Reading(name="m", error="test source failed: it gave no reading for this metric")
    source.close()
