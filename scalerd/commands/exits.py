"""The exit codes of every command, and the one way a bad configuration is reported."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every command imports this module, `scalerd --help` too: it loads nothing
    from scalerd.config.errors import ConfigError

OK = 0
FAILED = 1
"""The command ran, and something it reports failed: a metric, a target, a write, Kubernetes access (`import`: a
field that could not be mapped)."""
INVALID_INPUT = 2
"""Nothing was done: a bad configuration, argument, trace or manifest (`import`: nothing to import)."""
INTERRUPTED = 130
"""Ctrl-C, as shells report a SIGINT."""


def report_config_error(error: ConfigError) -> int:
    """Every problem on stderr, one per line (the same lines `validate` prints); the exit code for them."""
    for problem in error.problems:
        print(problem, file=sys.stderr)
    return INVALID_INPUT
