"""The real Prometheus of the test bed: its configuration, command line and HTTP API queries."""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

SCRAPE_JOB = "testbed"


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if found is None:
        raise FileNotFoundError(
            "prometheus not found on PATH: apt-get install -y --no-install-recommends prometheus")
    return found


def config_text(exporter_address: str) -> str:
    # scrape_timeout may not exceed the interval, and Prometheus' default (10s) does.
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {SCRAPE_JOB}\n"
        "    static_configs:\n"
        f"      - targets: ['{exporter_address}']\n"
    )


def prometheus_argv(*, config_path: Path, data_dir: Path, listen_address: str) -> list[str]:
    return [
        prometheus_binary(),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=2h",
        f"--web.listen-address={listen_address}",
        "--log.level=warn",
    ]


@contextmanager
def backfilled_prometheus(directory: Path, openmetrics: str, *, ready_query: str, at: float,
                          ready_timeout: float = 60.0) -> Iterator[str]:
    """A Prometheus of its own serving `openmetrics` (backfilled with `promtool tsdb create-blocks-from
    openmetrics`), yielded as its URL once `ready_query` at time `at` has a result."""
    from tests.testbed.processes import ChildProcess, free_port

    source = directory / "history.om"
    source.write_text(openmetrics)
    data = directory / "data"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                   check=True, capture_output=True, timeout=120)
    config = directory / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1m}\n")
    port = free_port()
    server = ChildProcess(name="prometheus", log_path=directory / "prometheus.log", argv=[
        prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=15d", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            server.raise_if_exited()
            try:
                response = requests.get(f"{url}/api/v1/query", params={"query": ready_query, "time": str(at)},
                                        timeout=2)
                if response.ok and response.json()["data"]["result"] != []:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus serving the backfilled blocks: not within {ready_timeout}s")
            time.sleep(0.1)
        yield url
    finally:
        server.stop()


def query_values(base_url: str, query: str, *, timeout: float = 2.0) -> list[float]:
    """The sample values of an instant query: one per series of a vector, or the scalar's."""
    response = requests.get(f"{base_url}/api/v1/query", params={"query": query}, timeout=timeout)
    response.raise_for_status()
    data = response.json()["data"]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    if data["resultType"] == "vector":
        return [float(sample["value"][1]) for sample in data["result"]]
    raise ValueError(f"query {query!r} returned a {data['resultType']}, expected a vector or a scalar")


def scrape_error(base_url: str, *, timeout: float = 2.0) -> str | None:
    """Why the last scrape of the exporter failed (e.g. metrics.prom is not valid Prometheus text), or None."""
    response = requests.get(f"{base_url}/api/v1/targets", params={"state": "active"}, timeout=timeout)
    response.raise_for_status()
    errors = [target["lastError"] for target in response.json()["data"]["activeTargets"]
              if target["labels"].get("job") == SCRAPE_JOB and target["health"] != "up"]
    return errors[0] if errors else None


def scraped_since(base_url: str, since: float) -> bool:
    """Whether a scrape of the exporter succeeded at or after the Unix time `since`.

    A restarted Prometheus replays `up == 1` from its write-ahead log, so the sample's own time tells
    (`timestamp()` gives a sample's time only when applied to a selector, not to an expression).
    """
    up = f'up{{job="{SCRAPE_JOB}"}}'
    try:
        return query_values(base_url, f"{up} == 1 and timestamp({up}) >= {since}") == [1.0]
    except requests.RequestException:
        return False
