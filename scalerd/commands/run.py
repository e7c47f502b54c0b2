"""`scalerd run`: the daemon, with leader election, the loop, hot reload, /metrics, /healthz and /readyz.

Shutdown on SIGTERM or SIGINT: the loop stops before its next write (a write already in flight finishes), the
Lease is released (holder cleared, so a standby takes it at its next retry), sources are closed, exit 0; all
within 2 s, whatever a slow metric source is doing.

`--dry-run` implies no leader election: the instance decides every cycle and writes nothing, not even the Lease,
so it can run beside the real leader without ever taking the Lease from it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn

import structlog

from scalerd.commands import exits, policy_options, store_options
from scalerd.commands.flag_types import duration
from scalerd.config import ConfigError
from scalerd.daemon.loop import Daemon
from scalerd.daemon.wiring import (
    build_daemon,
    register_secrets,
    target_deployments,
)
from scalerd.health import (
    DaemonMetrics,
    HealthServer,
    HealthState,
    parse_listen_address,
)
from scalerd.kube.cache import DeploymentCache
from scalerd.kube.client import KubeConfigError, load_api_client
from scalerd.kube.leader import LeaderElector, default_identity
from scalerd.kube.writer import KubeWriter
from scalerd.logs import configure_logging
from scalerd.reload import ConfigFile, ConfigMapSource

log = structlog.get_logger()

LOOP_JOIN_TIMEOUT = 0.7
"""Of the 2 s shutdown budget: how long a cycle in progress may take to finish its write."""
CLOSE_TIMEOUT = 0.3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="configuration file, reloaded when it changes")
    source.add_argument("--config-map", metavar="NS/NAME",
                        help="ConfigMap whose key config.yaml holds the configuration, watched")
    policy_options.add_arguments(parser)
    parser.add_argument("--listen", default="0.0.0.0:8080", metavar="ADDR",
                        help="address of /metrics, /healthz and /readyz (default: 0.0.0.0:8080)")
    store_options.add_arguments(parser)
    parser.add_argument("--no-leader-elect", action="store_true",
                        help="write without holding the Lease (one instance only: for local runs)")
    parser.add_argument("--dry-run", action="store_true",
                        help="decide and explain; write nothing at all (no Lease either: no leader election)")
    parser.add_argument("--interval", type=duration(positive=True), metavar="DURATION",
                        help="loop period, overriding defaults.interval")
    # client-go's defaults; shorter values make failover faster (docs/RELIABILITY.md tests with 3s, 2s, 0.5s).
    parser.add_argument("--lease-duration", type=duration(positive=True), default=15.0, metavar="DURATION",
                        help="how long a Lease holds without renewal before a standby may take it (default: 15s)")
    parser.add_argument("--renew-deadline", type=duration(positive=True), default=10.0, metavar="DURATION",
                        help="a leader that could not renew for this long stops writing (default: 10s)")
    parser.add_argument("--retry-period", type=duration(positive=True), default=2.0, metavar="DURATION",
                        help="time between attempts to acquire or renew the Lease (default: 2s)")


def run(args: argparse.Namespace) -> int:
    configure_logging(log_format=args.log_format)
    if not (args.config or args.config_map or args.policies):
        print("error: one of --config, --config-map or --policies is required", file=sys.stderr)
        return exits.INVALID_INPUT
    config_map = _config_map_argument(args)
    metrics = DaemonMetrics()
    try:
        parse_listen_address(args.listen)
        # A file is checked before any cluster access: a bad one must exit 2 wherever it runs.
        file_provider = _config_file_provider(args.config, metrics=metrics, targets_required=not args.policies) \
            if args.config else None
        file_config = file_provider.load() if file_provider else None
        api_client = load_api_client(kubeconfig=args.kubeconfig, context=args.context)
    except ConfigError as error:
        return exits.report_config_error(error)
    except (ValueError, KubeConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return exits.FAILED
    leadership = _LeadershipListener(metrics)
    # A dry run writes nothing, not even the Lease: it must never take the Lease from the real leader.
    elector = None
    if not (args.no_leader_elect or args.dry_run):
        elector = _elector(args, api_client=api_client, on_change=leadership, metrics=metrics)
    writer = KubeWriter(api_client, dry_run=args.dry_run, may_write=elector.may_write if elector else lambda: True,
                        on_request=metrics.count_api_request)
    provider = file_provider or (_config_map_provider(config_map, api_client=api_client, writer=writer,
                                                      metrics=metrics, targets_required=not args.policies)
                                 if config_map else None)
    policies = policy_options.policies(args, api_client=api_client, base=provider, writer=writer,
                                       on_request=metrics.count_api_request)
    if policies is not None:
        provider = policies.provider
        file_config = None  # the file's targets and the policies' are merged by the provider
    try:
        config = file_config or provider.load()
    except ConfigError as error:
        return exits.report_config_error(error)
    register_secrets(config=config, api_client=api_client)
    cache = DeploymentCache(api_client, deployments=target_deployments(config), on_request=metrics.count_api_request)
    health = HealthState(monotonic=time.monotonic, interval=args.interval or config.defaults.interval,
                         cache_synced=cache.synced,
                         configuration_error=elector.configuration_error if elector else lambda: None)
    try:
        server = HealthServer(address=args.listen, metrics=metrics, health=health)
    except OSError as error:
        print(f"error: --listen {args.listen}: {error}", file=sys.stderr)
        return exits.FAILED
    server.start()
    cache.start()
    if elector is not None:
        elector.start()
    daemon = build_daemon(
        config=config, config_provider=provider, api_client=api_client, cache=cache, writer=writer,
        elector=elector, metrics=metrics, health=health, interval_override=args.interval,
        after_cycle=policies.status_writer if policies else None,
        store=store_options.state_store(args, api_client=api_client, writer=writer,
                                        on_request=metrics.count_api_request),
        identity=default_identity(),
    )
    leadership.daemon = daemon
    leadership.policies = policies
    log.info("started", listen=f"{args.listen.rpartition(':')[0]}:{server.port}", config=provider.description,
             leader_election=elector is not None, dry_run=args.dry_run, interval=daemon.interval)
    _run_until_signalled(daemon)
    log.info("stopping")
    if elector is not None:
        elector.release()
        elector.stop()
    provider.close()
    if policies is not None:
        policies.cache.stop()
    cache.stop()
    server.stop()
    # Closing the sources waits for their reads; one stuck in a socket must not hold the exit.
    closing = threading.Thread(target=daemon.close, name="close", daemon=True)
    closing.start()
    closing.join(CLOSE_TIMEOUT)
    log.info("stopped")
    _exit_now()


def _run_until_signalled(daemon: Daemon) -> None:
    """The loop in its own thread until SIGTERM or SIGINT; then up to LOOP_JOIN_TIMEOUT for a write in flight."""
    stop = threading.Event()

    def on_signal(_signum, _frame) -> None:
        stop.set()
        daemon.wake()

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, on_signal)
    loop = threading.Thread(target=daemon.run_forever, args=(stop,), name="loop", daemon=True)
    loop.start()
    while not stop.wait(0.2):  # short waits: the main thread must wake for the signal handler to run
        pass
    loop.join(LOOP_JOIN_TIMEOUT)


def _elector(args: argparse.Namespace, *, api_client, on_change: Callable[[bool], None],
             metrics: DaemonMetrics) -> LeaderElector:
    return LeaderElector(
        api_client, name=args.lease_name, namespace=store_options.lease_namespace(args),
        identity=default_identity(), lease_duration=args.lease_duration, renew_deadline=args.renew_deadline,
        retry_period=args.retry_period, on_change=on_change, on_request=metrics.count_api_request,
    )


class _LeadershipListener:
    """The elector's `on_change`: the leader gauge, and the daemon (built after the elector) told."""

    def __init__(self, metrics: DaemonMetrics) -> None:
        self._metrics = metrics
        self.daemon: Daemon | None = None
        self.policies: policy_options.Policies | None = None

    def __call__(self, leading: bool) -> None:
        self._metrics.leader.set(1 if leading else 0)
        if self.policies is not None:
            self.policies.status_writer.forget()
        if self.daemon is not None:
            self.daemon.leadership_changed(leading)


def _config_map_argument(args: argparse.Namespace) -> tuple[str, str] | None:
    if args.config_map is None:
        return None
    namespace, _, name = args.config_map.partition("/")
    if not namespace or not name or "/" in name:
        raise SystemExit(f"error: --config-map: expected NS/NAME (got {args.config_map!r})")
    return namespace, name


def _config_file_provider(path: str, *, metrics: DaemonMetrics, targets_required: bool) -> ConfigFile:
    return ConfigFile(path, on_rejected=lambda _error: metrics.config_reload_failures.inc(),
                      targets_required=targets_required)


def _config_map_provider(config_map: tuple[str, str], *, api_client, writer: KubeWriter,
                         metrics: DaemonMetrics, targets_required: bool) -> ConfigMapSource:
    namespace, name = config_map

    def on_rejected(error: ConfigError) -> None:
        metrics.config_reload_failures.inc()
        writer.event(
            namespace=namespace, involved=_config_map_reference(namespace, name), reason="ConfigInvalid",
            message="; ".join(error.problems)[:1000], event_type="Warning",
        )

    return ConfigMapSource(api_client, namespace=namespace, name=name, on_rejected=on_rejected,
                           targets_required=targets_required)


def _config_map_reference(namespace: str, name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": name}


def _exit_now() -> NoReturn:
    """Leave at once: a metric read stuck in a socket must not hold the process past its 2 s budget."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
