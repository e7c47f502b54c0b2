"""Whatever the input, loading either returns a valid Config or raises ConfigError; never anything else."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalerd.config import ConfigError, load_config_text
from scalerd.config.model import Config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
SEED = yaml.safe_load((REPO / "config" / "seed-policy.yaml").read_text())
# A second target next to the example's: same name and deployment would (rightly) be rejected.
SEED["metadata"]["name"] = SEED["spec"]["deploymentName"] = "seed-consumer"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["0s", "15s", "1h30m", "-1s", "2x", "22:00", "24:00", "* * * * *", "0 0 31 2 *", "Pods",
                     "Percent", "Max", "UTC", "Mars/Base", "http://x:1", "kafka", "cpu", "prometheus", "KafkaLag"]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=12,
)


def paths_of(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths_of(child, prefix + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths_of(child, prefix + (index,))
    return found


def mutated(document: dict, data: st.DataObject) -> dict:
    """`document` with a few fields replaced by arbitrary values, deleted, or joined by unknown keys."""
    result = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths_of(result)[1:]))
        parent = result
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = data.draw(values)
        else:
            parent[path[-1]] = data.draw(values)
        if not paths_of(result)[1:]:
            break
    return result


plausible_leaves = st.one_of(
    st.integers(-2, 40),
    st.sampled_from([0.0, 0.05, 0.5, 0.99, 1.0, 70.5, "0s", "1s", "15s", "59m", "30m", "31m", "1h", "2h", True, False]),
)


def edited_leaves(document: dict, data: st.DataObject) -> dict:
    """`document` with a few scalar fields set to plausible values: numbers and durations near the bounds."""
    result = copy.deepcopy(document)
    leaves = [path for path in paths_of(result)[1:] if not isinstance(_at(result, path), (dict, list))]
    for path in data.draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=4)):
        _at(result, path[:-1])[path[-1]] = data.draw(plausible_leaves)
    return result


def _at(node: object, path: tuple) -> object:
    for step in path:
        node = node[step]
    return node


def assert_loads_or_reports(text: str) -> Config | None:
    try:
        config = load_config_text(text, source="f.yaml")
    except ConfigError as error:
        assert error.problems
        assert all(isinstance(line, str) and ": " in line and "\n" not in line for line in error.problems)
        return None
    assert_valid(config)
    return config


def assert_valid(config: Config) -> None:
    assert config.targets
    assert config.defaults.interval > 0
    for target in config.targets:
        assert 0 <= target.min_replicas <= target.max_replicas and target.max_replicas >= 1
        assert target.metrics or target.schedule
        assert len({metric.name for metric in target.metrics}) == len(target.metrics)
        assert 0 <= target.behavior.tolerance < 1
        for rules in (target.behavior.scale_up, target.behavior.scale_down):
            assert 0 <= rules.stabilization_window <= 3600
            assert rules.policies
            assert all(policy.value > 0 and 1 <= policy.period <= 1800 for policy in rules.policies)
    assert len({target.name for target in config.targets}) == len(config.targets)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    assert_loads_or_reports(text)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_example_configuration(data: st.DataObject) -> None:
    assert_loads_or_reports(yaml.safe_dump(mutated(EXAMPLE, data), sort_keys=False))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_plausible_edits_load_within_bounds_or_report(data: st.DataObject) -> None:
    assert_loads_or_reports(yaml.safe_dump(edited_leaves(EXAMPLE, data), sort_keys=False))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_seed_policy_next_to_the_example(data: st.DataObject) -> None:
    text = yaml.safe_dump_all([EXAMPLE, mutated(SEED, data)], sort_keys=False)
    assert_loads_or_reports(text)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_yaml_value_as_a_document(value: object) -> None:
    assert_loads_or_reports(yaml.safe_dump(value))


def test_the_unmutated_examples_are_valid() -> None:
    assert assert_loads_or_reports(yaml.safe_dump_all([EXAMPLE, SEED], sort_keys=False)) is not None
