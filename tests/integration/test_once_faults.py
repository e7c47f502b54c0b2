"""Injected API answers on the scale write, through `scalerd once`: the retries and outcomes, counted in the
emulator's audit log (every request, the refused ones too)."""
from __future__ import annotations

import json

import pytest

from tests.integration.daemon_support import (
    NAMESPACE,
    audit_lines,
    replicas_of,
    rps_scene,
    run_command,
)
from tests.testbed.kubeconfig import SCALERD_USER


@pytest.fixture
def admin(testbed):
    return testbed.admin_api_client()


@pytest.fixture
def scene(testbed, admin, tmp_path):
    """A Deployment at 2 replicas whose metric asks for 5, and the config that says so."""
    yield rps_scene(testbed, admin, tmp_path)
    testbed.control.clear_faults()


def _once(testbed, config):
    return run_command(testbed, "once", config)


def _requests_to(testbed, deployment: str) -> list[tuple[str, str, int]]:
    """(verb, scale|deployment, status) of the scalerd user's requests naming the Deployment, in order."""
    suffix = f"/namespaces/{NAMESPACE}/deployments/{deployment}"
    found = []
    for line in audit_lines(testbed.audit_path):
        if line["user"] != SCALERD_USER:
            continue
        if line["path"].endswith(suffix + "/scale"):
            found.append((line["verb"], "scale", line["status"]))
        elif line["path"].endswith(suffix):
            found.append((line["verb"], "deployment", line["status"]))
    return found


@pytest.mark.parametrize(
    "status",
    [pytest.param(500, id="500"), pytest.param(503, id="503")],
)
def test_server_errors_are_retried_with_backoff_until_the_write_lands(testbed, admin, scene, status):
    deployment, config = scene
    testbed.control.inject_fault(verb="patch", path_pattern=f"/deployments/{deployment}/scale$", status=status,
                                 count=2)

    finished = _once(testbed, config)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["applied"] is True
    assert replicas_of(admin, deployment) == 5
    scale_requests = [request for request in _requests_to(testbed, deployment) if request[1] == "scale"]
    assert scale_requests == [("patch", "scale", status), ("patch", "scale", status), ("patch", "scale", 200)]


def test_429_is_retried_after_the_retry_after_the_server_asked_for(testbed, admin, scene):
    deployment, config = scene
    testbed.control.inject_fault(verb="patch", path_pattern=f"/deployments/{deployment}/scale$", status=429,
                                 count=1, retry_after=1)

    finished = _once(testbed, config)

    assert finished.returncode == 0, finished.stderr
    assert replicas_of(admin, deployment) == 5
    scale_lines = [line for line in audit_lines(testbed.audit_path)
                   if line["path"].endswith(f"/deployments/{deployment}/scale") and line["user"] == SCALERD_USER]
    assert [line["status"] for line in scale_lines] == [429, 200]
    assert scale_lines[1]["ts"] - scale_lines[0]["ts"] >= 1.0


def test_a_409_is_re_read_decided_again_and_written(testbed, admin, scene):
    deployment, config = scene
    testbed.control.inject_fault(verb="patch", path_pattern=f"/deployments/{deployment}/scale$", status=409,
                                 count=1)

    finished = _once(testbed, config)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["applied"] is True
    assert replicas_of(admin, deployment) == 5
    writes_and_reads = [request for request in _requests_to(testbed, deployment) if request[0] != "patch"
                        or request[1] == "scale"]
    assert writes_and_reads == [("patch", "scale", 409), ("get", "deployment", 200), ("patch", "scale", 200)]


def test_a_409_storm_gives_up_after_three_decisions_and_exits_1(testbed, admin, scene):
    deployment, config = scene
    testbed.control.inject_fault(verb="patch", path_pattern=f"/deployments/{deployment}/scale$", status=409,
                                 count=10)

    finished = _once(testbed, config)

    assert finished.returncode == 1
    line = json.loads(finished.stdout)
    assert (line["desired"], line["applied"]) == (5, False)
    assert replicas_of(admin, deployment) == 2
    conflict, reread = ("patch", "scale", 409), ("get", "deployment", 200)
    assert _requests_to(testbed, deployment) == [conflict, reread, conflict, reread, conflict]
