"""`make demo` end to end, shortened: the test bed starts, scalerd scales the consumer up on the burst's lag and
the team's AutoScalerPolicy target on its queue gauge, everything stops, and the HPA default and predictive are
replayed side by side."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import pairwise

from bench.predictive import run, target_for
from tests.testbed.demo import REPLAY_TRACE


def test_demo_scales_the_file_target_and_the_policy_and_writes_the_replay(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "tests.testbed.demo", "--seconds", "14", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=480,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # The first burst (2,400 records at 4 s) asks for up to 6 replicas; the scale-up policy allows 2 pods per 4 s.
    assert re.search(r"\sorders-consumer\s+\d+\s+1 -> [23]\s+scale_up\s", finished.stdout), finished.stdout
    # The policy's queue holds 30 jobs from the start, 10 a replica: 1 -> 3 in one step (no scale-up limit hit).
    assert re.search(r"\steam-reports/reports-worker\s+30\s+1 -> 3\s+scale_up\s", finished.stdout), finished.stdout
    assert "autoscalerpolicy.scalerd.io/reports-worker created" in finished.stdout
    table = finished.stdout.split("$ kubectl get asp -A\n", 1)[1].splitlines()
    assert table[0].split() == ["NAMESPACE", "NAME", "DEPLOYMENT", "MIN", "MAX", "REPLICAS", "DESIRED", "REASON",
                                "AGE"]
    assert table[1].split()[:7] == ["team-reports", "reports-worker", "reports-worker", "1", "8", "3", "3"]
    assert "test bed stopped; no process left behind." in finished.stdout
    assert "Connection refused" not in finished.stdout + finished.stderr
    _assert_the_replay_side_by_side(finished.stdout, replay_dir=tmp_path / "replay")
    decisions = [json.loads(line) for line in (tmp_path / "scalerd.log").read_text().splitlines()
                 if '"decision"' in line]
    assert any(entry["target"] == "orders-consumer" and entry["reason"] == "scale_up" and entry["applied"]
               for entry in decisions)
    policy_changes = [(entry["current"], entry["desired"]) for entry in decisions
                      if entry["target"] == "team-reports/reports-worker" and entry["applied"]]
    assert policy_changes == [(1, 3)]


def _assert_the_replay_side_by_side(stdout: str, *, replay_dir) -> None:
    """The demo's two rows are bench.predictive's replay of the same trace and target (its table's Kafka row),
    computed here in-process from Python objects instead of the demo's YAML, CSV and `scalerd simulate`."""
    rows = REPLAY_TRACE.rows()
    steps = []
    expected = run(REPLAY_TRACE, rows, series=steps)
    initial = target_for(REPLAY_TRACE, rows).min_replicas
    hpa_changes = sum(1 for before, after in pairwise([initial, *(step.baseline_replicas for step in steps)])
                      if before != after)
    table = stdout.split("cost x oracle  under-provisioned  changes\n", 1)[1].splitlines()
    assert table[0].split() == ["HPA", "default", f"{expected.hpa_cost / expected.oracle:.3f}",
                                f"{expected.hpa_under:.1%}", f"{hpa_changes:,}"], stdout
    assert table[1].split() == ["predictive", f"{expected.predictive_cost / expected.oracle:.3f}",
                                f"{expected.predictive_under:.1%}", f"{expected.predictive_scale_events:,}"], stdout
    # The goal on this trace: under capacity less often than the HPA default.
    assert expected.predictive_under < expected.hpa_under
    # The HPA default's own replay is the predictive replay's baseline.
    hpa = json.loads((replay_dir / "hpa-default" / "summary.json").read_text())
    predictive = json.loads((replay_dir / "predictive" / "summary.json").read_text())
    assert (hpa["replica_seconds"], hpa["underprovisioned_seconds"]) == (
        predictive["baseline_replica_seconds"], predictive["baseline_underprovisioned_seconds"])
    assert predictive["startup_delay_seconds"] == hpa["startup_delay_seconds"] == 60
    assert (predictive["steps"], hpa["scale_events"]) == (len(rows), hpa_changes)
    assert "$ scalerd simulate --config predictive.yaml --trace kafka-backlog.csv --startup-delay 60s --out predictive" \
        in stdout
    plot = replay_dir / "predictive" / "plot.png"
    assert f"\n  {plot}\n" in stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
