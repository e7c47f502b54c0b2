"""Leader election on the API emulator with the scalerd ServiceAccount (Lease in namespace scalerd).

Short durations: lease 3 s, renew deadline 2 s, retry period 0.5 s.
"""
from __future__ import annotations

import itertools
import time

import pytest

from scalerd.kube.leader import LeaderElector
from tests.integration.daemon_support import wait_until
from tests.integration.kube_emulator import TcpProxy, running_emulator

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
names = (f"election-{number}" for number in itertools.count())


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("leader")) as running:  # namespace scalerd exists from the start
        yield running


@pytest.fixture
def lease_name() -> str:
    return next(names)


@pytest.fixture
def elect(emulator, lease_name):
    started: list[LeaderElector] = []

    def make(identity: str, *, api_client=None, namespace: str = "scalerd", changes: list | None = None):
        elector = LeaderElector(
            api_client or emulator.scalerd_client(), name=lease_name, namespace=namespace, identity=identity,
            lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY,
            on_change=None if changes is None else changes.append,
        )
        started.append(elector)
        elector.start()
        return elector

    yield make
    for elector in started:
        elector.stop()


def lease_spec(emulator, name: str) -> dict:
    return emulator.admin_coordination().read_namespaced_lease(name, "scalerd").spec.to_dict()


def last_renewal(emulator, lease_name: str, *, before: float) -> float:
    """Wall time of the last successful write (create or update) of the Lease before `before`, as logged."""
    leases = "/apis/coordination.k8s.io/v1/namespaces/scalerd/leases"
    return max(line["ts"] for line in emulator.audit() if line["ts"] < before and (
        (line["verb"], line["path"], line["status"]) in (("update", f"{leases}/{lease_name}", 200),
                                                         ("create", leases, 201))))


def test_two_candidates_one_leader(emulator, elect, lease_name):
    first, second = elect("first"), elect("second")
    wait_until(lambda: first.is_leader() or second.is_leader(), timeout=10.0)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert [first.is_leader(), second.is_leader()].count(True) == 1
        assert [first.may_write(), second.may_write()].count(True) == 1
        time.sleep(0.02)
    leader = first if first.is_leader() else second
    spec = lease_spec(emulator, lease_name)
    assert (spec["holder_identity"], spec["lease_duration_seconds"], spec["lease_transitions"]) == (
        leader.identity, 3, 0)


def test_a_partitioned_leader_stops_writing_before_its_renew_deadline_and_the_standby_waits_out_the_lease(
        emulator, elect, lease_name):
    proxy = TcpProxy(int(emulator.url.rsplit(":", 1)[1]))
    through_proxy = emulator.scalerd_client_through(f"http://127.0.0.1:{proxy.port}")
    leader = elect("partitioned", api_client=through_proxy)
    wait_until(leader.is_leader, timeout=10.0)
    standby = elect("standby")
    time.sleep(1.0)
    assert leader.may_write() and not standby.is_leader()

    proxy.cut()
    cut_at = time.time()
    leader_last_allowed_at = standby_started_at = None
    while standby_started_at is None:
        # Sampling times are taken before each call, so a slow loop on a loaded machine only samples less
        # often: it can never make the leader look allowed later than it was.
        now = time.time()
        assert now - cut_at < LEASE + 3.0, "the standby never took over"
        leader_writes, standby_writes = leader.may_write(), standby.may_write()
        assert not (leader_writes and standby_writes)
        if leader_writes:
            leader_last_allowed_at = now
        if standby_writes:
            standby_started_at = now
        time.sleep(0.01)
    renewed_at = last_renewal(emulator, lease_name, before=cut_at)
    assert leader_last_allowed_at - renewed_at <= RENEW
    # The lower bound is the safety property; the upper one allows 1 s of scheduling delay on a busy machine.
    assert LEASE <= standby_started_at - renewed_at <= LEASE + 2 * RETRY + 1.0
    assert lease_spec(emulator, lease_name)["holder_identity"] == "standby"
    wait_until(lambda: not leader.is_leader(), timeout=RETRY * 2)


def test_failing_renewals_fence_the_leader_and_a_recovered_api_restores_it(emulator, elect, lease_name):
    changes: list[bool] = []
    leader = elect("alone", changes=changes)
    wait_until(leader.is_leader, timeout=10.0)
    emulator.server.inject_fault(verb="update", path_pattern=f"/leases/{lease_name}$", status=500, count=1000)
    faulted_at = last_allowed_at = time.time()
    while True:
        sampled_at = time.time()  # before the call: a slow loop cannot make the leader look allowed later
        if not leader.may_write():
            break
        assert sampled_at - faulted_at < RENEW + 2.0, "the leader was never fenced"
        last_allowed_at = sampled_at
        time.sleep(0.01)
    assert last_allowed_at - last_renewal(emulator, lease_name, before=last_allowed_at) <= RENEW
    wait_until(lambda: not leader.is_leader(), timeout=RETRY * 2)
    emulator.server.clear_faults()
    wait_until(leader.may_write, timeout=RETRY * 3)  # the record still names it: nobody else took over
    # on_change runs on the elector's thread just after the flag flips: wait for it rather than race it.
    wait_until(lambda: len(changes) == 3, timeout=RETRY * 2)
    assert changes == [True, False, True]


def test_released_lease_goes_to_the_standby_within_one_retry_period(emulator, elect, lease_name):
    leader_changes: list[bool] = []
    leader = elect("leaving", changes=leader_changes)
    wait_until(leader.is_leader, timeout=10.0)
    standby = elect("taking-over")
    time.sleep(RETRY * 2)
    released_at = time.monotonic()
    leader.release()
    assert not leader.may_write()
    wait_until(standby.is_leader, timeout=RETRY * 2)
    assert time.monotonic() - released_at <= RETRY + 0.2
    spec = lease_spec(emulator, lease_name)
    assert (spec["holder_identity"], spec["lease_transitions"]) == ("taking-over", 1)
    assert leader_changes == [True, False]


def test_a_lease_outside_the_granted_namespace_is_refused(emulator, elect, lease_name):
    outsider = elect("outsider", namespace="default")
    path = f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{lease_name}"
    wait_until(lambda: any(line["path"] == path for line in emulator.audit()), timeout=10.0)
    assert not outsider.is_leader()
    assert {line["status"] for line in emulator.audit() if line["path"] == path} == {403}
