"""Lease semantics of LeaderElector with an in-memory Lease store and a fake clock (no threads, no server)."""
from __future__ import annotations

import copy
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client import ApiException
from structlog.testing import capture_logs

from scalerd.kube.leader import LeaderElector, default_identity

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
WALL_START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryLeaseStore:
    """A Lease on an API server: conditional replace on resourceVersion, 409 on a stale write or a second create."""

    def __init__(self) -> None:
        self.lease: dict | None = None
        self.version = 0
        self.failing = 0
        self.requests: list[str] = []

    def get(self) -> dict | None:
        self._answer("get")
        return copy.deepcopy(self.lease)

    def create(self, lease: dict) -> dict:
        self._answer("create")
        if self.lease is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        return self._store(lease)

    def replace(self, lease: dict, *, timeout: float | None = None) -> dict:
        self._answer("update")
        if lease["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        return self._store(lease)

    def _answer(self, verb: str) -> None:
        self.requests.append(verb)
        if self.failing:
            self.failing -= 1
            raise ApiException(status=500, reason="Internal Server Error")

    def _store(self, lease: dict) -> dict:
        self.version += 1
        self.lease = copy.deepcopy(lease)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    @property
    def spec(self) -> dict:
        return self.lease["spec"]


def elector(store: MemoryLeaseStore, clock: FakeClock, identity: str, *, wall_offset: timedelta = timedelta(0),
            changes: list | None = None) -> LeaderElector:
    return LeaderElector(
        None, name="scalerd", namespace="scalerd", identity=identity,
        lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY, clock=clock,
        wall_clock=lambda: WALL_START + wall_offset + timedelta(seconds=clock.now - 100.0),
        on_change=None if changes is None else changes.append, store=store,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryLeaseStore:
    return MemoryLeaseStore()


def test_the_first_candidate_creates_the_lease_and_leads(store, clock):
    changes: list[bool] = []
    a = elector(store, clock, "a", changes=changes)
    a.step()
    assert store.requests == ["get", "create"]
    assert store.spec == {"holderIdentity": "a", "leaseDurationSeconds": 3, "leaseTransitions": 0,
                          "acquireTime": "2026-11-25T12:00:00.000000Z", "renewTime": "2026-11-25T12:00:00.000000Z"}
    assert (a.is_leader(), a.may_write(), changes) == (True, True, [True])


def test_renewal_keeps_acquire_time_and_transitions_and_writes_without_reading(store, clock):
    a = elector(store, clock, "a")
    a.step()
    clock.advance(RETRY)
    a.step()
    assert store.requests == ["get", "create", "update"]
    assert store.spec["acquireTime"] == "2026-11-25T12:00:00.000000Z"
    assert store.spec["renewTime"] == "2026-11-25T12:00:00.500000Z"
    assert store.spec["leaseTransitions"] == 0


def test_a_standby_never_leads_while_the_leader_renews(store, clock):
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    for _ in range(40):
        a.step()
        b.step()
        clock.advance(RETRY)
    assert (a.is_leader(), b.is_leader(), b.may_write()) == (True, False, False)
    assert store.spec["holderIdentity"] == "a"


def test_expiry_counts_from_when_the_standby_saw_the_record_change_not_from_renew_time(store, clock):
    a = elector(store, clock, "a")
    # The standby's wall clock runs an hour ahead: the Lease's renewTime looks ancient to it, yet it must wait.
    b = elector(store, clock, "b", wall_offset=timedelta(hours=1))
    with capture_logs() as logs:
        a.step()
    assert [(line["event"], line["taken"]) for line in logs] == [("lease_acquired", "created")]
    a.stop()
    clock.advance(10.0)  # time before the standby first looks does not count: it has seen nothing yet
    b.step()
    clock.advance(LEASE - 0.01)
    b.step()
    assert not b.is_leader()
    clock.advance(0.01)
    with capture_logs() as logs:
        b.step()
    assert b.is_leader() and b.may_write()
    # Why it took the Lease, for the log's reader (and the integration tests, which cannot trust wall time).
    assert logs == [{"event": "lease_acquired", "log_level": "info", "identity": "b", "taken": "expired",
                     "previous_holder": "a", "unchanged_for": LEASE}]
    assert store.spec["holderIdentity"] == "b"
    assert store.spec["leaseTransitions"] == 1
    assert store.spec["acquireTime"] == "2026-11-25T13:00:13.000000Z"


def test_a_leader_that_cannot_renew_stops_writing_at_the_renew_deadline(store, clock):
    changes: list[bool] = []
    a = elector(store, clock, "a", changes=changes)
    a.step()
    store.failing = 1000
    clock.advance(RENEW - 0.01)
    a.step()
    assert a.may_write() and a.is_leader()
    clock.advance(0.01)
    assert not a.may_write(), "fencing is by the clock, not by the next attempt"
    assert a.is_leader()
    with capture_logs() as logs:
        a.step()
    assert (a.is_leader(), changes) == (False, [True, False])
    assert [(line["holder"], line["renewed_ago"]) for line in logs if line["event"] == "lease_lost"] == [
        ("a", RENEW)]


def test_fencing_counts_from_the_start_of_the_renewal_request(store, clock):
    a = elector(store, clock, "a")
    a.step()
    clock.advance(RETRY)
    slow_replace = store.replace

    def replace_taking_a_second(lease, *, timeout=None):
        clock.advance(1.0)
        return slow_replace(lease, timeout=timeout)

    store.replace = replace_taking_a_second
    a.step()  # started at 100.5, answered at 101.5
    clock.advance(RENEW - 1.0 - 0.01)
    assert a.may_write()
    clock.advance(0.01)
    assert not a.may_write()


def test_a_failed_renewal_is_retried_and_leadership_continues_within_the_deadline(store, clock):
    a = elector(store, clock, "a")
    a.step()
    store.failing = 2  # the optimistic update, then the read that follows it
    clock.advance(RETRY)
    a.step()
    clock.advance(RETRY)
    a.step()
    assert a.may_write()
    assert store.spec["renewTime"] == "2026-11-25T12:00:01.000000Z"


def test_released_lease_is_taken_at_the_standbys_next_attempt(store, clock):
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.step()
    b.step()
    a.release()
    assert not a.is_leader() and not a.may_write()
    assert store.spec["holderIdentity"] == ""
    assert store.spec["leaseDurationSeconds"] == 1
    clock.advance(RETRY)
    with capture_logs() as logs:
        b.step()
    assert b.is_leader()
    assert [(line["event"], line["taken"]) for line in logs] == [("lease_acquired", "released")]
    assert store.spec["leaseTransitions"] == 1


def test_a_leader_that_sees_another_holder_stops_leading_at_once(store, clock):
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.step()
    store.lease["spec"]["holderIdentity"] = "b"  # e.g. an operator handed the Lease over
    store.version += 1
    store.lease["metadata"]["resourceVersion"] = str(store.version)
    clock.advance(RETRY)
    a.step()
    assert not a.is_leader() and not a.may_write()
    assert not b.is_leader()


def test_release_by_a_standby_leaves_the_lease_alone(store, clock):
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.step()
    b.step()
    b.release()
    assert store.spec["holderIdentity"] == "a"
    assert store.requests.count("update") == 0


def test_a_stop_during_a_renewal_in_flight_is_not_undone_by_its_answer(store, clock):
    changes: list[bool] = []
    a = elector(store, clock, "a", changes=changes)
    a.step()
    renew = store.replace

    def renew_while_being_stopped(lease, *, timeout=None):
        answer = renew(lease, timeout=timeout)
        a.stop()  # e.g. SIGTERM handled while the renewal was on the wire
        return answer

    store.replace = renew_while_being_stopped
    clock.advance(RETRY)
    a.step()
    assert (a.is_leader(), a.may_write(), changes) == (False, False, [True, False])


def test_a_stopped_elector_sends_nothing_more(store, clock):
    a = elector(store, clock, "a")
    a.step()
    a.stop()
    sent = len(store.requests)
    a.step()
    assert len(store.requests) == sent and not a.is_leader()


@pytest.mark.parametrize(("lease", "renew", "retry"), [
    pytest.param(10.0, 10.0, 2.0, id="renew-deadline-not-below-lease"),
    pytest.param(15.0, 2.0, 2.0, id="retry-not-below-renew-deadline"),
    pytest.param(15.0, 10.0, 0.0, id="zero-retry"),
])
def test_durations_must_leave_room_for_fencing(lease, renew, retry):
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        LeaderElector(None, name="n", namespace="ns", identity="i", lease_duration=lease, renew_deadline=renew,
                      retry_period=retry, store=MemoryLeaseStore())


def test_identity_is_the_pod_name_when_set(monkeypatch):
    monkeypatch.setenv("POD_NAME", "scalerd-7d9f-abcde")
    assert default_identity() == "scalerd-7d9f-abcde"


def test_identity_is_hostname_and_pid_outside_a_pod(monkeypatch):
    monkeypatch.delenv("POD_NAME", raising=False)
    assert default_identity() == f"{socket.gethostname()}_{os.getpid()}"


ACTIONS = st.one_of(
    st.tuples(st.just("advance"), st.sampled_from([0.1, 0.5, 1.0, 2.0, 3.0])),
    st.tuples(st.just("step"), st.integers(0, 2)),
    st.tuples(st.just("fail"), st.integers(1, 4)),
    st.tuples(st.just("crash"), st.integers(0, 2)),
    st.tuples(st.just("release"), st.integers(0, 2)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ACTIONS, max_size=80))
def test_never_two_instances_may_write_at_once(actions):
    clock, store = FakeClock(), MemoryLeaseStore()
    electors = [elector(store, clock, name) for name in "abc"]
    for action, argument in actions:
        if action == "advance":
            clock.advance(argument)
        elif action == "step":
            electors[argument].step()
        elif action == "fail":
            store.failing = argument
        elif action == "crash":
            electors[argument].stop()
            electors[argument] = elector(store, clock, f"{'abc'[argument]}-restarted-{clock.now}")
        else:
            electors[argument].release()
        assert sum(e.may_write() for e in electors) <= 1


class RefusingLeaseStore(MemoryLeaseStore):
    """A Lease the account may not use: every request answered with `status` until `refusing` is cleared."""

    def __init__(self, status: int, *, refusing_verbs: tuple[str, ...]) -> None:
        super().__init__()
        self.status = status
        self.refusing_verbs = refusing_verbs

    def _answer(self, verb: str) -> None:
        super()._answer(verb)
        if verb in self.refusing_verbs:
            raise ApiException(status=self.status, reason="Forbidden" if self.status == 403 else "NotFound")


FORBIDDEN_FIX = ("this account may not get, create and update Leases in namespace 'scalerd': pass --lease-namespace "
                 "with the namespace whose Role grants them (--lease-namespace scalerd, as manifests/ deploys "
                 "scalerd), or grant them there (manifests/rbac.yaml, Role scalerd-leader-election)")
MISSING_FIX = ("namespace 'scalerd' does not exist: pass --lease-namespace with the namespace scalerd runs in "
               "(--lease-namespace scalerd, as manifests/ deploys scalerd)")


@pytest.mark.parametrize(("status", "refusing_verbs", "fix"), [
    pytest.param(403, ("get",), FORBIDDEN_FIX, id="read-forbidden"),
    pytest.param(403, ("create",), FORBIDDEN_FIX, id="create-forbidden"),
    pytest.param(404, ("create",), MISSING_FIX, id="namespace-missing"),
])
def test_a_lease_it_may_not_use_is_said_once_reported_and_never_released(clock, status, refusing_verbs, fix):
    store = RefusingLeaseStore(status, refusing_verbs=refusing_verbs)
    a = elector(store, clock, "a")
    with capture_logs() as logs:
        for _ in range(5):
            a.step()
            clock.advance(RETRY)
        a.release()

    assert [(line["event"], line["log_level"], line.get("code"), line.get("fix")) for line in logs] == [
        ("lease_misconfigured", "error", status, fix)]
    assert (a.is_leader(), a.configuration_error()) == (False, fix)


def test_a_lease_allowed_again_clears_the_configuration_error_and_leads(clock):
    store = RefusingLeaseStore(403, refusing_verbs=("get",))
    a = elector(store, clock, "a")
    a.step()
    store.refusing_verbs = ()
    with capture_logs() as logs:
        a.step()

    assert [line["event"] for line in logs] == ["lease_accessible", "lease_acquired"]
    assert (a.is_leader(), a.configuration_error()) == (True, None)


@pytest.mark.parametrize(("status", "verb"), [
    pytest.param(500, "get", id="server-error"),
    pytest.param(404, "update", id="lease-deleted-under-a-write"),
])
def test_a_passing_fault_is_no_configuration_error(clock, status, verb):
    store = RefusingLeaseStore(status, refusing_verbs=(verb,))
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    store.refusing_verbs = ()
    a.step()
    clock.advance(LEASE + 1)
    store.refusing_verbs = (verb,)
    b.step()
    assert b.configuration_error() is None


def test_release_by_an_instance_that_never_held_the_lease_claims_nothing(store, clock):
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.step()
    b.step()
    with capture_logs() as logs:
        b.release()
        a.release()
    assert [(line["event"], line["identity"]) for line in logs] == [("lease_released", "a")]
