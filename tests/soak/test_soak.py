"""The chaos soak in CI: 50 targets for SCALERD_SOAK_SECONDS (default 60) on the session's test bed."""
from __future__ import annotations

import json
import os

from tests.soak.runner import LEASE_DURATION, Soak

SOAK_SECONDS = float(os.environ.get("SCALERD_SOAK_SECONDS", "60"))
TARGETS = 50


def test_fifty_targets_under_random_faults_keep_every_invariant(testbed, tmp_path):
    report = Soak(testbed, seconds=SOAK_SECONDS, targets=TARGETS, out=tmp_path, seed=1).run()

    summary = json.dumps({key: value for key, value in report.items() if key != "faults"}, indent=2)
    assert report["violations"] == [], summary
    assert report["seconds"] >= SOAK_SECONDS
    # Faults reached the daemon: scale writes were refused (5xx, 429, 409) and the leader was replaced once.
    assert report["scale_attempts_refused"] > 0, summary
    assert report["faults_by_kind"].get("leader replaced after SIGTERM", 0) + report["faults_by_kind"].get(
        "leader replaced after SIGKILL", 0) == 1, summary
    assert len(report["processes"]) == 3
    # The standby took over within a lease duration and two retry periods of the leader's end.
    assert report["takeover_seconds"] and max(report["takeover_seconds"]) <= LEASE_DURATION + 1.0, summary
    assert report["scale_writes_landed"] >= TARGETS, summary
    # Memory is compared for the processes that ran from start to end: the two first, but the replaced one.
    assert len(report["memory"]) == 1, summary
