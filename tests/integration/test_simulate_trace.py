"""`scalerd simulate` end to end on the real Alibaba 2018 trace with config/simulate-alibaba.yaml."""
from __future__ import annotations

import csv
import itertools
import json
import math
import os
from pathlib import Path

import pytest

from scalerd.cli import main
from scalerd.config import load_config_file

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "simulate-alibaba.yaml"
TRACES = Path(os.environ.get("SCALERD_TRACES_DIR", REPO.parent / "shared" / "traces"))
TRACE = TRACES / "alibaba2018_machine_usage_30s.csv"
TRACE_ROWS = 22_415  # one row every 30 s from 0 to 672,420 s: the config's interval, so one step per row
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not TRACE.exists(), reason=f"the shared trace is not at {TRACE}")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    out = tmp_path_factory.mktemp("alibaba")
    code = main(["simulate", "--config", str(CONFIG), "--trace", str(TRACE), "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def decisions(replayed):
    with open(replayed / "decisions.csv", newline="") as decisions_file:
        return list(csv.DictReader(decisions_file))


def test_one_decision_per_trace_row_each_with_the_hpa_average_value_proposal(decisions):
    target = load_config_file(str(CONFIG)).targets[0]
    per_replica = target.metrics[0].target_per_replica
    with open(TRACE, newline="") as trace_file:
        trace = list(csv.DictReader(trace_file))

    assert len(decisions) == TRACE_ROWS == len(trace)
    for decision, row in zip(decisions, trace):
        assert float(decision["timestamp"]) == float(row["timestamp"])
        assert int(decision["metric_proposal"]) == math.ceil(float(row["cpu_util_percent"]) / per_replica)


def test_replicas_stay_within_bounds_and_change_no_faster_than_the_cooldown(decisions):
    target = load_config_file(str(CONFIG)).targets[0]
    replicas = [int(row["replicas"]) for row in decisions]
    change_times = [float(row["timestamp"]) for row, before in zip(decisions[1:], replicas) if int(row["replicas"]) != before]

    assert min(replicas) >= target.min_replicas and max(replicas) <= target.max_replicas
    assert all(later - earlier >= target.behavior.cooldown for earlier, later in itertools.pairwise(change_times))
    assert all(row["replicas"] == row["desired"] and row["reason"] for row in decisions)


def test_the_summary_adds_up_from_the_decisions(replayed, decisions):
    summary = json.loads((replayed / "summary.json").read_text())
    replicas = [int(row["replicas"]) for row in decisions]
    proposals = [int(row["metric_proposal"]) for row in decisions]

    assert list(summary) == [
        "steps", "replica_seconds", "underprovisioned_seconds", "scale_events",
        "oracle_replica_seconds", "baseline_replica_seconds", "baseline_underprovisioned_seconds",
        "startup_delay_seconds",
    ]
    assert summary["startup_delay_seconds"] == 0
    assert all(row["ready"] == row["replicas"] and row["forecast_proposal"] == "" for row in decisions)
    assert summary["steps"] == TRACE_ROWS
    assert summary["replica_seconds"] == 30 * sum(replicas)
    assert summary["underprovisioned_seconds"] == 30 * sum(p > r for p, r in zip(proposals, replicas))
    assert summary["oracle_replica_seconds"] == 30 * sum(min(max(p, 2), 20) for p in proposals)
    assert summary["scale_events"] == sum(a != b for a, b in zip([2, *replicas], replicas))
    # The baseline has no cooldown: it follows the load more closely, so it is under-provisioned less often.
    assert summary["baseline_underprovisioned_seconds"] <= summary["underprovisioned_seconds"]
    assert summary["oracle_replica_seconds"] <= summary["baseline_replica_seconds"]


def test_the_plot_is_a_png(replayed):
    plot = (replayed / "plot.png").read_bytes()

    assert plot[:8] == PNG_SIGNATURE
    assert len(plot) > 20_000, "a blank canvas compresses to a few kB; the curves make it larger"


def period_start(events: list[tuple[float, int]], *, now: float, replicas: int, period: float) -> int:
    """The count at the start of the period: the current one minus what was added, plus what was removed."""
    recent = [delta for time, delta in events if time > now - period]
    return replicas - sum(delta for delta in recent if delta > 0) - sum(delta for delta in recent if delta < 0)


def hpa_reference(loads: list[tuple[float, float]], *, target, interval: float) -> list[tuple[int, int]]:
    """(raw proposal, replicas) per step, from an independent transcription of the HPA's rules.

    Covers this file's shape only: one metric (prometheus targetPerReplica, or cpu with the trace as demand),
    selectPolicy Max, no schedule. Follows replica_calculator.go (AverageValue; resource utilization as an
    integer percent; the tolerance band), stabilizeRecommendationWithBehaviors (windows, first cycle seeded
    with the current count), convertDesiredReplicasWithBehaviorRate (periods, Pods/Percent), plus the cooldown.
    """
    behavior = target.behavior
    assert behavior.scale_up.select_policy.value == behavior.scale_down.select_policy.value == "Max"
    metric = target.metrics[0]
    low, high = target.min_replicas, target.max_replicas
    longest_window = max(behavior.scale_up.stabilization_window, behavior.scale_down.stabilization_window)
    replicas, recommendations, events, last_change = low, [], [], None
    results, row, step = [], 0, 0
    while True:
        now = loads[0][0] + step * interval
        while row + 1 < len(loads) and loads[row + 1][0] <= now:
            row += 1
        if row == len(loads) - 1 and now > loads[-1][0]:
            return results
        load = loads[row][1]
        if metric.type == "cpu":
            # Demand spread over the pods: sum(usage) * 100 // sum(requests) = floor(demand / replicas) percent.
            ratio = math.floor(load / replicas) / metric.target_utilization
            raw = math.ceil(ratio * replicas)
        else:
            ratio = load / (metric.target_per_replica * replicas)
            raw = math.ceil(load / metric.target_per_replica)
        proposal = replicas if 1 - behavior.tolerance <= ratio <= 1 + behavior.tolerance else raw

        history = recommendations or [(now, replicas)]
        up_floor = min([proposal] + [r for t, r in history if t > now - behavior.scale_up.stabilization_window])
        down_ceiling = max([proposal] + [r for t, r in history if t > now - behavior.scale_down.stabilization_window])
        stabilized = min(max(replicas, up_floor), down_ceiling)
        recommendations = [(t, r) for t, r in history if t > now - longest_window] + [(now, proposal)]

        desired = stabilized
        if stabilized != replicas:
            starts = [(policy, period_start(events, now=now, replicas=replicas, period=policy.period))
                      for policy in (behavior.scale_up if stabilized > replicas else behavior.scale_down).policies]
        if stabilized > replicas:
            limits = [start + policy.value if policy.type.value == "Pods"
                      else math.ceil(start * (1 + policy.value / 100)) for policy, start in starts]
            desired = min(stabilized, max(max(limits), replicas), high)
        elif stabilized < replicas:
            limits = [start - policy.value if policy.type.value == "Pods"
                      else int(start * (1 - policy.value / 100)) for policy, start in starts]
            desired = max(stabilized, min(min(limits), replicas), low)
        if desired != replicas and (last_change is None or now - last_change >= behavior.cooldown):
            events.append((now, desired - replicas))
            last_change, replicas = now, desired
        results.append((raw, replicas))
        step += 1


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param({}, id="the-shipped-config-30s-steps"),
        pytest.param({"interval: 30s": "interval: 10s", "cooldown: 2m": "cooldown: 45s",
                      "stabilizationWindow: 5m": "stabilizationWindow: 1m"},
                     id="10s-steps-between-rows-inside-the-15s-policy-periods"),
        pytest.param({"type: prometheus": "type: cpu", "\n        query: avg(node_cpu_utilisation_percent)": "",
                      "targetPerReplica: 5": "targetUtilization: 5", "interval: 30s": "interval: 20s"},
                     id="cpu-demand-spread-over-the-replicas-20s-steps"),
    ],
)
def test_every_step_matches_an_independent_hpa_replay(tmp_path, edits):
    config_text = CONFIG.read_text()
    for old, new in edits.items():
        assert old in config_text
        config_text = config_text.replace(old, new)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config_text)
    config = load_config_file(str(config_path))
    with open(TRACE, newline="") as trace_file:
        loads = [(float(row["timestamp"]), float(row["cpu_util_percent"])) for row in csv.DictReader(trace_file)]

    assert main(["simulate", "--config", str(config_path), "--trace", str(TRACE), "--out", str(tmp_path)]) == 0

    with open(tmp_path / "decisions.csv", newline="") as decisions_file:
        simulated = [(int(row["metric_proposal"]), int(row["replicas"])) for row in csv.DictReader(decisions_file)]
    expected = hpa_reference(loads, target=config.targets[0], interval=config.defaults.interval)
    assert len(simulated) == len(expected) == math.floor(loads[-1][0] / config.defaults.interval) + 1
    mismatches = [index for index, (got, want) in enumerate(zip(simulated, expected)) if got != want]
    assert mismatches == [], f"first mismatch at step {mismatches[0]}: {simulated[mismatches[0]]} != {expected[mismatches[0]]}"
