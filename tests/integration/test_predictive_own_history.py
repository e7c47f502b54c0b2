"""`predictive.historyFrom.prometheus` against the test bed and a real Prometheus holding what a previous scalerd
exported (`scalerd_metric_value`, backfilled with promtool): a Kafka-lag target restarted by `scalerd once`
forecasts at its first cycle from that history, with the previous instance's downtime still a gap, its NaN
skipped, and no other scalerd's or target's series taken."""
from __future__ import annotations

import json
import math
import re
import time

import pytest

from tests.integration.daemon_support import console_events, create_deployment, run_command
from tests.testbed.kafka_tools import unique_name
from tests.testbed.prometheus import backfilled_prometheus

STEP = 15  # scalerd's interval, and how often the previous instances were scraped
WINDOW_MS = STEP * 1000 - 1
HISTORY = 7200
FORECAST_SENTENCE = re.compile(
    r"kafka lag forecast (?P<value>[\d,.]+) within 60s \([a-z ]+, \+[\d,.]+ margin"
    r" from the last (?P<hours>[\d.]+) h of errors\) → \d+ replicas; live 13 → 3; ")
CONFIG = """apiVersion: scalerd/v1
defaults:
  interval: {step}s
  prometheus: {{url: '{url}', timeout: 10s}}
  kafka: {{bootstrapServers: '{bootstrap}'}}
targets:
  - name: orders
    deployment: {deployment}
    minReplicas: 1
    maxReplicas: 10
    behavior: {{cooldown: 0s}}
    predictive: {{leadTime: 60s, history: 2h, historyFrom: {{prometheus: {{labels: {{job: {job}}}}}}}}}
    metrics:
      - {{type: kafka, name: lag, group: {group}, topics: [{topic}], lagPerReplica: 5}}
"""


def lag_at(timestamp: int) -> float:
    return 13.0 + 6.0 * math.sin(2 * math.pi * timestamp / 2400)


def exported(now: int) -> dict[str, dict[int, float]]:
    """The series a Prometheus scraping scalerd every 15 s kept, by label set: pod `a` until 70 minutes before
    `now`, nothing for the ten minutes scalerd was down, then pod `b` (one NaN) up to ten minutes after `now` (so
    that the history reaches the first cycle however slowly it starts); and, with values a forecast must never
    see, another scalerd's (job scalerd-staging) and another target's."""
    first = now - HISTORY - 600
    down_from, down_until = now - 4200, now - 3600
    own = 'target="orders",metric="lag",type="kafka",job="scalerd"'
    times = range(first, now + 600, STEP)
    b = {t: (math.nan if t == now - 1800 else lag_at(t)) for t in times if t >= down_until}
    return {
        f'{own},instance="a"': {t: lag_at(t) for t in times if t < down_from},
        f'{own},instance="b"': b,
        'target="orders",metric="lag",type="kafka",job="scalerd-staging",instance="c"': {t: 1e6 for t in times},
        'target="other",metric="lag",type="kafka",job="scalerd",instance="b"': {t: 1e6 for t in times},
    }


def expected_points(series: dict[str, dict[int, float]], *, last: float) -> list[tuple[float, float]]:
    """What the query answers on the grid ending at `last`, as Prometheus 2 computes it: per point the largest of
    the own series' last sample within [point - 14.999 s, point], NaN points dropped."""
    own = [samples for labels, samples in series.items() if 'job="scalerd"' in labels and 'target="orders"' in labels]
    last_ms = round(last * 1000)
    points = []
    for k in range(HISTORY // STEP - 1, -1, -1):
        point_ms = last_ms - k * STEP * 1000
        lasts = []
        for samples in own:
            inside = [t for t in samples if point_ms - WINDOW_MS <= t * 1000 <= point_ms]
            if inside:
                lasts.append(samples[max(inside)])
        if lasts and not all(math.isnan(value) for value in lasts):
            points.append((point_ms / 1000, max(value for value in lasts if not math.isnan(value))))
    return points


@pytest.fixture(scope="module")
def previous_scalerd(tmp_path_factory):
    now = int(time.time()) // STEP * STEP
    series = exported(now)
    openmetrics = "".join(["# TYPE scalerd_metric_value gauge\n", *(
        f"scalerd_metric_value{{{labels}}} {'NaN' if math.isnan(value) else repr(value)} {t}\n"
        for labels, samples in series.items() for t, value in samples.items()), "# EOF\n"])
    with backfilled_prometheus(tmp_path_factory.mktemp("own-history"), openmetrics,
                               ready_query="count(scalerd_metric_value)", at=now) as url:
        yield url, series



def _lag_scene(testbed, kafka, topic: str, group: str, directory, *, url: str, job: str):
    """A Deployment at 1 replica, a lag of 13 on 3 partitions, and a config whose historyFrom selects `job`."""
    deployment = unique_name("orders")
    create_deployment(testbed.admin_api_client(), deployment, replicas=1)
    kafka.produce(topic, {0: 10, 1: 10, 2: 10})
    kafka.commit(group=group, topic=topic, offsets_by_partition={0: 5, 1: 2, 2: 10})
    config = directory / "scalerd.yaml"
    config.write_text(CONFIG.format(step=STEP, url=url, bootstrap=testbed.kafka_bootstrap, deployment=deployment,
                                    group=group, topic=topic, job=job))
    return config


def test_a_restarted_kafka_target_forecasts_at_once_from_the_history_scalerd_exported(
        testbed, previous_scalerd, kafka, make_topic, group_name, tmp_path):
    url, series = previous_scalerd
    config = _lag_scene(testbed, kafka, make_topic(3), group_name, tmp_path, url=url, job="scalerd")

    started = time.time()
    finished = run_command(testbed, "once", config)

    assert finished.returncode == 0, finished.stderr
    assert console_events(finished.stderr, "forecast_history_failed") == []
    [loaded] = console_events(finished.stderr, "forecast_history_loaded")
    last = float(loaded["last"])
    # The history ends one step before the first cycle (which began after `started`): the samples Prometheus
    # holds after it (up to ten minutes on) were not asked for.
    assert started - STEP <= last < time.time() - STEP
    points = expected_points(series, last=last)
    # Two hours of 15 s steps (each holding one scrape), less the 10 minutes down and the NaN.
    assert len(points) == 480 - 40 - 1
    assert (loaded["target"], loaded["metric"], int(loaded["points"])) == ("orders", "lag", len(points))
    assert float(loaded["first"]) == pytest.approx(points[0][0], abs=0.001)
    result = json.loads(finished.stdout)
    assert result["metrics"] == [{"name": "lag", "value": 13.0, "proposal": 3}]
    [decision] = console_events(finished.stderr, "decision")
    named = FORECAST_SENTENCE.match(decision["message"].strip("'"))
    assert named, decision["message"]
    # One live sample: a margin from more than an hour of errors can only come from the loaded history, and a
    # forecast near the exported 7-19 (not 1e6) took none of the other series.
    assert float(named["hours"]) > 1
    assert 5 <= float(named["value"].replace(",", "")) <= 100


def test_a_history_without_samples_is_logged_once_with_the_endpoint_and_the_decision_is_reactive(
        testbed, previous_scalerd, kafka, make_topic, group_name, tmp_path):
    url, _ = previous_scalerd
    config = _lag_scene(testbed, kafka, make_topic(3), group_name, tmp_path, url=url, job="nobody")

    finished = run_command(testbed, "once", config)

    assert finished.returncode == 0, finished.stderr
    assert console_events(finished.stderr, "forecast_history_loaded") == []
    [failed] = console_events(finished.stderr, "forecast_history_failed")
    assert (failed["target"], failed["metric"]) == ("orders", "lag")
    # The console log shows the error as Python writes a str (repr).
    assert repr("HistoryError: " + url + '/api/v1/query_range: no samples of max(last_over_time(scalerd_metric_value{'
                'target="orders",metric="lag",type="kafka",job="nobody"}[14999ms])) in the last 2h: is scalerd\'s'
                " /metrics scraped by this Prometheus, and do historyFrom's labels match?") in finished.stderr
    result = json.loads(finished.stdout)
    assert (result["current"], result["desired"], result["applied"]) == (1, 3, True)
    [decision] = console_events(finished.stderr, "decision")
    assert "forecast" not in decision["message"]
