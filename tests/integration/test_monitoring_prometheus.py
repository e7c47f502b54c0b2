"""The dashboard's queries and the alerts' expressions on the test bed's real Prometheus, over a real scrape of
a `scalerd run` that holds a target at its maxReplicas."""
from __future__ import annotations

import requests

from tests.integration.daemon_support import (
    FAST_LEASE,
    ScalerdDaemon,
    replicas_of,
    rps_scene,
    wait_until,
)
from tests.monitoring_files import alert_expressions, dashboard_queries, exposed_names, scalerd_names
from tests.testbed.kafka_tools import unique_name
from tests.testbed.prometheus import query_values


def test_dashboard_and_alert_queries_against_a_real_scrape(testbed, tmp_path):
    admin = testbed.admin_api_client()
    # 45 rps at 10 per replica asks for 5; maxReplicas 3 holds the target at its maximum.
    deployment, config = rps_scene(testbed, admin, tmp_path, replicas=1, rps=45, max=3)
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=["--config", str(config)],
                           extra=("--lease-name", unique_name("lease"), *FAST_LEASE))
    try:
        daemon.wait_ready(timeout=60)
        wait_until(lambda: replicas_of(admin, deployment) == 3, timeout=60, what="scaled to maxReplicas 3")
        wait_until(lambda: daemon.metric('scalerd_replicas{kind="current",target="api"}') == 3.0, timeout=30,
                   what="a decision at 3 replicas in /metrics")
        scrape = daemon.get("/metrics").text
    finally:
        daemon.close()

    exported = exposed_names(scrape)
    for title, expr in dashboard_queries():
        assert scalerd_names(expr) <= exported, title
    for alert, expr in alert_expressions():
        assert scalerd_names(expr) <= exported, alert

    # Prometheus scrapes the exporter every second: serve it the scrape and wait until it has it.
    testbed.write_metrics(scrape)
    testbed.wait_for_prometheus_value('max(scalerd_replicas{kind="current",target="api"})', 3.0, timeout=30)

    for title, expr in dashboard_queries():
        response = requests.get(f"{testbed.prometheus_url}/api/v1/query", params={"query": expr}, timeout=5)
        assert response.status_code == 200 and response.json()["status"] == "success", (title, response.text)
    current_vs_desired = next(expr for title, expr in dashboard_queries() if title == "Replicas: current vs desired")
    # current and desired: both at maxReplicas (5 asked for, bounded to 3)
    assert query_values(testbed.prometheus_url, current_vs_desired) == [3.0, 3.0]

    values = {alert: query_values(testbed.prometheus_url, expr) for alert, expr in alert_expressions()}
    # The served scrape ages while it is served, so whether the loop looks stuck depends on the moment: the unit
    # tests of the rules (promtool) decide that one.
    del values["ScalerdNoSuccessfulCycle"]
    assert values == {
        "ScalerdNoLeader": [],
        "ScalerdMetricSourceFailing": [],
        "ScalerdConfigRejected": [],
        "ScalerdTargetAtMaxReplicas": [3.0],
    }
