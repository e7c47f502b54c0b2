"""The http metric type: its configuration, its replica rules, and its source against a real HTTP server on
127.0.0.1 (dotted paths, one request per URL, every failure named with the URL and path, credentials, TLS)."""
from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scalerd.cli import main
from scalerd.config import ConfigError, load_config_text
from scalerd.logs import config_secrets
from scalerd.metric_types.base import OnMissing
from scalerd.metric_types.http import HttpMetric
from scalerd.metric_types.registry import metric_outcome
from scalerd.readings import Reading
from scalerd.sources.http import HttpSource
from tests.builders import make_target
from tests.recording_server import Answer, RecordingServer, serve, tls_server_context
from tests.unit.test_config_bad import one_target

STATS = {"backlog": {"pending": 250, "ratio": 1.5, "label": "x", "none": None, "flag": True},
         "items": [{"depth": 7}, {"depth": 9}]}


def ok(document: object) -> Answer:
    return 200, "application/json", json.dumps(document)


def http_target(metrics: str) -> str:
    return one_target(f"name: queue, deployment: queue, maxReplicas: 10, metrics: [{metrics}]")


# --- configuration -----------------------------------------------------------------------------------------


def test_every_field_is_read() -> None:
    config = load_config_text(http_target(
        "{type: http, name: backlog, url: 'https://queue.internal/stats', valueLocation: items.0.depth, "
        "targetValue: 4, onMissing: hold, timeout: 2s, bearerTokenFile: /run/token, caFile: /run/ca.pem, "
        "insecureSkipVerify: true}"
    ))

    assert config.targets[0].metrics == (HttpMetric(
        name="backlog", url="https://queue.internal/stats", value_location=("items", "0", "depth"), target_value=4.0,
        on_missing=OnMissing.HOLD, timeout=2.0, bearer_token_file="/run/token", ca_file="/run/ca.pem",
        insecure_skip_verify=True,
    ),)


def test_defaults() -> None:
    config = load_config_text(http_target("{type: http, url: 'http://q/s', valueLocation: n, targetPerReplica: 100}"))

    assert config.targets[0].metrics == (HttpMetric(
        name="http", url="http://q/s", value_location=("n",), target_per_replica=100.0, on_missing=OnMissing.FAIL,
        timeout=5.0, bearer_token_file=None, ca_file=None, insecure_skip_verify=False,
    ),)


M = "targets[0].metrics[0]"
BAD = [
    pytest.param("{type: http}", [
        f"{M}: needs targetPerReplica (average per replica) or targetValue (value for the whole target)",
        f"{M}.url: required",
        f"{M}.valueLocation: required",
    ], id="fields-missing"),
    pytest.param("{type: http, url: 'ftp://q/s', valueLocation: n, targetValue: 1}",
                 [f"{M}.url: must be an http:// or https:// URL (got 'ftp://q/s')"], id="url-not-http"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: 'items..depth', targetValue: 1}",
                 [f"{M}.valueLocation: must be a dotted path of keys and list indexes, such as items.0.depth "
                  "(got 'items..depth')"], id="location-empty-part"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, targetPerReplica: 2}",
                 [f"{M}: give exactly one of targetPerReplica and targetValue, not both"], id="both-targets"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetPerReplica: -1}",
                 [f"{M}.targetPerReplica: must be > 0 (got -1)"], id="target-negative"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, onMissing: skip}",
                 [f"{M}.onMissing: must be one of fail, zero, hold (got 'skip')"], id="on-missing"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, timeout: 0s}",
                 [f"{M}.timeout: must be > 0 (got '0s')"], id="timeout-zero"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, insecureSkipVerify: 'yes'}",
                 [f"{M}.insecureSkipVerify: must be true or false (got 'yes')"], id="insecure-not-boolean"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, query: up}",
                 [f"{M}.query: unknown field"], id="unknown-field"),
    pytest.param("{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, bearerTokenFile: ''}",
                 [f"{M}.bearerTokenFile: must not be empty"], id="token-file-empty"),
]


@pytest.mark.parametrize(("metrics", "expected"), BAD)
def test_bad_configuration(metrics: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(http_target(metrics))

    assert list(caught.value.problems) == expected


# --- replica rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("metric", "value", "current", "expected"), [
    pytest.param(HttpMetric("q", "http://q", ("n",), target_per_replica=100.0), 250.0, 2, 3, id="average-value"),
    pytest.param(HttpMetric("q", "http://q", ("n",), target_per_replica=100.0), 210.0, 2, 2, id="average-tolerated"),
    pytest.param(HttpMetric("q", "http://q", ("n",), target_value=2.0), 3.0, 4, 6, id="value"),
    pytest.param(HttpMetric("q", "http://q", ("n",), target_value=2.0), 3.0, 0, 2, id="value-from-zero"),
])
def test_proposals_follow_average_value_or_value(metric, value, current, expected) -> None:
    outcome = metric_outcome(metric, Reading("q", value=value), current=current, tolerance=0.1)

    assert (outcome.value, outcome.proposal) == (value, expected)


# --- the source against a real server ------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    yield from serve(RecordingServer(key=lambda path, _params: path, default=ok(STATS)))


@pytest.fixture
def source() -> Iterator[HttpSource]:
    source = HttpSource()
    yield source
    source.close()


def metric(url: str, location: str, *, name: str = "q", on_missing: OnMissing = OnMissing.FAIL,
           **fields) -> HttpMetric:
    return HttpMetric(name=name, url=url, value_location=tuple(location.split(".")), target_per_replica=10.0,
                      on_missing=on_missing, **fields)


def read(source: HttpSource, *metrics: HttpMetric) -> list[Reading]:
    wanted = [(make_target("t"), each) for each in metrics]
    return [future.result(timeout=30) for future in source.submit(wanted, at=0.0)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("location", "value"), [
    pytest.param("backlog.pending", 250.0, id="nested-key"),
    pytest.param("backlog.ratio", 1.5, id="fraction"),
    pytest.param("items.1.depth", 9.0, id="list-index"),
])
def test_a_number_is_read_by_its_dotted_path(server, source, location, value) -> None:
    assert read(source, metric(server.url + "/stats", location)) == [Reading("q", value=value)]


def test_one_request_per_url_per_cycle_however_many_targets_use_it(server, source) -> None:
    stats, other = server.url + "/stats", server.url + "/other"
    server.answers["/other"] = ok({"n": 3})
    wanted = [
        (make_target("a"), metric(stats, "backlog.pending", name="pending")),
        (make_target("a"), metric(stats, "items.0.depth", name="depth")),
        (make_target("b"), metric(stats, "backlog.pending", name="pending")),
        (make_target("b"), metric(other, "n", name="n")),
    ]

    readings = [future.result(timeout=30) for future in source.submit(wanted, at=0.0)]

    assert [reading.value for reading in readings] == [250.0, 7.0, 250.0, 3.0]
    assert sorted(request["path"] for request in server.requests) == ["/other", "/stats"]
    for future in source.submit(wanted, at=15.0):
        future.result(timeout=30)
    assert len(server.requests) == 4, "the next cycle asks again"


def where(server: RecordingServer, location: str) -> str:
    return f"GET {server.url}/stats (valueLocation {location}): "


@pytest.mark.parametrize(("answer", "location", "why"), [
    pytest.param((503, "text/plain", "down"), "n", "HTTP 503 Service Unavailable", id="status"),
    pytest.param((200, "text/html", "<html>login</html>"), "n", "the answer is not JSON (text/html)", id="not-json"),
    pytest.param(ok(STATS), "backlog.waiting", "backlog has no key 'waiting'", id="missing-key"),
    pytest.param(ok(STATS), "items.2.depth", "items is a list of 2, with no index '2'", id="index-out-of-range"),
    pytest.param(ok(STATS), "items.first", "items is a list of 2, with no index 'first'", id="index-not-a-number"),
    pytest.param(ok(STATS), "backlog.pending.x", "backlog.pending is a number (250), not an object or a list",
                 id="path-through-a-number"),
    pytest.param(ok(STATS), "backlog.none", "the value is null, not a number", id="null"),
    pytest.param(ok(STATS), "backlog.label", 'the value is a string ("x"), not a number', id="string"),
    pytest.param(ok(STATS), "backlog.flag", "the value is a boolean (true), not a number", id="boolean"),
    pytest.param(ok(STATS), "backlog", "the value is an object, not a number", id="object"),
    pytest.param((200, "application/json", '{"n": NaN}'), "n", "the value is nan, not a finite number", id="nan"),
])
def test_every_failure_is_the_metrics_error_naming_url_and_path(server, source, answer, location, why) -> None:
    server.answers["/stats"] = answer

    assert read(source, metric(server.url + "/stats", location)) == [Reading("q", error=where(server, location) + why)]


def test_a_server_that_is_down_fails_the_metric_naming_url_and_path(source) -> None:
    url = f"http://127.0.0.1:{closed_port()}/stats"

    [reading] = read(source, metric(url, "n"))

    assert reading == Reading("q", error=f"GET {url} (valueLocation n): cannot connect: Connection refused")


def test_no_answer_within_the_timeout(server, source) -> None:
    server.delay = 1.0

    [reading] = read(source, metric(server.url + "/stats", "n", timeout=0.2))

    assert reading == Reading("q", error=where(server, "n") + "no answer within 0.2s")


@pytest.mark.parametrize(("on_missing", "expected"), [
    pytest.param(OnMissing.ZERO, Reading("q", value=0.0), id="zero"),
    pytest.param(OnMissing.HOLD, Reading("q", hold=True), id="hold"),
])
def test_on_missing_applies_to_a_missing_value_only(server, source, on_missing, expected) -> None:
    url = server.url + "/stats"
    server.answers["/down"] = (500, "text/plain", "")

    readings = read(source, metric(url, "backlog.none", on_missing=on_missing),
                    metric(server.url + "/down", "n", on_missing=on_missing))

    assert readings == [expected, Reading("q", error=f"GET {server.url}/down (valueLocation n): "
                                                     "HTTP 500 Internal Server Error")]


def test_the_bearer_token_is_sent_and_never_in_an_error(server, source, tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    server.answers["/stats"] = (401, "text/plain", "")

    [reading] = read(source, metric(server.url + "/stats", "n", bearer_token_file=str(token)))

    assert server.requests[0]["headers"]["Authorization"] == "Bearer s3cret-token"
    assert reading == Reading("q", error=where(server, "n") + "HTTP 401 Unauthorized")


def test_an_unreadable_token_file_names_the_file(server, source, tmp_path) -> None:
    missing = tmp_path / "absent"

    [reading] = read(source, metric(server.url + "/stats", "n", bearer_token_file=str(missing)))

    assert reading == Reading("q", error=where(server, "n") + f"cannot read {missing}: No such file or directory")
    assert server.requests == []


def test_credentials_written_into_the_url_never_reach_an_error(source) -> None:
    port = closed_port()

    [reading] = read(source, metric(f"http://user:hunter2@127.0.0.1:{port}/stats", "n"))

    assert reading.error == f"GET http://127.0.0.1:{port}/stats (valueLocation n): cannot connect: Connection refused"


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[RecordingServer, Path]]:
    context, certificate_file = tls_server_context(tmp_path, common_name="127.0.0.1")
    for recorder in serve(RecordingServer(key=lambda path, _params: path, default=ok({"n": 5})), tls=context):
        yield recorder, certificate_file


@pytest.mark.parametrize("fields", [
    pytest.param(lambda ca: {"ca_file": str(ca)}, id="ca-file"),
    pytest.param(lambda ca: {"insecure_skip_verify": True}, id="skip-verify"),
])
def test_a_trusted_or_unchecked_certificate_is_read(tls_server, source, fields: Callable) -> None:
    server, certificate_file = tls_server

    assert read(source, metric(server.url + "/stats", "n", **fields(certificate_file))) == [Reading("q", value=5.0)]


def test_an_untrusted_certificate_is_refused_by_default(tls_server, source) -> None:
    server, _certificate_file = tls_server

    [reading] = read(source, metric(server.url + "/stats", "n"))

    assert reading.error.startswith(f"GET {server.url}/stats (valueLocation n): cannot connect: "
                                    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate")
    assert server.requests == []


# --- everywhere a metric goes --------------------------------------------------------------------------------


def test_the_bearer_token_is_masked_in_every_log_line(tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    config = load_config_text(http_target(
        f"{{type: http, url: 'http://q/s', valueLocation: n, targetValue: 1, bearerTokenFile: '{token}'}}"
    ))

    assert "s3cret-token" in config_secrets(config)


def test_simulate_replays_an_http_metric_from_its_trace_column(tmp_path) -> None:
    config = tmp_path / "scalerd.yaml"
    config.write_text("""\
apiVersion: scalerd/v1
defaults: {interval: 10s}
targets:
  - name: queue
    deployment: queue
    maxReplicas: 10
    metrics:
      - {type: http, name: pending, url: 'http://q/stats', valueLocation: backlog.pending, targetPerReplica: 100}
    behavior: {cooldown: 0s, scaleDown: {stabilizationWindow: 0s}}
""")
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,pending\n0,100\n10,250\n20,420\n30,90\n")

    code = main(["simulate", "--config", str(config), "--trace", str(trace), "--out", str(tmp_path / "out")])

    assert code == 0
    rows = (tmp_path / "out" / "decisions.csv").read_text().splitlines()[1:]
    assert [row.split(",")[1:4] for row in rows] == [["1", "1", "1"], ["3", "3", "3"], ["5", "5", "5"],
                                                      ["1", "1", "1"]]
