"""How long validating a large configuration takes: `scalerd validate FILE` as a process, and the loader in process.

The process figure includes the interpreter's start and scalerd's imports; the same command on a one-target
file is measured as well, so the part that grows with the targets can be read off.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import Figure
from bench.stage import Scale, scene_config_text
from scalerd.config import load_config_file
from tests.testbed.bed import REPO_ROOT

GOAL = "< 1 s"
NO_BASELINE = "none: the seed had no validator"


def measure_validate(*, scale: Scale) -> list[Figure]:
    targets = scale.validate_targets
    with tempfile.TemporaryDirectory(prefix="scalerd-bench-validate-") as directory:
        large = _config_file(Path(directory), targets=targets, scale=scale)
        one = _config_file(Path(directory), targets=1, scale=scale)
        in_process = [_timed(lambda: load_config_file(large)) for _ in range(scale.repeats + 2)]
        as_process = [_validate_process(large, targets=targets) for _ in range(scale.repeats)]
        start_up = [_validate_process(one, targets=1) for _ in range(scale.repeats)]
    common = {"targets": targets, "metrics_per_target": 2, "goal": GOAL, "statistic": "best run",
              "baseline_value": None, "ratio": None, "baseline": NO_BASELINE}
    return [
        Figure("validate_seconds", round(min(as_process), 4), "s", {
            **common, "mode": "subprocess: python -m scalerd validate FILE",
            "runs": [round(r, 4) for r in as_process],
            "one_target_seconds": round(min(start_up), 4)}),
        Figure("validate_seconds", round(min(in_process), 4), "s", {
            **common, "mode": "in process: scalerd.config.load_config_file", "runs": [round(r, 4) for r in in_process]}),
    ]


def _config_file(directory: Path, *, targets: int, scale: Scale) -> Path:
    path = directory / f"validate-{targets}.yaml"
    path.write_text(scene_config_text(targets, scale=scale, interval="15s", prometheus_url="http://127.0.0.1:9090",
                                      kafka_bootstrap="127.0.0.1:9092"))
    return path


def _validate_process(path: Path, *, targets: int) -> float:
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, "-m", "scalerd", "validate", str(path)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    seconds = time.perf_counter() - started
    if finished.returncode != 0 or finished.stdout.strip() != f"ok: {targets} targets":
        raise RuntimeError(f"scalerd validate {path}: exit {finished.returncode}: {finished.stdout}{finished.stderr}")
    return seconds


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
