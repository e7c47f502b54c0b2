"""`scalerd once`: one cycle against the cluster; prints one decision per target.

No leader election: `once` is for a person or a script, who decides when it runs; with `--dry-run` it writes
nothing at all, and without it it writes like a leader would (the intent and outcome in the state store, the
scale, Events), so it must not be run against Deployments a `scalerd run` leader is managing. The engine state is
read from the state store in `--lease-namespace` (the daemon's), and a change `once` makes is recorded there as
the daemon records its own: repeated runs, and a daemon started later, honour its cooldown and the behaviors'
windows (as recorded at the last change: `once` does not add the hold a new `run` leader adds, see
`scalerd.daemon.history`).

Exit status: 0 when every target was decided (and written, when a write was due); 1 when any target errored
(its Deployment missing, its write refused or failed); 2 for an invalid configuration.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from scalerd.commands import exits, policy_options, store_options
from scalerd.daemon.report import TargetResult
from scalerd.daemon.wiring import (
    build_daemon,
    register_secrets,
    target_deployments,
    target_namespaces,
)
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentCache
from scalerd.kube.leader import default_identity
from scalerd.kube.writer import KubeWriter

CACHE_SYNC_TIMEOUT = 10.0
TABLE_COLUMNS = ("TARGET", "NAMESPACE", "DEPLOYMENT", "CURRENT", "DESIRED", "APPLIED", "REASON", "METRICS")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file (optional with --policies)")
    policy_options.add_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="decide and explain; write nothing at all")
    parser.add_argument("--output", choices=("table", "json"), default="table",
                        help="table (default) or one JSON object per target and line")
    store_options.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    started = policy_options.start_command(args)
    if isinstance(started, int):
        return started
    base, config, api_client = started.base, started.config, started.api_client
    metrics = DaemonMetrics()
    writer = KubeWriter(api_client, dry_run=args.dry_run, may_write=lambda: True,
                        on_request=metrics.count_api_request)
    policies = policy_options.policies(args, api_client=api_client, base=base, writer=writer)
    if policies is not None:
        policies.cache.stop()  # one cycle: the first list is all it needs
        if not policies.synced:
            print(f"error: {policy_options.NOT_LISTED}", file=sys.stderr)
            return exits.FAILED
        config = policies.provider.load()
    register_secrets(config=config, api_client=api_client)
    cache = DeploymentCache(api_client, deployments=target_deployments(config))
    cache.start()
    try:
        if not cache.wait_synced(CACHE_SYNC_TIMEOUT):
            print(f"error: the Deployments of {sorted(target_namespaces(config))} could not be listed within "
                  f"{CACHE_SYNC_TIMEOUT:g} s", file=sys.stderr)
            return exits.FAILED
        store = store_options.state_store(args, api_client=api_client, writer=writer,
                                          on_request=metrics.count_api_request)
        if not store_options.load(store):
            return exits.FAILED
        daemon = build_daemon(
            config=config, config_provider=None, api_client=api_client, cache=cache, writer=writer, elector=None,
            metrics=metrics, health=HealthState(monotonic=time.monotonic, interval=config.defaults.interval),
            hold_current_on_takeover=False, after_cycle=policies.status_writer if policies else None,
            store=store, identity=f"once-{default_identity()}",
        )
        try:
            results = daemon.run_cycle(stop=threading.Event(), wait_for_every_target=True)
        finally:
            daemon.close()
    finally:
        cache.stop()
    print_results(results, output=args.output, stream=sys.stdout)
    return exits.FAILED if any(result.error for result in results) else 0


def print_results(results: list[TargetResult], *, output: str, stream) -> None:
    if output == "json":
        for result in results:
            print(json.dumps(result.to_json()), file=stream)
        return
    rows = [TABLE_COLUMNS] + [_table_row(result) for result in results]
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_COLUMNS) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1], file=stream)


def _table_row(result: TargetResult) -> tuple[str, ...]:
    metrics = ", ".join(
        f"{metric.name}=error" if metric.error else f"{metric.name}={_shown(metric.value)}->{metric.proposal}"
        for metric in result.metrics
    )
    reason = result.reason if result.error is None else f"{result.reason}: {result.error}"
    return (
        result.target, result.namespace, result.deployment, _shown(result.current), _shown(result.desired),
        "yes" if result.applied else "no", reason, metrics or "-",
    )


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
