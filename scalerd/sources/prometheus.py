"""Prometheus instant queries (`GET /api/v1/query` at the cycle's time) through one `requests.Session`.

A query must give exactly one sample: a one-element vector or a scalar. An empty result, NaN or ±Inf follow
the metric's `onMissing`; more than one series is an error naming the count, never a silent pick. Each
distinct (server, query) is sent once per cycle, however many targets use it, with at most
`max_concurrency` queries in flight. The bearer token and the basic-auth password are read from their files,
again whenever a file changes, and never appear in an error or a log line.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from scalerd.config.model import PrometheusSettings, Target
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading

QUERY_PATH = "/api/v1/query"

Clock = Callable[[], float]


class QueryError(Exception):
    """The query gave no usable answer; the message says why (Prometheus's own words when it has some)."""


class SecretFile:
    """A file holding one secret, re-read only when its modification time or size changes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._secret = ""

    def read(self) -> str:
        try:
            status = os.stat(self._path)
            stamp = (status.st_mtime_ns, status.st_size)
            if stamp != self._stamp:
                with open(self._path, encoding="utf-8") as file:
                    self._secret = file.read().strip()
                self._stamp = stamp
        except OSError as error:
            raise QueryError(f"cannot read {self._path}: {error.strerror}") from None
        return self._secret


class PrometheusSource:
    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        clock: Clock = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._session = session or requests.Session()
        self._session.mount("http://", HTTPAdapter(pool_maxsize=settings.max_concurrency))
        self._session.mount("https://", HTTPAdapter(pool_maxsize=settings.max_concurrency))
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix="prometheus")
        self._token = SecretFile(settings.bearer_token_file) if settings.bearer_token_file else None
        self._password = SecretFile(settings.password_file) if settings.password_file else None

    def read(self, wanted: Sequence[tuple[Target, PrometheusMetric]], *, at: float | None = None) -> list[Reading]:
        """`at`: the evaluation time (Unix seconds) of every query; default: the clock's now."""
        return [future.result() for future in self.submit(wanted, at=at)]

    def submit(
        self, wanted: Sequence[tuple[Target, PrometheusMetric]], *, at: float | None = None
    ) -> list[Future[Reading]]:
        """One future Reading per wanted metric, settled as soon as its own query is answered; it never raises.

        Each distinct (server, query) is sent once. `at`: as for `read`.
        """
        if at is None:
            at = self._clock()
        keys = [(self._server(metric), metric.query) for _target, metric in wanted]
        queries = {
            key: self._executor.submit(self.query, server=key[0], query=key[1], at=at) for key in dict.fromkeys(keys)
        }
        return [_future_reading(queries[key], metric) for (_target, metric), key in zip(wanted, keys)]

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._session.close()

    def query(self, *, server: str, query: str, at: float) -> float | None:
        """The one sample of `query` at time `at` (None: the result is empty); raises QueryError."""
        url = _without_credentials(server.rstrip("/") + QUERY_PATH)
        try:
            response = self._session.get(
                server.rstrip("/") + QUERY_PATH,
                params={"query": query, "time": f"{at:.3f}"},
                headers=self._auth_headers(),
                auth=self._basic_auth(),
                timeout=self._settings.timeout,
                verify=self._verify(),
            )
        except requests.Timeout:
            raise QueryError(f"{url}: no answer within {self._settings.timeout:g}s") from None
        except requests.RequestException as error:
            raise QueryError(f"{url}: cannot connect: {_root_cause(error)}") from None
        return _sample(response, url=url)

    def _server(self, metric: PrometheusMetric) -> str:
        return (metric.url or self._settings.url).rstrip("/")

    def _auth_headers(self) -> dict[str, str]:
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {self._token.read()}"}

    def _basic_auth(self) -> tuple[str, str] | None:
        if self._settings.username is None:
            return None
        return (self._settings.username, self._password.read() if self._password else "")

    def _verify(self) -> bool | str:
        if self._settings.ca_file:
            return self._settings.ca_file
        return not self._settings.insecure_skip_verify


def _sample(response: requests.Response, *, url: str) -> float | None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise QueryError(f"{url}: HTTP {response.status_code} {response.reason}, not a Prometheus API answer")
    if body.get("status") == "error":
        raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', '')}")
    if not response.ok:
        raise QueryError(f"{url}: HTTP {response.status_code} {response.reason}")
    data = body.get("data") or {}
    result_type, result = data.get("resultType"), data.get("result")
    try:
        if result_type == "scalar":
            return float(result[1])
        if result_type == "vector":
            if not result:
                return None
            if len(result) > 1:
                raise QueryError(f"query returned {len(result)} series, expected 1")
            return float(result[0]["value"][1])
    except (TypeError, KeyError, IndexError, ValueError):
        raise QueryError(f"{url}: malformed {result_type} result") from None
    raise QueryError(f"query returned a {result_type}, expected a vector or scalar")


def _future_reading(query: Future[float | None], metric: PrometheusMetric) -> Future[Reading]:
    reading: Future[Reading] = Future()

    def settle(done: Future[float | None]) -> None:
        try:
            sample = done.result()
        except QueryError as error:
            reading.set_result(Reading(name=metric.name, error=str(error)))
        except Exception as error:  # noqa: BLE001 - a defect in the source costs this metric, not the cycle
            message = f"prometheus source failed: {type(error).__name__}: {error}"
            reading.set_result(Reading(name=metric.name, error=message))
        else:
            reading.set_result(_reading(metric, sample))

    query.add_done_callback(settle)
    return reading


def _reading(metric: PrometheusMetric, sample: float | None) -> Reading:
    if sample is not None and math.isfinite(sample):
        return Reading(name=metric.name, value=sample)
    if metric.on_missing is OnMissing.ZERO:
        return Reading(name=metric.name, value=0.0)
    if metric.on_missing is OnMissing.HOLD:
        return Reading(name=metric.name, hold=True)
    return Reading(name=metric.name, error=_missing_reason(sample))


def _missing_reason(sample: float | None) -> str:
    if sample is None:
        return "query returned no samples"
    if math.isnan(sample):
        return "value is NaN"
    return "value is +Inf" if sample > 0 else "value is -Inf"


def _without_credentials(url: str) -> str:
    """The URL as error messages show it: credentials written into it (user:password@host) are cut out."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _root_cause(error: BaseException) -> str:
    """The innermost operating-system reason ("Connection refused") inside requests' and urllib3's wrappers."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return type(error).__name__
