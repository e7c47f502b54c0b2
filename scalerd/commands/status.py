"""`scalerd status`: one line per target from what scalerd stored in the cluster and each Deployment's count.

No metric is read and nothing is written: CURRENT is the Deployment's `spec.replicas`, DESIRED and REASON the last
change scalerd decided for it, LAST CHANGE when that change was made (an intent a killed leader left unconfirmed
is settled against the count, as its successor will). A target scalerd never changed shows `<none>`.

Exit status: 0; 1 when the cluster or the stored history cannot be read; 2 for an invalid configuration.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from scalerd.commands import exits, policy_options, store_options
from scalerd.config.model import Config
from scalerd.daemon.wiring import register_secrets, target_deployments
from scalerd.kube.cache import DeploymentCache
from scalerd.kube.state_store import TargetKey
from scalerd.kube.writer import KubeWriter
from scalerd.reasons import Reason
from scalerd.writeahead import TargetRecord, settle

CACHE_SYNC_TIMEOUT = 10.0
TABLE_COLUMNS = ("TARGET", "NAMESPACE", "DEPLOYMENT", "MIN", "MAX", "CURRENT", "DESIRED", "LAST CHANGE", "REASON")


@dataclass(frozen=True)
class StatusRow:
    target: str
    namespace: str
    deployment: str
    min_replicas: int
    max_replicas: int
    current: int | None
    desired: int | None
    last_change: float | None
    """Wall-clock seconds."""
    reason: str | None

    def to_json(self) -> dict:
        last_change = None
        if self.last_change is not None:
            last_change = datetime.fromtimestamp(self.last_change, tz=UTC).isoformat().replace("+00:00", "Z")
        return {"target": self.target, "namespace": self.namespace, "deployment": self.deployment,
                "minReplicas": self.min_replicas, "maxReplicas": self.max_replicas, "current": self.current,
                "desired": self.desired, "last_change": last_change, "reason": self.reason}


def status_rows(config: Config, *, records: Mapping[TargetKey, TargetRecord], counts: Mapping[TargetKey, int],
                now: float) -> list[StatusRow]:
    """Pure: a row per target from the stored records and the Deployments' counts (missing ones: None)."""
    rows = []
    for target in config.targets:
        key = (target.namespace, target.deployment)
        current = counts.get(key)
        record = records.get(key)
        if record is not None and current is not None:
            record, _ = settle(record, current=current, now=now)
        decision = None if record is None else record.decision
        rows.append(StatusRow(
            target=target.name, namespace=target.namespace, deployment=target.deployment,
            min_replicas=target.min_replicas, max_replicas=target.max_replicas, current=current,
            desired=None if decision is None else decision.desired,
            last_change=None if record is None else record.state.last_change,
            reason=Reason.DEPLOYMENT_NOT_FOUND if current is None else (None if decision is None else decision.reason),
        ))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (optional with --policies)")
    policy_options.add_arguments(parser)
    parser.add_argument("--output", choices=("table", "json"), default="table",
                        help="table (default) or one JSON object per target and line")
    store_options.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    started = policy_options.start_command(args)
    if isinstance(started, int):
        return started
    base, config, api_client = started.base, started.config, started.api_client
    writer = KubeWriter(api_client, dry_run=True, may_write=lambda: False)  # status never writes
    policies = policy_options.policies(args, api_client=api_client, base=base, writer=writer)
    if policies is not None:
        policies.cache.stop()
        if not policies.synced:
            print(f"error: {policy_options.NOT_LISTED}", file=sys.stderr)
            return exits.FAILED
        config = policies.provider.load()
    register_secrets(config=config, api_client=api_client)
    store = store_options.state_store(args, api_client=api_client, writer=writer)
    cache = DeploymentCache(api_client, deployments=target_deployments(config))
    cache.start()
    try:
        if not cache.wait_synced(CACHE_SYNC_TIMEOUT):
            print(f"error: the Deployments of the configured namespaces could not be listed within "
                  f"{CACHE_SYNC_TIMEOUT:g} s", file=sys.stderr)
            return exits.FAILED
        if not store_options.load(store):
            return exits.FAILED
        counts = {}
        for key in target_deployments(config):
            view = cache.get(*key)
            if view is not None:
                counts[key] = view.replicas
    finally:
        cache.stop()
    now = time.time()
    print_rows(status_rows(config, records=store.records(), counts=counts, now=now), output=args.output, now=now,
               stream=sys.stdout)
    return exits.OK


def print_rows(rows: Sequence[StatusRow], *, output: str, now: float, stream) -> None:
    if output == "json":
        for row in rows:
            print(json.dumps(row.to_json()), file=stream)
        return
    table = [TABLE_COLUMNS] + [_cells(row, now=now) for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(TABLE_COLUMNS) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1], file=stream)


def _cells(row: StatusRow, *, now: float) -> tuple[str, ...]:
    last_change = "<none>" if row.last_change is None else f"{_age(now - row.last_change)} ago"
    return (row.target, row.namespace, row.deployment, str(row.min_replicas), str(row.max_replicas),
            _shown(row.current), _shown(row.desired), last_change, row.reason or "<none>")


def _shown(value: int | None) -> str:
    return "<unknown>" if value is None else str(value)


def _age(seconds: float) -> str:
    """kubectl's short form: 45s, 3m12s, 5h4m, 2d3h."""
    seconds = max(0, int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 60:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
