"""Prometheus instant queries (`GET /api/v1/query` at the cycle's time) through one `requests.Session`.

A query must give exactly one sample: a one-element vector or a scalar. An empty result, NaN or ±Inf follow
the metric's `onMissing`; more than one series is an error naming the count, never a silent pick. Each
distinct (server, query) is sent once per cycle, however many targets use it, with at most
`max_concurrency` queries in flight. Credentials and TLS: `scalerd.sources.http_client`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import requests

from scalerd.config.model import PrometheusSettings, Target
from scalerd.metric_types.base import missing_value_reading
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.sources.http_client import Credentials, HttpClient, HttpError, without_credentials

QUERY_PATH = "/api/v1/query"

Clock = Callable[[], float]


class QueryError(HttpError):
    """The query gave no usable answer; the message says why (Prometheus's own words when it has some)."""


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
        self._client = HttpClient(credentials_of(settings), pool_size=settings.max_concurrency, session=session)
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix="prometheus")

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
        self._client.close()

    def query(self, *, server: str, query: str, at: float) -> float | None:
        """The one sample of `query` at time `at` (None: the result is empty); raises HttpError."""
        url = server.rstrip("/") + QUERY_PATH
        response = self._client.get(url, params={"query": query, "time": f"{at:.3f}"},
                                    timeout=self._settings.timeout)
        return _sample(response, url=without_credentials(url))

    def _server(self, metric: PrometheusMetric) -> str:
        return (metric.url or self._settings.url).rstrip("/")


def credentials_of(settings: PrometheusSettings) -> Credentials:
    """The credentials and TLS settings of `defaults.prometheus`, for instant and range queries alike."""
    return Credentials(
        bearer_token_file=settings.bearer_token_file, ca_file=settings.ca_file,
        insecure_skip_verify=settings.insecure_skip_verify, username=settings.username,
        password_file=settings.password_file,
    )


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
        except HttpError as error:
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
    return missing_value_reading(metric.name, metric.on_missing, why=_missing_reason(sample))


def _missing_reason(sample: float | None) -> str:
    if sample is None:
        return "query returned no samples"
    if math.isnan(sample):
        return "value is NaN"
    return "value is +Inf" if sample > 0 else "value is -Inf"
