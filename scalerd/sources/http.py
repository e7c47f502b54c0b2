"""The http metric type's source: GET a URL, read one number from its JSON answer by a dotted path.

Metrics that name the same URL with the same credentials and timeout share one request per cycle, however many
targets use them; each then reads its own path from the one answer. A failure to get a JSON answer (no
connection, no answer in time, an HTTP error status, a body that is not JSON) is every such metric's error; a
path that leads nowhere, to null, or to something that is not a finite number follows the metric's `onMissing`.
Every error names the URL (credentials cut out) and the metric's path; the bearer token never appears.
"""
from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from scalerd.config.model import Target
from scalerd.metric_types.base import missing_value_reading
from scalerd.metric_types.http import HttpMetric
from scalerd.readings import Reading
from scalerd.sources.http_client import Credentials, HttpClient, HttpError, without_credentials

MAX_CONCURRENCY = 8
"""How many distinct URLs are read at once in one cycle."""


class MissingValue(LookupError):
    """The answer is JSON, but the path does not lead to a finite number; the message says where it stops."""


@dataclass(frozen=True)
class _Request:
    url: str
    credentials: Credentials
    timeout: float


class HttpSource:
    def __init__(self) -> None:
        self._clients: dict[Credentials, HttpClient] = {}
        self._clients_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=MAX_CONCURRENCY, thread_name_prefix="http")

    def submit(self, wanted: Sequence[tuple[Target, HttpMetric]], *, at: float) -> list[Future[Reading]]:
        """One future Reading per wanted metric, settled when its URL has answered; a future never raises.

        `at` is not used: the service answers with its value of the moment."""
        requests = [_request_of(metric) for _target, metric in wanted]
        answers = {request: self._executor.submit(self._get, request) for request in dict.fromkeys(requests)}
        return [_future_reading(answers[request], metric) for (_target, metric), request in zip(wanted, requests)]

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for client in self._clients.values():
            client.close()

    def _get(self, request: _Request) -> object:
        """The answer's JSON document; HttpError when there is none."""
        with self._clients_lock:  # two URLs with the same credentials, requested at once, share one client
            client = self._clients.get(request.credentials)
            if client is None:
                client = HttpClient(request.credentials, pool_size=MAX_CONCURRENCY)
                self._clients[request.credentials] = client
        response = client.get(request.url, timeout=request.timeout)
        url = without_credentials(request.url)
        if not response.ok:
            raise HttpError(f"HTTP {response.status_code} {response.reason}", url=url)
        try:
            return json.loads(response.content)
        except ValueError:
            content_type = response.headers.get("Content-Type", "no Content-Type")
            raise HttpError(f"the answer is not JSON ({content_type})", url=url) from None


def _request_of(metric: HttpMetric) -> _Request:
    credentials = Credentials(
        bearer_token_file=metric.bearer_token_file, ca_file=metric.ca_file,
        insecure_skip_verify=metric.insecure_skip_verify,
    )
    return _Request(url=metric.url, credentials=credentials, timeout=metric.timeout)


def _future_reading(answer: Future[object], metric: HttpMetric) -> Future[Reading]:
    reading: Future[Reading] = Future()

    def settle(done: Future[object]) -> None:
        try:
            document = done.result()
        except HttpError as error:
            reading.set_result(Reading(name=metric.name, error=_message(metric, error.why)))
        except Exception as error:  # noqa: BLE001 - a defect in the source costs this metric, not the cycle
            why = f"http source failed: {type(error).__name__}: {error}"
            reading.set_result(Reading(name=metric.name, error=_message(metric, why)))
        else:
            reading.set_result(_reading(metric, document))

    answer.add_done_callback(settle)
    return reading


def _reading(metric: HttpMetric, document: object) -> Reading:
    try:
        return Reading(name=metric.name, value=value_at(document, metric.value_location))
    except MissingValue as missing:
        return missing_value_reading(metric.name, metric.on_missing, why=_message(metric, str(missing)))


def value_at(document: object, location: Sequence[str]) -> float:
    """The finite number at `location` (keys of objects, indexes of lists); MissingValue naming where it stops."""
    value = document
    for depth, key in enumerate(location):
        here = ".".join(location[:depth]) or "the answer"
        if isinstance(value, dict):
            if key not in value:
                raise MissingValue(f"{here} has no key {key!r}")
            value = value[key]
        elif isinstance(value, list):
            if not (key.isascii() and key.isdigit()) or int(key) >= len(value):
                raise MissingValue(f"{here} is a list of {len(value)}, with no index {key!r}")
            value = value[int(key)]
        else:
            raise MissingValue(f"{here} is {_kind(value)}, not an object or a list")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MissingValue(f"the value is {_kind(value)}, not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise MissingValue(f"the value is {value}, not a finite number")
    return number


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, str):
        return f"a string ({json.dumps(value)[:40]})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return "an object" if isinstance(value, dict) else "a list"


def _message(metric: HttpMetric, why: str) -> str:
    return f"GET {without_credentials(metric.url)} (valueLocation {metric.path}): {why}"
