"""RESULTS.md's table: each figure held against the issue's goal, computed rather than typed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.results import goal_of, markdown_table


@pytest.mark.parametrize(("name", "value", "params", "met"), [
    pytest.param("cycle_seconds", 0.99, {"targets": 1000}, True, id="cycle-1000-under-1s"),
    pytest.param("cycle_seconds", 1.0, {"targets": 1000}, False, id="cycle-1000-at-1s-misses"),
    pytest.param("cycle_seconds", 4.9, {"targets": 5000}, True, id="cycle-5000-under-5s"),
    pytest.param("cycle_seconds", 9.0, {"targets": 100}, None, id="cycle-100-has-no-goal"),
    pytest.param("k8s_requests_per_steady_cycle", 0,
                 {"reads_per_target": 0.0, "one_change_writes": {"deployments/scale": 1, "events": 1}}, True,
                 id="k8s-no-reads-one-scale-write"),
    pytest.param("k8s_requests_per_steady_cycle", 5,
                 {"reads_per_target": 0.005, "one_change_writes": {"deployments/scale": 1}}, False,
                 id="k8s-a-read-misses"),
    pytest.param("prometheus_requests_per_cycle", 50, {"distinct_queries": 50}, True, id="prometheus-distinct"),
    pytest.param("prometheus_requests_per_cycle", 51, {"distinct_queries": 50}, False, id="prometheus-one-more"),
    pytest.param("kafka_requests_per_cycle", 203, {"kafka_groups": 100}, True, id="kafka-per-group"),
    pytest.param("kafka_requests_per_cycle", 204, {"kafka_groups": 100}, False, id="kafka-beyond-per-group"),
    pytest.param("reaction_seconds_p95", 2.5, {}, True, id="reaction-at-the-limit"),
    pytest.param("reaction_seconds_p95", 2.51, {}, False, id="reaction-late"),
    pytest.param("rss_mb", 80.0, {}, True, id="rss-at-the-limit"),
    pytest.param("rss_mb", 80.1, {}, False, id="rss-over"),
    pytest.param("simulate_seconds", 1.99, {}, True, id="simulate-under-2s"),
    pytest.param("validate_seconds", 1.0, {}, False, id="validate-at-1s-misses"),
])
def test_goal_of_each_figure(name, value, params, met):
    goal = goal_of(name, params)
    assert (None if goal.met is None else goal.met(value, params)) is met


def test_unknown_figure_has_no_goal():
    with pytest.raises(ValueError, match="no goal known for figure 'cycle_secs'"):
        goal_of("cycle_secs", {})


def test_markdown_row_shows_value_goal_baseline_ratio_and_verdict():
    table = markdown_table([
        {"name": "rss_mb", "value": 139.6, "unit": "MB",
         "params": {"targets": 1000, "cycles": 20, "baseline_value": 92.7, "ratio": 0.66}},
        {"name": "k8s_requests_per_steady_cycle", "value": 0, "unit": "requests",
         "params": {"targets": 5000, "reads_per_target": 0.0, "one_change_writes": {"deployments/scale": 1},
                    "baseline_value": 5000, "ratio": None}},
    ])
    assert table.splitlines()[2:] == [
        "| `rss_mb` | 1000 targets, after 20 cycles | 139.6 MB | <= 80 MB | 92.7 | 0.66 | **no** |",
        ("| `k8s_requests_per_steady_cycle` | 5000 targets | 0 requests | 0 reads per target; 1 write per change "
         "| 5000 | ∞ (scalerd: 0) | yes |"),
    ]


def test_results_md_table_is_the_full_runs_table_but_the_rss_row_it_says_differs():
    root = Path(__file__).resolve().parents[2]
    text = (root / "bench" / "RESULTS.md").read_text()
    with open(root / "bench" / "results" / "2026-11-25.jsonl", encoding="utf-8") as lines:
        printed = markdown_table([json.loads(line) for line in lines if line.strip()]).splitlines()
    documented = text[text.index(printed[0]):].split("\n\n", 1)[0].splitlines()

    differing = [(ours, theirs) for ours, theirs in zip(printed, documented, strict=True) if ours != theirs]
    assert [(ours.split(" | ")[0], ours.split(" | ")[2], theirs.split(" | ")[2]) for ours, theirs in differing] == [
        ("| `rss_mb`", "117.5 MB", "94.8 MB (was 117.5)")]
    assert ("python -m bench.results bench/results/2026-11-25.jsonl  # the table above but its rss_mb row "
            "(117.5 MB here)") in text
