"""Resident memory of `scalerd run` with many targets after a number of cycles, next to the naive loop's.

Both run as processes of their own on the same scene: scalerd with `--dry-run` (every cycle is steady anyway,
and a dry run takes no Lease) at a 1 s interval, the naive loop (`python -m bench.naive`) for its cycles.
RSS is VmRSS from /proc/PID/status, in MB of 10^6 bytes; VmHWM (the peak) is reported beside it.
"""
from __future__ import annotations

import json
import subprocess
import sys

from bench.figures import Figure, with_baseline
from bench.naive import process_megabytes
from bench.processes import ScalerdProcess
from bench.stage import Stage
from tests.testbed.bed import REPO_ROOT

GOAL_MB = 80.0
SECONDS_PER_CYCLE_ALLOWED = 10.0


def measure_rss(stage: Stage) -> list[Figure]:
    scale = stage.scale
    config_path = stage.write_config(scale.rss_targets, interval="1s")
    scalerd = ScalerdProcess(stage.bed, config_path=config_path, log_path=stage.directory / "rss-run.log",
                             extra=("--dry-run",))
    try:
        scalerd.wait_for_cycles(scale.rss_cycles, timeout=60 + SECONDS_PER_CYCLE_ALLOWED * scale.rss_cycles)
        rss, peak = process_megabytes(scalerd.pid)
        cycles = scalerd.metric("scalerd_cycle_duration_seconds_count")
        mean_cycle = scalerd.metric("scalerd_cycle_duration_seconds_sum") / cycles
    finally:
        scalerd.stop()
    baseline = _naive_process(stage, config_path=config_path, cycles=scale.baseline_rss_cycles)
    value = round(rss, 1)
    return [Figure("rss_mb", value, "MB", with_baseline(
        {"targets": scale.rss_targets, "cycles": int(cycles), "interval_seconds": 1, "peak_mb": round(peak, 1),
         "mean_cycle_seconds": round(mean_cycle, 4), "goal": f"<= {GOAL_MB:g} MB",
         "baseline_cycles": baseline["cycles"], "baseline_peak_mb": round(baseline["max_rss_mb"], 1),
         "baseline_cycle_seconds": baseline["cycle_seconds"]},
        value=value, baseline_value=round(baseline["rss_mb"], 1)))]


def _naive_process(stage: Stage, *, config_path, cycles: int) -> dict:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.naive", "--config", str(config_path),
         "--kubeconfig", str(stage.bed.kubeconfig_path), "--context", "scalerd", "--cycles", str(cycles)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"python -m bench.naive exited with {finished.returncode}: {finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])
