"""Calling the API server through the official client: raw JSON in and out, every request counted.

Raw dictionaries rather than the client's models: the cache and the Lease compare and copy what the server sent,
and skipping model deserialization keeps a busy watch cheap.
"""
from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import urllib3
from kubernetes.client import ApiClient, ApiException

RequestHook = Callable[[str, int], None]
"""Called once per request with the Kubernetes verb ("get", "list", "watch", "create", "update", "patch") and the
HTTP status, 0 when no answer came (connection error, timeout)."""

NO_ANSWER = 0
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
"""Seconds: every request's (connect, read) timeouts unless its caller sets its own. Without a read timeout a
connection that dies without FIN or RST (a control-plane node lost behind a load balancer, a dropped NAT entry)
hangs its caller for good."""
WATCH_SECONDS = 60
"""timeoutSeconds given to a watch that names none: the server ends it then, and its caller resumes."""
WATCH_READ_MARGIN = 15.0
"""A watch's read timeout is its timeoutSeconds plus this: the server's own end comes first, a silent death is
noticed this long after it. Between events a watch is silent, so its read timeout cannot be READ_TIMEOUT."""
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
MERGE_PATCH = "application/merge-patch+json"


def ignore_request(verb: str, code: int) -> None:
    """The default request hook: nobody is counting."""


def call_json(on_request: RequestHook, verb: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
    """One request; returns the decoded body, raises ApiException (status 0 when no answer came)."""
    response = open_stream(on_request, verb, method, *args, **kwargs)
    try:
        return json.loads(response.data or b"{}")
    finally:
        response.release_conn()


def open_stream(on_request: RequestHook, verb: str, method: Callable[..., Any], *args: Any, **kwargs: Any):
    """One request whose body is read by the caller (a watch); returns the urllib3 response."""
    try:
        response = method(*args, _preload_content=False, **kwargs)
    except ApiException as error:
        on_request(verb, error.status or NO_ANSWER)
        raise
    except TRANSPORT_ERRORS as error:
        on_request(verb, NO_ANSWER)
        raise ApiException(status=NO_ANSWER, reason=f"{type(error).__name__}: {error}") from error
    on_request(verb, response.status)
    return response


def request(api_client: ApiClient, method: str, path: str, *, path_params: Mapping[str, str] | None = None,
            query: Mapping[str, Any] | None = None, body: Any = None, content_type: str | None = None,
            _preload_content: bool = False, _request_timeout: Any = None):
    """One request to `path` (path_params fill its {placeholders}, escaped); returns the urllib3 response.

    The same request a generated `*Api` method sends (its serialization, auth and legacy error handling), without
    the generated classes: importing CoreV1Api, AppsV1Api and CustomObjectsApi costs about 33 MB of memory for the
    dozen calls scalerd makes. A non-2xx answer raises ApiException, as those methods do. The body is always left
    for the caller to read: `_preload_content` is accepted only because `call_json` and `Watch.stream` pass it.

    Every request is bounded here, in one place: `_request_timeout` (connect, read) when the caller gives one, else
    (CONNECT_TIMEOUT, READ_TIMEOUT); a watch is always ended by the server (timeoutSeconds, WATCH_SECONDS unless
    given) and read with a timeout just beyond that.
    """
    headers = {"Accept": "application/json"}
    if content_type is not None:  # the generated methods send none unless told; the REST layer then sends JSON
        headers["Content-Type"] = content_type
    query_params = {key: value for key, value in (query or {}).items() if value is not None}
    if query_params.get("watch"):
        query_params.setdefault("timeoutSeconds", WATCH_SECONDS)
        timeout = _request_timeout or (CONNECT_TIMEOUT, query_params["timeoutSeconds"] + WATCH_READ_MARGIN)
    else:
        timeout = _request_timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)
    serialized = api_client.param_serialize(
        method=method, resource_path=path, path_params=dict(path_params or {}),
        query_params=list(query_params.items()), header_params=headers, body=body, auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*serialized, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return response.response


def keep_out_of_pool(response) -> None:
    """Make closing `response` close its connection instead of returning it to the shared pool.

    A server ends a watch by closing the connection right after the last chunk; urllib3 returns the connection to
    the pool as soon as that chunk is read, before the close arrives, and the next request on it (with urllib3's
    retries off) fails with "Remote end closed connection". Only the private `_pool` reference allows this.
    """
    response._pool = None


def api_message(error: ApiException) -> str:
    """The API server's own explanation (Status.message), else the HTTP reason."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    if error.status == NO_ANSWER:
        return f"no answer from the API server: {error.reason}"
    return f"HTTP {error.status} {error.reason or ''}".rstrip()


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def retry_after_header(error: ApiException) -> str | None:
    headers = error.headers or {}
    return headers.get("Retry-After") if hasattr(headers, "get") else None
