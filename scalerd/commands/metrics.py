"""`scalerd metrics`: read every metric source once and print each metric's value and raw proposal.

The proposal is the replica count the metric alone asks for, before tolerance, bounds, schedules and
behaviors (a kafka proposal includes the partition cap unless `allowIdleConsumers`). This command talks to
Kubernetes only for cpu metrics, so it does not know a Deployment's current replicas in general; where a
proposal depends on them (`targetValue` metrics: ceil(current × value / targetValue); `onMissing: hold`:
current) it uses the replicas the cpu source read for the same target, and otherwise assumes current = 1,
i.e. the `targetValue` proposal is ceil(value / targetValue) and a held metric proposes 1.

Exit status: 0 when every metric was read, 1 when any failed (all are still printed), 2 for an invalid
configuration or an unknown `--target`.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from scalerd.commands import exits
from scalerd.config import ConfigError, load_config_file
from scalerd.config.model import Target
from scalerd.logs import configure_logging
from scalerd.metric_types.cpu import CpuMetric
from scalerd.metric_types.kafka import KafkaMetric
from scalerd.metric_types.registry import metric_outcome
from scalerd.readings import Reading
from scalerd.sources import Sources

ASSUMED_CURRENT_REPLICAS = 1
TABLE_COLUMNS = ("TARGET", "METRIC", "TYPE", "VALUE", "PROPOSAL", "ERROR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="configuration file")
    parser.add_argument("--target", metavar="NAME", help="only this target")
    parser.add_argument("--output", choices=("table", "json"), default="table",
                        help="table (default) or one JSON object per target and line")


def run(args: argparse.Namespace) -> int:
    configure_logging(log_format=args.log_format)
    # A broker that is down makes librdkafka log every reconnect; the failure is already in the output.
    logging.getLogger("scalerd.kafka.librdkafka").setLevel(logging.CRITICAL)
    try:
        config = load_config_file(args.config)
    except ConfigError as error:
        return exits.report_config_error(error)
    targets = config.targets
    if args.target is not None:
        targets = tuple(target for target in config.targets if target.name == args.target)
        if not targets:
            known = ", ".join(target.name for target in config.targets)
            print(f"--target: no target named {args.target!r} (known: {known})", file=sys.stderr)
            return exits.INVALID_INPUT

    api_client, kube_problem = _kube_client(targets, kubeconfig=args.kubeconfig, context=args.context)
    sources = Sources(defaults=config.defaults, kube_api_client=api_client)
    try:
        readings = sources.read_all(targets)
    finally:
        sources.close()
        if api_client is not None:
            api_client.close()
    if kube_problem is not None:
        readings = {
            key: Reading(name=reading.name, error=kube_problem) if _is_cpu(targets, key) else reading
            for key, reading in readings.items()
        }

    reports = [target_report(target, readings) for target in targets]
    if args.output == "json":
        print_json(reports, stream=sys.stdout)
    else:
        print_table(reports, stream=sys.stdout)
    failed = any(metric["error"] is not None for report in reports for metric in report["metrics"])
    return exits.FAILED if failed else exits.OK


def target_report(target: Target, readings: dict[tuple[str, str], Reading]) -> dict[str, Any]:
    """The contract's `metrics` JSON object for one target."""
    own = [readings[(target.name, metric.name)] for metric in target.metrics]
    current = next((r.current_replicas for r in own if r.current_replicas is not None), ASSUMED_CURRENT_REPLICAS)
    metrics = []
    for metric, reading in zip(target.metrics, own):
        # tolerance 0: the proposal before tolerance, as the contract defines it
        outcome = metric_outcome(metric, reading, current=current, tolerance=0.0)
        metrics.append({
            "name": metric.name,
            "type": metric.type,
            "value": _json_number(outcome.value),
            "proposal": outcome.proposal,
            "error": outcome.error,
            "partitions": _partitions(reading) if isinstance(metric, KafkaMetric) else None,
        })
    return {"target": target.name, "metrics": metrics}


def print_json(reports: Sequence[dict[str, Any]], *, stream: TextIO) -> None:
    stream.writelines(json.dumps(report) + "\n" for report in reports)


def print_table(reports: Sequence[dict[str, Any]], *, stream: TextIO) -> None:
    rows = [TABLE_COLUMNS]
    for report in reports:
        for metric in report["metrics"]:
            rows.append((
                report["target"],
                metric["name"],
                metric["type"],
                _cell(metric["value"]),
                _cell(metric["proposal"]),
                metric["error"] or "",
            ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        stream.write("  ".join(cells).rstrip() + "\n")


def _kube_client(targets: Sequence[Target], *, kubeconfig: str | None, context: str | None):
    """(API client, None) when some target has a cpu metric and a client loads; (None, why not) when it fails."""
    if not any(isinstance(metric, CpuMetric) for target in targets for metric in target.metrics):
        return None, None
    from scalerd.kube.client import KubeConfigError, load_api_client

    try:
        return load_api_client(kubeconfig=kubeconfig, context=context), None
    except KubeConfigError as error:
        return None, f"no Kubernetes access for cpu metrics: {error}"


def _is_cpu(targets: Sequence[Target], key: tuple[str, str]) -> bool:
    target_name, metric_name = key
    return any(
        isinstance(metric, CpuMetric)
        for target in targets if target.name == target_name
        for metric in target.metrics if metric.name == metric_name
    )


def _partitions(reading: Reading) -> list[dict[str, Any]]:
    return [
        {"topic": p.topic, "partition": p.partition, "committed": p.committed, "low": p.low, "high": p.high,
         "lag": p.lag}
        for p in reading.partitions
    ]


def _json_number(value: float | None) -> float | int | None:
    """Whole numbers print as integers (a lag of 12000, not 12000.0); NaN and infinities are not JSON."""
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else value


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)
