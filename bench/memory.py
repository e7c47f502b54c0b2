"""Resident memory of `scalerd run` with many targets after a number of cycles, next to the naive loop's.

Both run as processes of their own: scalerd with `--dry-run` (every cycle is steady anyway, and a dry run takes
no Lease) at a 1 s interval, the naive loop (`python -m bench.naive`) for its cycles. The figure is taken in a
namespace holding exactly the managed Deployments (the issue's setup); when the stage's main namespace holds more
(5,000 in the full run), scalerd is measured there too, since its cache keeps every Deployment of a watched
namespace. RSS is VmRSS from /proc/PID/status, in MB of 10^6 bytes; VmHWM (the peak) is reported beside it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, with_baseline
from bench.naive import process_megabytes
from bench.processes import ScalerdProcess
from bench.stage import NAMESPACE, Stage
from tests.testbed.bed import REPO_ROOT

GOAL_MB = 80.0
SECONDS_PER_CYCLE_ALLOWED = 10.0
EXACT_NAMESPACE = "bench-rss"


@dataclass(frozen=True)
class Resident:
    rss_mb: float
    peak_mb: float
    cycles: int
    mean_cycle_seconds: float


def measure_rss(stage: Stage) -> list[Figure]:
    scale = stage.scale
    crowded = scale.largest > scale.rss_targets
    namespace = NAMESPACE
    if crowded:
        stage.create_deployments(EXACT_NAMESPACE, count=scale.rss_targets)
        namespace = EXACT_NAMESPACE
    config_path = stage.write_config(scale.rss_targets, interval="1s", namespace=namespace)
    exact = _scalerd_resident(stage, config_path=config_path, cycles=scale.rss_cycles)
    params = {"targets": scale.rss_targets, "deployments_in_namespace": scale.rss_targets,
              "cycles": exact.cycles, "interval_seconds": 1, "peak_mb": exact.peak_mb,
              "mean_cycle_seconds": exact.mean_cycle_seconds, "goal": f"<= {GOAL_MB:g} MB"}
    if crowded:
        in_crowd = _scalerd_resident(stage, cycles=scale.rss_cycles,
                                     config_path=stage.write_config(scale.rss_targets, interval="1s"))
        params[f"rss_mb_with_{scale.largest}_deployments_in_namespace"] = in_crowd.rss_mb
    baseline = _naive_process(stage, config_path=config_path, cycles=scale.baseline_rss_cycles)
    params |= {"baseline_cycles": baseline["cycles"], "baseline_peak_mb": round(baseline["max_rss_mb"], 1),
               "baseline_cycle_seconds": baseline["cycle_seconds"]}
    return [Figure("rss_mb", exact.rss_mb, "MB",
                   with_baseline(params, value=exact.rss_mb, baseline_value=round(baseline["rss_mb"], 1)))]


def _scalerd_resident(stage: Stage, *, config_path: Path, cycles: int) -> Resident:
    scalerd = ScalerdProcess(stage.bed, config_path=config_path,
                             log_path=stage.directory / f"rss-{config_path.stem}.log", extra=("--dry-run",))
    try:
        scalerd.wait_for_cycles(cycles, timeout=60 + SECONDS_PER_CYCLE_ALLOWED * cycles)
        rss, peak = process_megabytes(scalerd.pid)
        done = scalerd.metric("scalerd_cycle_duration_seconds_count")
        mean_cycle = scalerd.metric("scalerd_cycle_duration_seconds_sum") / done
    finally:
        scalerd.stop()
    return Resident(rss_mb=round(rss, 1), peak_mb=round(peak, 1), cycles=int(done),
                    mean_cycle_seconds=round(mean_cycle, 4))


def _naive_process(stage: Stage, *, config_path: Path, cycles: int) -> dict:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.naive", "--config", str(config_path),
         "--kubeconfig", str(stage.bed.kubeconfig_path), "--context", "scalerd", "--cycles", str(cycles)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"python -m bench.naive exited with {finished.returncode}: {finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])
