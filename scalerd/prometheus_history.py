"""A query's past values from Prometheus (`GET /api/v1/query_range`), for `simulate --from-prometheus` and any
part of scalerd that needs history at start.

Prometheus answers at most 11,000 points per series in one query_range, so a long range is asked for in chunks
of at most that many steps, each starting one step after the previous one ends (every point is asked for once).
A query must give one series (or none where it has no data), as for the daemon's instant queries: more than one
is an error naming the count. Steps without a sample are simply absent from the answer.
"""
from __future__ import annotations

import math

from scalerd.sources.http_client import Credentials, HttpClient, HttpError, without_credentials

RANGE_PATH = "/api/v1/query_range"
MAX_POINTS_PER_QUERY = 11_000
"""Prometheus refuses a query_range that would give more points per series ("exceeded maximum resolution")."""


class HistoryError(HttpError):
    """The range could not be loaded; the message names the URL and the chunk, never a credential."""


def chunks(*, start: float, end: float, step: float) -> list[tuple[float, float]]:
    """[start, end] cut into query ranges of at most MAX_POINTS_PER_QUERY points on the grid start + k * step."""
    if not step > 0:
        raise ValueError(f"step must be > 0 (got {step})")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    points = math.floor((end - start) / step + 1e-9) + 1
    ranges = []
    for first in range(0, points, MAX_POINTS_PER_QUERY):
        last = min(first + MAX_POINTS_PER_QUERY, points) - 1
        ranges.append((start + first * step, start + last * step))
    return ranges


def load_range(*, url: str, query: str, start: float, end: float, step: float, timeout: float,
               credentials: Credentials | None = None,
               client: HttpClient | None = None) -> list[tuple[float, float]]:
    """(timestamp, value) of `query` from `start` to `end` every `step` seconds, ascending; HistoryError otherwise.

    `credentials` as for the prometheus source (bearer token or basic auth from files, CA, insecureSkipVerify);
    `client` lets a caller share one session across several loads.
    """
    own_client = client is None
    http = client or HttpClient(credentials or Credentials(), pool_size=1)
    endpoint = url.rstrip("/") + RANGE_PATH
    samples: list[tuple[float, float]] = []
    try:
        for chunk_start, chunk_end in chunks(start=start, end=end, step=step):
            params = {"query": query, "start": _seconds(chunk_start), "end": _seconds(chunk_end),
                      "step": _seconds(step)}
            try:
                response = http.get(endpoint, timeout=timeout, params=params)
            except HttpError as error:
                raise HistoryError(error.why, url=error.url) from None
            samples.extend(_matrix(response, url=without_credentials(endpoint), query=query))
    finally:
        if own_client:
            http.close()
    return samples


def _matrix(response, *, url: str, query: str) -> list[tuple[float, float]]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HistoryError(f"HTTP {response.status_code} {response.reason}, not a Prometheus API answer", url=url)
    if body.get("status") == "error":
        raise HistoryError(f"{body.get('errorType', 'error')}: {body.get('error', '')} (query {query!r})", url=url)
    if not response.ok:
        raise HistoryError(f"HTTP {response.status_code} {response.reason}", url=url)
    data = body.get("data") or {}
    if data.get("resultType") != "matrix":
        raise HistoryError(f"query_range returned a {data.get('resultType')}, expected a matrix", url=url)
    series = data.get("result") or []
    if len(series) > 1:
        raise HistoryError(f"query {query!r} returned {len(series)} series, expected 1 (aggregate it, e.g. sum(...))",
                           url=url)
    if not series:
        return []
    try:
        return [(float(timestamp), float(value)) for timestamp, value in series[0]["values"]]
    except (TypeError, KeyError, ValueError):
        raise HistoryError("malformed matrix result", url=url) from None


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
