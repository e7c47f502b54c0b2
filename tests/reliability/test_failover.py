"""Leader failover with two and three `scalerd run` processes on one Lease (lease 3 s, renew 2 s, retry 0.5 s).

All instances run as the one `scalerd` ServiceAccount, so the audit log cannot tell them apart: each write is
attributed through the decision logs (the k-th landed write of a Deployment is its k-th applied decision), and
each identity's leadership through its `lease_acquired`/`lease_lost`/`lease_released` lines; `check_single_writer`
then asserts that no two terms overlap and that every write lies inside its writer's term. Takeover times are
printed (run with -s) for docs/RELIABILITY.md.
"""
from __future__ import annotations

import signal
import time

from tests.integration.daemon_support import (
    audit_lines,
    how_taken,
    lease_holder,
    replicas_of,
    rps_scene,
    serve_rps,
    set_rps,
    wait_until,
)
from tests.reliability.support import (
    LEASE_SECONDS,
    RENEW_SECONDS,
    events_named,
)
from tests.soak.invariants import check_single_writer, join_writes
from tests.soak.records import (
    attributed_changes,
    leadership_terms,
    log_time,
    scale_attempts,
)
from tests.testbed.kafka_tools import unique_name

# A standby counts the lease duration from when it observed the leader's last renewal (client-go's observedTime),
# which its retries see up to one retry period late, and takes the expired Lease at a retry up to one period after
# that: a takeover comes no sooner than one lease duration after the last renewal (the emulator's timestamps), and
# how much later is up to the machine. That the standby waited for exactly that is asserted from its own account
# (`lease_acquired`: the record it replaced stood unchanged for a lease duration by its clock) and, to the attempt,
# on a fake clock in tests/unit/test_kube_leader.py.


def _took_expired_lease_of(standby, previous) -> None:
    taken = how_taken(standby)
    assert (taken["taken"], taken["previous_holder"]) == ("expired", previous.identity), taken
    assert taken["unchanged_for"] >= LEASE_SECONDS, taken


def _shutdown_lines(daemon) -> list[str]:
    return [line["event"] for line in daemon.log_events()
            if line.get("event") in ("stopping", "lease_released", "stopped")]


def _scene(testbed, admin, tmp_path, *, rps: float) -> tuple[str, list[str]]:
    deployment, config = rps_scene(testbed, admin, tmp_path, rps=rps)
    return deployment, ["--config", str(config)]


def _start_together(daemons, config_args, lease: str, count: int) -> list:
    started = [daemons.start(config_args, lease=lease, identity=unique_name(f"candidate{number}"), ready=False)
               for number in range(count)]
    for daemon in started:
        daemon.wait_ready()
    return started


def _holder(admin, lease: str, candidates: list):
    holder = lease_holder(admin, lease)
    return next((daemon for daemon in candidates if daemon.identity == holder), None)


def _acquired_at(daemon) -> list[float]:
    return [log_time(event) for event in events_named(daemon, "lease_acquired")]


def _first_acquired_at(daemon) -> float:
    """When the daemon logged its first `lease_acquired` (just after the Lease it wrote made it the leader)."""
    return wait_until(lambda: _acquired_at(daemon), timeout=10, what=f"{daemon.identity}'s lease_acquired")[0]


def _renewal_to_takeover(testbed, lease: str, standby) -> float:
    """Seconds from the old leader's last Lease write to the standby's acquiring one, as the emulator logged them:
    the acquiring write is the last one before the standby logged `lease_acquired`, the one before it the old
    leader's (a renewal still in flight when the leader was stopped included)."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/scalerd/leases/{lease}"
    acquired_at = _first_acquired_at(standby)
    writes = [line["ts"] for line in audit_lines(testbed.audit_path) if line["path"] == path
              and line["verb"] == "update" and line["status"] == 200 and line["ts"] <= acquired_at]
    return writes[-1] - writes[-2]


def _one_writer_violations(testbed, deployment: str, candidates: list, *, died_at: dict[str, float]) -> list:
    ended = time.time()
    terms = []
    events_by_identity = {daemon.identity: daemon.log_events() for daemon in candidates}
    for identity, events in events_by_identity.items():
        terms += leadership_terms(identity, events, died_at=died_at.get(identity), ended_at=ended)
    decisions = attributed_changes(events_by_identity)
    writes, violations = join_writes(scale_attempts(audit_lines(testbed.audit_path), deployments=[deployment]),
                                     decisions)
    return violations + check_single_writer(writes, terms, slack=0.2)


def test_three_candidates_one_leader_then_sigkill_and_sigterm_hand_over_with_one_writer_at_a_time(
        testbed, admin, tmp_path, daemons):
    deployment, config_args = _scene(testbed, admin, tmp_path, rps=20)
    lease = unique_name("lease")
    candidates = _start_together(daemons, config_args, lease, 3)
    first = wait_until(lambda: _holder(admin, lease, candidates), timeout=10, what="a leader among three")
    wait_until(lambda: first.metric("scalerd_leader") == 1.0, timeout=10, what="the leader's metric")
    time.sleep(1.5)  # three retry periods in which the standbys must not take the Lease
    assert sorted(daemon.metric("scalerd_leader") for daemon in candidates) == [0.0, 0.0, 1.0]
    assert [len(_acquired_at(daemon)) for daemon in candidates].count(1) == 1
    set_rps(testbed, {deployment: 45})
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="the leader scales to 5")
    first.wait_for_applied(1)  # killed before its decision line, its write would be nobody's

    first.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    first.process.wait(timeout=5)
    serve_rps(testbed, {deployment: 75})
    standbys = [daemon for daemon in candidates if daemon is not first]
    second = wait_until(lambda: _holder(admin, lease, standbys), timeout=10, interval=0.05,
                        what="a standby takes the expired Lease")
    wait_until(lambda: replicas_of(admin, deployment) == 8, timeout=10, what="the new leader scales to 8")
    second.wait_for_applied(1)
    after_kill = _first_acquired_at(second) - killed_at
    renewal_to_takeover = _renewal_to_takeover(testbed, lease, second)

    third = next(daemon for daemon in standbys if daemon is not second)
    terminated_at = time.time()
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(timeout=10) == 0
    exit_seconds = time.time() - terminated_at
    serve_rps(testbed, {deployment: 25})
    wait_until(lambda: _holder(admin, lease, [third]), timeout=10, interval=0.05, what="the last one takes over")
    wait_until(lambda: replicas_of(admin, deployment) == 3, timeout=10, what="the third leader scales to 3")
    third.wait_for_applied(1)
    after_term = _first_acquired_at(third) - terminated_at
    print(f"\nthree candidates: takeover after SIGKILL {after_kill:.2f}s ({renewal_to_takeover:.2f}s after the "
          f"last renewal), after SIGTERM {after_term:.2f}s (exit in {exit_seconds:.2f}s)")

    # The killed leader's Lease had to expire first; a released Lease is taken as released (at the next retry).
    assert renewal_to_takeover >= LEASE_SECONDS, renewal_to_takeover
    _took_expired_lease_of(second, first)
    assert _shutdown_lines(second) == ["stopping", "lease_released", "stopped"]
    assert how_taken(third) == {"taken": "released"}
    applied = {daemon.identity: [(line["current"], line["desired"]) for line in daemon.decisions()
                                 if line["applied"]] for daemon in candidates}
    assert applied == {first.identity: [(2, 5)], second.identity: [(5, 8)], third.identity: [(8, 3)]}
    assert [len(_acquired_at(daemon)) for daemon in candidates] == [1, 1, 1]
    assert _one_writer_violations(testbed, deployment, candidates, died_at={first.identity: killed_at}) == []


def test_a_leader_whose_renewals_fail_stops_writing_within_the_renew_deadline_and_nobody_writes_unleased(
        testbed, admin, tmp_path, daemons):
    deployment, config_args = _scene(testbed, admin, tmp_path, rps=20)
    lease = unique_name("lease")
    candidates = _start_together(daemons, config_args, lease, 2)
    leader = wait_until(lambda: _holder(admin, lease, candidates), timeout=10, what="a leader")
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/scalerd/leases/{lease}"

    def lease_updates() -> list[dict]:
        return [line for line in audit_lines(testbed.audit_path) if line["path"] == lease_path
                and line["verb"] == "update"]

    wait_until(lambda: [line for line in lease_updates() if line["status"] == 200], timeout=10,
               what="a renewal before the cut")

    # Every Lease update fails for a while: the leader cannot renew, nobody can take over.
    testbed.control.inject_fault(verb="update", path_pattern=f"/leases/{lease}$", status=500, count=30)
    cut_at = time.time()
    wait_until(lambda: events_named(leader, "lease_lost"), timeout=10, what="the leader fenced")
    serve_rps(testbed, {deployment: 45})  # a change is wanted while nobody holds a fresh Lease
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=20, what="scaled once a Lease is held again")
    wait_until(lambda: [line for daemon in candidates for line in daemon.decisions() if line["applied"]],
               timeout=10, what="the write's decision line")

    updates = lease_updates()
    last_renewal = max(line["ts"] for line in updates if line["status"] == 200 and line["ts"] < cut_at + 0.5)
    refused = [line for line in updates if line["status"] == 500]
    next_lease = min(line["ts"] for line in updates if line["status"] == 200 and line["ts"] > refused[-1]["ts"])
    [write] = [attempt for attempt in scale_attempts(audit_lines(testbed.audit_path), deployments=[deployment])]
    lost = events_named(leader, "lease_lost")
    print(f"\nrenewals refused: {len(refused)}; leader lost the Lease {log_time(lost[0]) - last_renewal:.2f}s after "
          f"its last renewal; the Lease was held again {next_lease - last_renewal:.2f}s after it")

    assert len(refused) == 30
    # Lost because no renewal succeeded for the renew deadline (its own clock), with nobody else holding it; at the
    # first failed attempt past the deadline: tests/unit/test_kube_leader.py.
    assert (lost[0]["holder"], lost[0]["renewed_ago"] >= RENEW_SECONDS) == (leader.identity, True), lost[0]
    # The one write came after a Lease was acquired again, never in the unleased gap.
    assert write.ts > next_lease and write.status == 200
    assert _one_writer_violations(testbed, deployment, candidates, died_at={}) == []


def test_a_frozen_leader_that_wakes_after_the_standby_took_over_never_writes_again(testbed, admin, tmp_path, daemons):
    deployment, config_args = _scene(testbed, admin, tmp_path, rps=20)
    lease = unique_name("lease")
    candidates = _start_together(daemons, config_args, lease, 2)
    frozen = wait_until(lambda: _holder(admin, lease, candidates), timeout=10, what="a leader")
    standby = next(daemon for daemon in candidates if daemon is not frozen)
    time.sleep(1.0)

    # SIGSTOP: a GC pause, a VM freeze, a partition it cannot notice; it resumes believing it still leads.
    frozen.process.send_signal(signal.SIGSTOP)
    stopped_at = time.time()
    serve_rps(testbed, {deployment: 45})
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="the standby scales to 5")
    takeover = _first_acquired_at(standby) - stopped_at
    renewal_to_takeover = _renewal_to_takeover(testbed, lease, standby)
    serve_rps(testbed, {deployment: 75})  # the woken leader, if it still wrote, would write this
    frozen.process.send_signal(signal.SIGCONT)
    woken_at = time.time()
    wait_until(lambda: replicas_of(admin, deployment) == 8, timeout=10, what="the standby scales to 8")
    wait_until(lambda: events_named(frozen, "lease_lost"), timeout=10, what="the woken leader notices")
    time.sleep(1.0)
    print(f"\nfrozen leader: standby took over {takeover:.2f}s after SIGSTOP, {renewal_to_takeover:.2f}s after the "
          "last renewal")

    assert renewal_to_takeover >= LEASE_SECONDS, renewal_to_takeover
    _took_expired_lease_of(standby, frozen)
    assert [line for line in frozen.decisions() if line["applied"] and log_time(line) > stopped_at] == []
    assert [(line["current"], line["desired"]) for line in standby.wait_for_applied(2)] == [(2, 5), (5, 8)]
    # Woken, it learns from its next renewal attempt that the Lease is gone, before any write of its own
    # (had its loop been first, the writer's fencing check would have refused: its renewal was > 2 s old).
    assert log_time(events_named(frozen, "lease_lost")[0]) >= woken_at - 0.1
    assert _one_writer_violations(testbed, deployment, candidates, died_at={}) == []
