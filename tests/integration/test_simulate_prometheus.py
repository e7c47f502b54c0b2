"""`scalerd simulate --from-prometheus` against a real Prometheus (the Debian binary the test bed runs) over two days
of history backfilled with `promtool tsdb create-blocks-from openmetrics`: chunked query_range, and the same
decisions and summary as the same history replayed from a CSV trace, plus what ran."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.daemon_support import REPO_ROOT
from tests.testbed.prometheus import backfilled_prometheus

STEP = 10
RPS_BY_HOUR = (5, 45, 95, 20, 60, 150)
"""Requests per second, one value an hour in turn: at 10 per replica, proposals 1, 5, 10, 2, 6 and 15."""
CONFIG = """apiVersion: scalerd/v1
defaults:
  interval: 10s
  prometheus: {{url: '{url}', timeout: 10s}}
targets:
  - name: api
    deployment: api
    minReplicas: 1
    maxReplicas: 10
    metrics:
      - {{type: prometheus, name: rps, query: whatif_rps, targetPerReplica: 10}}
"""


def history(first: int, last: int) -> tuple[dict[int, float], dict[int, float]]:
    """rps and the replicas that ran, every STEP seconds from `first` to `last` (4 the first day, then 6)."""
    rps, ran = {}, {}
    for index, timestamp in enumerate(range(first, last + 1, STEP)):
        rps[timestamp] = float(RPS_BY_HOUR[(index // 360) % len(RPS_BY_HOUR)])
        ran[timestamp] = 4.0 if timestamp - first < 86400 else 6.0
    return rps, ran


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory) -> Iterator[tuple[str, int, int, dict, dict]]:
    directory = tmp_path_factory.mktemp("whatif")
    last = int(time.time() - 3600) // STEP * STEP
    first = last - 2 * 86400
    rps, ran = history(first, last)
    openmetrics = "".join([
        "# TYPE whatif_rps gauge\n",
        *(f"whatif_rps {value:g} {timestamp}\n" for timestamp, value in rps.items()),
        "# TYPE whatif_replicas gauge\n",
        *(f"whatif_replicas {value:g} {timestamp}\n" for timestamp, value in ran.items()),
        "# EOF\n",
    ])
    with backfilled_prometheus(directory, openmetrics, ready_query="count(whatif_rps)", at=last) as url:
        yield url, first, last, rps, ran


def simulate(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "scalerd.yaml"
    config.write_text(CONFIG.format(url=url))
    return subprocess.run([sys.executable, "-m", "scalerd", "simulate", "--config", str(config), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as file:
        return list(csv.DictReader(file))


def test_prometheus_refuses_the_range_in_one_query(backfilled):
    url, first, last, _, _ = backfilled
    response = requests.get(f"{url}/api/v1/query_range", timeout=10, params={
        "query": "whatif_rps", "start": str(last - 3 * 86400), "end": str(last), "step": str(STEP)})
    assert response.status_code == 400
    assert "exceeded maximum resolution of 11,000 points per timeseries" in response.json()["error"]


def test_the_replay_from_prometheus_is_the_replay_of_the_same_history_and_adds_what_ran(backfilled, tmp_path):
    url, first, last, rps, ran = backfilled
    result = simulate(tmp_path, url, "--from-prometheus", "--since", "3d", "--step", "10s",
                      "--actual-replicas-query", "whatif_replicas", "--out", str(tmp_path / "prometheus"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    decisions = read_csv(tmp_path / "prometheus" / "decisions.csv")
    timestamps = [int(row["timestamp"]) for row in decisions]
    # Every backfilled sample, then Prometheus's 5-minute lookback repeating the last one.
    assert timestamps[:len(rps)] == list(rps)
    extension = timestamps[len(rps):]
    assert extension == list(range(last + STEP, extension[-1] + 1, STEP)) and last + 280 <= extension[-1] <= last + 300

    # The same history as a trace: the same decisions and the same summary.
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,rps\n" + "".join(
        f"{timestamp},{rps.get(timestamp, rps[last]):g}\n" for timestamp in timestamps))
    from_trace = simulate(tmp_path, url, "--trace", str(trace), "--out", str(tmp_path / "trace"))
    assert from_trace.returncode == 0, from_trace.stderr
    trace_decisions = read_csv(tmp_path / "trace" / "decisions.csv")
    assert [{k: v for k, v in row.items() if k != "actual_replicas"} for row in decisions] == trace_decisions

    summary = json.loads((tmp_path / "prometheus" / "summary.json").read_text())
    trace_summary = json.loads((tmp_path / "trace" / "summary.json").read_text())
    assert {k: v for k, v in summary.items() if not k.startswith("actual_")} == trace_summary

    # What ran: 4 replicas the first day, 6 after, held through the lookback.
    actual = [ran.get(int(row["timestamp"]), ran[last]) for row in decisions]
    assert [float(row["actual_replicas"]) for row in decisions] == actual
    under = sum(STEP for row, replicas in zip(decisions, actual) if int(row["metric_proposal"]) > replicas)
    assert summary["actual_replica_seconds"] == sum(actual) * STEP
    assert summary["actual_underprovisioned_seconds"] == under
    saved = (summary["actual_replica_seconds"] - summary["replica_seconds"]) / 3600
    less = (summary["actual_underprovisioned_seconds"] - summary["underprovisioned_seconds"]) / 60
    # The hours at 95 and 150 rps need 10 replicas where 4 or 6 ran: scalerd pays for them and is short far less.
    assert saved < 0 and less > 0
    assert result.stdout.splitlines()[-1] == (
        f"scalerd would have used {-saved:.1f} replica-hours more and been under capacity {less:.1f} minutes less "
        "than what ran")
    assert (tmp_path / "prometheus" / "plot.png").stat().st_size > 10_000
    assert not math.isnan(summary["replica_seconds"])


def test_a_metric_without_history_and_a_query_prometheus_refuses_are_named(backfilled, tmp_path):
    url, *_ = backfilled
    result = simulate(tmp_path, url, "--from-prometheus", "--since", "1h", "--metric-query", "rps=whatif_rps[",
                      "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"--from-prometheus: {url}/api/v1/query_range: bad_data: ")
    result = simulate(tmp_path, url, "--from-prometheus", "--since", "10m", "--metric-query", "rps=absent_metric",
                      "--out", str(tmp_path / "out"))
    assert (result.returncode, result.stderr) == (1, "--from-prometheus: no samples in the range for: rps\n")
