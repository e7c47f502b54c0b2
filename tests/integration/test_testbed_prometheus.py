"""Values written to the test bed's metrics.prom come back through the real Prometheus' HTTP API."""
from __future__ import annotations

import pytest
import requests

from tests.testbed.kafka_tools import unique_name
from tests.testbed.prometheus import SCRAPE_JOB, query_values

READABLE_WITHIN_SECONDS = 3.0


def test_a_written_value_is_readable_within_3_seconds(testbed):
    metric = unique_name("testbed_value").replace("-", "_")
    testbed.write_metrics(f'{metric}{{case="first"}} 42.5\n')

    testbed.wait_for_prometheus_value(f'{metric}{{case="first"}}', 42.5, timeout=READABLE_WITHIN_SECONDS)

    assert query_values(testbed.prometheus_url, f'{metric}{{case="first"}}') == [42.5]


def test_a_rewritten_value_replaces_the_old_one(testbed):
    metric = unique_name("testbed_value").replace("-", "_")
    testbed.write_metrics(f"{metric} 1\n")
    testbed.wait_for_prometheus_value(metric, 1.0, timeout=READABLE_WITHIN_SECONDS)

    testbed.write_metrics(f"{metric} 7\n")

    testbed.wait_for_prometheus_value(metric, 7.0, timeout=READABLE_WITHIN_SECONDS)


def test_every_series_of_the_file_is_served(testbed):
    metric = unique_name("testbed_requests").replace("-", "_")
    testbed.write_metrics(f'{metric}{{pod="a"}} 10\n{metric}{{pod="b"}} 32\n')

    testbed.wait_for_prometheus_value(f"sum({metric})", 42.0, timeout=READABLE_WITHIN_SECONDS)

    assert sorted(query_values(testbed.prometheus_url, metric)) == [10.0, 32.0]


def test_waiting_for_a_value_that_never_comes_names_the_query_and_what_was_seen(testbed):
    metric = unique_name("testbed_value").replace("-", "_")
    testbed.write_metrics(f"{metric} 5\n")

    with pytest.raises(TimeoutError, match=rf"{metric}.*expected \[6.0\].*last saw \[5.0\]"):
        testbed.wait_for_prometheus_value(metric, 6.0, timeout=READABLE_WITHIN_SECONDS)


def test_a_restarted_prometheus_keeps_its_data_and_scrapes_again(testbed):
    metric = unique_name("testbed_value").replace("-", "_")
    testbed.write_metrics(f"{metric} 3\n")
    testbed.wait_for_prometheus_value(metric, 3.0, timeout=READABLE_WITHIN_SECONDS)

    testbed.stop_prometheus()
    with pytest.raises(requests.ConnectionError):
        query_values(testbed.prometheus_url, metric)
    testbed.write_metrics(f"{metric} 4\n")
    testbed.start_prometheus()

    testbed.wait_for_prometheus_value(metric, 4.0, timeout=READABLE_WITHIN_SECONDS)
    assert query_values(testbed.prometheus_url, f"min_over_time({metric}[10m])") == [3.0]


def test_query_values_reads_scalars_and_refuses_range_vectors(testbed):
    assert query_values(testbed.prometheus_url, "scalar(vector(2.5))") == [2.5]

    with pytest.raises(ValueError, match=r"query 'up\[1m\]' returned a matrix, expected a vector or a scalar"):
        query_values(testbed.prometheus_url, "up[1m]")


def test_waiting_after_writing_invalid_text_names_the_scrape_error(testbed):
    testbed.write_metrics("this is { not prometheus text\n")
    try:
        with pytest.raises(TimeoutError, match=r'the last scrape of metrics.prom failed: strconv.ParseFloat: '
                                                r'parsing "is": invalid syntax'):
            testbed.wait_for_prometheus_value("vector(1)", 2.0, timeout=READABLE_WITHIN_SECONDS)
    finally:
        testbed.write_metrics("")
        testbed.wait_for_prometheus_value(f'up{{job="{SCRAPE_JOB}"}}', 1.0, timeout=READABLE_WITHIN_SECONDS)
