"""Bad edits of the watched ConfigMap under one running `scalerd run --config-map`.

Each edit must be rejected with exactly the validator's lines (logged one by one as `config_rejected`, and in a
`ConfigInvalid` Warning Event on the ConfigMap), count once in `scalerd_config_reload_failures_total`, and leave
the last good rules in force: the Deployment stays at the good rules' maxReplicas 4 although its metric asks
for 10, and nothing is written to it. The edits run in the order listed, against the same daemon.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    NAMESPACE,
    create_deployment,
    events_about,
    replicas_of,
    set_rps,
    wait_until,
)
from tests.reliability.support import Daemons, events_named, scale_statuses
from tests.testbed.kafka_tools import unique_name

GOOD = """\
apiVersion: scalerd/v1
defaults:
  interval: 500ms
  prometheus: {{url: '{url}', timeout: 2s}}
targets:
  - name: api
    namespace: default
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 4
    metrics:
      - {{type: prometheus, name: rps, query: 'sum(scalerd_test_rps{{deployment="{deployment}"}})', targetPerReplica: 10}}
    behavior:
      cooldown: 0s
"""


@dataclass(frozen=True)
class BadEdit:
    old: str | None
    """The text replaced in GOOD; None: `new` is the whole text (with GOOD's fields still formatted in)."""
    new: str
    problems: tuple[str, ...]
    """`{source}` stands for the ConfigMap's description, `configmap NS/NAME`."""

    def text(self, good: str) -> str:
        return self.new if self.old is None else good.replace(self.old, self.new, 1)


BEHAVIOR = "      cooldown: 0s\n"
BAD_EDITS = [
    pytest.param(BadEdit("targetPerReplica: 10}", "targetPerReplica: 10", (
        "{source}:13:13: did not find expected ',' or '}}' (while parsing a flow mapping at line 12, column 9)",)),
        id="yaml-unclosed-flow"),
    pytest.param(BadEdit("    minReplicas: 1\n", "\tminReplicas: 1\n", (
        ("{source}:9:1: found a tab character that violates indentation "
        "(while scanning a plain scalar at line 8, column 17)"),)), id="yaml-tab"),
    pytest.param(BadEdit("    maxReplicas: 4\n", "    maxReplicas: 4\n    maxReplicas: 40\n", (
        "{source}:11:5: duplicate key 'maxReplicas' (the last value would silently win)",)), id="duplicate-key"),
    pytest.param(BadEdit(None, "", (
        "{source}: empty configuration: expected a document with apiVersion: scalerd/v1",)), id="emptied"),
    pytest.param(BadEdit("scalerd/v1", "scalerd/v2", ("apiVersion: must be scalerd/v1 (got 'scalerd/v2')",)),
                 id="apiversion"),
    pytest.param(BadEdit("  - name: api\n", "  []\n  - name: api\n", (
        "{source}:7:3: did not find expected key (while parsing a block mapping at line 1, column 1)",)),
        id="yaml-structure"),
    pytest.param(BadEdit("    minReplicas: 1\n", "    minReplica: 1\n", (
        "targets[0].minReplica: unknown field (did you mean minReplicas?)",)), id="typo"),
    pytest.param(BadEdit("    minReplicas: 1\n", "    minReplicas: 5\n", (
        "targets[0].maxReplicas: must be >= minReplicas (got 4 < 5)",)), id="max-below-min"),
    pytest.param(BadEdit("maxReplicas: 4", "maxReplicas: '4'", (
        "targets[0].maxReplicas: must be an integer (got '4')",)), id="max-a-string"),
    pytest.param(BadEdit("minReplicas: 1", "minReplicas: -1", ("targets[0].minReplicas: must be >= 0 (got -1)",)),
                 id="min-negative"),
    pytest.param(BadEdit("name: api", "name: API_1", (
        ("targets[0].name: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with "
        "a letter or digit, at most 63 characters (got 'API_1')"),)), id="name-not-dns-1123"),
    pytest.param(BadEdit("interval: 500ms", "interval: 0s", ("defaults.interval: must be > 0 (got '0s')",)),
                 id="interval-zero"),
    pytest.param(BadEdit("interval: 500ms", "interval: fast", (
        ("defaults.interval: invalid duration 'fast': use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of "
        "seconds"),)), id="interval-not-a-duration"),
    pytest.param(BadEdit("  interval: 500ms\n", "  interval: 500ms\n  timezone: Mars/Olympus\n", (
        "defaults.timezone: unknown time zone 'Mars/Olympus' (an IANA name such as UTC or Europe/Berlin)",)),
        id="timezone"),
    pytest.param(BadEdit("url: 'http://", "url: 'ftp://", (
        "defaults.prometheus.url: must be an http:// or https:// URL (got 'ftp://{prometheus_address}')",)),
        id="prometheus-url-scheme"),
    pytest.param(BadEdit("type: prometheus", "type: prometeus", (
        "targets[0].metrics[0].type: must be one of kafka, prometheus, cpu, http (got 'prometeus')",)),
        id="metric-type"),
    pytest.param(BadEdit("targetPerReplica: 10", "targetPerReplica: -3", (
        "targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)",)), id="threshold-negative"),
    pytest.param(BadEdit("targetPerReplica: 10", "targetPerReplica: .nan", (
        "targets[0].metrics[0].targetPerReplica: must be finite (got nan)",)), id="threshold-nan"),
    pytest.param(BadEdit("targetPerReplica: 10", "targetPerReplica: 10, targetValue: 3", (
        "targets[0].metrics[0]: give exactly one of targetPerReplica and targetValue, not both",)),
        id="two-thresholds"),
    pytest.param(BadEdit("targetPerReplica: 10}", "targetPerReplica: 10, onMissing: skip}", (
        "targets[0].metrics[0].onMissing: must be one of fail, zero, hold (got 'skip')",)), id="on-missing"),
    pytest.param(BadEdit(BEHAVIOR, BEHAVIOR + "      scaleUp: {policies: [{type: Pods, value: 0, period: 15s}]}\n", (
        "targets[0].behavior.scaleUp.policies[0].value: must be > 0 (got 0)",)), id="policy-value"),
    pytest.param(BadEdit(BEHAVIOR, BEHAVIOR + "      scaleDown: {stabilizationWindow: 2h}\n", (
        "targets[0].behavior.scaleDown.stabilizationWindow: must be between 0s and 1h (got '2h')",)),
        id="stabilization-window"),
    pytest.param(BadEdit(BEHAVIOR, BEHAVIOR + "      tolerance: 1\n", (
        "targets[0].behavior.tolerance: must be >= 0 and < 1 (got 1)",)), id="tolerance"),
    pytest.param(BadEdit("    behavior:\n",
                         "    schedule: [{cron: '61 * * * *', duration: 1h, replicas: 3}]\n    behavior:\n", (
                             "targets[0].schedule[0].cron: invalid cron expression '61 * * * *'",)), id="cron"),
    pytest.param(BadEdit("    behavior:\n", "    fallback: {failureThreshold: 0, replicas: 2}\n    behavior:\n", (
        "targets[0].fallback.failureThreshold: must be >= 1 (got 0)",)), id="fallback"),
    pytest.param(BadEdit(BEHAVIOR, BEHAVIOR + "  - {name: api, deployment: other, maxReplicas: 3, "
                                              "metrics: [{type: cpu, targetUtilization: 70}]}\n", (
        "targets[1].name: duplicate target name 'api' (also targets[0])",)), id="duplicate-target"),
    pytest.param(BadEdit("    minReplicas: 1\n    maxReplicas: 4\n", "    minReplicas: 0\n    maxReplicas: 0\n", (
        "targets[0].maxReplicas: must be >= 1 (got 0)",)), id="max-zero"),
]


@dataclass
class Scene:
    testbed: object
    admin: object
    daemon: object
    deployment: str
    config_map: str
    good: str

    @property
    def source(self) -> str:
        return f"configmap {NAMESPACE}/{self.config_map}"

    def edit(self, text: str) -> None:
        kube_client.CoreV1Api(self.admin).patch_namespaced_config_map(
            self.config_map, NAMESPACE, {"data": {"config.yaml": text}})

    def failures(self) -> float:
        return self.daemon.metric("scalerd_config_reload_failures_total")

    def config_events(self) -> list:
        return [event for event in events_about(self.admin, self.config_map) if event.reason == "ConfigInvalid"]


@pytest.fixture(scope="module")
def scene(testbed, tmp_path_factory):
    admin = testbed.admin_api_client()
    deployment, config_map = unique_name("api"), unique_name("rules")
    create_deployment(admin, deployment, replicas=2)
    set_rps(testbed, {deployment: 95})
    good = GOOD.format(url=testbed.prometheus_url, deployment=deployment)
    kube_client.CoreV1Api(admin).create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": config_map}, "data": {"config.yaml": good}})
    daemons = Daemons(testbed, tmp_path_factory.mktemp("config-edits"))
    try:  # a daemon that fails to start or to scale is stopped too
        daemon = daemons.start(["--config-map", f"{NAMESPACE}/{config_map}"])
        wait_until(lambda: replicas_of(admin, deployment) == 4, timeout=10, what="at the good rules' maxReplicas 4")
        yield Scene(testbed=testbed, admin=admin, daemon=daemon, deployment=deployment, config_map=config_map,
                    good=good)
    finally:
        daemons.close_all()


@pytest.mark.parametrize("edit", BAD_EDITS)
def test_a_bad_edit_is_rejected_line_by_line_counted_once_and_the_last_good_rules_stay(scene, edit: BadEdit):
    failures_before = scene.failures()
    rejections_before = len(events_named(scene.daemon, "config_rejected"))
    events_before = len(scene.config_events())
    expected = [problem.format(source=scene.source,
                               prometheus_address=scene.testbed.prometheus_url.removeprefix("http://"))
                for problem in edit.problems]

    scene.edit(edit.text(scene.good))
    wait_until(lambda: scene.failures() == failures_before + 1, timeout=15, what="the reload failure counted")

    rejected = events_named(scene.daemon, "config_rejected")[rejections_before:]
    assert [(line["problem"], line["level"], line["source"]) for line in rejected] == [
        (problem, "error", scene.source) for problem in expected]
    [event] = wait_until(lambda: scene.config_events()[events_before:], timeout=15, what="a ConfigInvalid Event")
    assert (event.type, event.involved_object.kind, event.message) == ("Warning", "ConfigMap", "; ".join(expected))
    assert scene.failures() == failures_before + 1
    assert replicas_of(scene.admin, scene.deployment) == 4


def test_after_the_bad_edits_nothing_was_written_a_removed_key_keeps_the_rules_and_a_good_edit_applies(scene):
    failures = scene.failures()
    assert failures == len(BAD_EDITS)
    assert scale_statuses(scene.testbed.audit_path, scene.deployment) == [200]  # the first scale to 4 only
    # Every cycle through the edits decided under the good rules: held at their maxReplicas 4.
    decisions = scene.daemon.decisions()
    assert (decisions[0]["current"], decisions[0]["desired"]) == (2, 4)
    assert {(line["current"], line["desired"], line["reason"]) for line in decisions[1:]} == {(4, 4, "at_max")}
    assert len(decisions) >= len(BAD_EDITS)

    kube_client.CoreV1Api(scene.admin).replace_namespaced_config_map(
        scene.config_map, NAMESPACE, {"metadata": {"name": scene.config_map}, "data": {"other.yaml": "x"}})
    [missing] = wait_until(lambda: events_named(scene.daemon, "configmap_key_missing"), timeout=15,
                           what="the missing key reported")
    decisions_before = len(scene.daemon.decisions())
    wait_until(lambda: len(scene.daemon.decisions()) >= decisions_before + 2, timeout=15, what="two more cycles")
    assert (missing["level"], missing["key"]) == ("warning", "config.yaml")
    assert replicas_of(scene.admin, scene.deployment) == 4
    # Not a validation failure: the counter and the Events are for edits that do not validate.
    assert scene.failures() == failures

    scene.edit(scene.good.replace("maxReplicas: 4", "maxReplicas: 6"))
    wait_until(lambda: replicas_of(scene.admin, scene.deployment) == 6, timeout=10,
               what="the new maxReplicas 6 applied without a restart")
    assert [line["targets"] for line in events_named(scene.daemon, "config_applied")] == [1]
    assert scene.failures() == failures
