"""`scalerd run --context scalerd` (the manifests' least-privilege account) with a Lease namespace its RBAC does not
cover: one line naming the flag to change, /healthz failing with it, and no claim of a release it never made."""
from __future__ import annotations

import time

import pytest

from tests.integration.daemon_support import (
    FAST_LEASE,
    ScalerdDaemon,
    audit_lines,
    rps_config,
    wait_until,
)
from tests.testbed.kubeconfig import SCALERD_USER

FIX = ("this account may not get, create and update Leases in namespace 'default': pass --lease-namespace with the "
       "namespace whose Role grants them (--lease-namespace scalerd, as manifests/ deploys scalerd), or grant them "
       "there (manifests/rbac.yaml, Role scalerd-leader-election)")


@pytest.fixture
def daemon(testbed, tmp_path):
    config = tmp_path / "scalerd.yaml"
    config.write_text(rps_config(prometheus_url=testbed.prometheus_url,
                                 targets=[{"name": "api", "deployment": "not-needed"}]))
    since = time.time()
    started = ScalerdDaemon(testbed, tmp_path, config_args=["--config", str(config)],
                            extra=("--lease-namespace", "default", *FAST_LEASE))
    yield started, since
    started.close()


def _lease_requests(testbed, since: float) -> list[dict]:
    return [line for line in audit_lines(testbed.audit_path)
            if line["user"] == SCALERD_USER and line["ts"] >= since
            and line["path"] == "/apis/coordination.k8s.io/v1/namespaces/default/leases/scalerd"]


def test_a_forbidden_lease_is_said_once_fails_healthz_and_is_never_released(testbed, daemon):
    daemon, since = daemon
    daemon.wait_ready()
    wait_until(lambda: len(_lease_requests(testbed, since)) >= 4, timeout=20, what="four Lease requests")
    refused = _lease_requests(testbed, since)
    healthz = daemon.get("/healthz")
    exit_seconds = daemon.terminate()

    assert {(line["verb"], line["status"]) for line in refused} == {("get", 403)}
    assert (healthz.status_code, healthz.text) == (503, FIX + "\n")
    events = daemon.log_events()
    assert [(line["level"], line["code"], line["fix"]) for line in events if line["event"] == "lease_misconfigured"
            ] == [("error", 403, FIX)]
    assert [line["event"] for line in events if line["event"].startswith("lease_")] == ["lease_misconfigured"]
    assert daemon.process.returncode == 0 and exit_seconds < 10
