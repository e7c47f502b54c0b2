"""What the reliability tests share: scalerd processes with short timings, their logs, and a fake Prometheus."""
from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from tests.integration.daemon_support import (
    FAST_LEASE,
    ScalerdDaemon,
    audit_lines,
    wait_until,
)
from tests.soak.records import scale_attempts
from tests.testbed.certificates import write_self_signed
from tests.testbed.kafka_tools import unique_name

LEASE_SECONDS, RENEW_SECONDS, RETRY_SECONDS = 3.0, 2.0, 0.5


class Daemons:
    """`scalerd run` processes of one test (scalerd context, interval from the config, lease 3 s/2 s/0.5 s)."""

    def __init__(self, testbed, directory: Path) -> None:
        self._testbed = testbed
        self._directory = directory
        self.started: list[ScalerdDaemon] = []

    def start(self, config_args: list[str], *, lease: str | None = None, identity: str | None = None,
              log_format: str = "json", ready: bool = True,
              environment: dict[str, str] | None = None) -> ScalerdDaemon:
        daemon = ScalerdDaemon(self._testbed, self._directory, config_args=config_args,
                               identity=identity or unique_name("scalerd"),
                               extra=("--lease-name", lease or unique_name("lease"), *FAST_LEASE,
                                      "--log-format", log_format), environment=environment)
        self.started.append(daemon)
        if ready:
            daemon.wait_ready()
        return daemon

    def close_all(self) -> None:
        for daemon in self.started:
            daemon.close()


def events_named(daemon: ScalerdDaemon, name: str) -> list[dict]:
    return [event for event in daemon.log_events() if event.get("event") == name]


def decisions_about(daemon: ScalerdDaemon, deployment: str) -> list[dict]:
    return [line for line in daemon.decisions() if line["deployment"] == deployment]


def scale_statuses(audit_path: Path, deployment: str, *, since: float = 0.0) -> list[int]:
    """The answers to the scalerd user's scale writes on the Deployment, in order."""
    return [attempt.status for attempt in scale_attempts(audit_lines(audit_path), deployments=[deployment])
            if attempt.ts >= since]


def wait_for_log(daemon: ScalerdDaemon, predicate: Callable[[dict], bool], *, timeout: float, what: str) -> dict:
    """The first log line (JSON) of the daemon that satisfies the predicate."""
    return wait_until(lambda: next((event for event in daemon.log_events() if predicate(event)), None),
                      timeout=timeout, what=what)


class FakePrometheus:
    """A local HTTP server that answers `GET <prefix>/api/v1/query` per path prefix, as a misbehaving Prometheus:

    `/slow`: a valid answer after `slow_seconds`; `/garbage`: an HTML page; `/malformed`: JSON with a non-number
    value; `/two`: a vector of two series; `/echo`: Prometheus' own error format quoting the request's
    Authorization header; anything else: a valid vector of `value`. Authorization headers received are kept.
    """

    def __init__(self, *, value: float = 1.0, slow_seconds: float = 3.0,
                 certificate: tuple[Path, Path] | None = None) -> None:
        """`certificate`: (certificate, key) PEM files: serve HTTPS with them."""
        self.value = value
        self.slow_seconds = slow_seconds
        self.authorizations: list[str] = []
        self._scheme = "https" if certificate else "http"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-prometheus", daemon=True)

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, authorization: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request."""
        sample = [{"metric": {}, "value": [0, str(self.value)]}]
        if path.startswith("/slow"):
            threading.Event().wait(self.slow_seconds)
        if path.startswith("/garbage"):
            return 200, "text/html", b"<html><body>502 Bad Gateway</body></html>"
        if path.startswith("/malformed"):
            sample = [{"metric": {}, "value": [0, "lots"]}]
        if path.startswith("/two"):
            sample = [{"metric": {"pod": "a"}, "value": [0, "1"]}, {"metric": {"pod": "b"}, "value": [0, "2"]}]
        if path.startswith("/echo"):
            body = {"status": "error", "errorType": "unauthorized",
                    "error": f"credentials {authorization!r} refused"}
            return 401, "application/json", json.dumps(body).encode()
        body = {"status": "success", "data": {"resultType": "vector", "result": sample}}
        return 200, "application/json", json.dumps(body).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server dispatches to
                authorization = self.headers.get("Authorization", "")
                fake.authorizations.append(authorization)
                status, content_type, body = fake.answer(self.path.split("?")[0], authorization)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client that timed out on /slow has gone: that is the point of /slow

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests read what they need from `fake`."""

        return Handler


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    return write_self_signed(directory, common_name="scalerd-reliability-test")
