"""The one small interface every metric source implements (one module per source, one factory)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from scalerd.config.model import Metric, Target
from scalerd.readings import Reading


class Source(Protocol):
    def read(self, wanted: Sequence[tuple[Target, Metric]]) -> list[Reading]:
        """Read every (target, metric) this source serves; one Reading per item, in order.

        Never raises for a metric's failure: the Reading carries a clear error instead. Identical
        queries are sent once per call, however many targets use them.
        """

    def close(self) -> None:
        """Release clients and sessions; called on shutdown."""
