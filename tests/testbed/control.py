"""Drives the API emulator's test controls (`/_testbed/`, admin token only) from any process."""
from __future__ import annotations

from typing import Any

import requests


class TestbedControl:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, api_url: str, token: str):
        self._base = api_url.rstrip("/") + "/_testbed/"
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._session.request(method, self._base + action, json=body, timeout=10)
        if response.status_code != 200:
            try:
                message = response.json()["message"]
            except (ValueError, KeyError):
                message = response.text
            raise RuntimeError(f"{method} {self._base}{action}: HTTP {response.status_code}: {message}")
        return response.json()

    def inject_fault(self, *, verb: str, path_pattern: str, status: int | None = None, count: int = 1,
                     retry_after: int | None = None, stall_seconds: float = 0.0, lose_answer: bool = False) -> None:
        """The next `count` requests with this verb ("*": any) whose URL path matches the regex `path_pattern`
        stall `stall_seconds`, then answer `status` (500, 503, 429 with Retry-After, 409) or, without one,
        normally; with `lose_answer` they are served in full (a write is committed) and the connection is then
        closed without an answer."""
        self._call("POST", "faults", {"verb": verb, "path_pattern": path_pattern, "status": status, "count": count,
                                      "retry_after": retry_after, "stall_seconds": stall_seconds,
                                      "lose_answer": lose_answer})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def faults_fired(self) -> int:
        return self._call("GET", "faults/fired")["fired"]

    def drop_watches(self) -> None:
        self._call("POST", "watches/drop")

    def set_pod_metrics(self, *, namespace: str, pod: str, cpu_millicores: int | None) -> None:
        """None: the pod has no PodMetrics (404 on get, absent from lists)."""
        self._call("PUT", "pod-metrics", {"namespace": namespace, "pod": pod, "cpu_millicores": cpu_millicores})

    def set_status_delay(self, seconds: float) -> None:
        self._call("PUT", "status-delay", {"seconds": seconds})

    def set_pod_ready(self, *, namespace: str, pod: str, ready: bool) -> None:
        self._call("PUT", "pod-ready", {"namespace": namespace, "pod": pod, "ready": ready})
