"""The daemon loop's fake edges for unit tests: a fake cache, writer, state store, sources, elector, config
provider and clocks, and a Harness that wires them with the real engine into one Daemon."""
from __future__ import annotations

import concurrent.futures
from dataclasses import replace
from types import MappingProxyType

from scalerd.config.model import Behavior, Config, Defaults, Target
from scalerd.daemon.history import History
from scalerd.daemon.loop import Daemon
from scalerd.engine import EngineState
from scalerd.health import DaemonMetrics, HealthState
from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import WriteOutcome
from scalerd.metric_types.prometheus import PrometheusMetric
from scalerd.readings import Reading
from scalerd.writeahead import TargetRecord

WALL_START = 1_700_000_000.0
MONOTONIC_START = 5_000.0


class FakeClocks:
    """A monotonic and a wall clock that move together, unless a test moves one alone."""

    def __init__(self) -> None:
        self.monotonic_now = MONOTONIC_START
        self.wall_now = WALL_START

    def monotonic(self) -> float:
        return self.monotonic_now

    def wall(self) -> float:
        return self.wall_now

    def advance(self, seconds: float) -> None:
        self.monotonic_now += seconds
        self.wall_now += seconds


class FakeCluster:
    """The Deployments: what the cache shows, and what a refresh after a conflict reads."""

    def __init__(self) -> None:
        self.views: dict[tuple[str, str], DeploymentView] = {}
        self.deployments: list[set[tuple[str, str]]] = []
        self.refreshes = 0
        self.get_hook = None
        self.is_synced = True

    def add(self, name: str, *, replicas: int, namespace: str = "apps", annotations: dict | None = None) -> None:
        self.views[(namespace, name)] = DeploymentView(
            namespace=namespace, name=name, uid=f"uid-{name}", resource_version="1", replicas=replicas,
            ready_replicas=replicas, selector=MappingProxyType({"app": name}),
            annotations=MappingProxyType(dict(annotations or {})), generation=1, observed_generation=1,
        )

    def update(self, namespace: str, name: str, **changes) -> None:
        view = self.views[(namespace, name)]
        self.views[(namespace, name)] = replace(
            view, resource_version=str(int(view.resource_version) + 1), **changes,
        )

    def get(self, namespace: str, name: str):
        if self.get_hook is not None:
            self.get_hook(namespace, name)
        return self.views.get((namespace, name))

    def refresh(self, namespace: str, name: str):
        self.refreshes += 1
        return self.views.get((namespace, name))

    def synced(self) -> bool:
        return self.is_synced

    def set_deployments(self, deployments) -> None:
        self.deployments.append(set(deployments))


class FakeWriter:
    """Applies writes to the fake cluster; `scale_statuses` scripts the answers of the next scale calls."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.scale_statuses: list[str] = []
        self.scales: list[tuple[str, int, str]] = []
        self.annotations: list[tuple[str, str, dict]] = []
        self.events: list[dict] = []
        self.write_hook = None
        """Called with (write, Deployment name) before each write: "scale", "remove_annotations" or "event"."""

    def _hook(self, write: str, name: str) -> None:
        if self.write_hook is not None:
            self.write_hook(write, name)

    def scale(self, *, view: DeploymentView, replicas: int) -> WriteOutcome:
        self._hook("scale", view.name)
        self.scales.append((view.name, replicas, view.resource_version))
        status = self.scale_statuses.pop(0) if self.scale_statuses else "applied"
        if status == "applied":
            self.cluster.update(view.namespace, view.name, replicas=replicas)
        return WriteOutcome(applied=status == "applied", status=status, detail=f"scripted {status}", attempts=1,
                            resource_version=None)

    def remove_annotations(self, *, view: DeploymentView, keys) -> WriteOutcome:
        self._hook("remove_annotations", view.name)
        self.annotations.append((view.namespace, view.name, tuple(keys)))
        current = self.cluster.views[(view.namespace, view.name)]
        kept = {key: value for key, value in current.annotations.items() if key not in keys}
        self.cluster.update(view.namespace, view.name, annotations=MappingProxyType(kept))
        return WriteOutcome(applied=True, status="applied", detail="", attempts=1, resource_version=None)

    def event(self, *, namespace: str, involved, reason: str, message: str, event_type: str = "Normal"):
        self._hook("event", involved.name)
        self.events.append({"namespace": namespace, "involved": involved.name, "reason": reason,
                            "message": message, "type": event_type})
        return WriteOutcome(applied=True, status="applied", detail="", attempts=1, resource_version=None)

    def writes(self) -> int:
        return len(self.scales) + len(self.annotations) + len(self.events)


class FakeStore:
    """The state store of one process: `persisted` is what the cluster holds (shared by processes), the rest
    this process's memory; `put_statuses` scripts the answers of the next puts."""

    def __init__(self, persisted: dict | None = None) -> None:
        self.persisted: dict[tuple[str, str], TargetRecord] = {} if persisted is None else persisted
        self.memory: dict[tuple[str, str], TargetRecord] = {}
        self.staged: dict[tuple[str, str], TargetRecord] = {}
        self.is_loaded = False
        self.loads = 0
        self.puts: list[tuple[tuple[str, str], TargetRecord]] = []
        self.flushes: list[dict] = []
        self.put_statuses: list[str] = []
        self.put_hook = None
        """Called with the key before each put."""

    def loaded(self) -> bool:
        return self.is_loaded

    def load(self) -> None:
        self.loads += 1
        self.memory = dict(self.persisted)
        self.staged.clear()
        self.is_loaded = True

    def invalidate(self) -> None:
        self.is_loaded = False

    def record(self, key):
        return self.memory.get(key)

    def put(self, key, record) -> WriteOutcome:
        if self.put_hook is not None:
            self.put_hook(key)
        status = self.put_statuses.pop(0) if self.put_statuses else "applied"
        self.memory[key] = record
        if status == "applied":
            self.puts.append((key, record))
            self.persisted.update(self.staged)
            self.staged.clear()
            self.persisted[key] = record
        return WriteOutcome(applied=status == "applied", status=status, detail=f"scripted {status}", attempts=1,
                            resource_version=None)

    def stage(self, key, record) -> None:
        self.memory[key] = record
        self.staged[key] = record

    def has_staged(self) -> bool:
        return bool(self.staged)

    def end_cycle(self, *, flush_all: bool = False) -> None:
        if self.staged:
            self.flushes.append(dict(self.staged))
            self.persisted.update(self.staged)
            self.staged.clear()

    def persist(self, name: str, state: EngineState, namespace: str = "apps") -> None:
        """What another process stored for this Deployment."""
        self.persisted[(namespace, name)] = TargetRecord(state=state)


def settled(reading: Reading) -> concurrent.futures.Future:
    future = concurrent.futures.Future()
    future.set_result(reading)
    return future


class FakeSources:
    def __init__(self, values: dict[tuple[str, str], Reading]) -> None:
        self.values = values
        self.reads = 0
        self.read_at: list[float | None] = []
        self.closed = False
        self.on_read = None

    def submit_all(self, targets, *, at=None):
        self.reads += 1
        self.read_at.append(at)
        if self.on_read is not None:
            self.on_read()
        wanted = {(target.name, metric.name) for target in targets for metric in target.metrics}
        return {key: settled(reading) for key, reading in self.values.items() if key in wanted}

    def close(self) -> None:
        self.closed = True


class FakeHpas:
    """The HPAs the cache would know: (namespace, Deployment) -> HPA name."""

    def __init__(self) -> None:
        self.scaling: dict[tuple[str, str], str] = {}
        self.waits: list[float] = []

    def wait_synced(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return True

    def hpa_for(self, namespace: str, deployment: str) -> str | None:
        return self.scaling.get((namespace, deployment))


class FakeElector:
    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def is_leader(self) -> bool:
        return self.leading


class FakeProvider:
    def __init__(self) -> None:
        self.next: Config | None = None
        self.holds_rejected_edit = False

    def poll(self) -> Config | None:
        config, self.next = self.next, None
        return config


def rps_target(name: str = "api", *, cooldown: float = 0.0, **changes) -> Target:
    target = Target(
        name=name, namespace="apps", deployment=name, min_replicas=1, max_replicas=10, timezone="UTC",
        metrics=(PrometheusMetric(name="rps", query="sum(rate(x[1m]))", target_per_replica=10.0),),
        behavior=Behavior(cooldown=cooldown),
    )
    return replace(target, **changes)


def make_config(*targets: Target, interval: float = 1.0, **defaults) -> Config:
    return Config(defaults=Defaults(interval=interval, **defaults), targets=targets)


class Harness:
    """One Daemon over the fakes; `daemon_options` (e.g. hpas, history_loader) go to every Daemon it builds."""

    def __init__(self, config: Config, *, leading: bool | None = None, **daemon_options) -> None:
        self.daemon_options = daemon_options
        self.clocks = FakeClocks()
        self.cluster = FakeCluster()
        self.writer = FakeWriter(self.cluster)
        self.sources = FakeSources({})
        self.built_sources: list[Config] = []
        self.provider = FakeProvider()
        self.elector = None if leading is None else FakeElector(leading)
        self.metrics = DaemonMetrics()
        self.health = HealthState(monotonic=self.clocks.monotonic, interval=config.defaults.interval)
        self.persisted: dict = {}
        self.store = FakeStore(self.persisted)
        self.daemon = self._daemon(config, store=self.store)

    def _daemon(self, config: Config, *, store: FakeStore | None = None) -> Daemon:
        self.after_cycles: list[list] = []
        return Daemon(
            config=config, config_provider=self.provider, cache=self.cluster, writer=self.writer,
            sources_factory=self._sources_for, elector=self.elector, metrics=self.metrics, health=self.health,
            monotonic=self.clocks.monotonic, wall=self.clocks.wall, max_concurrent_writes=4,
            after_cycle=self.after_cycles.append, history=self.history(store), **self.daemon_options,
        )

    def history(self, store: FakeStore | None = None, *, hold_current_on_takeover: bool = True) -> History:
        """A process's history: its own memory of the store the cluster holds."""
        return History(store or FakeStore(self.persisted), self.writer, identity="test",
                       hold_current_on_takeover=hold_current_on_takeover)

    def _sources_for(self, config: Config) -> FakeSources:
        self.built_sources.append(config)
        if len(self.built_sources) > 1:
            self.sources = FakeSources(dict(self.sources.values))
        return self.sources

    def new_leader(self, config: Config) -> Daemon:
        """Another process: the same cluster, a fresh memory and a monotonic clock with another origin."""
        self.clocks.monotonic_now = 123.0
        return self._daemon(config)

    def set_rps(self, value: float, target: str = "api") -> None:
        self.sources.values[(target, "rps")] = Reading("rps", value=value)

    def sample(self, name: str, **labels) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)
