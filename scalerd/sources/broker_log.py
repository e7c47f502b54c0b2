"""librdkafka's own log lines, said once per broker problem instead of once per reconnect attempt.

An unresolvable or unreachable broker makes librdkafka log a line per attempt: about 195 identical `FAIL` lines
per 10-s read, which drown the decision lines. Each cluster (bootstrap-servers string) gets one `BrokerLog`,
handed to confluent-kafka as the client's `logger`; it outlives the clients (a client whose read failed is
replaced), so a problem that lasts is still said once. A problem is logged when it starts or changes, and its
count of repeats when it ends (a read of the cluster succeeded) or gives way to another.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import structlog

log = structlog.get_logger()

# "[thrd:HOST:PORT/ID]: HOST:PORT/ID: Failed to resolve ...": the broker thread, then the text.
_THREAD_PREFIX = re.compile(r"^\[thrd:(?P<broker>[^\]]*)\]: ")
# What varies between repeats of one problem: "(after 3ms in state CONNECT, 2 identical error(s) suppressed)".
_ATTEMPT_DETAIL = re.compile(r"\s*\(after \d+ms in state [^)]*\)\s*$")


@dataclass
class _Problem:
    message: str
    repeats: int = 1


class BrokerLog:
    """The `logger` confluent-kafka calls as `logger.log(level, "%s [%s] %s", facility, client_name, text)`."""

    def __init__(self, servers: str) -> None:
        self._servers = servers
        self._lock = threading.Lock()
        self._problems: dict[str, _Problem] = {}  # by broker, as librdkafka names it ("host:port/id")

    def log(self, level: int, _format: str, facility: str = "", _client_name: str = "", text: str = "",
            *_rest: object) -> None:
        if level < logging.WARNING:
            return  # librdkafka's debug and notice lines: below the level scalerd logs at
        thread = _THREAD_PREFIX.match(text)
        broker = thread["broker"] if thread else ""
        message = _ATTEMPT_DETAIL.sub("", text[thread.end():] if thread else text)
        with self._lock:
            problem = self._problems.get(broker)
            if problem is not None and problem.message == message:
                problem.repeats += 1
                return
            self._problems[broker] = _Problem(message)
        fields = {"servers": self._servers, "facility": facility, "message": message}
        if problem is not None:
            fields |= {"previous": problem.message, "previous_repeats": problem.repeats}
        log.log(level, "kafka_broker_problem", **fields)

    def recovered(self) -> None:
        """A read of the cluster succeeded: every problem said so far has ended."""
        with self._lock:
            ended, self._problems = self._problems, {}
        for problem in ended.values():
            log.info("kafka_broker_recovered", servers=self._servers, message=problem.message,
                     repeats=problem.repeats)
