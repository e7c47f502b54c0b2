"""Assembling the daemon from real collaborators: what `scalerd run` and `scalerd once` share."""
from __future__ import annotations

import structlog

from scalerd.config.model import Config
from scalerd.daemon.forecasts import load_history
from scalerd.daemon.history import History
from scalerd.daemon.loop import Daemon
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentCache
from scalerd.kube.state_store import StateStore
from scalerd.logs import REDACTOR, config_secrets
from scalerd.sources import Sources

log = structlog.get_logger()

def register_secrets(*, config: Config, api_client) -> None:
    """Teach the log redactor this process's secrets: the configuration's and the Kubernetes bearer token, now and
    whenever the client's loader sets a new one (the in-cluster loader re-reads the projected token every minute)."""
    REDACTOR.register(config_secrets(config))
    configuration = api_client.configuration
    configuration.api_key = _RegisteredKeys(configuration.api_key or {})


class _RegisteredKeys(dict):
    """`Configuration.api_key` that registers each credential set in it with the log redactor. The kubernetes
    client's loaders (in-cluster, kubeconfig) store a refreshed token by setting the item."""

    def __init__(self, keys: dict[str, str]) -> None:
        super().__init__()
        for name, value in keys.items():
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        if self.get(name) != value:
            REDACTOR.register(_token_forms(value))
        super().__setitem__(name, value)


def _token_forms(credential: str) -> list[str]:
    """The credential as stored ("Bearer x", or "bearer x" from the in-cluster loader) and the token alone."""
    scheme, _, token = credential.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return [credential, token.strip()]
    return [credential]


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
    store: StateStore,
    identity: str,
    interval_override: float | None = None,
    hold_current_on_takeover: bool = True,
    after_cycle=None,
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
        history=History(store, writer, identity=identity, hold_current_on_takeover=hold_current_on_takeover),
        hpas=cache,
        history_loader=load_history,
        after_cycle=after_cycle,
    )
