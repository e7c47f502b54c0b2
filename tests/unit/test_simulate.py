"""The replay core of `scalerd simulate`: trace parsing, stepping, readings, summary, outputs.

Expected replica sequences are worked out by hand from the HPA's arithmetic (see each case).
"""
from __future__ import annotations

import io
import itertools
import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalerd.config.model import Behavior, DailyEntry, PolicyType, ScalingPolicy, ScalingRules, Target
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.simulate import (
    SUMMARY_KEYS,
    Series,
    Step,
    Summary,
    TraceError,
    TraceRow,
    baseline_of,
    read_trace,
    replay,
    simulate_to_directory,
)
from tests import builders

HPA_SCALE_UP = ScalingRules(
    stabilization_window=0.0,
    policies=(ScalingPolicy(PolicyType.PODS, 4, 15.0), ScalingPolicy(PolicyType.PERCENT, 100, 15.0)),
)
IMMEDIATE_SCALE_DOWN = ScalingRules(
    stabilization_window=0.0, policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15.0),)
)


def make_target(*, metrics=(), schedule=(), cooldown=0.0, min_replicas=1, max_replicas=20, timezone="UTC") -> Target:
    return builders.make_target(
        "api", *metrics, min_replicas=min_replicas, max_replicas=max_replicas, timezone=timezone, schedule=schedule,
        behavior=Behavior(cooldown=cooldown, tolerance=0.1, scale_up=HPA_SCALE_UP, scale_down=IMMEDIATE_SCALE_DOWN),
    )


def rps_target(**overrides) -> Target:
    return make_target(metrics=(PrometheusMetric(name="rps", query="q", target_per_replica=10.0),), **overrides)


def trace_rows(*pairs: tuple[float, float]) -> list[TraceRow]:
    return [TraceRow(timestamp, (value,)) for timestamp, value in pairs]


def columns(steps: list[Step], *names: str) -> list[tuple]:
    return [tuple(getattr(step, name) for name in names) for step in steps]


# A step in load from 10 to 200 (proposal 20) at 5 s intervals, against HPA scale-up policies
# Pods 4 / 15 s and Percent 100 / 15 s (select Max) and an immediate Percent 100 / 15 s scale-down:
# t=5   no event in (-10, 5]: start 1, max(1+4, ceil(1*2)) = 5
# t=10, 15  the +4 at t=5 is in the window: period start 5-4 = 1, limit 5 again
# t=20  the event at 5 is not newer than 20-15: start 5, max(9, 10) = 10
# t=25, 30  the +5 at t=20 counts: start 5, limit 10
# t=35  start 10, max(14, 20) = 20 = the proposal
# t=40  load 190: raw proposal 19, but 190 / (10 * 20) = 0.95 is within tolerance: stay at 20
# t=50  load 10: proposal 1, Percent 100 may remove everything; the floor is minReplicas 1
STEP_TRACE = trace_rows((0, 10), (5, 200), (40, 190), (50, 10), (60, 10))
STEP_EXPECTED = [
    # timestamp, metric_proposal, desired, replicas
    (0.0, 1, 1, 1),
    (5.0, 20, 5, 5),
    (10.0, 20, 5, 5),
    (15.0, 20, 5, 5),
    (20.0, 20, 10, 10),
    (25.0, 20, 10, 10),
    (30.0, 20, 10, 10),
    (35.0, 20, 20, 20),
    (40.0, 19, 20, 20),
    (45.0, 19, 20, 20),
    (50.0, 1, 1, 1),
    (55.0, 1, 1, 1),
    (60.0, 1, 1, 1),
]


def test_a_load_step_follows_the_hpa_rate_limits_and_tolerance():
    steps = list(replay(rps_target(), interval=5.0, rows=STEP_TRACE))

    assert columns(steps, "timestamp", "metric_proposal", "desired", "replicas") == STEP_EXPECTED
    assert [step.oracle for step in steps] == [1, 20, 20, 20, 20, 20, 20, 20, 19, 19, 1, 1, 1]


def test_the_baseline_runs_the_hpa_default_five_minute_scale_down_window():
    steps = list(replay(rps_target(), interval=5.0, rows=STEP_TRACE))

    # Same scale-up path; the default 300 s scale-down window keeps the highest recent recommendation (20).
    assert [step.baseline_replicas for step in steps] == [1, 5, 5, 5, 10, 10, 10, 20, 20, 20, 20, 20, 20]


def test_a_cooldown_holds_every_change_until_it_has_passed():
    steps = list(replay(rps_target(cooldown=20.0), interval=5.0, rows=STEP_TRACE))

    # t=5 scales 1 -> 5. t=20 is only 15 s later: held. t=25: start 5 (the t=5 event left the 15 s period),
    # limit 10. Held until t=45 (20 s later): proposal 19 from 10, limit max(14, 20): 19. t=50..60: held.
    assert [step.replicas for step in steps] == [1, 5, 5, 5, 5, 10, 10, 10, 10, 19, 19, 19, 19]
    assert [step.metric_proposal for step in steps] == [1, 20, 20, 20, 20, 20, 20, 20, 19, 19, 1, 1, 1]


def test_the_summary_of_the_load_step():
    out = io.StringIO()
    summary = Summary(interval=5.0)
    for step in replay(rps_target(), interval=5.0, rows=STEP_TRACE):
        summary.add(step)
    json.dump(summary.as_dict(), out)

    assert json.loads(out.getvalue()) == {
        "steps": 13,
        "replica_seconds": 5 * (1 + 5 * 3 + 10 * 3 + 20 * 3 + 1 * 3),  # 545
        "underprovisioned_seconds": 6 * 5,  # t=5..30: proposal 20 above 5 or 10 replicas
        "scale_events": 4,  # t=5, 20, 35, 50
        "oracle_replica_seconds": 5 * (1 + 20 * 7 + 19 * 2 + 1 * 3),  # 910
        "baseline_replica_seconds": 5 * (1 + 5 * 3 + 10 * 3 + 20 * 6),  # 830
        "baseline_underprovisioned_seconds": 6 * 5,
        "startup_delay_seconds": 0,
    }


def test_the_output_files_of_the_load_step(tmp_path):
    trace = io.StringIO("timestamp,rps,unused\n0,10,x\n5,200,x\n40,190,x\n50,10,x\n60,10,x\n")

    result = simulate_to_directory(rps_target(), interval=5.0, trace=trace, out_dir=str(tmp_path / "out"))

    lines = (tmp_path / "out" / "decisions.csv").read_text().splitlines()
    assert lines[0] == "timestamp,metric_proposal,desired,replicas,reason,ready,forecast_proposal"
    assert [line.split(",")[:4] for line in lines[1:]] == [
        [str(int(t)), str(proposal), str(desired), str(replicas)] for t, proposal, desired, replicas in STEP_EXPECTED
    ]
    # Without a start-up delay every replica serves at once; without predictive there is no forecast.
    assert [line.split(",")[5:] for line in lines[1:]] == [[str(replicas), ""] for *_, replicas in STEP_EXPECTED]
    assert all(line.split(",")[4] for line in lines[1:]), "every row carries a reason code"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["replica_seconds"] == 545 and isinstance(summary["replica_seconds"], int)
    assert list(result.series.replicas) == [replicas for *_, replicas in STEP_EXPECTED]
    assert list(result.series.loads[0]) == [10, 200, 200, 200, 200, 200, 200, 200, 190, 190, 10, 10, 10]


@pytest.mark.parametrize(
    ("rows", "interval", "expected_times", "expected_proposals"),
    [
        pytest.param([(0, 1), (7, 2), (16, 3)], 5.0, [0, 5, 10, 15], [1, 1, 2, 2],
                     id="rows-between-steps-and-a-last-row-past-the-last-step"),
        pytest.param([(0, 1), (10, 2), (20, 3)], 5.0, [0, 5, 10, 15, 20], [1, 1, 2, 2, 3],
                     id="a-row-exactly-on-a-step-is-read-at-that-step"),
        pytest.param([(0, 1), (0, 4), (5, 2)], 5.0, [0, 5], [4, 2], id="equal-timestamps-the-later-row-wins"),
        pytest.param([(100, 3)], 5.0, [100], [3], id="a-single-row-is-a-single-step"),
        # 3 * 0.3 is 0.8999999999999999 and 1700000000.3 + 0.1 is 1700000000.3999999: still at the row.
        pytest.param([(0, 1), (0.9, 2)], 0.3, [0, 0.3, 0.6, 0.9], [1, 1, 1, 2],
                     id="fractional-interval-reads-a-row-that-float-rounding-puts-just-after-the-step"),
        pytest.param([(1700000000.3, 1), (1700000000.4, 2), (1700000000.5, 3)], 0.1,
                     [1700000000.3, 1700000000.4, 1700000000.5], [1, 2, 3],
                     id="fractional-interval-at-unix-time-scale"),
    ],
)
def test_each_step_reads_the_latest_row_at_or_before_it(rows, interval, expected_times, expected_proposals):
    target = make_target(metrics=(PrometheusMetric(name="rps", query="q", target_per_replica=1.0),),
                         max_replicas=100)

    steps = list(replay(target, interval=interval, rows=trace_rows(*rows)))

    assert [round(step.timestamp, 6) for step in steps] == expected_times
    assert [step.metric_proposal for step in steps] == expected_proposals


@pytest.mark.parametrize(
    ("initial_replicas", "expected_first_replicas", "expected_scale_events"),
    [
        pytest.param(None, 5, 2, id="default-is-min-replicas-1-then-5-by-pods-4-then-7"),
        pytest.param(7, 7, 0, id="starting-where-the-load-wants-it-never-moves"),
        pytest.param(30, 20, 2, id="above-max-is-brought-to-max-at-the-first-step"),
    ],
)
def test_initial_replicas(initial_replicas, expected_first_replicas, expected_scale_events):
    rows = trace_rows(*[(t, 70) for t in range(0, 61, 15)])  # proposal ceil(70 / 10) = 7

    summary = Summary(interval=15.0)
    steps = []
    for step in replay(rps_target(), interval=15.0, rows=rows, initial_replicas=initial_replicas):
        summary.add(step)
        steps.append(step)

    assert steps[0].replicas == expected_first_replicas
    assert steps[-1].replicas == 7
    assert summary.scale_events == expected_scale_events


def test_cpu_demand_is_spread_over_the_current_replicas():
    target = make_target(metrics=(CpuMetric(name="cpu", target_utilization=50.0),))
    rows = trace_rows((0, 300), (15, 300), (30, 300))

    steps = list(replay(target, interval=15.0, rows=rows))

    # t=0: 300 % on 1 replica -> ceil(1 * 300 / 50) = 6, limited to max(1+4, 2) = 5.
    # t=15: 300 / 5 = 60 % -> ceil(5 * 60 / 50) = 6. t=30: 300 / 6 = 50 %: ratio 1, stay.
    assert columns(steps, "metric_proposal", "replicas") == [(6, 5), (6, 6), (6, 6)]
    assert [step.loads for step in steps] == [(300,), (300,), (300,)]


@pytest.mark.parametrize(
    ("metric", "load", "initial_replicas", "expected"),
    [
        # Total lag 1500 at 100 per replica: 15, with no partition cap (a trace has no partition count);
        # from 1: max(1+4, 2) = 5, then max(5+4, 10) = 10, then 15.
        pytest.param(KafkaMetric(name="m", group="g", topics=("t",), lag_per_replica=100.0), 1500, 1,
                     [(15, 5), (15, 10), (15, 15)], id="kafka-average-value-of-the-total-lag"),
        # Value 100 against 50 on 2 replicas: ceil(2 * 2) = 4. The trace does not answer the new count, so
        # a Value metric keeps doubling: ceil(4 * 2) = 8, then 16.
        pytest.param(PrometheusMetric(name="m", query="q", target_value=50.0), 100, 2,
                     [(4, 4), (8, 8), (16, 16)], id="prometheus-value-scales-with-the-current-count"),
    ],
)
def test_non_cpu_columns_are_the_metric_value(metric, load, initial_replicas, expected):
    rows = trace_rows((0, load), (15, load), (30, load))

    steps = list(replay(make_target(metrics=(metric,)), interval=15.0, rows=rows, initial_replicas=initial_replicas))

    assert columns(steps, "metric_proposal", "replicas") == expected


def test_cpu_utilization_is_the_hpa_integer_percent():
    target = make_target(metrics=(CpuMetric(name="cpu", target_utilization=25.0),))
    rows = trace_rows((0, 25), (15, 25))

    steps = list(replay(target, interval=15.0, rows=rows, initial_replicas=7))

    # 25 % of one replica over 7 pods: int(3.57) = 3 %, ratio 0.12, ceil(0.12 * 7) = 1 (the float
    # 25 / 7 / 25 * 7 = 1.0000000000000002 would ask for 2). Then 25 % on 1 replica: ratio 1, stay.
    assert columns(steps, "metric_proposal", "replicas") == [(1, 1), (1, 1)]


def test_schedules_read_the_step_time_in_the_target_timezone():
    # Unix 0 is 01:00 in Berlin (CET): the 01:00 entry (3 replicas) is active, not the 00:00 one.
    target = make_target(
        schedule=(DailyEntry(minute_of_day=0, replicas=1), DailyEntry(minute_of_day=60, replicas=3)),
        timezone="Europe/Berlin",
    )

    steps = list(replay(target, interval=15.0, rows=[TraceRow(0.0, ()), TraceRow(30.0, ())]))

    assert columns(steps, "metric_proposal", "replicas", "oracle", "baseline_replicas") == [
        (None, 3, 1, 1), (None, 3, 1, 1), (None, 3, 1, 1),
    ]


def test_a_schedule_only_target_writes_an_empty_metric_proposal(tmp_path):
    target = make_target(schedule=(DailyEntry(minute_of_day=0, replicas=2),))

    simulate_to_directory(target, interval=15.0, trace=io.StringIO("timestamp\n0\n15\n"), out_dir=str(tmp_path))

    rows = (tmp_path / "decisions.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:4] for row in rows] == [["0", "", "2", "2"], ["15", "", "2", "2"]]


def test_the_baseline_keeps_metrics_and_bounds_but_drops_schedule_and_cooldown():
    target = make_target(metrics=(PrometheusMetric(name="rps", query="q", target_per_replica=1.0),),
                         schedule=(DailyEntry(minute_of_day=0, replicas=2),), cooldown=300.0)

    baseline = baseline_of(target)

    assert baseline.behavior == Behavior(cooldown=0.0)
    assert baseline.schedule == ()
    assert (baseline.metrics, baseline.min_replicas, baseline.max_replicas) == (target.metrics, 1, 20)


def test_a_target_that_is_its_own_baseline_is_decided_once_per_step(monkeypatch):
    import scalerd.simulate as simulate_module

    calls = []
    real_decide = simulate_module.decide

    def counting_decide(target, **kwargs):
        calls.append(target.name)
        return real_decide(target, **kwargs)

    monkeypatch.setattr(simulate_module, "decide", counting_decide)
    plain_hpa = replace(rps_target(), behavior=Behavior(cooldown=0.0))

    steps = list(replay(plain_hpa, interval=5.0, rows=STEP_TRACE))

    assert len(calls) == len(steps) == 13
    assert [step.baseline_replicas for step in steps] == [step.replicas for step in steps]
    assert [step.replicas for step in steps] == [1, 5, 5, 5, 10, 10, 10, 20, 20, 20, 20, 20, 20]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "t.csv: empty file, expected a header row with 'timestamp'", id="empty-file"),
        pytest.param("timestamp,rps\n", "t.csv: no data rows after the header", id="header-only"),
        pytest.param("time,rps\n0,1\n", "t.csv:1: missing column(s) 'timestamp' (the header has 'time', 'rps')",
                     id="no-timestamp-column"),
        pytest.param("timestamp,lag\n0,1\n", "t.csv:1: missing column(s) 'rps' (the header has 'timestamp', 'lag')",
                     id="no-column-for-the-metric"),
        pytest.param("timestamp,rps\n0,1\n15,abc\n", "t.csv:3: column 'rps': not a finite number (got 'abc')",
                     id="non-numeric-cell"),
        pytest.param("timestamp,rps\n0,1\n15,\n", "t.csv:3: column 'rps': not a finite number (got '')",
                     id="empty-cell"),
        pytest.param("timestamp,rps\n0,1\n15\n", "t.csv:3: column 'rps': not a finite number (got '')",
                     id="short-row"),
        pytest.param("timestamp,rps\n0,nan\n", "t.csv:2: column 'rps': not a finite number (got 'nan')",
                     id="nan-cell"),
        pytest.param("timestamp,rps\nx,1\n", "t.csv:2: column 'timestamp': not a finite number (got 'x')",
                     id="bad-timestamp"),
        pytest.param("timestamp,rps\n0,1\n30,1\n15,1\n",
                     "t.csv:4: timestamp '15' is before the previous row's; timestamps must be ascending",
                     id="timestamps-going-backwards"),
    ],
)
def test_a_bad_trace_is_an_error_naming_file_line_and_column(text, message):
    with pytest.raises(TraceError) as raised:
        list(read_trace(io.StringIO(text), columns=["rps"], source="t.csv"))

    assert str(raised.value) == message


def test_a_trace_that_cannot_start_writes_nothing(tmp_path):
    with pytest.raises(TraceError):
        simulate_to_directory(rps_target(), interval=15.0, trace=io.StringIO("timestamp\n0\n"),
                              out_dir=str(tmp_path / "out"))

    assert not (tmp_path / "out").exists()


def test_the_trace_is_read_lazily():
    consumed = []

    def lines():
        for line in ("timestamp,rps\n", "0,10\n", "15,10\n", "30,10\n", "45,10\n"):
            consumed.append(line)
            yield line

    steps = replay(rps_target(), interval=15.0, rows=read_trace(lines(), columns=["rps"]))
    next(steps)

    assert len(consumed) <= 3, "the first step needs the header, its row and a peek at the next one"


@settings(max_examples=40, deadline=None)
@given(
    loads=st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), min_size=1, max_size=40),
    row_spacing=st.sampled_from([5.0, 7.0, 15.0, 30.0]),
    interval=st.sampled_from([5.0, 10.0, 15.0]),
    min_replicas=st.integers(min_value=0, max_value=3),
    span=st.integers(min_value=1, max_value=12),
    initial_replicas=st.integers(min_value=0, max_value=30),
    cooldown=st.sampled_from([0.0, 20.0, 45.0]),
)
def test_replay_invariants(loads, row_spacing, interval, min_replicas, span, initial_replicas, cooldown):
    target = rps_target(min_replicas=min_replicas, max_replicas=min_replicas + span, cooldown=cooldown)
    rows = trace_rows(*[(index * row_spacing, load) for index, load in enumerate(loads)])

    summary = Summary(interval=interval)
    steps = []
    for step in replay(target, interval=interval, rows=rows, initial_replicas=initial_replicas):
        summary.add(step)
        steps.append(step)

    last_timestamp = (len(loads) - 1) * row_spacing
    assert len(steps) == math.floor(last_timestamp / interval) + 1
    # A deployment someone scaled to zero by hand stays there (HPA rule); otherwise bounds always hold.
    scaled_to_zero = initial_replicas == 0 and min_replicas > 0
    for index, step in enumerate(steps):
        assert step.timestamp == index * interval
        assert step.loads == (loads[int(step.timestamp // row_spacing)],), "the latest row at or before the step"
        assert step.metric_proposal == math.ceil(step.loads[0] / 10.0)
        assert target.min_replicas <= step.oracle <= target.max_replicas
        if not scaled_to_zero:
            assert target.min_replicas <= step.replicas <= target.max_replicas
            assert target.min_replicas <= step.baseline_replicas <= target.max_replicas
    change_times = [step.timestamp for step in steps if step.scaled]
    assert all(later - earlier >= cooldown for earlier, later in itertools.pairwise(change_times))
    assert [step.scaled for step in steps] == [
        step.replicas != before for step, before in zip(steps, [initial_replicas] + [s.replicas for s in steps])
    ]
    assert summary.scale_events == len(change_times)
    assert summary.replica_seconds == pytest.approx(sum(step.replicas for step in steps) * interval)
    assert summary.underprovisioned_seconds == interval * sum(
        step.metric_proposal > step.replicas for step in steps
    )


def test_series_keeps_one_load_column_per_metric():
    series = Series(metric_names=("rps", "lag"))
    for timestamp, loads in ((0.0, (10.0, 500.0)), (15.0, (20.0, 700.0))):
        series.add(Step(timestamp, loads, 1, 1, 1, False, "no_change", 1, 1, 1, 1, 1))

    assert [list(column) for column in series.loads] == [[10.0, 20.0], [500.0, 700.0]]
    assert list(series.timestamps) == [0.0, 15.0]
