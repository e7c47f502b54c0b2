"""`scalerd run` as a child process of the benchmark, on the test bed with the least-privilege context."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.testbed.bed import REPO_ROOT, TestBed
from tests.testbed.processes import LOCALHOST, free_port


class ScalerdProcess:
    def __init__(self, bed: TestBed, *, config_path: Path, log_path: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scalerd", "run", "--config", str(config_path),
             "--kubeconfig", str(bed.kubeconfig_path), "--context", "scalerd",
             # Where the scalerd identity may keep its Lease and stored history.
             "--lease-namespace", "scalerd",
             "--listen", f"{LOCALHOST}:{self.port}", "--log-format", "json", *extra],
            cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def metric(self, name: str) -> float | None:
        """One unlabelled sample of the daemon's /metrics, or None while it does not answer."""
        try:
            text = requests.get(f"http://{LOCALHOST}:{self.port}/metrics", timeout=2).text
        except requests.RequestException:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def wait_for_cycles(self, count: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (self.metric("scalerd_cycle_duration_seconds_count") or 0) < count:
            if self.process.poll() is not None:
                raise RuntimeError(f"scalerd run exited with {self.process.returncode}: see {self._log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"scalerd run: {count} cycles not done within {timeout}s: see {self._log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
