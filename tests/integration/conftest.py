"""Fixtures the daemon's integration tests share."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.daemon_support import ScalerdDaemon


@pytest.fixture
def daemons() -> Iterator[list[ScalerdDaemon]]:
    """The `scalerd run` processes a test starts (append them), killed when it ends."""
    started: list[ScalerdDaemon] = []
    yield started
    for daemon in started:
        daemon.close()
