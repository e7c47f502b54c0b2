"""One leader among scalerd instances, on a coordination.k8s.io/v1 Lease, with client-go's semantics.

- A Lease is taken when absent, when its holderIdentity is empty, or when it has expired. Expiry is judged the
  way client-go judges it, immune to clock skew between machines: `leaseDurationSeconds` after this process last
  SAW the record change, on its own monotonic clock; the timestamps written in the Lease are informational.
- The leader renews every retry period and stops leading when no renewal succeeded within the renew deadline.
- Fencing: `may_write()` is true only while the last successful renewal STARTED less than the renew deadline ago.
  Counting from the start of the request is conservative: a standby measures expiry from when it sees the change,
  which is later, so the old leader's right to write ends (renew deadline) before anyone else's begins (lease
  duration, which must be longer).
- `release()` clears holderIdentity (client-go's ReleaseOnCancel), so a standby takes over at its next attempt.
- 403 on any request for its own Lease, or 404 on creating it (no such namespace), is a configuration error, not a
  passing fault: it is logged once (`lease_misconfigured`, naming what to change) and reported through
  `configuration_error()` (the daemon's /healthz fails on it) until a request for the Lease succeeds again.
"""
from __future__ import annotations

import functools
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import kubernetes.client
import structlog
from kubernetes.client import ApiException

from scalerd.kube._api import RequestHook, api_message, call_json, ignore_request, request

log = structlog.get_logger(__name__)

HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
LEASES_PATH = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
LEASE_PATH = LEASES_PATH + "/{name}"
MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
RELEASED_LEASE_SECONDS = 1
"""What client-go writes into a released Lease; with the holder cleared, nobody needs to wait it out."""
RELEASE_WAIT = 1.0
"""At shutdown, how long to wait for a renewal in flight before giving up the release (then the Lease expires)."""
ACQUIRE_JITTER = 0.2
"""Standbys poll somewhere in the last 20% of the retry period, so they do not knock in step yet never later."""


def default_identity() -> str:
    """$POD_NAME when set (stable across restarts of one pod), else hostname_pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


@dataclass(frozen=True)
class LeaseRecord:
    """The election fields of a Lease's spec."""

    holder_identity: str
    lease_duration_seconds: int
    acquire_time: str | None
    renew_time: str | None
    lease_transitions: int

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaseRecord:
        return cls(
            holder_identity=spec.get("holderIdentity") or "",
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.lease_transitions,
        }


class LeaseStore(Protocol):
    """Reads and writes one Lease object; failures raise kubernetes' ApiException."""

    def get(self) -> dict | None:
        """The Lease, or None when it does not exist."""

    def create(self, lease: dict) -> dict: ...

    def replace(self, lease: dict, *, timeout: float | None = None) -> dict:
        """PUT, conditional on lease.metadata.resourceVersion (a concurrent change gives 409)."""


class KubeLeaseStore:
    def __init__(self, api_client: kubernetes.client.ApiClient, *, name: str, namespace: str,
                 request_timeout: float, on_request: RequestHook = ignore_request):
        self.name = name
        self.namespace = namespace
        self._request = functools.partial(request, api_client)
        self._request_timeout = request_timeout
        self._on_request = on_request

    def get(self) -> dict | None:
        try:
            return call_json(self._on_request, "get", self._request, "GET", LEASE_PATH,
                             path_params={"namespace": self.namespace, "name": self.name},
                             _request_timeout=self._request_timeout)
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                return None
            raise

    def create(self, lease: dict) -> dict:
        return call_json(self._on_request, "create", self._request, "POST", LEASES_PATH,
                         path_params={"namespace": self.namespace}, body=lease, _request_timeout=self._request_timeout)

    def replace(self, lease: dict, *, timeout: float | None = None) -> dict:
        return call_json(self._on_request, "update", self._request, "PUT", LEASE_PATH,
                         path_params={"namespace": self.namespace, "name": self.name}, body=lease,
                         _request_timeout=timeout or self._request_timeout)


class LeaseElection:
    """One instance's view of the Lease and the single step client-go calls tryAcquireOrRenew (no threads)."""

    def __init__(self, store: LeaseStore, *, name: str, namespace: str, identity: str, lease_duration: float,
                 clock: Callable[[], float], wall_clock: Callable[[], datetime]):
        self.identity = identity
        self._store = store
        self._name = name
        self._namespace = namespace
        self._lease_duration_seconds = math.ceil(lease_duration)
        self._clock = clock
        self._wall_clock = wall_clock
        self._lease: dict | None = None
        self.observed: LeaseRecord | None = None
        self.observed_at = 0.0
        """Monotonic time at which `observed` was last seen to change (or was written by us)."""
        self.configuration_error: str | None = None
        """What to change when the Lease cannot be used at all (403, or 404 on create); None otherwise."""
        self._attempt_answered = False
        self._attempt_refused = False
        self.taken: dict[str, Any] = {}
        """How the last write that made this instance the holder found the Lease (`lease_acquired`'s fields):
        `taken` created, released (no holder), expired (`previous_holder`'s record `unchanged_for` seconds, at
        least the lease duration, by this process's clock) or own_record (it already named this instance)."""

    def holds_record(self) -> bool:
        """Whether the last record seen names this instance as holder (client-go's IsLeader)."""
        return self.observed is not None and self.observed.holder_identity == self.identity

    def lease_valid(self, now: float) -> bool:
        return self.observed is not None and now < self.observed_at + self.observed.lease_duration_seconds

    def try_acquire_or_renew(self) -> bool:
        """One attempt; a configuration error ends with the first attempt that gets an answer and no refusal."""
        self._attempt_answered, self._attempt_refused = False, False
        acquired = self._attempt()
        if self._attempt_answered and not self._attempt_refused and self.configuration_error is not None:
            log.info("lease_accessible", lease=self._describe())
            self.configuration_error = None
        return acquired

    def _attempt(self) -> bool:
        now = self._clock()
        stamp = self._wall_clock().strftime(MICRO_TIME_FORMAT)
        wanted = LeaseRecord(holder_identity=self.identity, lease_duration_seconds=self._lease_duration_seconds,
                             acquire_time=stamp, renew_time=stamp, lease_transitions=0)

        # Fast path: a valid leader writes over the version it wrote last, without reading first.
        if self.holds_record() and self.lease_valid(now) and self._lease is not None:
            renewal = replace(wanted, acquire_time=self.observed.acquire_time,
                              lease_transitions=self.observed.lease_transitions)
            try:
                self._remember(self._store.replace(self._with_record(self._lease, renewal)))
                self._attempt_answered = True
                self.taken = {"taken": "own_record"}
                return True
            except ApiException as error:
                log.info("lease_renew_fast_path_failed", lease=self._describe(), code=error.status,
                         error=api_message(error))

        try:
            current = self._store.get()
        except ApiException as error:
            if not self._misconfigured(error, creating=False):
                log.warning("lease_read_failed", lease=self._describe(), code=error.status, error=api_message(error))
            return False
        self._attempt_answered = True
        if current is None:
            self.taken = {"taken": "created"}
            return self._write(self._store.create, self._new_lease(wanted))

        self._lease = current
        record = LeaseRecord.from_spec(current.get("spec") or {})
        if record != self.observed:
            self.observed = record
            self.observed_at = self._clock()
        if record.holder_identity and self.lease_valid(now) and not self.holds_record():
            return False
        if self.holds_record():
            self.taken = {"taken": "own_record"}
            wanted = replace(wanted, acquire_time=record.acquire_time, lease_transitions=record.lease_transitions)
        elif record.holder_identity:
            self.taken = {"taken": "expired", "previous_holder": record.holder_identity,
                          "unchanged_for": round(now - self.observed_at, 3)}
            wanted = replace(wanted, lease_transitions=record.lease_transitions + 1)
        else:
            self.taken = {"taken": "released"}
            wanted = replace(wanted, lease_transitions=record.lease_transitions + 1)
        return self._write(self._store.replace, self._with_record(current, wanted))

    def release(self, *, timeout: float | None = None) -> bool:
        """Clear the holder if this instance holds the Lease; True when nothing is left to release."""
        if not self.holds_record() or self._lease is None:
            return True
        stamp = self._wall_clock().strftime(MICRO_TIME_FORMAT)
        released = LeaseRecord(holder_identity="", lease_duration_seconds=RELEASED_LEASE_SECONDS,
                               acquire_time=stamp, renew_time=stamp, lease_transitions=self.observed.lease_transitions)
        try:
            self._remember(self._store.replace(self._with_record(self._lease, released), timeout=timeout))
        except ApiException as error:
            log.warning("lease_release_failed", lease=self._describe(), code=error.status, error=api_message(error))
            return False
        return True

    def _write(self, send: Callable[[dict], dict], lease: dict) -> bool:
        try:
            self._remember(send(lease))
        except ApiException as error:
            if not self._misconfigured(error, creating=send == self._store.create):
                log.info("lease_write_refused", lease=self._describe(), code=error.status, error=api_message(error))
            return False
        self._attempt_answered = True
        return True

    def _misconfigured(self, error: ApiException, *, creating: bool) -> bool:
        """A refusal no retry can cure: said once, with the flag or the RBAC to change."""
        if error.status == HTTP_FORBIDDEN:
            fix = (f"this account may not get, create and update Leases in namespace {self._namespace!r}: pass "
                   "--lease-namespace with the namespace whose Role grants them (--lease-namespace scalerd, as "
                   "manifests/ deploys scalerd), or grant them there (manifests/rbac.yaml, Role "
                   "scalerd-leader-election)")
        elif error.status == HTTP_NOT_FOUND and creating:
            fix = (f"namespace {self._namespace!r} does not exist: pass --lease-namespace with the namespace scalerd "
                   "runs in (--lease-namespace scalerd, as manifests/ deploys scalerd)")
        else:
            return False
        if fix != self.configuration_error:
            log.error("lease_misconfigured", lease=self._describe(), code=error.status, error=api_message(error),
                      fix=fix)
        self.configuration_error = fix
        self._attempt_refused = True
        return True

    def _remember(self, lease: dict) -> None:
        self._lease = lease
        self.observed = LeaseRecord.from_spec(lease.get("spec") or {})
        self.observed_at = self._clock()

    def _new_lease(self, record: LeaseRecord) -> dict:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self._name, "namespace": self._namespace}, "spec": record.to_spec()}

    @staticmethod
    def _with_record(lease: dict, record: LeaseRecord) -> dict:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": lease.get("metadata") or {},
                "spec": {**(lease.get("spec") or {}), **record.to_spec()}}

    def _describe(self) -> str:
        return f"{self._namespace}/{self._name}"


class LeaderElector:
    def __init__(self, api_client: kubernetes.client.ApiClient, *, name: str, namespace: str, identity: str,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, on_change: Callable[[bool], None] | None = None,
                 on_request: RequestHook = ignore_request,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 store: LeaseStore | None = None):
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError(
                f"leader election needs lease duration > renew deadline > retry period > 0 "
                f"(got {lease_duration:g}s, {renew_deadline:g}s, {retry_period:g}s)"
            )
        self._renew_deadline = renew_deadline
        self._retry_period = retry_period
        self._clock = clock
        self._on_change = on_change
        # A request may take half the renew deadline: a stalled API server then costs at most two attempts.
        self._request_timeout = renew_deadline / 2
        self._election = LeaseElection(
            store or KubeLeaseStore(api_client, name=name, namespace=namespace,
                                    request_timeout=self._request_timeout, on_request=on_request),
            name=name, namespace=namespace, identity=identity, lease_duration=lease_duration,
            clock=clock, wall_clock=wall_clock,
        )
        self._step_lock = threading.Lock()
        """Held during an attempt's requests, so release() does not overlap a renewal in flight."""
        self._state_lock = threading.Lock()
        """Guards leadership against a stop or release arriving while an attempt is in flight."""
        self._stopping = threading.Event()
        self._leading = False
        self._renewal_started_at = -math.inf
        self._thread: threading.Thread | None = None

    @property
    def identity(self) -> str:
        return self._election.identity

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def is_leader(self) -> bool:
        return self._leading

    def configuration_error(self) -> str | None:
        """What to change when the Lease cannot be used at all (see the module's docstring); None otherwise."""
        return self._election.configuration_error

    def may_write(self) -> bool:
        return self._leading and self._clock() - self._renewal_started_at < self._renew_deadline

    def release(self) -> None:
        """Stop renewing and hand the Lease over: clear its holder so a standby takes it at its next attempt."""
        self._halt()
        if not self._step_lock.acquire(timeout=RELEASE_WAIT):
            log.warning("lease_release_skipped", reason="a renewal is still in flight; the Lease will expire")
            return
        try:
            # Only a Lease this instance holds is released: a standby, or one never let in, claims nothing.
            if self._election.holds_record() and self._election.release(timeout=RELEASE_WAIT):
                log.info("lease_released", identity=self.identity)
        finally:
            self._step_lock.release()

    def stop(self) -> None:
        """Stop renewing without touching the Lease (it expires after its duration)."""
        self._halt()

    def step(self) -> None:
        """One attempt to acquire or renew, and what follows from it; the background thread calls this."""
        started = self._clock()
        with self._step_lock:
            if self._stopping.is_set():
                return
            try:
                renewed = self._election.try_acquire_or_renew()
            except Exception:  # counts as a failed attempt; the election thread must live on
                log.exception("lease_attempt_failed", identity=self.identity)
                renewed = False
        with self._state_lock:
            # release() or stop() during the request ended leadership; this answer must not revive it.
            if self._stopping.is_set():
                return
            was_leading = self._leading
            renewed_ago = self._clock() - self._renewal_started_at
            if renewed:
                self._renewal_started_at = started
                self._leading = True
            elif was_leading and (not self._election.holds_record() or renewed_ago >= self._renew_deadline):
                self._leading = False
        if self._leading != was_leading:
            if self._leading:
                log.info("lease_acquired", identity=self.identity, **self._election.taken)
            else:
                # renewed_ago (this process's clock): the renew deadline or more, unless another holder showed up.
                log.warning("lease_lost", identity=self.identity, holder=self._election.observed.holder_identity,
                            renewed_ago=round(renewed_ago, 3))
            self._notify(self._leading)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.step()
            self._stopping.wait(self._next_wait())

    def _next_wait(self) -> float:
        if self._leading:
            return self._retry_period
        return self._retry_period * (1.0 - ACQUIRE_JITTER * random.random())

    def _halt(self) -> None:
        self._stopping.set()
        with self._state_lock:
            was_leading, self._leading = self._leading, False
        if was_leading:
            self._notify(False)

    def _notify(self, leading: bool) -> None:
        if self._on_change is not None:
            try:
                self._on_change(leading)
            except Exception:  # a failing listener must not stop the election
                log.exception("leader_change_listener_failed", leading=leading)
