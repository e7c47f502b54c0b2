"""librdkafka's log lines through BrokerLog: one line per broker problem and change, the repeats counted."""
from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from scalerd.sources.broker_log import BrokerLog

SERVERS = "kafka.kafka.svc:9092"
RESOLVE = ("[thrd:kafka.kafka.svc:9092/bootstrap]: kafka.kafka.svc:9092/bootstrap: Failed to resolve "
           "'kafka.kafka.svc:9092': Name or service not known (after {ms}ms in state CONNECT)")
REFUSED = ("[thrd:kafka.kafka.svc:9092/bootstrap]: kafka.kafka.svc:9092/bootstrap: Connect to ipv4#10.0.0.9:9092 "
           "failed: Connection refused (after {ms}ms in state CONNECT)")
RESOLVE_MESSAGE = ("kafka.kafka.svc:9092/bootstrap: Failed to resolve 'kafka.kafka.svc:9092': "
                   "Name or service not known")
REFUSED_MESSAGE = "kafka.kafka.svc:9092/bootstrap: Connect to ipv4#10.0.0.9:9092 failed: Connection refused"


def _say(broker_log: BrokerLog, text: str, *, level: int = logging.ERROR, client: str = "rdkafka#producer-1") -> None:
    """As confluent-kafka calls its `logger`."""
    broker_log.log(level, "%s [%s] %s", "FAIL", client, text)


def test_195_repeats_of_one_problem_from_two_clients_are_one_line():
    broker_log = BrokerLog(SERVERS)
    with capture_logs() as logs:
        for attempt in range(195):
            _say(broker_log, RESOLVE.format(ms=attempt % 7), client=f"rdkafka#producer-{1 + attempt // 100}")

    assert logs == [{"event": "kafka_broker_problem", "log_level": "error", "servers": SERVERS, "facility": "FAIL",
                     "message": RESOLVE_MESSAGE}]


def test_a_changed_problem_and_the_recovery_each_say_how_often_the_last_one_repeated():
    broker_log = BrokerLog(SERVERS)
    with capture_logs() as logs:
        for _ in range(3):
            _say(broker_log, RESOLVE.format(ms=0))
        for _ in range(5):
            _say(broker_log, REFUSED.format(ms=1))
        broker_log.recovered()
        broker_log.recovered()
        _say(broker_log, RESOLVE.format(ms=2))

    assert [(line["event"], line.get("message"), line.get("previous_repeats"), line.get("repeats"))
            for line in logs] == [
        ("kafka_broker_problem", RESOLVE_MESSAGE, None, None),
        ("kafka_broker_problem", REFUSED_MESSAGE, 3, None),
        ("kafka_broker_recovered", REFUSED_MESSAGE, None, 5),
        ("kafka_broker_problem", RESOLVE_MESSAGE, None, None),
    ]
    assert logs[1]["previous"] == RESOLVE_MESSAGE


def test_each_broker_of_a_cluster_has_its_own_problem():
    broker_log = BrokerLog("a:9092,b:9092")
    with capture_logs() as logs:
        for _ in range(4):
            _say(broker_log, "[thrd:a:9092/1]: a:9092/1: Connection refused (after 0ms in state CONNECT)")
            _say(broker_log, "[thrd:b:9092/2]: b:9092/2: Connection refused (after 0ms in state CONNECT)")

    assert [line["message"] for line in logs] == ["a:9092/1: Connection refused", "b:9092/2: Connection refused"]


@pytest.mark.parametrize("level", [
    pytest.param(logging.DEBUG, id="debug"),
    pytest.param(logging.INFO, id="info-and-notice"),
])
def test_lines_below_warning_are_not_logged(level):
    broker_log = BrokerLog(SERVERS)
    with capture_logs() as logs:
        _say(broker_log, RESOLVE.format(ms=0), level=level)
        broker_log.recovered()

    assert logs == []
