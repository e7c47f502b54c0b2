"""The Kubernetes API misbehaving under a running `scalerd run`: what the daemon does, logs, and never does.

Each scene: a Deployment at 2 replicas whose metric asks for 5 (45 rps, 10 per replica), the fault injected on
its scale subresource before the daemon starts, so the daemon's very first write meets it. The emulator's audit
log shows every attempt, refused ones too.
"""
from __future__ import annotations

import itertools

import pytest
from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    NAMESPACE,
    audit_lines,
    events_about,
    replicas_of,
    rps_scene,
    stored_record,
    wait_until,
)
from tests.reliability.support import events_named, scale_statuses
from tests.soak.records import scale_attempts
from tests.testbed.kafka_tools import unique_name
from tests.testbed.kubeconfig import SCALERD_USER


@pytest.fixture
def scene(testbed, admin, tmp_path):
    """(deployment, config arguments): at 2 replicas, its metric asking for 5."""
    deployment, config = rps_scene(testbed, admin, tmp_path)
    return deployment, ["--config", str(config)]


def _scale_path(deployment: str) -> str:
    return f"/deployments/{deployment}/scale$"


def _settled(daemon, deployment: str) -> list[dict]:
    """The decisions once two more cycles followed the applied one: the daemon must not write again once the count
    is right."""
    return daemon.wait_for_settled(2, deployment=deployment)


@pytest.mark.parametrize("status", [pytest.param(500, id="500"), pytest.param(503, id="503")])
def test_a_burst_of_server_errors_is_retried_within_the_cycle_and_the_write_lands_once(testbed, admin, scene,
                                                                                         daemons, status):
    deployment, config_args = scene
    testbed.control.inject_fault(verb="patch", path_pattern=_scale_path(deployment), status=status, count=3)

    daemon = daemons.start(config_args)
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled to 5 through the burst")
    decisions = _settled(daemon, deployment)

    assert scale_statuses(testbed.audit_path, deployment) == [status, status, status, 200]
    assert [(line["current"], line["desired"], line["write_status"]) for line in decisions if line["applied"]] == [
        (2, 5, "applied")]
    assert {line["reason"] for line in decisions[1:]} == {"no_change"}
    assert daemon.metric(f'scalerd_api_requests_total{{code="{status}",verb="patch"}}') == 3.0
    assert [event.reason for event in events_about(admin, deployment)] == ["ScaledUp"]
    assert events_named(daemon, "kube_write_not_applied") == []
    assert daemon.get("/healthz").status_code == 200


def test_429_waits_the_retry_after_each_time_and_the_busy_target_is_skipped_not_stacked(testbed, admin, scene,
                                                                                       daemons):
    deployment, config_args = scene
    testbed.control.inject_fault(verb="patch", path_pattern=_scale_path(deployment), status=429, count=2,
                                 retry_after=2)

    daemon = daemons.start(config_args)
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=15, what="scaled to 5 after two 429s")
    decisions = _settled(daemon, deployment)

    attempts = scale_attempts(audit_lines(testbed.audit_path), deployments=[deployment])
    assert [attempt.status for attempt in attempts] == [429, 429, 200]
    # The waits the writer chose were the server's, and it waited them out between the attempts the server saw.
    assert [(line["attempt"], line["retry_after"], line["retry_in"])
            for line in events_named(daemon, "kube_write_retry")] == [(1, "2", 2.0), (2, "2", 2.0)]
    gaps = [later.ts - earlier.ts for earlier, later in itertools.pairwise(attempts)]
    assert all(gap >= 2.0 for gap in gaps), gaps
    # While its write waited 4 s, the target's later cycles were skipped, not queued behind it.
    assert len(events_named(daemon, "target_skipped")) >= 2
    assert [(line["current"], line["desired"]) for line in decisions if line["applied"]] == [(2, 5)]
    assert daemon.metric('scalerd_api_requests_total{code="429",verb="patch"}') == 2.0


def test_a_409_storm_is_decided_again_three_times_per_cycle_then_reported_and_retried_next_cycle(
        testbed, admin, scene, daemons):
    deployment, config_args = scene
    testbed.control.inject_fault(verb="patch", path_pattern=_scale_path(deployment), status=409, count=6)

    daemon = daemons.start(config_args)
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled to 5 after the storm")
    decisions = _settled(daemon, deployment)

    assert scale_statuses(testbed.audit_path, deployment) == [409] * 6 + [200]
    rereads = [line for line in audit_lines(testbed.audit_path) if line["user"] == SCALERD_USER
               and line["verb"] == "get" and line["path"].endswith(f"/deployments/{deployment}")]
    assert len(rereads) == 4  # two per cycle: the third conflict of a cycle ends it without a re-read
    writes = [(line["applied"], line["write_status"]) for line in decisions if line["write_status"]]
    assert writes == [(False, "conflict"), (False, "conflict"), (True, "applied")]
    assert [event.reason for event in events_about(admin, deployment)] == ["ScaleFailed", "ScaleFailed", "ScaledUp"]
    assert len(events_named(daemon, "scale_conflict")) == 4


def test_after_every_watch_is_dropped_a_change_made_by_someone_else_is_seen_and_corrected(testbed, admin, scene,
                                                                                        daemons):
    deployment, config_args = scene
    daemon = daemons.start(config_args)
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled to 5")

    testbed.control.drop_watches()
    kube_client.AppsV1Api(admin).patch_namespaced_deployment_scale(deployment, NAMESPACE, {"spec": {"replicas": 8}})
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="the outside change to 8 undone")

    # The cache resumed its watch from its last resourceVersion: the decision saw 8, not its stale 5 (which would
    # have decided "no change" and left 8 standing past the deadline above).
    applied = [(line["current"], line["desired"]) for line in daemon.wait_for_applied(2, deployment=deployment)]
    assert applied == [(2, 5), (8, 5)]
    assert scale_statuses(testbed.audit_path, deployment) == [200, 200]


def test_a_stalled_write_overruns_its_cycle_and_is_neither_stacked_nor_repeated(testbed, admin, scene, daemons):
    deployment, config_args = scene
    testbed.control.inject_fault(verb="patch", path_pattern=_scale_path(deployment), stall_seconds=2.5, count=1)

    daemon = daemons.start(config_args)
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="the stalled write landed")
    decisions = _settled(daemon, deployment)

    assert scale_statuses(testbed.audit_path, deployment) == [200]
    assert [(line["current"], line["desired"]) for line in decisions if line["applied"]] == [(2, 5)]
    assert [line["target"] for line in events_named(daemon, "target_overran")] == ["api"]
    assert len(events_named(daemon, "target_skipped")) >= 1
    assert daemon.get("/healthz").status_code == 200


def test_a_write_that_times_out_gives_up_within_the_budget_and_its_late_twin_is_refused(
        testbed, admin, scene, daemons):
    deployment, config_args = scene
    # Past the writer's 10 s request timeout: the client gives up, the server still processes it afterwards.
    # 16 s leaves the next cycle's resend (about 11 s in) several seconds to land first, even on a busy machine.
    testbed.control.inject_fault(verb="patch", path_pattern=_scale_path(deployment), stall_seconds=16.0, count=1)

    daemon = daemons.start(config_args)
    [failure] = wait_until(lambda: events_named(daemon, "kube_write_not_applied"), timeout=30,
                           what="the write given up")
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="the change landed")
    decisions = _settled(daemon, deployment)

    assert (failure["status"], failure["attempts"], failure["level"]) == ("failed", 1, "error")
    assert "Read timed out" in failure["detail"] and "retry budget" in failure["detail"]
    # The next cycle sent the change again and it landed; the stalled original, processed last, carried the
    # same resourceVersion and was refused: a resend can never apply a decision twice.
    attempts = wait_until(
        lambda: found if len(found := scale_attempts(audit_lines(testbed.audit_path), deployments=[deployment])) == 2
        else None,
        timeout=10, what="the stalled original answered")
    assert [attempt.status for attempt in attempts] == [200, 409]
    assert [(line["applied"], line["write_status"]) for line in decisions if line["write_status"]] == [
        (False, "failed"), (True, "applied")]
    assert decisions[-1]["reason"] == "no_change"
    assert [event.reason for event in events_about(admin, deployment)] == ["ScaleFailed", "ScaledUp"]


def test_a_write_whose_answer_is_lost_and_whose_resend_is_refused_is_reported_and_recorded_as_applied(
        testbed, admin, scene, daemons):
    deployment, config_args = scene
    # The PATCH is committed, then the connection closes without an answer: the resend's resourceVersion is stale.
    testbed.control.inject_fault(verb="patch", path_pattern=_scale_path(deployment), lose_answer=True, count=1)

    lease = unique_name("lease")
    daemon = daemons.start(config_args, lease=lease)
    wait_until(lambda: replicas_of(admin, deployment) == 5, timeout=10, what="scaled to 5")
    wait_until(lambda: events_about(admin, deployment), timeout=10, what="the change's Event")
    decisions = _settled(daemon, deployment)

    assert scale_statuses(testbed.audit_path, deployment) == [200, 409]
    assert [(line["current"], line["desired"], line["applied"], line["write_status"]) for line in decisions
            if line["write_status"]] == [(2, 5, True, "applied")]
    assert [event.reason for event in events_about(admin, deployment)] == ["ScaledUp"]
    # Recorded: the stored history carries the change, so cooldown and rate limits count it.
    stored = wait_until(lambda: (record := stored_record(admin, deployment, lease=lease)) and record.intent is None
                        and record, timeout=10, what="the change's outcome in the store")
    assert [delta for _time, delta in stored.state.scale_events] == [3]
    assert [line["event"] for line in events_named(daemon, "kube_write_landed_unanswered")] == [
        "kube_write_landed_unanswered"]
