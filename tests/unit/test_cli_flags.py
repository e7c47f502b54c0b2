"""One flag list: what each command's --help shows is what README's "Command line" section lists, and the flags
the other docs pass to scalerd exist; every DURATION flag reads a value as the configuration does."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from scalerd.cli import COMMANDS, build_parser
from scalerd.commands.flag_types import duration

REPO_ROOT = Path(__file__).resolve().parents[2]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*[a-z]")


def _help_flags() -> dict[str, set[str]]:
    parser = build_parser()
    [commands] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return {name: set(FLAG.findall(commands.choices[name].format_help())) - {"--help"} for name in COMMANDS}


def _readme_command_line_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("\n## Command line\n")
    return text[start:text.index("\n## ", start + 1)]


def test_every_flag_in_help_is_in_the_readme_and_every_flag_there_in_help():
    in_help = set().union(*_help_flags().values())
    in_readme = set(FLAG.findall(_readme_command_line_section())) - {"--help"}
    assert (sorted(in_help - in_readme), sorted(in_readme - in_help)) == ([], [])


def test_each_commands_flags_are_in_its_own_readme_line():
    section = _readme_command_line_section()
    common = set(FLAG.findall(section[section.index("Common flags"):section.index("Each command's own flags")]))
    for name, flags in _help_flags().items():
        [line] = [block for block in section.split("\n- ") if block.startswith(f"`{name}`:")]
        assert (name, sorted(flags - common - set(FLAG.findall(line)))) == (name, [])


@pytest.mark.parametrize(("document", "command"), [
    pytest.param("docs/RELIABILITY.md", "run", id="reliability"),
    pytest.param("docs/simulate.md", "simulate", id="simulate"),
])
def test_the_scalerd_flags_the_docs_use_exist(document, command):
    text = (REPO_ROOT / document).read_text()
    used = {flag for line in text.splitlines() if f"scalerd {command}" in line or "--lease-duration" in line
            for flag in FLAG.findall(line)}
    assert used and sorted(used - _help_flags()[command]) == []


@pytest.mark.parametrize(("text", "seconds"), [
    pytest.param("500ms", 0.5, id="ms"),
    pytest.param("2", 2.0, id="whole-seconds"),
    pytest.param("1h30m", 5400.0, id="compound"),
    pytest.param(" 15s ", 15.0, id="spaces"),
])
def test_a_duration_flag_reads_config_durations(text, seconds):
    assert duration(positive=True)(text) == seconds


@pytest.mark.parametrize(("positive", "text", "message"), [
    pytest.param(True, "0.5", "must be a duration (use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of seconds); "
                              "a bare number must be whole seconds (got 0.5)", id="decimal-like-yaml-0.5"),
    pytest.param(True, "0", "must be > 0 (got '0')", id="zero"),
    pytest.param(False, "-5s", "must be >= 0 (got '-5s')", id="negative"),
    pytest.param(True, "soon", "invalid duration 'soon': use e.g. 500ms, 15s, 2m, 1h30m, or a whole number of "
                               "seconds", id="not-a-duration"),
])
def test_a_bad_duration_flag_says_why_without_repeating_the_flag(positive, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        duration(positive=positive)(text)
    assert str(raised.value) == message


def test_the_run_message_names_the_flag_once(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--config", "x.yaml", "--retry-period", "0.5"])
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.count("--retry-period") == 1
    assert error.startswith("scalerd run: error: argument --retry-period: must be a duration")
