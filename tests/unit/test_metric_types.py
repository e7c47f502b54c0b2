"""The metric-type registry: every type is complete and consistent, and its modules import in any order."""
from __future__ import annotations

import subprocess
import sys

import pytest

from scalerd.config.checks import Problems, as_mapping
from scalerd.metric_types.registry import METRIC_TYPES


@pytest.mark.parametrize("name", sorted(METRIC_TYPES))
def test_a_registered_type_reads_metrics_of_its_own_type(name):
    metric_type = METRIC_TYPES[name]
    problems = Problems()

    metric = metric_type.read(as_mapping({"type": name}, "m", problems, known=metric_type.fields))

    assert (metric.type, metric.name) == (name, name)
    assert problems.lines, "an empty metric of any type misses a required field"


@pytest.mark.parametrize("module", [
    pytest.param("scalerd.metric_types.kafka", id="a type module"),
    pytest.param("scalerd.metric_types.registry", id="the registry"),
    pytest.param("scalerd.sources.kafka", id="a source"),
    pytest.param("scalerd.config", id="the loader"),
    pytest.param("scalerd.engine", id="the engine"),
])
def test_modules_import_first_in_a_fresh_interpreter(module):
    """The loader reads metrics through the registry and the types read with the loader's helpers: whichever is
    imported first, neither meets the other half-initialised."""
    completed = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)

    assert (completed.returncode, completed.stderr) == (0, "")


def test_validating_loads_no_client_library():
    """`scalerd validate` stays fast: reading a configuration imports no Kafka, Kubernetes or HTTP client."""
    script = (
        "import sys; from scalerd.config import load_config_text;"
        "load_config_text('apiVersion: scalerd/v1\\ntargets: [{name: a, deployment: a, maxReplicas: 2,"
        " metrics: [{type: kafka, group: g, topics: [t], lagPerReplica: 1}, {type: cpu, targetUtilization: 50},"
        " {type: prometheus, query: up, targetValue: 1}]}]');"
        "print(sorted(m for m in ('confluent_kafka', 'kubernetes', 'requests') if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert completed.stdout == "[]\n"
