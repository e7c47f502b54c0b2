"""What the loop needs from its collaborators; the real ones are named in each docstring, the tests pass fakes."""
from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from scalerd.config.model import Config, Target
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import WriteOutcome
from scalerd.readings import Reading


class ConfigProvider(Protocol):
    def poll(self) -> Config | None: ...

    @property
    def holds_rejected_edit(self) -> bool: ...


class Elector(Protocol):
    def is_leader(self) -> bool: ...


class DeploymentReader(Protocol):
    """The watch cache (`scalerd.kube.cache.DeploymentCache`)."""

    def synced(self) -> bool: ...

    def get(self, namespace: str, name: str) -> DeploymentView | None: ...

    def refresh(self, namespace: str, name: str) -> DeploymentView | None: ...

    def set_deployments(self, deployments: Iterable[tuple[str, str]]) -> None: ...


class HpaReader(Protocol):
    """The cache's view of the HorizontalPodAutoscalers (`DeploymentCache` after `watch_hpas()`)."""

    def wait_synced(self, timeout: float) -> bool: ...

    def hpa_for(self, namespace: str, deployment: str) -> str | None: ...


class Writer(Protocol):
    """`scalerd.kube.writer.KubeWriter`: dry run, fencing and retries live behind it."""

    def scale(self, *, view: DeploymentView, replicas: int) -> WriteOutcome: ...

    def event(self, *, namespace: str, involved: DeploymentView | dict, reason: str, message: str,
              event_type: str = "Normal") -> WriteOutcome: ...


class MetricSources(Protocol):
    """`scalerd.sources.Sources`."""

    def submit_all(
        self, targets: Sequence[Target], *, at: float | None = None
    ) -> Mapping[tuple[str, str], concurrent.futures.Future[Reading]]: ...

    def close(self) -> None: ...
