"""KubeWriter on the API emulator with the scalerd ServiceAccount: requests counted in the emulator's audit log."""
from __future__ import annotations

import json
import re
import time

import pytest
import yaml
from structlog.testing import capture_logs

from scalerd.kube.cache import DeploymentView
from scalerd.kube.writer import KubeWriter
from tests.integration.daemon_support import wait_until
from tests.integration.kube_emulator import REPO_ROOT, deployment, running_emulator

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("kube-writer")) as running:
        running.create_namespaces("shop")
        yield running


@pytest.fixture
def web(emulator, request) -> str:
    """A Deployment of 2 replicas with a name of its own per test."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_"))[:50].strip("-")
    emulator.admin_apps().create_namespaced_deployment("shop", deployment(name, replicas=2))
    return name


def view_of(emulator, name: str) -> DeploymentView:
    response = emulator.admin_apps().read_namespaced_deployment(name, "shop", _preload_content=False)
    return DeploymentView.from_object(json.loads(response.data))


def make_writer(emulator, *, api_client=None, **options) -> KubeWriter:
    return KubeWriter(api_client or emulator.scalerd_client(), **{"dry_run": False, "may_write": lambda: True,
                                                                   **options})


def requests_to(emulator, path: str, *, count: int) -> list[tuple[str, int]]:
    """The (verb, status) of the scalerd requests to `path`, once `count` of them are logged."""
    def logged() -> list[tuple[str, int]]:
        return [(line["verb"], line["status"]) for line in emulator.audit() if line["path"] == path]

    wait_until(lambda: len(logged()) >= count, timeout=10.0)
    time.sleep(0.05)  # one more would show up by now
    return logged()


def scale_path(name: str) -> str:
    return f"/apis/apps/v1/namespaces/shop/deployments/{name}/scale"


def test_two_server_errors_then_success_is_three_patches(emulator, web):
    emulator.server.inject_fault(verb="patch", path_pattern=f"/deployments/{web}/scale$", status=500, count=2)
    outcome = make_writer(emulator).scale(view=view_of(emulator, web), replicas=5)
    assert (outcome.status, outcome.applied, outcome.attempts) == ("applied", True, 3)
    assert requests_to(emulator, scale_path(web), count=3) == [("patch", 500), ("patch", 500), ("patch", 200)]
    after = view_of(emulator, web)
    assert after.replicas == 5
    assert int(outcome.resource_version) <= int(after.resource_version), "the version the write produced"


def retries_logged(logs: list[dict]) -> list[tuple[int, int, str | None, float]]:
    """(attempt, code, Retry-After header, chosen wait) of every wait the writer logged before a retry."""
    return [(entry["attempt"], entry["code"], entry["retry_after"], entry["retry_in"])
            for entry in logs if entry["event"] == "kube_write_retry"]


def test_too_many_requests_waits_for_retry_after(emulator, web):
    emulator.server.inject_fault(verb="patch", path_pattern=f"/deployments/{web}/scale$", status=429, retry_after=1)
    with capture_logs() as logs:
        started = time.monotonic()
        outcome = make_writer(emulator).scale(view=view_of(emulator, web), replicas=4)
        elapsed = time.monotonic() - started
    assert (outcome.status, outcome.attempts) == ("applied", 2)
    # The delay the writer chose (the server's, not its own backoff of 0.1-0.2 s), and that it waited it out; a
    # ceiling on the wall time would only measure how busy the machine is.
    assert retries_logged(logs) == [(1, 429, "1", 1.0)]
    assert elapsed >= 1.0
    assert requests_to(emulator, scale_path(web), count=2) == [("patch", 429), ("patch", 200)]


def test_unavailable_until_the_budget_is_spent_fails_in_bounded_time(emulator, web):
    emulator.server.inject_fault(verb="patch", path_pattern=f"/deployments/{web}/scale$", status=503, count=100)
    with capture_logs() as logs:
        outcome = make_writer(emulator, retry_budget_seconds=1.0).scale(view=view_of(emulator, web), replicas=4)
    assert outcome.status == "failed" and outcome.attempts >= 2
    assert outcome.detail == (f"the server is currently unable to handle the request (gave up after "
                              f"{outcome.attempts} attempts within the 1s retry budget)")
    # Bounded by the budget: the waits it chose (backoff, no Retry-After) fit in 1 s, one before each resend.
    waits = retries_logged(logs)
    assert [(attempt, code, asked) for attempt, code, asked, _wait in waits] == [
        (attempt, 503, None) for attempt in range(1, outcome.attempts)]
    assert sum(wait for *_logged, wait in waits) <= 1.0
    assert requests_to(emulator, scale_path(web), count=outcome.attempts) == [("patch", 503)] * outcome.attempts
    emulator.server.clear_faults()


def test_conflict_is_returned_after_one_request(emulator, web):
    emulator.server.inject_fault(verb="patch", path_pattern=f"/deployments/{web}/scale$", status=409)
    outcome = make_writer(emulator).scale(view=view_of(emulator, web), replicas=4)
    assert (outcome.status, outcome.attempts) == ("conflict", 1)
    assert requests_to(emulator, scale_path(web), count=1) == [("patch", 409)]


def test_a_decision_on_a_stale_version_is_refused_and_changes_nothing(emulator, web):
    stale = view_of(emulator, web)
    emulator.admin_apps().patch_namespaced_deployment_scale(web, "shop", {"spec": {"replicas": 3}},
                                                            _content_type=MERGE_PATCH)
    outcome = make_writer(emulator).scale(view=stale, replicas=8)
    assert (outcome.status, outcome.attempts) == ("conflict", 1)
    assert "the object has been modified" in outcome.detail
    assert view_of(emulator, web).replicas == 3


def test_forbidden_is_final(tmp_path):
    rules = list(yaml.safe_load_all((REPO_ROOT / "manifests" / "rbac.yaml").read_text()))
    cluster_role = next(document for document in rules if document["kind"] == "ClusterRole")
    cluster_role["rules"] = [rule for rule in cluster_role["rules"] if rule["resources"] != ["deployments/scale"]]
    (tmp_path / "rbac").mkdir()
    (tmp_path / "rbac" / "rbac.yaml").write_text(yaml.safe_dump_all(rules))
    with running_emulator(tmp_path, rbac_dir=tmp_path / "rbac") as restricted:
        restricted.create_namespaces("shop")
        restricted.admin_apps().create_namespaced_deployment("shop", deployment("web", replicas=2))
        outcome = make_writer(restricted).scale(view=view_of(restricted, "web"), replicas=4)
        assert (outcome.status, outcome.attempts, outcome.applied) == ("forbidden", 1, False)
        assert outcome.detail == ('deployments.apps "web" is forbidden: User "system:serviceaccount:scalerd:scalerd" '
                                  'cannot patch resource "deployments/scale" in API group "apps" in the namespace '
                                  '"shop"')
        assert requests_to(restricted, scale_path("web"), count=1) == [("patch", 403)]


@pytest.mark.parametrize("options", [
    pytest.param({"dry_run": True}, id="dry-run"),
    pytest.param({"may_write": lambda: False}, id="fenced"),
])
def test_no_write_request_at_all(emulator, web, options):
    writer = make_writer(emulator, **options)
    started = time.time()
    outcomes = [writer.scale(view=view_of(emulator, web), replicas=9),
                writer.remove_annotations(view=view_of(emulator, web), keys=("scalerd.io/state",)),
                writer.save_config_map(namespace="scalerd", name="x", labels={}, data={}, resource_version=None),
                writer.event(namespace="shop", involved=view_of(emulator, web), reason="ScaledUp", message="2 -> 9")]
    assert {outcome.attempts for outcome in outcomes} == {0}
    assert not any(outcome.applied for outcome in outcomes)
    time.sleep(0.1)
    assert [line for line in emulator.audit(after=started) if line["verb"] in ("patch", "create", "update")] == []
    assert view_of(emulator, web).replicas == 2


def test_annotation_removal_and_event_land_on_the_deployment(emulator, web):
    emulator.admin_apps().patch_namespaced_deployment(web, "shop", {"metadata": {"annotations": {
        "scalerd.io/last-decision": '{"desired":4}', "team": "orders"}}})
    writer = make_writer(emulator)
    removed = writer.remove_annotations(view=view_of(emulator, web), keys=("scalerd.io/last-decision",))
    view = view_of(emulator, web)
    assert removed.status == "applied"
    assert dict(view.annotations) == {"team": "orders"}
    recorded = writer.event(namespace="shop", involved=view, reason="ScaledUp", message="2 -> 4: lag 4000")
    assert recorded.status == "applied"
    events = [event for event in emulator.admin_core().list_namespaced_event("shop").items
              if event.involved_object.name == web]
    assert [(event.reason, event.message, event.type, event.count, event.source.component,
             event.involved_object.kind, event.involved_object.uid) for event in events] == [
        ("ScaledUp", "2 -> 4: lag 4000", "Normal", 1, "scalerd", "Deployment", view.uid)]


def test_a_resend_refused_because_the_unanswered_attempt_landed_is_reported_applied(emulator, web):
    # The first PATCH is committed but its answer is lost; the resend carries the now stale resourceVersion.
    emulator.server.inject_fault(verb="patch", path_pattern=f"/deployments/{web}/scale$", lose_answer=True)
    before = view_of(emulator, web)

    outcome = make_writer(emulator).scale(view=before, replicas=5)

    after = view_of(emulator, web)
    assert (outcome.status, outcome.applied, outcome.attempts) == ("applied", True, 2)
    assert outcome.resource_version == after.resource_version
    assert outcome.detail == ("set replicas 2 -> 5 (an attempt without an answer landed: its resend was refused "
                              "with 409 and the Deployment is at 5 replicas)")
    assert after.replicas == 5
    assert requests_to(emulator, scale_path(web), count=2) == [("patch", 200), ("patch", 409)]


def test_a_resend_refused_when_the_count_is_not_the_one_asked_for_stays_a_conflict(emulator, web):
    stale = view_of(emulator, web)
    emulator.admin_apps().patch_namespaced_deployment_scale(web, "shop", {"spec": {"replicas": 3}},
                                                            _content_type=MERGE_PATCH)
    # The first attempt's 503 may or may not have been applied; the re-read shows it was not (3, not 8).
    emulator.server.inject_fault(verb="patch", path_pattern=f"/deployments/{web}/scale$", status=503)

    outcome = make_writer(emulator).scale(view=stale, replicas=8)

    assert (outcome.status, outcome.applied, outcome.attempts) == ("conflict", False, 2)
    assert "the object has been modified" in outcome.detail
    assert view_of(emulator, web).replicas == 3
    assert requests_to(emulator, scale_path(web), count=2) == [("patch", 503), ("patch", 409)]
