"""`--policies [--policies-namespace NS]`: the flags `run`, `once` and `status` share, and what they build."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import kubernetes.client
import structlog

from scalerd.commands import exits
from scalerd.config import ConfigError
from scalerd.config.model import Config, Defaults
from scalerd.kube._api import RequestHook, ignore_request
from scalerd.kube.client import KubeConfigError, load_api_client
from scalerd.kube.policies import PolicyCache, PolicyConfigProvider, PolicyStatusWriter
from scalerd.kube.writer import KubeWriter
from scalerd.logs import configure_logging
from scalerd.reload import ConfigFile, ConfigProvider

log = structlog.get_logger()

SYNC_TIMEOUT = 10.0
"""How long a command waits for the first list of the policies before it goes on (run) or fails (once, status)."""
NOT_LISTED = (f"the AutoScalerPolicies could not be listed within {SYNC_TIMEOUT:g} s: is manifests/crd/ installed, "
              "and may this account list autoscalerpolicies.scalerd.io?")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", action="store_true",
                        help="also manage every AutoScalerPolicy the account may list (--config becomes optional; "
                             "a file given may hold only defaults)")
    parser.add_argument("--policies-namespace", metavar="NS",
                        help="with --policies: only the AutoScalerPolicies of this namespace")


def file_configuration(args: argparse.Namespace) -> tuple[ConfigFile | None, Config]:
    """`once` and `status`: the --config file (with --policies it may hold only defaults), loaded, or none.
    ValueError when neither --config nor --policies is given; ConfigError for a bad file."""
    if not args.config and not args.policies:
        raise ValueError("one of --config or --policies is required")
    if not args.config:
        return None, Config(defaults=Defaults(), targets=())
    base = ConfigFile(args.config, targets_required=not args.policies)
    return base, base.load()


@dataclass(frozen=True)
class CommandStart:
    base: ConfigFile | None
    config: Config
    api_client: kubernetes.client.ApiClient


def start_command(args: argparse.Namespace) -> CommandStart | int:
    """`once` and `status`: logging, the configuration and the API client; or, when one of them fails, the exit
    code, with the problem already reported."""
    configure_logging(log_format=args.log_format)
    try:
        base, config = file_configuration(args)
    except ConfigError as error:
        return exits.report_config_error(error)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return exits.INVALID_INPUT
    try:
        api_client = load_api_client(kubeconfig=args.kubeconfig, context=args.context)
    except KubeConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return exits.FAILED
    return CommandStart(base=base, config=config, api_client=api_client)


@dataclass(frozen=True)
class Policies:
    cache: PolicyCache
    provider: PolicyConfigProvider
    status_writer: PolicyStatusWriter
    synced: bool


def policies(args: argparse.Namespace, *, api_client: kubernetes.client.ApiClient, base: ConfigProvider | None,
             writer: KubeWriter, on_request: RequestHook = ignore_request) -> Policies | None:
    """None without --policies; else the started cache (waited for up to SYNC_TIMEOUT), the provider merging its
    policies with `base`, and the status writer for the daemon's `after_cycle`."""
    if not args.policies:
        return None
    cache = PolicyCache(api_client, namespace=args.policies_namespace, on_request=on_request)
    cache.start()
    synced = cache.wait_synced(SYNC_TIMEOUT)
    if not synced:
        log.warning("policies_not_listed", timeout_seconds=SYNC_TIMEOUT,
                    consequence="the policies are managed once they can be listed",
                    fix="install manifests/crd/ and grant list and watch on autoscalerpolicies.scalerd.io")
    provider = PolicyConfigProvider(base, cache)
    return Policies(cache=cache, provider=provider,
                    status_writer=PolicyStatusWriter(provider=provider, cache=cache, writer=writer, wall=time.time),
                    synced=synced)
