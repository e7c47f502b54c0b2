"""`make demo` end to end, shortened: the test bed starts, scalerd scales the consumer up on the burst's lag and
the team's AutoScalerPolicy target on its queue gauge, everything stops, and the replay is written."""
from __future__ import annotations

import json
import re
import subprocess
import sys


def test_demo_scales_the_file_target_and_the_policy_and_writes_the_replay(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "tests.testbed.demo", "--seconds", "14", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=180,
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
    summary = json.loads((tmp_path / "simulate" / "summary.json").read_text())
    assert summary["steps"] >= 5
    assert (tmp_path / "simulate" / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    decisions = [json.loads(line) for line in (tmp_path / "scalerd.log").read_text().splitlines()
                 if '"decision"' in line]
    assert any(entry["target"] == "orders-consumer" and entry["reason"] == "scale_up" and entry["applied"]
               for entry in decisions)
    policy_changes = [(entry["current"], entry["desired"]) for entry in decisions
                      if entry["target"] == "team-reports/reports-worker" and entry["applied"]]
    assert policy_changes == [(1, 3)]
