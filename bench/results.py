"""The table of bench/RESULTS.md from the JSON lines of a run: `python -m bench.results FILE`.

Each figure is held against its goal from the issue here, in one place, so the table's "met?" column is computed,
never typed by hand.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Goal:
    text: str
    met: Callable[[float, Params], bool] | None
    """None: the issue sets no goal for this variant (e.g. cycle_seconds at 100 targets)."""


def goal_of(name: str, params: Params) -> Goal:
    if name == "cycle_seconds":
        limit = {1000: 1.0, 5000: 5.0}.get(params["targets"])
        if limit is None:
            return Goal("-", None)
        return Goal(f"< {limit:g} s", lambda value, _p: value < limit)
    if name == "k8s_requests_per_steady_cycle":
        return Goal("0 reads per target; 1 write per change",
                    lambda _v, p: p["reads_per_target"] == 0 and p["one_change_writes"].get("deployments/scale") == 1)
    if name == "prometheus_requests_per_cycle":
        return Goal("= distinct queries", lambda value, p: value == p["distinct_queries"])
    if name == "kafka_requests_per_cycle":
        # Batched: a fixed number per consumer group and per cluster, whatever the number of targets.
        return Goal("batched, not per target (<= 2 per group + 3)",
                    lambda value, p: value <= 2 * p["kafka_groups"] + 3)
    if name == "reaction_seconds_p95":
        return Goal("<= interval + 0.5 s = 2.5 s", lambda value, _p: value <= 2.5)
    if name == "reaction_seconds_p50":
        return Goal("-", None)
    if name == "rss_mb":
        return Goal("<= 80 MB", lambda value, _p: value <= 80)
    if name == "simulate_seconds":
        return Goal("< 2 s", lambda value, _p: value < 2)
    if name == "validate_seconds":
        return Goal("< 1 s", lambda value, _p: value < 1)
    raise ValueError(f"no goal known for figure {name!r}")


def markdown_table(figures: list[dict]) -> str:
    lines = ["| figure | setup | value | goal | naive baseline | ratio (baseline / value) | met? |",
             "|---|---|---|---|---|---|---|"]
    for figure in figures:
        name, value, params = figure["name"], figure["value"], figure["params"]
        goal = goal_of(name, params)
        met = "-" if goal.met is None else ("yes" if goal.met(value, params) else "**no**")
        baseline = params.get("baseline_value")
        lines.append(
            f"| `{name}` | {_setup(name, params)} | {value:g} {figure['unit']} | {goal.text} | "
            f"{'-' if baseline is None else f'{baseline:g}'} | {_ratio(params)} | {met} |"
        )
    return "\n".join(lines)


def _setup(name: str, params: Params) -> str:
    if name == "validate_seconds":
        return f"{params['targets']} targets, {params['mode'].split(':')[0]}"
    if name == "simulate_seconds":
        return f"{params['steps']} steps of {params['step_seconds']:g} s"
    if name.startswith("reaction_seconds"):
        return f"{params['trials']} trials, interval {params['interval_seconds']:g} s"
    if name == "rss_mb":
        return f"{params['targets']} targets, after {params['cycles']} cycles"
    return f"{params['targets']} targets"


def _ratio(params: Params) -> str:
    if params.get("baseline_value") is None:
        return "-"
    if params.get("ratio") is None:
        return "∞ (scalerd: 0)"
    return f"{params['ratio']:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="JSON lines written by `python -m bench`")
    args = parser.parse_args()
    with open(args.file, encoding="utf-8") as lines:
        print(markdown_table([json.loads(line) for line in lines if line.strip()]))


if __name__ == "__main__":
    main()
