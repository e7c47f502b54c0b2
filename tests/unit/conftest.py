"""Fixtures shared by the unit tests."""
from __future__ import annotations

import pytest

from tests.unit.daemon_fakes import Harness, make_config, rps_target


@pytest.fixture
def harness() -> Harness:
    """One target, `api`, over a Deployment of 2 replicas."""
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    return bed

