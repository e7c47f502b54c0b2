"""KubeWriter against a scripted HTTP server: the exact requests, retries, waits and outcomes."""
from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType

import kubernetes.client
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalerd.kube._api import ignore_request, parse_retry_after
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import BACKOFF_MAX, KubeWriter, backoff_delay

NOW = datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=UTC)
SCALE_PATH = "/apis/apps/v1/namespaces/shop/deployments/web/scale"
VIEW = DeploymentView(namespace="shop", name="web", uid="uid-1", resource_version="41", replicas=2,
                      ready_replicas=2, selector=MappingProxyType({"app": "web"}),
                      annotations=MappingProxyType({}), generation=3, observed_generation=3)


def status_body(code: int, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


class ScriptedApiServer:
    """Answers each request with the next scripted (status, body, headers, delay); 200 {} once the script is done."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict, dict, float]] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.requests.append({"method": self.command, "path": self.path,
                                        "content_type": self.headers.get("Content-Type"),
                                        "body": json.loads(raw) if raw else None})
                code, body, headers, delay = server.script.pop(0) if server.script else (200, {}, {}, 0.0)
                time.sleep(delay)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_PATCH = do_POST = do_PUT = _answer

            def log_message(self, format, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def answer(self, code: int, body: dict | None = None, *, headers: dict | None = None,
               delay: float = 0.0) -> None:
        self.script.append((code, body if body is not None else {}, headers or {}, delay))

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeTime:
    """sleep() advances clock(): the retry budget is spent without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server():
    scripted = ScriptedApiServer()
    yield scripted
    scripted.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def api_client(url: str) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration(host=url)
    configuration.retries = False
    return kubernetes.client.ApiClient(configuration)


def make_writer(url: str, fake_time: FakeTime, *, dry_run: bool = False, may_write=lambda: True,
                requests: list | None = None, **options) -> KubeWriter:
    return KubeWriter(
        api_client(url), dry_run=dry_run, may_write=may_write, sleep=fake_time.sleep, clock=fake_time.clock,
        wall_clock=lambda: NOW, random_fraction=lambda: 1.0,
        on_request=ignore_request if requests is None else lambda verb, code: requests.append((verb, code)),
        **options,
    )


def test_scale_sends_one_conditional_merge_patch_to_the_scale_subresource(server, fake_time):
    server.answer(200, {"kind": "Scale", "metadata": {"name": "web", "resourceVersion": "42"},
                        "spec": {"replicas": 5}})
    outcome = make_writer(server.url, fake_time).scale(view=VIEW, replicas=5)
    assert server.requests == [{
        "method": "PATCH", "path": SCALE_PATH, "content_type": "application/merge-patch+json",
        "body": {"metadata": {"resourceVersion": "41"}, "spec": {"replicas": 5}},
    }]
    assert (outcome.applied, outcome.status, outcome.attempts, outcome.resource_version) == (True, "applied", 1, "42")
    assert outcome.detail == "set replicas 2 -> 5"


def test_server_errors_are_retried_with_growing_backoff_until_success(server, fake_time):
    seen: list[tuple[str, int]] = []
    server.answer(500, status_body(500, "etcd leader changed"))
    server.answer(503, status_body(503, "unavailable"))
    server.answer(200, {"metadata": {"resourceVersion": "44"}})
    outcome = make_writer(server.url, fake_time, requests=seen).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts, outcome.resource_version) == ("applied", 3, "44")
    assert [request["method"] for request in server.requests] == ["PATCH"] * 3
    assert fake_time.sleeps == [0.2, 0.4]
    assert seen == [("patch", 500), ("patch", 503), ("patch", 200)]


def test_server_errors_stop_when_the_next_wait_would_overrun_the_budget(server, fake_time):
    for _ in range(20):
        server.answer(503, status_body(503, "unavailable"))
    outcome = make_writer(server.url, fake_time, retry_budget_seconds=10.0).scale(view=VIEW, replicas=5)
    # waits 0.2 0.4 0.8 1.6 2 2 2 end at 9.0 s; one more 2 s wait would end at 11 s
    assert fake_time.sleeps == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert (outcome.status, outcome.attempts, outcome.applied) == ("failed", 8, False)
    assert outcome.detail == "unavailable (gave up after 8 attempts within the 10s retry budget)"


def test_too_many_requests_waits_as_long_as_retry_after_says(server, fake_time):
    server.answer(429, status_body(429, "slow down"), headers={"Retry-After": "1"})
    outcome = make_writer(server.url, fake_time).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts) == ("applied", 2)
    assert fake_time.sleeps == [1.0]


def test_unavailable_with_retry_after_waits_as_asked_instead_of_backing_off(server, fake_time):
    server.answer(503, status_body(503, "unavailable"), headers={"Retry-After": "2"})
    outcome = make_writer(server.url, fake_time).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts, fake_time.sleeps) == ("applied", 2, [2.0])


def test_too_many_requests_with_a_wait_beyond_the_budget_gives_up_at_once(server, fake_time):
    server.answer(429, status_body(429, "slow down"), headers={"Retry-After": "30"})
    outcome = make_writer(server.url, fake_time, retry_budget_seconds=10.0).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts, fake_time.sleeps) == ("failed", 1, [])
    assert outcome.detail == "slow down (HTTP 429: the server asked to wait 30s, beyond the 10s retry budget)"


def test_conflict_is_returned_after_one_request(server, fake_time):
    message = 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified'
    server.answer(409, status_body(409, message))
    outcome = make_writer(server.url, fake_time).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts, outcome.detail, fake_time.sleeps) == ("conflict", 1, message, [])


@pytest.mark.parametrize(("code", "status"), [
    pytest.param(400, "failed", id="400-bad-request"),
    pytest.param(403, "forbidden", id="403-forbidden"),
    pytest.param(404, "not_found", id="404-not-found"),
    pytest.param(422, "failed", id="422-invalid"),
])
def test_client_errors_are_final_and_carry_the_api_message(server, fake_time, code, status):
    server.answer(code, status_body(code, f"the API says no ({code})"))
    outcome = make_writer(server.url, fake_time).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts, outcome.applied) == (status, 1, False)
    assert outcome.detail == f"the API says no ({code})"
    assert len(server.requests) == 1 and fake_time.sleeps == []


def test_a_request_that_times_out_is_sent_again(server, fake_time):
    seen: list[tuple[str, int]] = []
    server.answer(200, {"metadata": {"resourceVersion": "43"}}, delay=4.0)
    server.answer(200, {"metadata": {"resourceVersion": "43"}})
    # 1 s: the resend's prompt answer comes well within it even on a busy machine.
    outcome = make_writer(server.url, fake_time, requests=seen, request_timeout=1.0).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts) == ("applied", 2)
    assert seen == [("patch", 0), ("patch", 200)]


def test_no_answer_at_all_fails_after_the_budget(fake_time):
    closed = ScriptedApiServer()
    closed.close()
    outcome = make_writer(closed.url, fake_time, retry_budget_seconds=1.0).scale(view=VIEW, replicas=5)
    assert fake_time.sleeps == [0.2, 0.4]
    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert outcome.detail.startswith("no answer from the API server: ")


def test_dry_run_sends_nothing(server, fake_time):
    outcome = make_writer(server.url, fake_time, dry_run=True).scale(view=VIEW, replicas=5)
    assert server.requests == []
    assert (outcome.applied, outcome.status, outcome.attempts) == (False, "dry_run", 0)
    assert outcome.detail == "dry run: would set replicas 2 -> 5"


def test_fenced_writer_sends_nothing(server, fake_time):
    outcome = make_writer(server.url, fake_time, may_write=lambda: False).scale(view=VIEW, replicas=5)
    assert server.requests == []
    assert (outcome.applied, outcome.status, outcome.attempts) == (False, "fenced", 0)


def test_fencing_is_checked_before_every_retry(server, fake_time):
    answers = iter([True, False])
    server.answer(500, status_body(500, "boom"))
    outcome = make_writer(server.url, fake_time, may_write=lambda: next(answers)).scale(view=VIEW, replicas=5)
    assert (outcome.status, outcome.attempts, len(server.requests)) == ("fenced", 1, 1)


def test_removing_the_old_annotations_is_one_conditional_merge_patch(server, fake_time):
    server.answer(200, {"metadata": {"resourceVersion": "45"}})
    outcome = make_writer(server.url, fake_time).remove_annotations(
        view=VIEW, keys=("scalerd.io/state", "scalerd.io/last-decision"))
    assert server.requests == [{
        "method": "PATCH", "path": "/apis/apps/v1/namespaces/shop/deployments/web",
        "content_type": "application/merge-patch+json",
        "body": {"metadata": {"resourceVersion": VIEW.resource_version,
                              "annotations": {"scalerd.io/state": None, "scalerd.io/last-decision": None}}},
    }]
    assert (outcome.status, outcome.resource_version) == ("applied", "45")


@pytest.mark.parametrize(("resource_version", "method", "path"), [
    pytest.param(None, "POST", "/api/v1/namespaces/scalerd/configmaps", id="create"),
    pytest.param("17", "PUT", "/api/v1/namespaces/scalerd/configmaps/scalerd-state-03", id="replace"),
])
def test_a_config_map_is_created_or_replaced_conditionally(server, fake_time, resource_version, method, path):
    server.answer(200, {"metadata": {"resourceVersion": "18"}})
    outcome = make_writer(server.url, fake_time).save_config_map(
        namespace="scalerd", name="scalerd-state-03", labels={"scalerd.io/store": "scalerd"},
        data={"shop.web": "{}"}, resource_version=resource_version)
    metadata = {"name": "scalerd-state-03", "namespace": "scalerd", "labels": {"scalerd.io/store": "scalerd"}}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    assert [(request["method"], request["path"], request["body"]) for request in server.requests] == [
        (method, path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"shop.web": "{}"}})]
    assert (outcome.status, outcome.resource_version) == ("applied", "18")


def test_removing_annotations_and_saving_config_maps_obey_dry_run_and_fencing(server, fake_time):
    for options in ({"dry_run": True}, {"may_write": lambda: False}):
        writer = make_writer(server.url, fake_time, **options)
        removed = writer.remove_annotations(view=VIEW, keys=("a",))
        saved = writer.save_config_map(namespace="scalerd", name="c", labels={}, data={}, resource_version=None)
        assert removed.status == saved.status == ("dry_run" if "dry_run" in options else "fenced")
    assert server.requests == []


def test_event_on_a_deployment(server, fake_time):
    server.answer(201, {"metadata": {"resourceVersion": "46"}})
    outcome = make_writer(server.url, fake_time, component="scalerd").event(
        namespace="shop", involved=VIEW, reason="ScaledUp", message="2 -> 5: lag 5000 / 1000 per replica")
    assert server.requests == [{
        # The generated client sends no Content-Type on create; API servers then read JSON.
        "method": "POST", "path": "/api/v1/namespaces/shop/events", "content_type": None,
        "body": {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.18eb47f672c03280", "namespace": "shop"},
            "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop",
                               "uid": "uid-1", "resourceVersion": "41"},
            "reason": "ScaledUp", "message": "2 -> 5: lag 5000 / 1000 per replica", "type": "Normal",
            "source": {"component": "scalerd"}, "reportingComponent": "scalerd",
            "firstTimestamp": "2026-11-25T12:00:00+00:00", "lastTimestamp": "2026-11-25T12:00:00+00:00", "count": 1,
        },
    }]
    assert outcome.status == "applied"
    assert int("18eb47f672c03280", 16) == int(NOW.timestamp()) * 10**9 + 250_000_000, "client-go's name.<unix ns>"


def test_event_on_a_configmap_failing_is_reported_not_raised(server, fake_time):
    server.answer(403, status_body(403, 'events is forbidden: User "x" cannot create resource "events"'))
    outcome = make_writer(server.url, fake_time).event(
        namespace="scalerd", involved={"kind": "ConfigMap", "name": "rules"}, reason="ConfigInvalid",
        message="targets[0].maxReplicas: must be >= 1 (got 0)", event_type="Warning")
    assert server.requests[0]["body"]["involvedObject"] == {"apiVersion": "v1", "kind": "ConfigMap",
                                                             "name": "rules", "namespace": "scalerd"}
    assert server.requests[0]["body"]["type"] == "Warning"
    assert (outcome.status, outcome.attempts) == ("forbidden", 1)


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param("1", 1.0, id="seconds"),
    pytest.param(" 120 ", 120.0, id="seconds-with-spaces"),
    pytest.param("Wed, 25 Nov 2026 12:00:05 GMT", 4.75, id="http-date"),
    pytest.param("Wed, 25 Nov 2026 11:00:00 GMT", 0.0, id="http-date-in-the-past"),
    pytest.param(None, None, id="absent"),
    pytest.param("soon", None, id="unreadable"),
    pytest.param("-3", None, id="negative"),
])
def test_retry_after_parsing(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


@given(st.integers(1, 50), st.floats(0.0, 1.0))
def test_backoff_grows_with_jitter_and_stays_capped(attempt, fraction):
    step = min(BACKOFF_MAX, 0.2 * 2 ** (attempt - 1))
    delay = backoff_delay(attempt, random_fraction=lambda: fraction)
    assert step / 2 <= delay <= step <= BACKOFF_MAX
