"""Child processes of the test bed: free ports, start in their own session, stop without leaving anything behind."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

LOCALHOST = "127.0.0.1"


class StopRequested(Exception):
    """SIGTERM or SIGINT arrived. Raised in the main thread, it unwinds every `with` block, so a bed's children are
    stopped: they run in sessions of their own, where neither signal reaches them."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_on_signals() -> None:
    """Turns SIGTERM and SIGINT into StopRequested: without it a SIGTERM ends Python without unwinding and leaves
    the bed's Prometheus, tansu and emulator running."""
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)


def _request_stop(signum, frame) -> None:
    # Once stopping has begun, a second signal must not interrupt it half way and leave children behind.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise StopRequested(signum)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Distinct ports on 127.0.0.1 that nothing listens on right now (the kernel picks them; a race with other
    programs between this call and the child's bind is possible but rare)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        # All bound at once, so the kernel cannot hand out one port twice.
        for probe in probes:
            probe.bind((LOCALHOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class ChildProcess:
    """One long-running program whose whole process group is ours to stop; output goes to a log file."""

    def __init__(self, *, name: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None):
        self.name = name
        self._argv = list(argv)
        self._log_path = log_path
        self._cwd = cwd
        self._popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        with open(self._log_path, "ab") as log:
            # A session of its own: a Ctrl-C in the terminal reaches only the bed, which then stops the children
            # in order, and stop() can signal everything the child itself spawned.
            self._popen = subprocess.Popen(
                self._argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self._cwd, start_new_session=True,
            )

    def raise_if_exited(self) -> None:
        """For start-up: a program that exits will never answer, and its log says why."""
        code = self._popen.poll() if self._popen else None
        if code is not None:
            raise RuntimeError(f"{self.name} exited with code {code} during start-up:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, *, timeout: float = 5.0) -> None:
        """SIGTERM to the process group, SIGKILL after `timeout`; returns once the group is gone."""
        if self._popen is None:
            return
        group = self._popen.pid  # start_new_session makes the child its group's leader
        _signal_group(group, signal.SIGTERM)
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            self._popen.wait()
        # Grandchildren may outlive a leader that exited on SIGTERM.
        _signal_group(group, signal.SIGKILL)
        self._popen = None


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass
