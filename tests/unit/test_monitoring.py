"""manifests/monitoring/: the dashboard's queries parse and name only scalerd's metrics; the alerts pass promtool."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from scalerd.health import DaemonMetrics
from tests.monitoring_files import (
    alert_expressions,
    dashboard,
    dashboard_queries,
    exposed_names,
    rules_file,
    scalerd_names,
)
from tests.unit.daemon_fakes import Harness, make_config, rps_target

RULES_TEST = Path(__file__).parent / "monitoring" / "scalerd-rules-test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def test_the_rules_pass_promtool_check_and_their_unit_tests(tmp_path):
    rules = tmp_path / "scalerd-rules.yaml"
    rules.write_text(yaml.safe_dump(rules_file()))
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    unit_tests = yaml.safe_load(RULES_TEST.read_text()) | {"rule_files": [str(rules)]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(unit_tests))
    tested = promtool("test", "rules", str(tmp_path / "test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_parses(tmp_path):
    """promtool parses each query as the expression of a recording rule: PromQL's own parser, offline."""
    queries = dashboard_queries()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{index}", "expr": expr} for index, (_title, expr) in enumerate(queries)]}]}
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout


def test_every_metric_named_by_the_dashboard_and_the_alerts_is_exported():
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)
    bed.daemon.run_cycle()
    exported = exposed_names(bed.metrics.exposition().decode())

    used = set().union(*(scalerd_names(expr) for _, expr in dashboard_queries() + alert_expressions()))
    assert used - exported == set()
    assert len(used) >= 14  # the check above is not vacuous


@pytest.mark.parametrize("metric", [
    "scalerd_replicas", "scalerd_decision_reasons_total", "scalerd_metric_value", "scalerd_metric_errors_total",
    "scalerd_cycle_duration_seconds_bucket", "scalerd_leader", "scalerd_config_reload_failures_total",
])
def test_the_dashboard_shows(metric):
    assert any(metric in scalerd_names(expr) for _, expr in dashboard_queries())


def test_the_dashboard_is_importable():
    document = dashboard()
    panels = document["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert {variable["name"] for variable in document["templating"]["list"]} == {"datasource", "target"}
    assert all(panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for panel in panels)
    assert all(target["refId"] and target["expr"] for panel in panels for target in panel["targets"])


def test_the_metric_families_are_unchanged_for_existing_dashboards():
    names = exposed_names(DaemonMetrics().exposition().decode())
    assert {"scalerd_decisions_total", "scalerd_metric_errors_total", "scalerd_leader",
            "scalerd_last_successful_cycle_timestamp_seconds", "scalerd_config_reload_failures_total",
            "scalerd_cycle_duration_seconds", "scalerd_api_requests_total"} <= names
