"""`--config FILE` hot reload: a good edit is applied once, a bad one reported once and the last good kept."""
from __future__ import annotations

import os

import pytest
from structlog.testing import capture_logs

from scalerd.config import ConfigError
from scalerd.reload import ConfigFile

GOOD = """\
apiVersion: scalerd/v1
targets:
  - name: api
    namespace: apps
    deployment: api
    minReplicas: 1
    maxReplicas: {max_replicas}
    metrics:
      - type: prometheus
        name: rps
        query: sum(rate(x[1m]))
        targetPerReplica: 10
"""
BAD = GOOD.format(max_replicas=5).replace("targetPerReplica: 10", "targetPerReplica: -3")


def _write(path, text: str, *, mtime_step: int) -> None:
    path.write_text(text)
    # Editors can write twice within one timestamp tick; the tests move mtime on explicitly.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + mtime_step * 1_000_000_000))


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "scalerd.yaml"
    _write(path, GOOD.format(max_replicas=5), mtime_step=0)
    return path


def test_an_unchanged_file_gives_nothing_new(config_file):
    provider = ConfigFile(config_file)
    assert provider.load().targets[0].max_replicas == 5

    assert provider.poll() is None


def test_a_good_edit_is_applied_once(config_file):
    provider = ConfigFile(config_file)
    provider.load()
    _write(config_file, GOOD.format(max_replicas=9), mtime_step=1)

    assert provider.poll().targets[0].max_replicas == 9
    assert provider.poll() is None


def test_a_touch_without_a_content_change_gives_nothing_new(config_file):
    provider = ConfigFile(config_file)
    provider.load()
    _write(config_file, GOOD.format(max_replicas=5), mtime_step=1)

    assert provider.poll() is None


def test_a_bad_edit_is_logged_line_by_line_reported_once_and_a_later_good_edit_applies(config_file):
    rejected: list[ConfigError] = []
    provider = ConfigFile(config_file, on_rejected=rejected.append)
    provider.load()
    _write(config_file, BAD, mtime_step=1)

    with capture_logs() as logs:
        assert provider.poll() is None
        _write(config_file, BAD, mtime_step=2)
        assert provider.poll() is None

    assert [error.problems for error in rejected] == [
        ("targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)",),
    ]
    assert [(entry["event"], entry["problem"]) for entry in logs if entry["event"] == "config_rejected"] == [
        ("config_rejected", "targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)"),
    ]
    assert provider.holds_rejected_edit is True
    _write(config_file, GOOD.format(max_replicas=7), mtime_step=3)
    assert provider.poll().targets[0].max_replicas == 7
    assert provider.holds_rejected_edit is False


def test_reverting_to_the_last_good_text_after_a_bad_edit_is_not_a_change(config_file):
    provider = ConfigFile(config_file, on_rejected=lambda _error: None)
    provider.load()
    _write(config_file, BAD, mtime_step=1)
    provider.poll()
    assert provider.holds_rejected_edit is True
    _write(config_file, GOOD.format(max_replicas=5), mtime_step=2)

    assert provider.poll() is None
    # What the file holds is in force again.
    assert provider.holds_rejected_edit is False


def test_a_file_missing_for_a_moment_keeps_the_last_good_config(config_file):
    provider = ConfigFile(config_file)
    provider.load()
    config_file.unlink()

    with capture_logs() as logs:
        assert provider.poll() is None
    assert [entry["event"] for entry in logs] == ["config_unreadable"]

    _write(config_file, GOOD.format(max_replicas=8), mtime_step=1)
    assert provider.poll().targets[0].max_replicas == 8


def test_a_bad_file_at_start_raises_with_every_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)

    with pytest.raises(ConfigError) as raised:
        ConfigFile(path).load()
    assert raised.value.problems == ("targets[0].metrics[0].targetPerReplica: must be > 0 (got -3)",)
