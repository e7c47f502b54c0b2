"""`make demo` end to end, shortened: the test bed starts, scalerd scales the consumer up on the burst's lag,
everything stops, and the replay is written."""
from __future__ import annotations

import json
import re
import subprocess
import sys


def test_demo_scales_up_on_the_backlog_and_writes_the_replay(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "tests.testbed.demo", "--seconds", "14", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=180,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # The first burst (2,400 records at 4 s) asks for up to 6 replicas; the scale-up policy allows 2 pods per 4 s.
    assert re.search(r"\s1 -> [23]\s+scale_up\s", finished.stdout), finished.stdout
    assert "test bed stopped; no process left behind." in finished.stdout
    assert "Connection refused" not in finished.stdout + finished.stderr
    summary = json.loads((tmp_path / "simulate" / "summary.json").read_text())
    assert summary["steps"] >= 5
    assert (tmp_path / "simulate" / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    decisions = [json.loads(line) for line in (tmp_path / "scalerd.log").read_text().splitlines()
                 if '"decision"' in line]
    assert any(entry["reason"] == "scale_up" and entry["applied"] for entry in decisions)
