"""Assembling the daemon from real collaborators: what `scalerd run` and `scalerd once` share."""
from __future__ import annotations

import structlog

from scalerd.config.model import Config
from scalerd.daemon.loop import Daemon
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentCache
from scalerd.logs import REDACTOR, config_secrets
from scalerd.sources import Sources

log = structlog.get_logger()

def register_secrets(*, config: Config, api_client) -> None:
    """Teach the log redactor this process's secrets: the configuration's and the Kubernetes bearer token."""
    REDACTOR.register(config_secrets(config))
    for value in (api_client.configuration.api_key or {}).values():
        REDACTOR.register([value, value.removeprefix("Bearer ").strip()])


def target_namespaces(config: Config) -> set[str]:
    return {target.namespace for target in config.targets}


def target_deployments(config: Config) -> set[tuple[str, str]]:
    """What the Deployment cache keeps: (namespace, name) of every target."""
    return {(target.namespace, target.deployment) for target in config.targets}


def build_daemon(
    *,
    config: Config,
    config_provider,
    api_client,
    cache: DeploymentCache,
    writer,
    elector,
    metrics: DaemonMetrics,
    health: HealthState,
    interval_override: float | None = None,
    hold_current_on_takeover: bool = True,
) -> Daemon:
    """The daemon, and the cache taught to follow HPAs too (the daemon stands back from the Deployments they scale)."""
    cache.watch_hpas()
    return Daemon(
        config=config,
        config_provider=config_provider,
        cache=cache,
        writer=writer,
        sources_factory=lambda current: Sources(defaults=current.defaults, kube_api_client=api_client),
        elector=elector,
        metrics=metrics,
        health=health,
        interval_override=interval_override,
        hold_current_on_takeover=hold_current_on_takeover,
        hpas=cache,
    )
