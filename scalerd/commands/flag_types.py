"""Parsers of flag values shared by the commands, so one kind of value reads the same on every flag."""
from __future__ import annotations

import argparse
from collections.abc import Callable

from scalerd.config.durations import read_duration


def duration(*, positive: bool) -> Callable[[str], float]:
    """A DURATION flag, written like the configuration's durations (500ms, 15s, 2m, 1h30m, or whole seconds).

    argparse prefixes the message with "argument --FLAG:", so the message itself does not name the flag.
    """

    def parse(text: str) -> float:
        seconds, problem = read_duration(_as_config_value(text.strip()))
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        if seconds < 0 or (positive and seconds == 0):
            raise argparse.ArgumentTypeError(f"must be {'> 0' if positive else '>= 0'} (got {text!r})")
        return seconds

    return parse


def _as_config_value(text: str) -> str | float:
    """`0.5` on the command line is the YAML number 0.5 in a file: both get the same answer."""
    try:
        return float(text) if not text.lstrip("-").isdigit() else text
    except ValueError:
        return text
