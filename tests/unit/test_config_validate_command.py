"""`scalerd validate FILE`: exit codes and output, through the real CLI dispatcher."""
from __future__ import annotations

from pathlib import Path

import pytest

from scalerd.cli import main

VALID = """\
apiVersion: scalerd/v1
targets:
  - {name: orders, deployment: orders, maxReplicas: 10, metrics: [{type: cpu, targetUtilization: 70}]}
  - {name: billing, deployment: billing, maxReplicas: 3, schedule: [{time: "09:00", replicas: 3}]}
"""


def test_valid_file_prints_ok_and_the_target_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scalerd.yaml"
    path.write_text(VALID)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr() == ("ok: 2 targets\n", "")


def test_invalid_file_prints_each_problem_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scalerd.yaml"
    path.write_text(
        VALID.replace("maxReplicas: 10", "maxReplicas: 10, minReplica: 2").replace(
            "targetUtilization: 70", "targetUtilization: 0"
        )
    )
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "targets[0].minReplica: unknown field (did you mean minReplicas?)\n"
        "targets[0].metrics[0].targetUtilization: must be > 0 (got 0)\n"
    )


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scalerd.yaml"
    path.write_text("apiVersion: scalerd/v1\ntargets: [\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}:3:1: did not find expected node content (while parsing a flow node at line 3, column 1)\n"
    )


def test_missing_file_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.yaml"
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr() == ("", f"{path}: cannot read: No such file or directory\n")


def test_a_directory_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    assert capsys.readouterr() == ("", f"{tmp_path}: cannot read: Is a directory\n")


def test_non_utf8_file_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: scalerd/v1\n# caf\xe9\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}: cannot read: not UTF-8 text (invalid continuation byte on line 2)\n"
    )
