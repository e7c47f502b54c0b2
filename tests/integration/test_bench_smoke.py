"""`python -m bench --quick`, the CI smoke test of the benchmarks: it runs and reports every figure, well formed.

No thresholds: a benchmark's numbers on a shared machine are figures, not pass/fail conditions.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import FIGURE_NAMES

REPO_ROOT = Path(__file__).resolve().parents[2]
FIGURES_OF_THE_ISSUE = (
    "cycle_seconds", "k8s_requests_per_steady_cycle", "prometheus_requests_per_cycle", "kafka_requests_per_cycle",
    "reaction_seconds_p50", "reaction_seconds_p95", "rss_mb", "simulate_seconds", "validate_seconds",
)


def test_quick_bench_prints_every_figure_as_a_json_line(tmp_path):
    # The timeouts only stop a hang: on a busy machine the quick bench, which starts its own test bed, took > 180 s.
    finished = subprocess.run([sys.executable, "-m", "bench", "--quick", "--dir", str(tmp_path)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=600, check=False)

    assert finished.returncode == 0, finished.stderr[-3000:]
    figures = [json.loads(line) for line in finished.stdout.splitlines()]
    for figure in figures:
        assert set(figure) == {"name", "value", "unit", "params"}, figure
        assert isinstance(figure["value"], int | float), figure
        assert isinstance(figure["unit"], str) and figure["unit"], figure
        assert isinstance(figure["params"], dict), figure
        assert "baseline_value" in figure["params"] and "ratio" in figure["params"], figure
    assert sorted({figure["name"] for figure in figures}) == sorted(FIGURES_OF_THE_ISSUE)
    assert set(FIGURE_NAMES) == set(FIGURES_OF_THE_ISSUE)
    assert [figure["params"]["mode"].split(":")[0] for figure in figures if figure["name"] == "validate_seconds"] \
        == ["subprocess", "in process"]


def test_only_runs_the_named_figure_and_the_table_has_a_row_for_it(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "simulate_seconds", "--output", "table"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)

    assert finished.returncode == 0, finished.stderr[-3000:]
    header, *rows = finished.stdout.splitlines()
    assert header.split()[:5] == ["name", "value", "unit", "baseline", "ratio"]
    assert [row.split()[0] for row in rows] == ["simulate_seconds"]
    assert "starting the test bed" not in finished.stderr
