"""Fixtures of the reliability tests: the admin client that sets scenes, and scalerd processes cleaned up after."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.support import Daemons


@pytest.fixture
def admin(testbed):
    return testbed.admin_api_client()


@pytest.fixture
def daemons(testbed, tmp_path) -> Iterator[Daemons]:
    started = Daemons(testbed, tmp_path)
    yield started
    started.close_all()
    testbed.control.clear_faults()
