"""The inputs and the verdicts of `python -m bench.predictive` (the figures themselves are in docs/predictive.md)."""
from __future__ import annotations

import pytest

from bench.predictive import TRACES, Outcome, target_for, verdict
from bench.traces.kafka_backlog import backlog_rows
from scalerd.simulate import TraceRow


def test_the_kafka_backlog_is_the_same_seeded_week_every_time():
    rows = backlog_rows()

    assert rows == backlog_rows()
    assert len(rows) == 7 * 86400 // 15 + 1
    assert [round(lag, 3) for _, lag in rows[:3]] == [2804.817, 2535.625, 3049.504]
    assert all(lag >= 0 for _, lag in rows)


@pytest.mark.parametrize(
    ("name", "expected_rows", "expected_step"),
    [
        pytest.param("azure", 8640, 300.0, id="azure-30-days-of-5-minutes"),
        pytest.param("google", 8064, 300.0, id="google-28-days-of-5-minutes"),
    ],
)
def test_the_committed_traces(name, expected_rows, expected_step):
    rows = next(trace for trace in TRACES if trace.name == name).rows()

    assert len(rows) == expected_rows
    assert rows[1].timestamp - rows[0].timestamp == expected_step


def test_every_trace_gets_a_replica_per_sixteenth_of_its_mean_load():
    rows = [TraceRow(float(index), (value,)) for index, value in enumerate((10.0, 30.0, 50.0))]

    target = target_for(TRACES[0], rows)

    assert target.metrics[0].target_per_replica == 1.88  # 30 / 16, 3 significant digits
    assert target.predictive.lead_time == 60.0 and target.behavior.cooldown == 0.0


@pytest.mark.parametrize(
    ("predictive_cost", "predictive_under", "expected"),
    [
        pytest.param(1010.0, 0.2, (True, True), id="one-percent-of-the-oracle-more-is-allowed"),
        pytest.param(1010.5, 0.2, (True, False), id="more-is-not"),
        pytest.param(900.0, 0.21, (False, True), id="under-provisioned-longer-than-the-hpa"),
    ],
)
def test_verdict(predictive_cost, predictive_under, expected):
    outcome = Outcome(trace="t", quantile=0.8, rounding_slack=0.2, steps=10, oracle=1000.0, hpa_cost=1000.0, hpa_under=0.2,
                      predictive_cost=predictive_cost, predictive_under=predictive_under, predictive_scale_events=0,
                      seconds=0.0)

    assert verdict(outcome) == expected
