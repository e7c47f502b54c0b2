"""The dispatcher: the contract's common flags are taken by every command, before or after its name."""
from __future__ import annotations

from pathlib import Path

import pytest

from scalerd.cli import build_parser, main

VALID = """\
apiVersion: scalerd/v1
targets:
  - {name: orders, deployment: orders, maxReplicas: 10, metrics: [{type: cpu, targetUtilization: 70}]}
"""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["once", "--config", "c.yaml"], ("console", None, None), id="defaults"),
        pytest.param(
            ["once", "--config", "c.yaml", "--log-format", "json", "--kubeconfig", "k", "--context", "scalerd"],
            ("json", "k", "scalerd"), id="after-the-command",
        ),
        pytest.param(
            ["--log-format", "json", "--kubeconfig", "k", "--context", "scalerd", "once", "--config", "c.yaml"],
            ("json", "k", "scalerd"), id="before-the-command",
        ),
        pytest.param(
            ["--log-format=json", "--context", "admin", "once", "--context", "scalerd", "--config", "c.yaml"],
            ("json", None, "scalerd"), id="after-wins-over-before",
        ),
    ],
)
def test_common_flags_parse_before_or_after_the_command(argv: list[str], expected: tuple) -> None:
    args = build_parser().parse_args(argv)
    assert (args.log_format, args.kubeconfig, args.context) == expected


@pytest.mark.parametrize("command", ["validate", "run", "once", "metrics", "simulate", "status"])
def test_every_command_takes_the_common_flags(command: str) -> None:
    required = {
        "validate": ["c.yaml"],
        "run": ["--config", "c.yaml"],
        "once": ["--config", "c.yaml"],
        "metrics": ["--config", "c.yaml"],
        "simulate": ["--config", "c.yaml", "--trace", "t.csv", "--out", "out"],
        "status": ["--config", "c.yaml"],
    }[command]
    argv = [command, *required, "--kubeconfig", "k", "--context", "c", "--log-format", "json"]
    args = build_parser(only=command).parse_args(argv)
    assert (args.command, args.log_format, args.kubeconfig, args.context) == (command, "json", "k", "c")


def test_validate_runs_with_flags_before_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scalerd.yaml"
    path.write_text(VALID)
    assert main(["--log-format", "json", "--kubeconfig", str(tmp_path / "kc"), "validate", str(path)]) == 0
    assert capsys.readouterr() == ("ok: 1 targets\n", "")


@pytest.mark.parametrize("argv", [
    pytest.param(["validate", "{config}"], id="validate"),
    pytest.param(["metrics", "--config", "{config}"], id="metrics"),
    pytest.param(["once", "--config", "{config}", "--kubeconfig", "{missing}"], id="once"),
    pytest.param(["status", "--config", "{config}", "--kubeconfig", "{missing}"], id="status"),
    pytest.param(["run", "--config", "{config}", "--kubeconfig", "{missing}"], id="run"),
    pytest.param(["simulate", "--config", "{config}", "--trace", "{missing}", "--out", "{missing}"], id="simulate"),
])
def test_every_command_reports_a_bad_configuration_alike_and_exits_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(VALID.replace("maxReplicas: 10", "maxReplicas: 0").replace("70}", "-5}"))
    paths = {"config": str(config), "missing": str(tmp_path / "absent")}

    code = main([word.format(**paths) for word in argv])

    assert code == 2
    assert capsys.readouterr().err == (
        "targets[0].maxReplicas: must be >= 1 (got 0)\n"
        "targets[0].metrics[0].targetUtilization: must be > 0 (got -5)\n"
    )
