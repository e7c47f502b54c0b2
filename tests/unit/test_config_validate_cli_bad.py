"""`scalerd validate` through the CLI on a second, independent set of bad files: exit 2, nothing on stdout,
and on stderr exactly these lines, each starting with the path of the bad field (or FILE:LINE:COL for YAML).

The files are written in block style (a target's fields one per line), built from test_config_bad's `v1`."""
from __future__ import annotations

from pathlib import Path

import pytest

from scalerd.cli import main
from tests.unit.test_config_bad import v1

CPU = ("metrics:", "  - {type: cpu, targetUtilization: 70}")


def target(*lines: str) -> str:
    """A scalerd/v1 file whose only target is `t`, scaling Deployment `d` up to 5, with `lines` (its other fields,
    one YAML line each, indented under it)."""
    fields = "".join(f"    {line}\n" for line in lines)
    return v1("targets:\n  - name: t\n    deployment: d\n    maxReplicas: 5\n" + fields)


CASES = [
    pytest.param(
        (
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ['apiVersion: required (must be scalerd/v1)'],
        id='apiver-missing',
    ),
    pytest.param(
        (
            'apiVersion: scalerd/v2\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["apiVersion: must be scalerd/v1 (got 'scalerd/v2')"],
        id='apiver-wrong',
    ),
    pytest.param(
        (
            'apiVersion: apps/v1\n'
            'kind: Deployment\n'
        ),
        [
            'kind: unknown field',
            "apiVersion: must be scalerd/v1 (got 'apps/v1')",
            'targets: required: at least one target',
        ],
        id='apiver-kind-k8s',
    ),
    pytest.param(
        target(*CPU, "schedule: [{cron: '0 * * * *', duration: 0s, replicas: 3}]"),
        ["targets[0].schedule[0].duration: must be > 0 (got '0s')"],
        id='cron-dur0',
    ),
    pytest.param(
        target('maxReplicas: 6', 'metrics:', '  - {type: cpu, targetUtilization: 70}'),
        ["{path}:6:5: duplicate key 'maxReplicas' (the last value would silently win)"],
        id='dup-key',
    ),
    pytest.param(
        v1(
            'defaults: {interval: 1w}\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: cpu, targetUtilization: 70}\n'
        ),
        ["defaults.interval: invalid duration '1w': use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds"],
        id='dur-weeks-unsupported',
    ),
    pytest.param(
        '',
        ['{path}: empty configuration: expected a document with apiVersion: scalerd/v1'],
        id='empty-file',
    ),
    pytest.param(
        target('metrics: [{type: kafka, topics: [a], lagPerReplica: 3}]'),
        ['targets[0].metrics[0].group: required'],
        id='group-missing',
    ),
    pytest.param(
        target(*CPU, 'behavior: {scaleDown: {policies: [{type: Pods, value: 1.5, period: 15s}]}}'),
        ['targets[0].behavior.scaleDown.policies[0].value: must be an integer (got 1.5)'],
        id='int-float-value',
    ),
    pytest.param(
        target('metrics: {type: cpu, targetUtilization: 70}'),
        ['targets[0].metrics: must be a list (got a mapping)'],
        id='metrics-map',
    ),
    pytest.param(
        v1(
            'defaults: {interval: 0}\n'
            'targets:\n'
            '  - {name: a, deployment: a, maxReplicas: 2, metrics: [{type: cpu, targetUtilization: 70}]}\n'
            '---\n'
            'apiVersion: autoscale.example.com/v1\n'
            'kind: AutoScalerPolicy\n'
            'metadata: {name: a}\n'
            'spec:\n'
            '  deploymentName: a\n'
            '  metrics: [{type: CPU, threshold: -70}]\n'
        ),
        [
            'defaults.interval: must be > 0 (got 0)',
            'documents[1].spec.metrics[0].threshold: must be > 0 (got -70)',
            "documents[1].metadata.name: duplicate target name 'a' (also targets[0])",
            'documents[1].spec.deploymentName: default/a is already scaled by targets[0]; two targets would fight over its replicas',
        ],
        id='mixed',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: cpu, targetUtilization: 70}\n'
        ),
        [
            "targets[0].name: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...')",
        ],
        id='name-long',
    ),
    pytest.param(
        target(*CPU, 'behavior: {scaleUp: {policies: []}}'),
        [
            'targets[0].behavior.scaleUp.policies: must list at least one policy (selectPolicy: Disabled turns this direction off)',
        ],
        id='policies-empty',
    ),
    pytest.param(
        target("metrics: [{type: prometheus, query: '', targetValue: 3}]"),
        ['targets[0].metrics[0].query: must not be empty'],
        id='query-empty',
    ),
    pytest.param(
        target(*CPU, "schedule: [{time: '09:00'}]"),
        ['targets[0].schedule[0].replicas: required'],
        id='sched-no-replicas',
    ),
    pytest.param(
        (
            'apiVersion: autoscale.example.com/v1\n'
            'kind: AutoScalerPolicy\n'
            'spec:\n'
            '  deploymentName: d\n'
            '  minReplicas: 5\n'
            '  maxReplicas: 2\n'
            '  metrics: [{type: CPU, threshold: 70}]\n'
        ),
        ['documents[0].spec.maxReplicas: must be >= minReplicas (got 2 < 5)'],
        id='seed-max-lt-min',
    ),
    pytest.param(
        (
            'apiVersion: autoscale.example.com/v1\n'
            'kind: AutoScalerPolicy\n'
            'spec:\n'
            '  deploymentName: d\n'
            '  replicas: 3\n'
            '  metrics: [{type: CPU, threshold: 70}]\n'
        ),
        ['documents[0].spec.replicas: unknown field (did you mean minReplicas?)'],
        id='seed-unknown',
    ),
    pytest.param(
        v1('targets: {name: t}\n'),
        ['targets: must be a list (got a mapping)'],
        id='targets-map',
    ),
    pytest.param(
        target(*CPU, "schedule: [{time: '09:00', cron: '0 * * * *', duration: 1m, replicas: 3}]"),
        ['targets[0].schedule[0]: give either time (HH:MM) or cron (with duration), not both'],
        id='time-and-cron',
    ),
    pytest.param(
        target(*CPU, "behavior: {tolerance: '10%'}"),
        ["targets[0].behavior.tolerance: must be a number (got '10%')"],
        id='tol-str',
    ),
    pytest.param(
        '- apiVersion: scalerd/v1\n',
        ['documents[0]: must be a mapping with apiVersion: scalerd/v1 (got a list)'],
        id='top-list',
    ),
    pytest.param(
        target('metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1, targetValue: 2}'),
        ['targets[0].metrics[0]: give exactly one of targetPerReplica and targetValue, not both'],
        id='both-targets',
    ),
    pytest.param(
        target(
            'behavior: {cooldown: -1s}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.cooldown: must be >= 0 (got '-1s')"],
        id='cooldown-neg',
    ),
    pytest.param(
        target('metrics:', '  - {type: cpu, targetUtilization: "70"}'),
        ["targets[0].metrics[0].targetUtilization: must be a number (got '70')"],
        id='cpu-str',
    ),
    pytest.param(
        target('metrics:', '  - {type: cpu, targetUtilization: 0}'),
        ['targets[0].metrics[0].targetUtilization: must be > 0 (got 0)'],
        id='cpu-zero',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {cron: "0 0 12 * * 1-5", duration: 1h, replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        [
            "targets[0].schedule[0].cron: must be a 5-field cron expression: minute hour day-of-month month day-of-week (got 6 fields in '0 0 12 * * 1-5')",
        ],
        id='cron-6',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {cron: "61 * * * *", duration: 1h, replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].schedule[0].cron: invalid cron expression '61 * * * *'"],
        id='cron-bad',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {cron: "0 12 * * *", replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].schedule[0].duration: required'],
        id='cron-no-dur',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  timezone: Europe/Nowhere\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.timezone: unknown time zone 'Europe/Nowhere' (an IANA name such as UTC or Europe/Berlin)"],
        id='def-tz-bad',
    ),
    pytest.param(
        target(*CPU, '  - {type: cpu, targetUtilization: 80}'),
        [
            "targets[0].metrics[1].name: duplicate metric name 'cpu' (also targets[0].metrics[0]; a metric's name defaults to its type)",
        ],
        id='dup-metric',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
            '  - name: t\n'
            '    deployment: e\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: cpu, targetUtilization: 50}\n'
        ),
        ["targets[1].name: duplicate target name 't' (also targets[0])"],
        id='dup-name',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  interval: 1.5\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        [
            'defaults.interval: must be a duration (use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds); a bare number must be whole seconds (got 1.5)',
        ],
        id='dur-float',
    ),
    pytest.param(
        target(
            'fallback: {failureThreshold: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].fallback.replicas: required'],
        id='fb-no-replicas',
    ),
    pytest.param(
        target(
            'fallback: {failureThreshold: 2, replicas: -1}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].fallback.replicas: must be >= 0 (got -1)'],
        id='fb-rep-neg',
    ),
    pytest.param(
        target(
            'fallback: {failureThreshold: 0, replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].fallback.failureThreshold: must be >= 1 (got 0)'],
        id='fb-thresh0',
    ),
    pytest.param(
        target(
            'metrics:',
            '  - {type: kafka, group: g, topics: [a], lagPerReplica: 10, allowIdleConsumers: 1}',
        ),
        ['targets[0].metrics[0].allowIdleConsumers: must be true or false (got 1)'],
        id='idle-int',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  interval: 15 sec\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.interval: invalid duration '15 sec': use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds"],
        id='interval-garbage',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  interval: -5s\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.interval: must be > 0 (got '-5s')"],
        id='interval-neg',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  interval: 0s\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.interval: must be > 0 (got '0s')"],
        id='interval-zero',
    ),
    pytest.param(
        target('metrics:', '  - {type: kafka, group: g, topics: [a], lagPerReplica: .inf}'),
        ['targets[0].metrics[0].lagPerReplica: must be finite (got inf)'],
        id='lag-inf',
    ),
    pytest.param(
        target('metrics:', '  - {type: kafka, group: g, topics: [a], lagPerReplica: 0}'),
        ['targets[0].metrics[0].lagPerReplica: must be > 0 (got 0)'],
        id='lag-zero',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  interval: 0s\n'
            '  timezone: Bad/Zone\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    minReplicas: -2\n'
            '    behavior: {tolerance: 2, scaleUp: {policies: [{type: Pods, value: 0, period: 0s}]}}\n'
            '    fallback: {failureThreshold: 0, replicas: 1}\n'
            '    metrics:\n'
            '      - {type: kafka, group: g, topics: [a], lagPerReplica: -5}\n'
            '      - {type: cpu, targetUtilization: -1}\n'
        ),
        [
            "defaults.interval: must be > 0 (got '0s')",
            "defaults.timezone: unknown time zone 'Bad/Zone' (an IANA name such as UTC or Europe/Berlin)",
            'targets[0].minReplicas: must be >= 0 (got -2)',
            'targets[0].metrics[0].lagPerReplica: must be > 0 (got -5)',
            'targets[0].metrics[1].targetUtilization: must be > 0 (got -1)',
            'targets[0].behavior.tolerance: must be >= 0 and < 1 (got 2)',
            'targets[0].behavior.scaleUp.policies[0].value: must be > 0 (got 0)',
            "targets[0].behavior.scaleUp.policies[0].period: must be between 1s and 30m (got '0s')",
            'targets[0].fallback.failureThreshold: must be >= 1 (got 0)',
        ],
        id='many',
    ),
    pytest.param(
        target('minReplicas: 7', 'metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1}'),
        ['targets[0].maxReplicas: must be >= minReplicas (got 5 < 7)'],
        id='max-lt-min',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ['targets[0].maxReplicas: required'],
        id='max-missing',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 0\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ['targets[0].maxReplicas: must be >= 1 (got 0)'],
        id='max-zero',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: five\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["targets[0].maxReplicas: must be an integer (got 'five')"],
        id='maxrep-str',
    ),
    pytest.param(
        target('minReplicas: -1', 'metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1}'),
        ['targets[0].minReplicas: must be >= 0 (got -1)'],
        id='min-neg',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: Orders_Consumer\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        [
            "targets[0].name: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got 'Orders_Consumer')",
        ],
        id='name-upper',
    ),
    pytest.param(
        target('namespace: My_NS', 'metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1}'),
        [
            "targets[0].namespace: must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got 'My_NS')",
        ],
        id='namespace-bad',
    ),
    pytest.param(
        target(),
        ['targets[0]: needs at least one metric or schedule entry'],
        id='no-metrics',
    ),
    pytest.param(
        target('metrics:', '  - {type: prometheus, query: up, targetValue: 3, onMissing: ignore}'),
        ["targets[0].metrics[0].onMissing: must be one of fail, zero, hold (got 'ignore')"],
        id='onmissing-bad',
    ),
    pytest.param(
        target('paused: "yes"', 'metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1}'),
        ["targets[0].paused: must be true or false (got 'yes')"],
        id='paused-str',
    ),
    pytest.param(
        target(
            'behavior: {scaleUp: {policies: [{type: Pods, value: 4, period: 31m}]}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleUp.policies[0].period: must be between 1s and 30m (got '31m')"],
        id='period-31m',
    ),
    pytest.param(
        target(
            'behavior: {scaleUp: {policies: [{type: Pods, value: 4, period: 500ms}]}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleUp.policies[0].period: must be between 1s and 30m (got '500ms')"],
        id='period-500ms',
    ),
    pytest.param(
        target(
            'behavior: {scaleUp: {policies: [{type: Pods, value: 4, period: 0s}]}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleUp.policies[0].period: must be between 1s and 30m (got '0s')"],
        id='period-zero',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  prometheus: {insecureSkipVerify: "no"}\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.prometheus.insecureSkipVerify: must be true or false (got 'no')"],
        id='prom-insecure-str',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  prometheus: {timeout: 0s}\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.prometheus.timeout: must be > 0 (got '0s')"],
        id='prom-timeout0',
    ),
    pytest.param(
        v1(
            'defaults:\n'
            '  prometheus: {url: "ftp://x"}\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ["defaults.prometheus.url: must be an http:// or https:// URL (got 'ftp://x')"],
        id='prom-url-bad',
    ),
    pytest.param(
        target('metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1, url: "localhost:9090"}'),
        ["targets[0].metrics[0].url: must be an http:// or https:// URL (got 'localhost:9090')"],
        id='prom-url-metric',
    ),
    pytest.param(
        target(
            'behavior: {scaleDown: {policies: [{type: Percentage, value: 10, period: 15s}]}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleDown.policies[0].type: must be one of Pods, Percent (got 'Percentage')"],
        id='ptype-bad',
    ),
    pytest.param(
        target(
            'metrics:',
            '  - {type: kafka, group: g, topics: [a], lagPerReplica: 10, offsetResetPolicy: none}',
        ),
        ["targets[0].metrics[0].offsetResetPolicy: must be one of latest, earliest (got 'none')"],
        id='reset-bad',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {time: "09:00", replicas: -1}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].schedule[0].replicas: must be >= 0 (got -1)'],
        id='sched-rep-neg',
    ),
    pytest.param(
        (
            'apiVersion: autoscale.example.com/v1\n'
            'kind: AutoScalerPolicy\n'
            'spec:\n'
            '  deploymentName: d\n'
            '  metrics: [{type: KafkaLag, threshold: 100}]\n'
        ),
        ['documents[0].spec.kafka: required by the KafkaLag metric: {group, topics}'],
        id='seed-kafka-missing',
    ),
    pytest.param(
        (
            'apiVersion: autoscale.example.com/v1\n'
            'kind: AutoScalerPolicy\n'
            'spec:\n'
            '  deploymentName: d\n'
            '  metrics: [{type: CPU, threshold: 0}]\n'
        ),
        ['documents[0].spec.metrics[0].threshold: must be > 0 (got 0)'],
        id='seed-threshold0',
    ),
    pytest.param(
        (
            'apiVersion: autoscale.example.com/v1\n'
            'kind: AutoScalerPolicy\n'
            'spec:\n'
            '  deploymentName: d\n'
            '  metrics: [{type: Memory, threshold: 5}]\n'
            '  schedule: [{time: "25:00", replicas: 3}]\n'
        ),
        [
            "documents[0].spec.metrics[0].type: must be one of KafkaLag, CPU (got 'Memory')",
            "documents[0].spec.schedule[0].time: must be HH:MM from 00:00 to 23:59 (got '25:00')",
        ],
        id='seed-type-bad',
    ),
    pytest.param(
        target(
            'behavior: {scaleDown: {selectPolicy: Maximum}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleDown.selectPolicy: must be one of Max, Min, Disabled (got 'Maximum')"],
        id='select-bad',
    ),
    pytest.param(
        target(
            'behavior: {scaleDown: {stabilizationWindow: 2h}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleDown.stabilizationWindow: must be between 0s and 1h (got '2h')"],
        id='stab-2h',
    ),
    pytest.param(
        target(
            'behavior: {scaleDown: {stabilizationWindow: 3601}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.scaleDown.stabilizationWindow: must be between 0s and 1h (got 3601)'],
        id='stab-huge-int',
    ),
    pytest.param(
        target(
            'behavior: {scaleUp: {stabilizationWindow: -1s}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].behavior.scaleUp.stabilizationWindow: must be between 0s and 1h (got '-1s')"],
        id='stab-neg',
    ),
    pytest.param(
        v1('targets: []\n'),
        ['targets: at least one target is required'],
        id='targets-empty',
    ),
    pytest.param(
        v1(''),
        ['targets: required: at least one target'],
        id='targets-missing',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {time: "24:00", replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].schedule[0].time: must be HH:MM from 00:00 to 23:59 (got '24:00')"],
        id='time-24',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {time: "09:60", replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].schedule[0].time: must be HH:MM from 00:00 to 23:59 (got '09:60')"],
        id='time-60',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {time: "9am", replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].schedule[0].time: must be HH:MM from 00:00 to 23:59 (got '9am')"],
        id='time-fmt',
    ),
    pytest.param(
        target(
            'schedule:',
            '  - {time: 900, replicas: 2}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].schedule[0].time: must be HH:MM from 00:00 to 23:59 (got 900)'],
        id='time-int-seconds',
    ),
    pytest.param(
        target(
            'behavior: {tolerance: -0.1}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.tolerance: must be >= 0 and < 1 (got -0.1)'],
        id='tol-neg',
    ),
    pytest.param(
        target(
            'behavior: {tolerance: 1}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.tolerance: must be >= 0 and < 1 (got 1)'],
        id='tol-one',
    ),
    pytest.param(
        target('metrics:', '  - {type: kafka, group: g, topics: [], lagPerReplica: 10}'),
        ['targets[0].metrics[0].topics: must list at least one topic'],
        id='topics-empty',
    ),
    pytest.param(
        target('metrics:', '  - {type: prometheus, query: up, targetPerReplica: -1}'),
        ['targets[0].metrics[0].targetPerReplica: must be > 0 (got -1)'],
        id='tpr-neg',
    ),
    pytest.param(
        target('metrics:', '  - {type: prometheus, query: up, targetValue: .nan}'),
        ['targets[0].metrics[0].targetValue: must be finite (got nan)'],
        id='tv-nan',
    ),
    pytest.param(
        target('metrics:', '  - {type: memory, targetUtilization: 70}'),
        ["targets[0].metrics[0].type: must be one of kafka, prometheus, cpu, http (got 'memory')"],
        id='type-bad',
    ),
    pytest.param(
        target(
            'timezone: Mars/Olympus',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ["targets[0].timezone: unknown time zone 'Mars/Olympus' (an IANA name such as UTC or Europe/Berlin)"],
        id='tz-bad',
    ),
    pytest.param(
        target(
            'behavior: {coolDown: 1m}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.coolDown: unknown field (did you mean cooldown?)'],
        id='unknown-behavior',
    ),
    pytest.param(
        target('metrics:', '  - {type: cpu, targetUtilisation: 70}'),
        [
            'targets[0].metrics[0].targetUtilisation: unknown field (did you mean targetUtilization?)',
            'targets[0].metrics[0].targetUtilization: required',
        ],
        id='unknown-metric',
    ),
    pytest.param(
        target(
            'behavior: {scaleUp: {policies: [{type: Pods, value: 4, period: 15s, periodSeconds: 15}]}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.scaleUp.policies[0].periodSeconds: unknown field (did you mean period?)'],
        id='unknown-policy',
    ),
    pytest.param(
        target('minReplica: 2', 'metrics:', '  - {type: prometheus, query: up, targetPerReplica: 1}'),
        ['targets[0].minReplica: unknown field (did you mean minReplicas?)'],
        id='unknown-target',
    ),
    pytest.param(
        v1(
            'defaultz: {}\n'
            'targets:\n'
            '  - name: t\n'
            '    deployment: d\n'
            '    maxReplicas: 5\n'
            '    metrics:\n'
            '      - {type: prometheus, query: up, targetPerReplica: 1}\n'
        ),
        ['defaultz: unknown field (did you mean defaults?)'],
        id='unknown-top',
    ),
    pytest.param(
        target(
            'behavior:',
            '  scaleUp:',
            '    policies:',
            '      - {type: Pods, value: 4, period: 15s}',
            '      - {type: Percent, value: -3, period: 15s}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.scaleUp.policies[1].value: must be > 0 (got -3)'],
        id='value-neg3',
    ),
    pytest.param(
        target(
            'behavior: {scaleDown: {policies: [{type: Percent, value: 0, period: 15s}]}}',
            'metrics:',
            '  - {type: prometheus, query: up, targetPerReplica: 1}',
        ),
        ['targets[0].behavior.scaleDown.policies[0].value: must be > 0 (got 0)'],
        id='value-zero',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '  - name: t\n'
            '    deployment: [d\n'
            '    maxReplicas: 5\n'
        ),
        ["{path}:5:16: did not find expected ',' or ']' (while parsing a flow sequence at line 4, column 17)"],
        id='yaml-syntax',
    ),
    pytest.param(
        v1(
            'targets:\n'
            '\t- name: t\n'
        ),
        [
            '{path}:3:1: found character that cannot start any token (while scanning for the next token at line 3, column 1)',
        ],
        id='yaml-tab',
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_validate_reports_every_problem_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: list[str]
) -> None:
    path = tmp_path / "scalerd.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [line.replace('{path}', str(path)) for line in expected]
