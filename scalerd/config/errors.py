"""The one exception a configuration problem raises."""
from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """Every problem found in a configuration, one line each: "path: message" (or "FILE:LINE:COL: ..." for YAML)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))
