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
    ]
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
