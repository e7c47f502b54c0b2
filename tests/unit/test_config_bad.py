"""Bad configurations: each gives exactly these problem lines, every one starting with the field's path."""
from __future__ import annotations

import pytest

from scalerd.config import ConfigError, load_config_text

CPU = "metrics: [{type: cpu, targetUtilization: 70}]"


def v1(body: str) -> str:
    return "apiVersion: scalerd/v1\n" + body


def one_target(fields: str) -> str:
    """A config whose only target is the flow mapping `{fields}`."""
    return v1(f"targets:\n  - {{{fields}}}\n")


def valid_target(extra: str) -> str:
    """A valid target plus `extra` fields."""
    return one_target(f"name: orders, deployment: orders, maxReplicas: 10, {CPU}, {extra}")


def with_defaults(defaults: str) -> str:
    return v1(f"defaults: {defaults}\ntargets:\n  - {{name: orders, deployment: orders, maxReplicas: 10, {CPU}}}\n")


def seed(spec: str, *, metadata: str = "{name: orders}") -> str:
    return f"apiVersion: autoscale.example.com/v1\nkind: AutoScalerPolicy\nmetadata: {metadata}\nspec: {spec}\n"


BAD_CONFIGS = [
    # --- the file and its documents
    pytest.param("", ["c.yaml: empty configuration: expected a document with apiVersion: scalerd/v1"], id="empty-file"),
    pytest.param(
        "# only a comment\n---\n",
        ["c.yaml: empty configuration: expected a document with apiVersion: scalerd/v1"],
        id="only-empty-documents",
    ),
    pytest.param(
        "- orders\n- payments\n",
        ["documents[0]: must be a mapping with apiVersion: scalerd/v1 (got a list)"],
        id="document-not-a-mapping",
    ),
    pytest.param(
        f"targets:\n  - {{name: orders, deployment: orders, maxReplicas: 10, {CPU}}}\n",
        ["apiVersion: required (must be scalerd/v1)"],
        id="apiversion-missing",
    ),
    pytest.param(
        f"apiVersion: scalerd/v2\ntargets:\n  - {{name: orders, deployment: orders, maxReplicas: 10, {CPU}}}\n",
        ["apiVersion: must be scalerd/v1 (got 'scalerd/v2')"],
        id="apiversion-wrong",
    ),
    pytest.param(
        valid_target("minReplicas: 1") + "---\napiVersion: scalerd/v1\ntargets: []\n",
        [("documents[1]: a second scalerd/v1 document; a file holds at most one (the first is documents[0]): "
         "put all targets in it")],
        id="two-scalerd-documents",
    ),
    pytest.param(
        valid_target("minReplicas: 1") + "---\napiVersion: apps/v1\nkind: Deployment\n",
        [("documents[1].apiVersion: must be scalerd/v1 (or autoscale.example.com/v1 with kind: AutoScalerPolicy) "
         "(got 'apps/v1')")],
        id="foreign-document",
    ),
    pytest.param(
        v1("target: []\n"),
        ["target: unknown field (did you mean targets?)", "targets: required: at least one target"],
        id="targets-typo",
    ),
    pytest.param(v1("targets: []\n"), ["targets: at least one target is required"], id="targets-empty"),
    pytest.param(v1("targets: {name: orders}\n"), ["targets: must be a list (got a mapping)"], id="targets-mapping"),
    pytest.param(v1("targets: [orders]\n"), ["targets[0]: must be a mapping (got 'orders')"], id="target-a-string"),
    # --- YAML itself
    pytest.param(
        v1("targets: [\n"),
        ["c.yaml:3:1: did not find expected node content (while parsing a flow node at line 3, column 1)"],
        id="yaml-unclosed-flow",
    ),
    pytest.param(
        v1("targets:\n  - name: orders\n   deployment: orders\n"),
        ["c.yaml:4:4: did not find expected '-' indicator (while parsing a block collection at line 3, column 3)"],
        id="yaml-bad-indentation",
    ),
    pytest.param(
        v1("targets:\n  - name: orders\n    deployment: orders\n    maxReplicas: 10\n    maxReplicas: 20\n"
           f"    {CPU}\n"),
        ["c.yaml:6:5: duplicate key 'maxReplicas' (the last value would silently win)"],
        id="yaml-duplicate-key",
    ),
    # --- defaults
    pytest.param(with_defaults("{interval: 0s}"), ["defaults.interval: must be > 0 (got '0s')"], id="interval-zero"),
    pytest.param(
        with_defaults("{interval: fast}"),
        ["defaults.interval: invalid duration 'fast': use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds"],
        id="interval-not-a-duration",
    ),
    pytest.param(
        with_defaults("{interval: 1.5}"),
        [("defaults.interval: must be a duration (use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds); "
         "a bare number must be whole seconds (got 1.5)")],
        id="interval-fractional-bare-number",
    ),
    pytest.param(
        with_defaults("{timezone: Europe/Berln}"),
        ["defaults.timezone: unknown time zone 'Europe/Berln' (an IANA name such as UTC or Europe/Berlin)"],
        id="default-timezone-unknown",
    ),
    pytest.param(
        with_defaults("{prometheus: {url: 'ftp://prometheus:9090'}}"),
        ["defaults.prometheus.url: must be an http:// or https:// URL (got 'ftp://prometheus:9090')"],
        id="prometheus-url-scheme",
    ),
    pytest.param(
        with_defaults("{prometheus: {usename: scalerd, passwordFile: /etc/scalerd/password}}"),
        ["defaults.prometheus.usename: unknown field (did you mean username?)",
         "defaults.prometheus.username: required when passwordFile is set (basic auth)"],
        id="prometheus-username-typo",
    ),
    pytest.param(
        with_defaults("{prometheus: {bearerTokenFile: /t, username: u, passwordFile: /p}}"),
        ["defaults.prometheus.bearerTokenFile: give either bearerTokenFile or username/passwordFile, not both"],
        id="prometheus-two-auths",
    ),
    pytest.param(
        with_defaults("{prometheus: {maxConcurrency: 0, timeout: -1}}"),
        ["defaults.prometheus.timeout: must be > 0 (got -1)",
         "defaults.prometheus.maxConcurrency: must be >= 1 (got 0)"],
        id="prometheus-concurrency-and-timeout",
    ),
    pytest.param(
        with_defaults("{kafka: {bootstrapServers: '', config: {sasl.password: [hunter2]}}}"),
        ["defaults.kafka.bootstrapServers: must not be empty",
         "defaults.kafka.config.sasl.password: must be a string, number or boolean"],
        id="kafka-settings",
    ),
    pytest.param(
        with_defaults('{kafka: {config: {"sasl\\nmechanism": [PLAIN]}}}'),
        ["defaults.kafka.config.'sasl\\nmechanism': must be a string, number or boolean"],
        id="kafka-setting-name-with-a-line-break",
    ),
    pytest.param(
        valid_target('"max\\nReplicas": 3, 1: 2'),
        ["targets[0].'max\\nReplicas': unknown field (did you mean maxReplicas?)", "targets[0].1: unknown field"],
        id="unknown-keys-odd-types",
    ),
    # --- target fields
    pytest.param(
        one_target(f"deployment: orders, maxReplicas: 10, {CPU}"), ["targets[0].name: required"], id="name-missing"
    ),
    pytest.param(
        one_target(f"name: Orders_Consumer, deployment: orders, maxReplicas: 10, {CPU}"),
        [("targets[0].name: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a "
         "letter or digit, at most 63 characters (got 'Orders_Consumer')")],
        id="name-not-dns-label",
    ),
    pytest.param(
        one_target(f"name: orders, deployment: Orders.Consumer, maxReplicas: 10, {CPU}"),
        [("targets[0].deployment: must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting "
         "and ending with a letter or digit, at most 253 characters (got 'Orders.Consumer')")],
        id="deployment-not-dns-subdomain",
    ),
    pytest.param(
        valid_target("minReplica: 2"),
        ["targets[0].minReplica: unknown field (did you mean minReplicas?)"],
        id="minreplicas-typo",
    ),
    pytest.param(
        valid_target("min_replicas: 2"),
        ["targets[0].min_replicas: unknown field (did you mean minReplicas?)"],
        id="minreplicas-snake-case",
    ),
    pytest.param(
        valid_target("minReplicas: true"), ["targets[0].minReplicas: must be an integer (got true)"], id="min-bool"
    ),
    pytest.param(
        valid_target("minReplicas: -1"), ["targets[0].minReplicas: must be >= 0 (got -1)"], id="min-negative"
    ),
    pytest.param(
        one_target(f"name: orders, deployment: orders, maxReplicas: '5', {CPU}"),
        ["targets[0].maxReplicas: must be an integer (got '5')"],
        id="max-string",
    ),
    pytest.param(
        one_target(f"name: orders, deployment: orders, maxReplicas: 2.5, {CPU}"),
        ["targets[0].maxReplicas: must be an integer (got 2.5)"],
        id="max-float",
    ),
    pytest.param(
        one_target(f"name: orders, deployment: orders, maxReplicas: 0, minReplicas: 0, {CPU}"),
        ["targets[0].maxReplicas: must be >= 1 (got 0)"],
        id="max-zero",
    ),
    pytest.param(
        valid_target("minReplicas: 11"),
        ["targets[0].maxReplicas: must be >= minReplicas (got 10 < 11)"],
        id="max-below-min",
    ),
    pytest.param(
        one_target(f"name: orders, deployment: orders, {CPU}"), ["targets[0].maxReplicas: required"], id="max-missing"
    ),
    pytest.param(
        valid_target("paused: 'true'"), ["targets[0].paused: must be true or false (got 'true')"], id="paused-string"
    ),
    pytest.param(
        valid_target("timezone: CET+1"),
        ["targets[0].timezone: unknown time zone 'CET+1' (an IANA name such as UTC or Europe/Berlin)"],
        id="target-timezone-unknown",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: []"),
        ["targets[0]: needs at least one metric or schedule entry"],
        id="no-metric-no-schedule",
    ),
    pytest.param(
        v1("targets:\n"
           f"  - {{name: orders, deployment: orders, maxReplicas: 10, {CPU}}}\n"
           f"  - {{name: orders, deployment: payments, maxReplicas: 10, {CPU}}}\n"),
        ["targets[1].name: duplicate target name 'orders' (also targets[0])"],
        id="duplicate-target-name",
    ),
    pytest.param(
        v1("targets:\n"
           f"  - {{name: orders, deployment: orders, maxReplicas: 10, {CPU}}}\n"
           f"  - {{name: orders-too, namespace: default, deployment: orders, maxReplicas: 10, {CPU}}}\n"),
        [("targets[1].deployment: default/orders is already scaled by targets[0]; two targets would fight over its "
         "replicas")],
        id="duplicate-deployment",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: {type: cpu, targetUtilization: 7}"),
        ["targets[0].metrics: must be a list (got a mapping)"],
        id="metrics-a-mapping",
    ),
    pytest.param(
        v1(f"defaults: [15s]\ntargets:\n  - {{name: orders, deployment: orders, maxReplicas: 10, {CPU}, "
           "behavior: 2m}\n"),
        ["defaults: must be a mapping (got a list)", "targets[0].behavior: must be a mapping (got '2m')"],
        id="blocks-not-mappings",
    ),
    # --- metrics
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: [{targetUtilization: 70}]"),
        ["targets[0].metrics[0].type: required (one of kafka, prometheus, cpu, http)"],
        id="metric-type-missing",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: [{type: kafak, group: g}]"),
        ["targets[0].metrics[0].type: must be one of kafka, prometheus, cpu, http (got 'kafak')"],
        id="metric-type-unknown",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: [{type: kafka}]"),
        ["targets[0].metrics[0].group: required",
         "targets[0].metrics[0].topics: required: a list of topic names",
         "targets[0].metrics[0].lagPerReplica: required"],
        id="kafka-fields-missing",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: orders, lagPerReplica: 100}]"),
        ["targets[0].metrics[0].topics: must be a list (got 'orders')"],
        id="kafka-topics-a-string",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: [], lagPerReplica: 100}]"),
        ["targets[0].metrics[0].topics: must list at least one topic"],
        id="kafka-topics-empty",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: [a, a, ''], lagPerReplica: 100}]"),
        ["targets[0].metrics[0].topics[1]: duplicate topic 'a'",
         "targets[0].metrics[0].topics[2]: must be a topic name (got '')"],
        id="kafka-topics-duplicate-and-empty",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: [a], lagPerReplica: .nan}]"),
        ["targets[0].metrics[0].lagPerReplica: must be finite (got nan)"],
        id="lag-threshold-nan",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: [a], lagPerReplica: .inf}]"),
        ["targets[0].metrics[0].lagPerReplica: must be finite (got inf)"],
        id="lag-threshold-inf",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: [a], lagPerReplica: '1000'}]"),
        ["targets[0].metrics[0].lagPerReplica: must be a number (got '1000')"],
        id="lag-threshold-string",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: kafka, group: g, topics: [a], lagPerReplica: 10, offsetResetPolicy: none}]"),
        ["targets[0].metrics[0].offsetResetPolicy: must be one of latest, earliest (got 'none')"],
        id="offset-reset-policy",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: prometheus, query: up, targetPerReplica: 5, targetValue: 3}]"),
        ["targets[0].metrics[0]: give exactly one of targetPerReplica and targetValue, not both"],
        id="prometheus-two-targets",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: [{type: prometheus, query: up}]"),
        [("targets[0].metrics[0]: needs targetPerReplica (average per replica) or targetValue (value for the whole "
         "target)")],
        id="prometheus-no-target",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: prometheus, targetValue: 0, onMissing: skip, url: 'prometheus:9090'}]"),
        ["targets[0].metrics[0].query: required",
         "targets[0].metrics[0].targetValue: must be > 0 (got 0)",
         "targets[0].metrics[0].onMissing: must be one of fail, zero, hold (got 'skip')",
         "targets[0].metrics[0].url: must be an http:// or https:// URL (got 'prometheus:9090')"],
        id="prometheus-fields",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: cpu, targetUtilisation: 70}]"),
        ["targets[0].metrics[0].targetUtilisation: unknown field (did you mean targetUtilization?)",
         "targets[0].metrics[0].targetUtilization: required"],
        id="cpu-field-typo",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, metrics: [{type: cpu, targetUtilization: -70}]"),
        ["targets[0].metrics[0].targetUtilization: must be > 0 (got -70)"],
        id="cpu-threshold-negative",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: cpu, targetUtilization: 70}, {type: cpu, targetUtilization: 80}]"),
        [("targets[0].metrics[1].name: duplicate metric name 'cpu' (also targets[0].metrics[0]; a metric's name "
         "defaults to its type)")],
        id="duplicate-metric-name",
    ),
    pytest.param(
        one_target("name: orders, deployment: orders, maxReplicas: 10, "
                   "metrics: [{type: cpu, name: 'cpu load', targetUtilization: 70}]"),
        [("targets[0].metrics[0].name: must be letters, digits, '_', '.', ':' or '-', starting with a letter or "
          "digit (got 'cpu load')")],
        id="metric-name-with-space",
    ),
    # --- schedule
    pytest.param(
        valid_target("schedule: [{time: '24:00', replicas: 2}, {time: 7, replicas: 2}]"),
        ["targets[0].schedule[0].time: must be HH:MM from 00:00 to 23:59 (got '24:00')",
         "targets[0].schedule[1].time: must be HH:MM from 00:00 to 23:59 (got 7)"],
        id="time-out-of-range",
    ),
    pytest.param(
        valid_target("schedule: [{time: 22:00, replicas: 2}, {time: '22:00', replicas: 3}]"),
        ["targets[0].schedule[1].time: duplicate time '22:00' (also targets[0].schedule[0])"],
        id="time-duplicate",
    ),
    pytest.param(
        valid_target("schedule: [{time: '22:00', replicas: -1}, {time: '09:00'}]"),
        ["targets[0].schedule[0].replicas: must be >= 0 (got -1)", "targets[0].schedule[1].replicas: required"],
        id="schedule-replicas",
    ),
    pytest.param(
        valid_target("schedule: [{time: '22:00', cron: '0 22 * * *', replicas: 2}, {replicas: 3}]"),
        ["targets[0].schedule[0]: give either time (HH:MM) or cron (with duration), not both",
         "targets[0].schedule[1]: needs time (HH:MM) or cron (a 5-field expression with a duration)"],
        id="time-and-cron",
    ),
    pytest.param(
        valid_target("schedule: [{time: '22:00', duration: 1h, replicas: 2}]"),
        [("targets[0].schedule[0].duration: only a cron entry has a duration (a time entry lasts until the next "
         "time)")],
        id="time-with-duration",
    ),
    pytest.param(
        valid_target("schedule: [{cron: '0 0 12 * * 1-5', duration: 2h, replicas: 15}]"),
        [("targets[0].schedule[0].cron: must be a 5-field cron expression: minute hour day-of-month month "
         "day-of-week (got 6 fields in '0 0 12 * * 1-5')")],
        id="cron-six-fields",
    ),
    pytest.param(
        valid_target("schedule: [{cron: '61 * * * *', duration: 2h, replicas: 15}, "
                     "{cron: '0 0 31 2 *', duration: 1h, replicas: 3}]"),
        ["targets[0].schedule[0].cron: invalid cron expression '61 * * * *'",
         "targets[0].schedule[1].cron: cron expression '0 0 31 2 *' never matches a date"],
        id="cron-invalid",
    ),
    pytest.param(
        valid_target("schedule: [{cron: '0 12 * * 1-5', replicas: 15}, "
                     "{cron: '0 12 * * 1-5', duration: 0s, replicas: 15}]"),
        ["targets[0].schedule[0].duration: required", "targets[0].schedule[1].duration: must be > 0 (got '0s')"],
        id="cron-duration",
    ),
    # --- behavior
    pytest.param(
        valid_target("behavior: {scaleUp: {policies: [{type: Pods, value: 4, period: 15s}, "
                     "{type: Percent, value: -3, period: 15s}]}}"),
        ["targets[0].behavior.scaleUp.policies[1].value: must be > 0 (got -3)"],
        id="policy-value-negative",
    ),
    pytest.param(
        valid_target("behavior: {scaleDown: {policies: [{type: pods, value: 1.5, period: 0s}, "
                     "{type: Percent, value: 10, period: 31m}, {type: Pods}]}}"),
        ["targets[0].behavior.scaleDown.policies[0].type: must be one of Pods, Percent (got 'pods')",
         "targets[0].behavior.scaleDown.policies[0].value: must be an integer (got 1.5)",
         "targets[0].behavior.scaleDown.policies[0].period: must be between 1s and 30m (got '0s')",
         "targets[0].behavior.scaleDown.policies[1].period: must be between 1s and 30m (got '31m')",
         "targets[0].behavior.scaleDown.policies[2].value: required",
         "targets[0].behavior.scaleDown.policies[2].period: required"],
        id="policy-fields",
    ),
    pytest.param(
        valid_target("behavior: {scaleDown: {stabilizationWindow: 2h, selectPolicy: max, policies: []}}"),
        ["targets[0].behavior.scaleDown.stabilizationWindow: must be between 0s and 1h (got '2h')",
         "targets[0].behavior.scaleDown.selectPolicy: must be one of Max, Min, Disabled (got 'max')",
         ("targets[0].behavior.scaleDown.policies: must list at least one policy (selectPolicy: Disabled turns this "
         "direction off)")],
        id="scaling-rules",
    ),
    pytest.param(
        valid_target("behavior: {cooldown: '-5s', tolerance: 1}"),
        ["targets[0].behavior.cooldown: must be >= 0 (got '-5s')",
         "targets[0].behavior.tolerance: must be >= 0 and < 1 (got 1)"],
        id="cooldown-and-tolerance",
    ),
    pytest.param(
        valid_target("behavior: {scaleUp: {stabilizationWindow: -1}, scaleDown: {stabilizationWindow: 3601}}"),
        ["targets[0].behavior.scaleUp.stabilizationWindow: must be between 0s and 1h (got -1)",
         "targets[0].behavior.scaleDown.stabilizationWindow: must be between 0s and 1h (got 3601)"],
        id="stabilization-window-bare-seconds",
    ),
    pytest.param(
        valid_target("behavior: {tolerance: -0.1, scaleup: {}}"),
        ["targets[0].behavior.scaleup: unknown field (did you mean scaleUp?)",
         "targets[0].behavior.tolerance: must be >= 0 and < 1 (got -0.1)"],
        id="tolerance-negative",
    ),
    # --- fallback
    pytest.param(
        valid_target("fallback: {failureThreshold: 0, replicas: -1}"),
        ["targets[0].fallback.failureThreshold: must be >= 1 (got 0)",
         "targets[0].fallback.replicas: must be >= 0 (got -1)"],
        id="fallback-bounds",
    ),
    pytest.param(
        valid_target("fallback: {failureThreshold: 3}"),
        ["targets[0].fallback.replicas: required"],
        id="fallback-replicas",
    ),
    # --- predictive
    pytest.param(
        valid_target("predictive: {history: 8d}"),
        ["targets[0].predictive.leadTime: required"],
        id="predictive-lead-time-required",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: 31m, history: 59m}"),
        ["targets[0].predictive.leadTime: must be between 0s and 30m (got '31m')",
         "targets[0].predictive.history: must be between 1h and 35d (got '59m')"],
        id="predictive-upper-lead-time-lower-history",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: -1s, history: 36d}"),
        ["targets[0].predictive.leadTime: must be between 0s and 30m (got '-1s')",
         "targets[0].predictive.history: must be between 1h and 35d (got '36d')"],
        id="predictive-negative-lead-time-long-history",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: soon, lead: 60s}"),
        ["targets[0].predictive.lead: unknown field (did you mean leadTime?)",
         "targets[0].predictive.leadTime: invalid duration 'soon': use e.g. 500ms, 15s, 2m, 1h30m,"
         " or a whole number of seconds"],
        id="predictive-typo-and-bad-duration",
    ),
    pytest.param(
        valid_target("predictive: 60s"),
        ["targets[0].predictive: must be a mapping (got '60s')"],
        id="predictive-not-a-mapping",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: 60s, historyFrom: {}}"),
        ["targets[0].predictive.historyFrom.prometheus: required: the Prometheus that scrapes scalerd's /metrics "
         "({} for defaults.prometheus)"],
        id="history-from-without-a-source",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: 60s, historyFrom: {prometheus: {url: 'mon:9090', timeout: 5s}, "
                     "thanos: {}}}"),
        ["targets[0].predictive.historyFrom.thanos: unknown field",
         "targets[0].predictive.historyFrom.prometheus.timeout: unknown field",
         "targets[0].predictive.historyFrom.prometheus.url: must be an http:// or https:// URL (got 'mon:9090')"],
        id="history-from-unknown-source-and-field-bad-url",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: 60s, historyFrom: {prometheus: {labels: "
                     "{target: api, type: kafka, __name__: x, 2xx: a, job: 3, metric: m}}}}"),
        ["targets[0].predictive.historyFrom.prometheus.labels.target: set by scalerd itself (the target's name, the "
         "metric's name and its type): choose the series with other labels, e.g. job",
         "targets[0].predictive.historyFrom.prometheus.labels.type: set by scalerd itself (the target's name, the "
         "metric's name and its type): choose the series with other labels, e.g. job",
         "targets[0].predictive.historyFrom.prometheus.labels.__name__: must be a Prometheus label name: letters, "
         "digits and '_', not starting with a digit or '__'",
         "targets[0].predictive.historyFrom.prometheus.labels.2xx: must be a Prometheus label name: letters, "
         "digits and '_', not starting with a digit or '__'",
         "targets[0].predictive.historyFrom.prometheus.labels.job: must be a string (got 3)",
         "targets[0].predictive.historyFrom.prometheus.labels.metric: set by scalerd itself (the target's name, the "
         "metric's name and its type): choose the series with other labels, e.g. job"],
        id="history-from-labels",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: 60s, historyFrom: {prometheus: {labels: [job]}}}"),
        ["targets[0].predictive.historyFrom.prometheus.labels: must be a mapping of label names to values "
         "(got a list)"],
        id="history-from-labels-not-a-mapping",
    ),
    pytest.param(
        valid_target("predictive: {leadTime: 60s, historyFrom: http://mon:9090}"),
        ["targets[0].predictive.historyFrom: must be a mapping (got 'http://mon:9090')"],
        id="history-from-a-bare-url",
    ),
    # --- the seed's AutoScalerPolicy documents
    pytest.param(
        seed("{deploymentName: orders, metrics: [{type: KafkaLag, threshold: 0}, {type: Memory, threshold: 5}]}"),
        ["documents[0].spec.metrics[0].threshold: must be > 0 (got 0)",
         "documents[0].spec.kafka: required by the KafkaLag metric: {group, topics}",
         "documents[0].spec.metrics[1].type: must be one of KafkaLag, CPU (got 'Memory')"],
        id="seed-metrics",
    ),
    pytest.param(
        seed("{deploymentName: orders, kafka: {group: g}, metrics: [{type: KafkaLag, threshold: 1000}], "
             "schedule: [{time: '22:00', replicas: 2, cron: '* * * * *'}]}"),
        ["documents[0].spec.kafka.topics: required: a list of topic names",
         "documents[0].spec.schedule[0].cron: unknown field"],
        id="seed-kafka-and-schedule",
    ),
    pytest.param(
        seed("{deploymentName: orders.v2, metrics: [{type: CPU, threshold: 70}]}", metadata="{namespace: shop}"),
        [("documents[0].spec.deploymentName: must be a DNS-1123 label: lower-case letters, digits and '-', starting "
         "and ending with a letter or digit, at most 63 characters (got 'orders.v2'); set metadata.name to name "
         "the target")],
        id="seed-name-from-deployment",
    ),
    pytest.param(
        "apiVersion: autoscale.example.com/v2\nkind: AutoScalerPolicy\nspec: {deploymentName: orders, "
        "schedule: [{time: '09:00', replicas: 3}]}\n",
        [("documents[0].apiVersion: must be autoscale.example.com/v1 for kind AutoScalerPolicy "
         "(got 'autoscale.example.com/v2')")],
        id="seed-api-version",
    ),
    pytest.param(
        "apiVersion: autoscale.example.com/v1\nkind: AutoScalerPolicy\nmetadata: {name: orders}\n",
        ["documents[0].spec: required"],
        id="seed-spec-missing",
    ),
    pytest.param(
        seed("{deploymentName: orders, minReplicas: 3, maxReplicas: 2, metrics: [{type: CPU, threshold: 70}]}"),
        ["documents[0].spec.maxReplicas: must be >= minReplicas (got 2 < 3)"],
        id="seed-max-below-min",
    ),
    pytest.param(
        seed("{deploymentName: orders, metrics: [{type: CPU, threshold: -1}]}")
        + "---\n- not a document\n---\n"
        + valid_target("minReplicas: -2")
        + "---\napiVersion: scalerd/v1\n",
        ["documents[0].spec.metrics[0].threshold: must be > 0 (got -1)",
         "documents[1]: must be a mapping with apiVersion: scalerd/v1 (got a list)",
         "targets[0].minReplicas: must be >= 0 (got -2)",
         ("documents[3]: a second scalerd/v1 document; a file holds at most one (the first is documents[2]): put "
          "all targets in it"),
         "targets[0].name: duplicate target name 'orders' (also documents[0])",
         ("targets[0].deployment: default/orders is already scaled by documents[0]; two targets would fight over "
          "its replicas")],
        id="documents-reported-in-file-order",
    ),
    pytest.param(
        valid_target("minReplicas: 1") + "---\n"
        + seed("{deploymentName: payments, metrics: [{type: CPU, threshold: 70}]}"),
        ["documents[1].metadata.name: duplicate target name 'orders' (also targets[0])"],
        id="seed-duplicate-name",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_configuration_reports_every_problem_with_its_path(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="c.yaml")
    assert list(caught.value.problems) == expected


def test_error_message_is_the_problem_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(valid_target("minReplicas: -1, paused: 1"), source="c.yaml")
    assert str(caught.value) == (
        "targets[0].minReplicas: must be >= 0 (got -1)\ntargets[0].paused: must be true or false (got 1)"
    )


def test_a_secret_in_librdkafka_config_never_appears_in_a_problem() -> None:
    text = with_defaults("{kafka: {config: {sasl.password: {value: hunter2}}}}")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    assert caught.value.problems == ("defaults.kafka.config.sasl.password: must be a string, number or boolean",)
    assert "hunter2" not in str(caught.value)
