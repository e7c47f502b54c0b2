"""Leader election on the API emulator with the scalerd ServiceAccount (Lease in namespace scalerd).

Short durations: lease 3 s, renew deadline 2 s, retry period 0.5 s. The exact moments of taking over and of
fencing are asserted on a fake clock in tests/unit/test_kube_leader.py; here the safety bounds (never early) hold
against the emulator's own timestamps, and how late something happens is counted in the standby's own Lease reads,
never in wall time, which only grows on a busy machine.
"""
from __future__ import annotations

import itertools
import time

import pytest

from scalerd.kube.leader import KubeLeaseStore, LeaderElector
from tests.integration.daemon_support import wait_until
from tests.integration.kube_emulator import TcpProxy, running_emulator

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
SHORTEST_WAIT = RETRY * 0.8
"""A standby's least wait between two attempts (the retry period less its jitter, scalerd.kube.leader)."""
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

    def make(identity: str, *, api_client=None, namespace: str = "scalerd", changes: list | None = None,
             store: KubeLeaseStore | None = None):
        elector = LeaderElector(
            api_client or emulator.scalerd_client(), name=lease_name, namespace=namespace, identity=identity,
            lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY,
            on_change=None if changes is None else changes.append, store=store,
        )
        started.append(elector)
        elector.start()
        return elector

    yield make
    for elector in started:
        elector.stop()


class RecordingStore(KubeLeaseStore):
    """The real store (the scalerd client's requests unchanged) that also keeps the (holder, renewTime) of every
    Lease it read, what an instance saw at each attempt, and the wall time of every write that was answered."""

    def __init__(self, emulator, lease_name: str) -> None:
        super().__init__(emulator.scalerd_client(), name=lease_name, namespace="scalerd", request_timeout=RENEW / 2)
        self.reads: list[tuple[str, str | None]] = []
        self.written_at: list[float] = []

    def get(self) -> dict | None:
        lease = super().get()
        spec = (lease or {}).get("spec") or {}
        self.reads.append((spec.get("holderIdentity") or "", spec.get("renewTime")))
        return lease

    def create(self, lease: dict) -> dict:
        return self._written(super().create(lease))

    def replace(self, lease: dict, *, timeout: float | None = None) -> dict:
        return self._written(super().replace(lease, timeout=timeout))

    def _written(self, answer: dict) -> dict:
        self.written_at.append(time.time())  # before the elector learns of it: never later than it may write
        return answer


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
        # Never two; a renewal a busy machine delays past the renew deadline may leave none for a moment.
        assert [first.may_write(), second.may_write()].count(True) <= 1
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
    standby_store = RecordingStore(emulator, lease_name)
    standby = elect("standby", store=standby_store)
    wait_until(lambda: len(standby_store.reads) >= 2, timeout=10.0, what="the standby read the held Lease twice")
    assert leader.may_write() and not standby.is_leader()
    assert {holder for holder, _renewed in standby_store.reads} == {"partitioned"}

    proxy.cut()
    cut_at = time.time()
    leader_last_allowed_at = None
    while True:
        # Sampling times are taken before each call, so a slow loop on a loaded machine only samples less
        # often: it can never make the leader look allowed later than it was.
        now = time.time()
        assert now - cut_at < LEASE + 15.0, "the standby never took over"
        leader_writes, standby_writes = leader.may_write(), standby.may_write()
        assert not (leader_writes and standby_writes)
        if leader_writes:
            leader_last_allowed_at = now
        if standby_writes:
            break
        time.sleep(0.01)
    renewed_at = last_renewal(emulator, lease_name, before=cut_at)
    assert leader_last_allowed_at - renewed_at <= RENEW
    # The safety property: the standby's first write (its take-over) came no sooner than a lease duration after the
    # leader's last renewal.
    assert standby_store.written_at[0] - renewed_at >= LEASE
    # Nor much later, counted in its own attempts, which a busy machine only spaces further apart: it read the
    # leader's last record at the attempt that first saw it, at those that fit in one lease duration after it (a
    # retry period of slack for a slow first read) and at the one that took the Lease. Waiting out two lease
    # durations shows it at about 15.
    last_record = [read for read in standby_store.reads if read[0] == "partitioned"][-1]
    assert standby_store.reads.count(last_record) <= (LEASE + RETRY) / SHORTEST_WAIT + 2, standby_store.reads
    assert standby_store.reads[-1] == last_record
    assert lease_spec(emulator, lease_name)["holder_identity"] == "standby"
    wait_until(lambda: not leader.is_leader(), timeout=10.0)


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
        assert sampled_at - faulted_at < RENEW + 15.0, "the leader was never fenced"
        last_allowed_at = sampled_at
        time.sleep(0.01)
    assert last_allowed_at - last_renewal(emulator, lease_name, before=last_allowed_at) <= RENEW
    wait_until(lambda: not leader.is_leader(), timeout=10.0)
    emulator.server.clear_faults()
    wait_until(leader.may_write, timeout=10.0)  # the record still names it: nobody else took over
    # on_change runs on the elector's thread just after the flag flips: wait for it rather than race it.
    wait_until(lambda: len(changes) == 3, timeout=10.0)
    assert changes == [True, False, True]


def test_released_lease_goes_to_the_standby_within_one_retry_period(emulator, elect, lease_name):
    leader_changes: list[bool] = []
    leader = elect("leaving", changes=leader_changes)
    wait_until(leader.is_leader, timeout=10.0)
    standby_store = RecordingStore(emulator, lease_name)
    standby = elect("taking-over", store=standby_store)
    wait_until(lambda: standby_store.reads, timeout=10.0, what="the standby read the held Lease")
    leader.release()
    assert not leader.may_write()
    wait_until(standby.is_leader, timeout=10.0)
    # Taken at the first attempt that saw it released (within one retry period), not after waiting out the
    # released Lease's duration, which would have shown it released at several attempts.
    assert [holder for holder, _renewed in standby_store.reads if holder != "leaving"] == [""]
    spec = lease_spec(emulator, lease_name)
    assert (spec["holder_identity"], spec["lease_transitions"]) == ("taking-over", 1)
    assert leader_changes == [True, False]


def test_a_lease_outside_the_granted_namespace_is_refused(emulator, elect, lease_name):
    outsider = elect("outsider", namespace="default")
    path = f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{lease_name}"
    wait_until(lambda: any(line["path"] == path for line in emulator.audit()), timeout=10.0)
    assert not outsider.is_leader()
    assert {line["status"] for line in emulator.audit() if line["path"] == path} == {403}
