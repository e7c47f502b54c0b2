"""A leader SIGKILLed at each point of a change's write-ahead, and the successor that takes over after it.

The leader runs with `SCALERD_TEST_HALT_AT=<point>` (`scalerd.daemon.history`): the thread making the change stops
for good at that point and logs `halted_for_test`; the test then SIGKILLs the process, raises the metric, and
starts a successor on the same Lease. Whatever the point, the successor must know whether the change happened and
when, and so hold the cooldown from the change's own time (or make the change itself when it never happened).
"""
from __future__ import annotations

import time

import pytest

from scalerd.daemon.history import HALT_ENVIRONMENT, HALT_POINTS
from tests.integration.daemon_support import (
    audit_lines,
    lease_holder,
    replicas_of,
    rps_scene,
    scale_writes,
    set_rps,
    stored_record,
    wait_until,
)
from tests.reliability.support import decisions_about, events_named, wait_for_log
from tests.testbed.kafka_tools import unique_name

COOLDOWN = 20.0
"""Longer than kill + takeover (lease 3 s) + the successor's first cycles, so a held cycle is seen."""

# The first leader changes 2 -> 5; the successor then sees a metric asking for 9.
OUTCOMES = {
    # point: (count at the kill, whether the change happened, what the intent in the store says)
    "before_intent": (2, False, "no record"),
    "before_scale": (2, False, "unconfirmed intent"),
    "before_outcome": (5, True, "unconfirmed intent"),
    "after_outcome": (5, True, "confirmed"),
}


def _stored(admin, deployment: str, lease: str) -> str:
    record = stored_record(admin, deployment, lease=lease)
    if record is None:
        return "no record"
    return "unconfirmed intent" if record.intent is not None else "confirmed"


@pytest.mark.parametrize("point", HALT_POINTS)
def test_a_leader_killed_at_any_point_of_a_change_leaves_its_successor_the_history(testbed, admin, daemons,
                                                                                 tmp_path, point):
    count_at_kill, happened, stored = OUTCOMES[point]
    deployment, config = rps_scene(testbed, admin, tmp_path, rps=45, cooldown=f"{COOLDOWN:g}s")
    lease = unique_name("lease")
    leader = daemons.start(["--config", str(config)], lease=lease, environment={HALT_ENVIRONMENT: point})
    wait_for_log(leader, lambda line: line.get("event") == "halted_for_test" and line["point"] == point,
                 timeout=20, what=f"the leader halted at {point}")

    leader.kill()
    killed_at = time.time()
    assert replicas_of(admin, deployment) == count_at_kill
    assert _stored(admin, deployment, lease) == stored
    set_rps(testbed, {deployment: 85})  # asks for 9
    successor = daemons.start(["--config", str(config)], lease=lease)
    wait_until(lambda: lease_holder(admin, lease) == successor.identity, timeout=10, what="the takeover")
    first = wait_until(lambda: next(iter(decisions_about(successor, deployment)), None), timeout=10,
                       what="the successor's first decision")

    if not happened:
        # Nothing happened: no history to honour, the successor makes the change itself at once.
        assert (first["current"], first["desired"], first["applied"]) == (2, 9, True)
        assert [line["status"] for line in scale_writes(testbed.audit_path, deployment)] == [200]
        return
    assert (first["current"], first["desired"], first["reason"]) == (5, 5, "cooldown")
    [landed] = scale_writes(testbed.audit_path, deployment)
    if point == "before_outcome":
        [settled] = events_named(successor, "intent_settled")
        assert (settled["from_replicas"], settled["to_replicas"], settled["settlement"]) == (2, 5, "happened")
    # The successor's own change comes once the cooldown since the first change has passed, not before.
    wait_until(lambda: replicas_of(admin, deployment) == 9, timeout=COOLDOWN + 10, what="the change after cooldown")
    writes = scale_writes(testbed.audit_path, deployment)
    assert len(writes) == 2
    assert writes[1]["ts"] - landed["ts"] >= COOLDOWN - 1.0  # the change's clock reading precedes its write
    assert writes[1]["ts"] > killed_at
    assert not [line for line in audit_lines(testbed.audit_path)
                if f"/deployments/{deployment}" in line["path"] and line["verb"] == "patch"
                and not line["path"].endswith("/scale")], "nothing but the scale subresource is written"
