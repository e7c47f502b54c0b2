"""THE one place scalerd writes to Kubernetes: dry-run, fencing and retries live here and nowhere else.

Every attempt first asks `may_write()` (the Lease's fencing check), so a daemon that lost leadership stops between
two retries, not only between two cycles. Replica changes are conditional on the resourceVersion the decision was
made from; that also makes resending after a timeout safe: a PATCH that did land turns the resend into a 409.
Such a 409, after an attempt that got no answer or a 5xx (either may have been committed), is checked with one GET:
a Deployment at the requested count means the earlier attempt landed, and the write is reported applied.
"""
from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import kubernetes.client
import structlog
from kubernetes.client import ApiException
from tenacity import RetryCallState, Retrying, retry_if_exception

from scalerd.kube._api import (
    MERGE_PATCH,
    NO_ANSWER,
    RequestHook,
    api_message,
    call_json,
    ignore_request,
    parse_retry_after,
    request,
    retry_after_header,
)
from scalerd.kube.cache import DeploymentView

log = structlog.get_logger(__name__)



class WriteStatus(StrEnum):
    """How a write ended (`WriteOutcome.status`, the decision log's `write_status`); each member is its value."""

    APPLIED = "applied"
    DRY_RUN = "dry_run"
    CONFLICT = "conflict"
    """409: the object changed since it was read (the loop reads it again and decides again)."""
    FENCED = "fenced"
    """Not sent: this instance no longer holds the Lease."""
    FAILED = "failed"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    STATE_NOT_WRITTEN = "state_not_written"
    """Not sent: the change's intent could not be stored first (`scalerd.daemon.history`)."""


FAILED_WRITES = frozenset({WriteStatus.FAILED, WriteStatus.FORBIDDEN, WriteStatus.NOT_FOUND, WriteStatus.FENCED,
                           WriteStatus.CONFLICT, WriteStatus.STATE_NOT_WRITTEN})
"""What `once` exits 1 for and a ScaleFailed Event reports."""
HTTP_TOO_MANY_REQUESTS = 429
HTTP_CONFLICT = 409
STATUS_OF_FINAL_ANSWER = {409: WriteStatus.CONFLICT, 404: WriteStatus.NOT_FOUND, 403: WriteStatus.FORBIDDEN}
BACKOFF_INITIAL = 0.2
BACKOFF_MAX = 2.0
CONNECT_TIMEOUT = 3.0
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
EVENTS_PATH = "/api/v1/namespaces/{namespace}/events"
CONFIG_MAPS_PATH = "/api/v1/namespaces/{namespace}/configmaps"


@dataclass(frozen=True)
class WriteOutcome:
    applied: bool
    status: WriteStatus
    detail: str
    attempts: int
    """Requests actually sent."""
    resource_version: str | None
    """The object's resourceVersion after an applied write."""


def is_retryable(error: BaseException) -> bool:
    """429, 5xx and no answer at all (connection refused/reset, timeout) are worth another attempt; the rest is final."""
    if not isinstance(error, ApiException):
        return False
    status = error.status or NO_ANSWER
    return status == NO_ANSWER or status == HTTP_TOO_MANY_REQUESTS or status >= 500


def backoff_delay(attempt: int, *, random_fraction: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter (half to all of the step) after the `attempt`-th failed attempt."""
    step = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (attempt - 1))
    return step * (0.5 + 0.5 * random_fraction())


class _Fenced(Exception):
    """may_write() said no: this instance must not write (not the leader, or its Lease renewal is overdue)."""


@dataclass
class _Progress:
    """One write's attempts so far."""

    started: float
    attempts: int = 0
    refused_wait: float | None = None
    """The wait that did not fit in the retry budget, when that is why retrying stopped."""
    maybe_committed: bool = False
    """An attempt got no answer or a 5xx: it may have been applied all the same."""


class KubeWriter:
    def __init__(self, api_client: kubernetes.client.ApiClient, *, dry_run: bool, may_write: Callable[[], bool],
                 component: str = "scalerd", retry_budget_seconds: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_request: RequestHook = ignore_request, request_timeout: float = 10.0,
                 random_fraction: Callable[[], float] = random.random):
        self._request = functools.partial(request, api_client)
        self._dry_run = dry_run
        self._may_write = may_write
        self._component = component
        self._retry_budget = retry_budget_seconds
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._on_request = on_request
        self._timeouts = (CONNECT_TIMEOUT, request_timeout)
        self._random_fraction = random_fraction

    def scale(self, *, view: DeploymentView, replicas: int) -> WriteOutcome:
        """Set spec.replicas through the scale subresource, only if the Deployment is still at `view`'s version."""
        body = {"metadata": {"resourceVersion": view.resource_version}, "spec": {"replicas": replicas}}
        return self._write(
            verb="patch", namespace=view.namespace, name=view.name,
            planned=f"set replicas {view.replicas} -> {replicas}",
            send=functools.partial(self._request, "PATCH", DEPLOYMENT_PATH + "/scale",
                                   path_params={"namespace": view.namespace, "name": view.name}, body=body,
                                   content_type=MERGE_PATCH, _request_timeout=self._timeouts),
            landed=functools.partial(self._at_replicas, namespace=view.namespace, name=view.name, replicas=replicas),
        )

    def update_status(self, *, path: str, obj: Mapping[str, Any], planned: str) -> WriteOutcome:
        """PUT `obj` (as read, with its resourceVersion, and the new status) to the status subresource at `path`
        ({namespace} and {name} filled from it): a conditional write, as custom resources allow no other."""
        metadata = obj["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        return self._write(
            verb="update", namespace=namespace, name=name, planned=planned,
            send=functools.partial(self._request, "PUT", path, path_params={"namespace": namespace, "name": name},
                                   body=dict(obj), _request_timeout=self._timeouts),
        )

    def remove_annotations(self, *, view: DeploymentView, keys: Sequence[str]) -> WriteOutcome:
        """Delete `keys` from the Deployment's annotations, only if it is still at `view`'s version.

        The one write scalerd makes to a Deployment's metadata: the one-time removal of the annotations where it
        kept its history before its store existed (`scalerd.kube.state_store`).
        """
        body = {"metadata": {"resourceVersion": view.resource_version, "annotations": dict.fromkeys(keys)}}
        return self._write(
            verb="patch", namespace=view.namespace, name=view.name, planned=f"remove annotations {', '.join(keys)}",
            send=functools.partial(self._request, "PATCH", DEPLOYMENT_PATH,
                                   path_params={"namespace": view.namespace, "name": view.name}, body=body,
                                   content_type=MERGE_PATCH, _request_timeout=self._timeouts),
        )

    def save_config_map(self, *, namespace: str, name: str, labels: Mapping[str, str], data: Mapping[str, str],
                        resource_version: str | None) -> WriteOutcome:
        """Create the ConfigMap (`resource_version` None), or replace it only if it is still at that version.

        Both are conditional: a create meets an existing object with 409 AlreadyExists, a replace a newer version
        with 409 Conflict, so a deposed leader's write never lands.
        """
        metadata = {"name": name, "namespace": namespace, "labels": dict(labels)}
        if resource_version is None:
            method, path, verb = "POST", CONFIG_MAPS_PATH, "create"
        else:
            method, path, verb = "PUT", CONFIG_MAPS_PATH + "/{name}", "update"
            metadata["resourceVersion"] = resource_version
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}
        return self._write(
            verb=verb, namespace=namespace, name=name, planned=f"{verb} ConfigMap {name} ({len(data)} keys)",
            send=functools.partial(self._request, method, path, path_params={"namespace": namespace, "name": name},
                                   body=body, _request_timeout=self._timeouts),
        )

    def event(self, *, namespace: str, involved: DeploymentView | dict, reason: str, message: str,
              event_type: str = "Normal") -> WriteOutcome:
        """Record a core/v1 Event about `involved` (a Deployment, or e.g. {"kind": "ConfigMap", "name": ...})."""
        involved_object = _involved_object(involved, namespace)
        now = self._wall_clock()
        timestamp = now.replace(microsecond=0)  # metav1.Time has whole seconds
        body = {
            "apiVersion": "v1", "kind": "Event",
            # The name scheme of client-go's recorder: unique per object and instant.
            "metadata": {"name": f"{involved_object['name']}.{_unix_nanoseconds(now):x}", "namespace": namespace},
            "involvedObject": involved_object,
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": self._component}, "reportingComponent": self._component,
            "firstTimestamp": timestamp, "lastTimestamp": timestamp, "count": 1,
        }
        return self._write(
            verb="create", namespace=namespace, name=involved_object["name"], planned=f"event {reason}: {message}",
            send=functools.partial(self._request, "POST", EVENTS_PATH, path_params={"namespace": namespace},
                                   body=body, _request_timeout=self._timeouts),
        )

    def _write(self, *, verb: str, namespace: str, name: str, planned: str, send: Callable[..., Any],
               landed: Callable[[], tuple[str, str] | None] | None = None) -> WriteOutcome:
        """`landed`: after a 409 that may answer our own earlier, unanswered attempt, (the object's resourceVersion,
        what shows it) when the object has that attempt's effect, else None."""
        if self._dry_run:
            return WriteOutcome(applied=False, status=WriteStatus.DRY_RUN, detail=f"dry run: would {planned}",
                                attempts=0, resource_version=None)
        progress = _Progress(started=self._clock())

        def attempt() -> dict:
            if not self._may_write():
                raise _Fenced()
            progress.attempts += 1
            try:
                return call_json(self._on_request, verb, send)
            except ApiException as error:
                if (error.status or NO_ANSWER) == NO_ANSWER or error.status >= 500:
                    progress.maybe_committed = True
                raise

        retrying = Retrying(
            retry=retry_if_exception(is_retryable), wait=self._wait,
            stop=lambda state: self._over_budget(state, progress), sleep=self._sleep, reraise=True,
            before_sleep=functools.partial(_log_retry, verb=verb, namespace=namespace, name=name),
        )
        try:
            answer = retrying(attempt)
        except _Fenced:
            outcome = WriteOutcome(applied=False, status=WriteStatus.FENCED, attempts=progress.attempts,
                                   resource_version=None,
                                   detail="not written: this instance does not hold a fresh leader Lease")
        except ApiException as error:
            proof = None
            if error.status == HTTP_CONFLICT and progress.maybe_committed and landed is not None:
                proof = landed()
            if proof is not None:
                resource_version, evidence = proof
                detail = f"{planned} (an attempt without an answer landed: its resend was refused with 409 and {evidence})"
                log.info("kube_write_landed_unanswered", verb=verb, namespace=namespace, name=name, detail=detail,
                         attempts=progress.attempts)
                return WriteOutcome(applied=True, status=WriteStatus.APPLIED, attempts=progress.attempts,
                                    resource_version=resource_version, detail=detail)
            outcome = self._final_answer(error, progress)
        else:
            return WriteOutcome(applied=True, status=WriteStatus.APPLIED, detail=planned, attempts=progress.attempts,
                                resource_version=(answer.get("metadata") or {}).get("resourceVersion"))
        logger = log.info if outcome.status in (WriteStatus.CONFLICT, WriteStatus.FENCED) else log.error
        logger("kube_write_not_applied", verb=verb, namespace=namespace, name=name, planned=planned,
               status=outcome.status, detail=outcome.detail, attempts=outcome.attempts)
        return outcome

    def _at_replicas(self, *, namespace: str, name: str, replicas: int) -> tuple[str, str] | None:
        """(resourceVersion, evidence) when the Deployment's spec.replicas is `replicas`; None otherwise or unread."""
        try:
            deployment = call_json(self._on_request, "get", self._request, "GET", DEPLOYMENT_PATH,
                                   path_params={"namespace": namespace, "name": name},
                                   _request_timeout=self._timeouts)
        except ApiException as error:
            log.warning("kube_write_check_failed", namespace=namespace, name=name, error=api_message(error))
            return None
        if (deployment.get("spec") or {}).get("replicas") != replicas:
            return None
        return (deployment.get("metadata") or {}).get("resourceVersion"), f"the Deployment is at {replicas} replicas"

    def _final_answer(self, error: ApiException, progress: _Progress) -> WriteOutcome:
        status = STATUS_OF_FINAL_ANSWER.get(error.status or NO_ANSWER, WriteStatus.FAILED)
        detail = api_message(error)
        asked = parse_retry_after(retry_after_header(error), now=self._wall_clock())
        if asked is not None and asked == progress.refused_wait:
            detail = (f"{detail} (HTTP {error.status}: the server asked to wait {asked:g}s, "
                      f"beyond the {self._retry_budget:g}s retry budget)")
        elif is_retryable(error):
            detail = (f"{detail} (gave up after {progress.attempts} attempts within the "
                      f"{self._retry_budget:g}s retry budget)")
        return WriteOutcome(applied=False, status=status, detail=detail, attempts=progress.attempts,
                            resource_version=None)

    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it sent one (429, and a 503 may too), else exponential backoff."""
        asked = parse_retry_after(retry_after_header(state.outcome.exception()), now=self._wall_clock())
        if asked is not None:
            return asked
        return backoff_delay(state.attempt_number, random_fraction=self._random_fraction)

    def _over_budget(self, state: RetryCallState, progress: _Progress) -> bool:
        """Stop when the next wait would end beyond the budget: bounded time per target per cycle."""
        remaining = self._retry_budget - (self._clock() - progress.started)
        if state.upcoming_sleep <= remaining:
            return False
        progress.refused_wait = state.upcoming_sleep
        return True


def _log_retry(state: RetryCallState, *, verb: str, namespace: str, name: str) -> None:
    """The wait before the next attempt, as chosen: `retry_after` is the server's header when it sent one."""
    error = state.outcome.exception()
    log.info("kube_write_retry", verb=verb, namespace=namespace, name=name, attempt=state.attempt_number,
             code=error.status or NO_ANSWER, retry_after=retry_after_header(error),
             retry_in=round(state.upcoming_sleep, 3))


def _involved_object(involved: DeploymentView | dict, namespace: str) -> dict:
    if isinstance(involved, DeploymentView):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "name": involved.name,
                "namespace": involved.namespace, "uid": involved.uid, "resourceVersion": involved.resource_version}
    return {"apiVersion": "v1", "namespace": namespace, **involved}


def _unix_nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
