"""`scalerd simulate` on the command line: target choice, errors (exit 2), outputs and the printed summary."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scalerd.cli import main

ONE_TARGET = """\
apiVersion: scalerd/v1
defaults: {interval: 5s}
targets:
  - name: api
    namespace: default
    deployment: api
    minReplicas: 1
    maxReplicas: 20
    metrics:
      - {type: prometheus, name: rps, query: 'sum(rate(x[1m]))', targetPerReplica: 10}
    behavior:
      cooldown: 0s
      scaleDown: {stabilizationWindow: 0s}
"""

TWO_TARGETS = ONE_TARGET + """\
  - name: worker
    namespace: default
    deployment: worker
    minReplicas: 1
    maxReplicas: 5
    metrics:
      - {type: cpu, targetUtilization: 60}
"""

STEP_TRACE = "timestamp,rps\n0,10\n5,200\n40,190\n50,10\n60,10\n"


@pytest.fixture
def files(tmp_path):
    def write(config: str, trace: str = STEP_TRACE) -> tuple[str, str, str]:
        config_path = tmp_path / "scalerd.yaml"
        config_path.write_text(config)
        trace_path = tmp_path / "trace.csv"
        trace_path.write_text(trace)
        return str(config_path), str(trace_path), str(tmp_path / "out")

    return write


def test_simulate_writes_the_three_outputs_and_prints_the_numbers(files, capsys):
    config, trace, out = files(ONE_TARGET)

    code = main(["simulate", "--config", config, "--trace", trace, "--out", out])

    assert code == 0
    with open(f"{out}/decisions.csv") as decisions:
        replicas = [line.split(",")[3] for line in decisions.read().splitlines()[1:]]
    # The hand-worked load step (see test_simulate.py): HPA rate limits Pods 4 / Percent 100 per 15 s.
    assert replicas == ["1", "5", "5", "5", "10", "10", "10", "20", "20", "20", "1", "1", "1"]
    with open(f"{out}/summary.json") as summary_file:
        summary = json.load(summary_file)
    assert summary["steps"] == 13 and summary["replica_seconds"] == 545 and summary["scale_events"] == 4
    with open(f"{out}/plot.png", "rb") as plot:
        assert plot.read(8) == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert f"{out}/decisions.csv" in printed and f"{out}/plot.png" in printed
    assert "replica-seconds: 545 (baseline 830, oracle 910)" in printed
    assert "under-provisioned seconds: 30 (baseline 30)" in printed


def test_initial_replicas_flag(files):
    config, trace, out = files(ONE_TARGET, trace="timestamp,rps\n0,70\n5,70\n")

    assert main(["simulate", "--config", config, "--trace", trace, "--out", out, "--initial-replicas", "7"]) == 0

    with open(f"{out}/decisions.csv") as decisions:
        assert [line.split(",")[3] for line in decisions.read().splitlines()[1:]] == ["7", "7"]


def test_a_trace_saved_with_a_byte_order_mark_is_read(files, tmp_path):
    config, trace, out = files(ONE_TARGET)
    (tmp_path / "trace.csv").write_bytes(b"\xef\xbb\xbf" + STEP_TRACE.encode())

    assert main(["simulate", "--config", config, "--trace", trace, "--out", out]) == 0


def test_a_binary_trace_exits_2(files, capsys, tmp_path):
    config, trace, out = files(ONE_TARGET)
    (tmp_path / "trace.csv").write_bytes(b"timestamp,rps\n0,\xff\xfe\n")

    assert main(["simulate", "--config", config, "--trace", trace, "--out", out]) == 2
    assert capsys.readouterr().err == f"{trace}: not a UTF-8 text file (invalid start byte)\n"


def test_the_named_target_is_chosen_among_several(files):
    config, trace, out = files(TWO_TARGETS, trace="timestamp,cpu\n0,120\n")

    assert main(["simulate", "--config", config, "--trace", trace, "--out", out, "--target", "worker"]) == 0

    with open(f"{out}/decisions.csv") as decisions:
        # 120 % of one replica's request on 1 replica against 60 %: ceil(1 * 120 / 60) = 2.
        assert decisions.read().splitlines()[1].split(",")[:4] == ["0", "2", "2", "2"]


@pytest.mark.parametrize(
    ("config", "trace", "extra", "expected_error"),
    [
        pytest.param(TWO_TARGETS, STEP_TRACE, [], "2 targets, choose one with --target: api, worker",
                     id="several-targets-without-target"),
        pytest.param(ONE_TARGET, STEP_TRACE, ["--target", "nope"], "no target named 'nope'; the targets are: api",
                     id="unknown-target"),
        pytest.param(ONE_TARGET, "timestamp,lag\n0,1\n", [], "trace.csv:1: missing column(s) 'rps'",
                     id="missing-column"),
        pytest.param(ONE_TARGET, "timestamp,rps\n0,1\n5,many\n", [],
                     "trace.csv:3: column 'rps': not a finite number (got 'many')", id="bad-cell"),
        pytest.param(ONE_TARGET.replace("targetPerReplica: 10", "targetPerReplica: -1"), STEP_TRACE, [],
                     "targets[0].metrics[0].targetPerReplica", id="invalid-config"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(files, capsys, config, trace, extra, expected_error):
    config_path, trace_path, out = files(config, trace)

    code = main(["simulate", "--config", config_path, "--trace", trace_path, "--out", out, *extra])

    assert code == 2
    assert expected_error in capsys.readouterr().err


def test_a_missing_trace_file_exits_2(files, capsys, tmp_path):
    config, _, out = files(ONE_TARGET)

    assert main(["simulate", "--config", config, "--trace", str(tmp_path / "absent.csv"), "--out", out]) == 2
    assert "absent.csv" in capsys.readouterr().err


def test_negative_initial_replicas_is_a_usage_error(files, capsys):
    config, trace, out = files(ONE_TARGET)

    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--config", config, "--trace", trace, "--out", out, "--initial-replicas", "-1"])

    assert exited.value.code == 2
    assert "--initial-replicas: must be an integer >= 0 (got -1)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "expected_delay", "expected_underprovisioned"),
    [
        pytest.param([], 0, 30, id="default-0s"),
        pytest.param(["--startup-delay", "10s"], 10, 40, id="10s"),
        pytest.param(["--startup-delay", "1m"], 60, 45, id="1m-nothing-added-serves-before-the-load-drops"),
    ],
)
def test_startup_delay_flag(files, flag, expected_delay, expected_underprovisioned):
    config, trace, out = files(ONE_TARGET)

    assert main(["simulate", "--config", config, "--trace", trace, "--out", out, *flag]) == 0

    with open(f"{out}/summary.json") as summary_file:
        summary = json.load(summary_file)
    assert summary["startup_delay_seconds"] == expected_delay
    assert summary["underprovisioned_seconds"] == expected_underprovisioned


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("-5s", "must be >= 0 (got '-5s')", id="negative"),
        pytest.param("soon", "invalid duration 'soon'", id="not-a-duration"),
    ],
)
def test_a_bad_startup_delay_is_a_usage_error(files, capsys, value, message):
    config, trace, out = files(ONE_TARGET)

    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--config", config, "--trace", trace, "--out", out, f"--startup-delay={value}"])

    assert exit_info.value.code == 2
    assert f"argument --startup-delay: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(("trace_at", "out_at", "message"), [
    pytest.param("missing.csv", "out", "--trace {tmp}/missing.csv: no such file: pass the path of a CSV trace (a "
                 "`timestamp` column and one column per metric name)", id="trace-missing"),
    pytest.param(".", "out", "--trace {tmp}/.: is a directory: pass the path of the CSV trace file in it",
                 id="trace-is-a-directory"),
    pytest.param("trace.csv", "scalerd.yaml", "--out {tmp}/scalerd.yaml: a file is in the way, not a directory: pass a "
                 "directory for decisions.csv, summary.json and plot.png (created if missing), or move the file",
                 id="out-is-a-file"),
    pytest.param("missing.csv", "scalerd.yaml/out", "--trace {tmp}/missing.csv: no such file: pass the path of a "
                 "CSV trace (a `timestamp` column and one column per metric name)", id="the-trace-first"),
])
def test_a_bad_trace_or_out_path_names_the_flag_and_the_fix(files, tmp_path, capsys, trace_at, out_at, message):
    config, _trace, _out = files(ONE_TARGET)

    code = main(["simulate", "--config", config, "--trace", f"{tmp_path}/{trace_at}", "--out", f"{tmp_path}/{out_at}"])

    assert (code, capsys.readouterr().err) == (2, message.format(tmp=tmp_path) + "\n")
    assert not (tmp_path / "out").exists()


def test_without_matplotlib_the_files_are_written_and_the_plot_extra_named(files, capsys, monkeypatch):
    config, trace, out = files(ONE_TARGET)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` meets when it is not installed

    code = main(["simulate", "--config", config, "--trace", trace, "--out", out])

    captured = capsys.readouterr()
    assert (code, captured.err) == (1, (
        f"error: {out}/plot.png not written: matplotlib is not installed; install the plot extra "
        "(pip install 'scalerd[plot]', or `make install` in a checkout)\n"))
    assert captured.out.splitlines()[0] == f"wrote {out}/decisions.csv, {out}/summary.json"
    assert sorted(path.name for path in Path(out).iterdir()) == ["decisions.csv", "summary.json"]
