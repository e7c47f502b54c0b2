"""The real Prometheus of the test bed: its configuration, command line and HTTP API queries."""
from __future__ import annotations

import shutil
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
