"""`predictive` in `scalerd once` and `scalerd run` against the test bed and a real Prometheus holding a day of the metric's history
(backfilled with promtool): the history is loaded with query_range at start and the decision names the forecast;
a Prometheus that cannot answer the range leaves the target reactive, with one log line."""
from __future__ import annotations

import json
import re
import time

import pytest

from tests.integration.daemon_support import ScalerdDaemon, console_events, create_deployment, run_command, wait_until
from tests.testbed.kafka_tools import unique_name
from tests.testbed.prometheus import backfilled_prometheus

STEP = 60
FORECAST_SENTENCE = re.compile(
    r"prometheus rps forecast [\d,.]+ within 60s \((last value|damped trend|daily seasonal), \+[\d,.]+ margin"
    r" from the last [\d.]+ h of errors\) → \d+ replicas; live [\d,]+ → \d+; ")
CONFIG = """apiVersion: scalerd/v1
defaults:
  interval: {interval}
  prometheus: {{url: '{url}', timeout: 10s}}
targets:
  - name: api
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 50
    behavior: {{cooldown: 0s}}
    predictive: {{leadTime: 60s, history: 1d}}
    metrics:
      - {{type: prometheus, name: rps, query: 'last_over_time(predict_rps[2h])', targetPerReplica: 10}}
"""


def rps_at(timestamp: int, *, last: int) -> float:
    """A load that climbs 0 to 290 over each half hour, then falls back; 250 at `last` (25 replicas' worth)."""
    return float((25 - (last - timestamp) // STEP) % 30 * 10)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A day and two hours of `predict_rps` every minute, up to an hour ago (the query carries its last value on)."""
    last = int(time.time() - 3600) // STEP * STEP
    first = last - 86400 - 7200
    openmetrics = "".join(["# TYPE predict_rps gauge\n",
                           *(f"predict_rps {rps_at(t, last=last):g} {t}\n" for t in range(first, last + 1, STEP)), "# EOF\n"])
    with backfilled_prometheus(tmp_path_factory.mktemp("predict"), openmetrics, ready_query="count(predict_rps)",
                               at=last) as url:
        yield url, last


def _config(tmp_path, url: str, deployment: str, *, interval: str = "15s"):
    config = tmp_path / "scalerd.yaml"
    config.write_text(CONFIG.format(url=url, deployment=deployment, interval=interval))
    return config


def _once(testbed, tmp_path, url: str, deployment: str):
    return run_command(testbed, "once", _config(tmp_path, url, deployment))



def test_once_loads_the_history_at_start_and_the_decision_names_the_forecast(testbed, history, tmp_path):
    url, last = history
    admin = testbed.admin_api_client()
    deployment = unique_name("predict")
    create_deployment(admin, deployment, replicas=2)

    finished = _once(testbed, tmp_path, url, deployment)

    assert finished.returncode == 0, finished.stderr
    [loaded] = console_events(finished.stderr, "forecast_history_loaded")
    # One day at one minute, both ends included, every point answered (the query carries the last value on).
    assert (loaded["target"], loaded["metric"], loaded["points"]) == ("api", "rps", "1441")
    result = json.loads(finished.stdout)
    assert result["metrics"] == [{"name": "rps", "value": 250.0, "proposal": 25}]
    assert (result["current"], result["applied"]) == (2, True)
    [decision] = console_events(finished.stderr, "decision")
    assert FORECAST_SENTENCE.match(decision["message"].strip("'")), decision["message"]


def test_run_loads_the_history_once_in_the_background_and_its_decisions_name_the_forecast(testbed, history, tmp_path):
    url, _ = history
    deployment = unique_name("predict")
    create_deployment(testbed.admin_api_client(), deployment, replicas=2)
    daemon = ScalerdDaemon(testbed, tmp_path, config_args=[
        "--config", str(_config(tmp_path, url, deployment, interval="1s"))])
    try:
        daemon.wait_ready()

        def forecast_decisions() -> list[dict] | None:
            named = [line for line in daemon.decisions() if FORECAST_SENTENCE.match(line["message"])]
            return named if len(named) >= 3 else None

        wait_until(forecast_decisions, timeout=60, what="three decisions naming the forecast")
        loaded = [line for line in daemon.log_events() if line.get("event") == "forecast_history_loaded"]
        assert [(line["target"], line["metric"], line["points"]) for line in loaded] == [("api", "rps", 1441)]
    finally:
        daemon.close()


def test_a_history_that_cannot_be_loaded_is_logged_once_and_the_decision_is_reactive(testbed, tmp_path):
    admin = testbed.admin_api_client()
    deployment = unique_name("predict")
    create_deployment(admin, deployment, replicas=2)
    # Nothing listens there: the history load fails, and so does the live read (the count holds).
    finished = _once(testbed, tmp_path, "http://127.0.0.1:1", deployment)

    failed = console_events(finished.stderr, "forecast_history_failed")
    assert [(line["target"], line["metric"]) for line in failed] == [("api", "rps")]
    assert "127.0.0.1:1" in failed[0]["error"]
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert (result["current"], result["desired"], result["applied"]) == (2, 2, False)
