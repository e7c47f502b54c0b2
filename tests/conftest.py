"""Shared fixtures. The test bed starts only when a test asks for it, once per session: unit tests start nothing."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.testbed.bed import TestBed
from tests.testbed.kafka_tools import KafkaTools, unique_name

# The tools the tests run (kubectl, scalerd, hadolint) are the ones installed beside this interpreter, not whatever
# comes first on PATH: this machine's image has an older kubectl in /usr/bin whose messages differ.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# No wall-clock limits on examples (hypothesis' default deadline is 200 ms each): on a busy machine they fail
# correct code. Speed is measured by the benchmarks under bench/, not by tests.
settings.register_profile("scalerd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("scalerd")


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    with TestBed(tmp_path_factory.mktemp("testbed")) as bed:
        yield bed


@pytest.fixture
def kafka(testbed: TestBed) -> KafkaTools:
    return testbed.kafka


@pytest.fixture
def make_topic(kafka: KafkaTools) -> Callable[[int], str]:
    """Creates a topic with a name no other test uses and the given number of partitions; returns its name."""

    def make(partitions: int) -> str:
        topic = unique_name("topic")
        kafka.create_topic(topic, partitions=partitions)
        return topic

    return make


@pytest.fixture
def group_name() -> str:
    """A consumer group no other test uses."""
    return unique_name("group")
