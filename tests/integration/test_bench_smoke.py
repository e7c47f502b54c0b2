"""`python -m bench --quick`, the CI smoke test of the benchmarks: it runs and reports every figure, well formed.

No thresholds: a benchmark's numbers on a shared machine are figures, not pass/fail conditions.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.__main__ import FIGURE_NAMES
from tests.integration.daemon_support import at_least, wait_until

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


def test_a_bench_stopped_by_sigterm_stops_its_test_bed_and_says_so(tmp_path):
    bench = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--only", "rss_mb", "--dir", str(tmp_path)],
                             cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children: list[int] = []
    try:
        # The bed's exporter, Prometheus, tansu and emulator, then the stage's counted tansu.
        children = wait_until(at_least(5, lambda: descendants(bench.pid)), timeout=300.0, what="the stage started")
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=120)
    finally:
        bench.kill()
        for pid in (pid for pid in children if alive(pid)):  # a failing run must not leave a bed behind either
            os.kill(pid, signal.SIGKILL)
    assert bench.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "bench: stopped by SIGTERM; the test bed is stopped" in stderr
    assert [pid for pid in children if alive(pid)] == []


def descendants(root: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name, in parentheses, may hold spaces: the parent pid is the second field after it.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
