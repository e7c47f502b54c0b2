"""The API emulator through the official `kubernetes` Python client, over the wire."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.daemon_support import at_least, wait_until
from tests.testbed.control import TestbedControl
from tests.testbed.k8s_testing import (
    ADMIN_TOKEN,
    REPO_MANIFESTS,
    SCALERD_TOKEN,
    api_client,
    deployment_manifest,
    running_emulator,
)

SCALERD = "system:serviceaccount:scalerd:scalerd"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with running_emulator(tmp_path_factory.mktemp("apiserver")) as emulator:
        yield emulator


@pytest.fixture
def admin(server) -> client.ApiClient:
    return api_client(server.url, ADMIN_TOKEN)


@pytest.fixture
def scalerd(server) -> client.ApiClient:
    return api_client(server.url, SCALERD_TOKEN)


@pytest.fixture
def control(server) -> Iterator[TestbedControl]:
    control = TestbedControl(server.url, ADMIN_TOKEN)
    yield control
    control.clear_faults()
    control.set_status_delay(0.0)


def _status(error: ApiException) -> dict:
    return json.loads(error.body)


def _create(admin: client.ApiClient, name: str, **manifest_options) -> client.V1Deployment:
    manifest = deployment_manifest(name, **manifest_options)
    return client.AppsV1Api(admin).create_namespaced_deployment("default", manifest)


def _pods(admin: client.ApiClient, app: str) -> list[client.V1Pod]:
    return client.CoreV1Api(admin).list_namespaced_pod("default", label_selector=f"app={app}").items


def test_create_get_list_exact_fields(admin):
    created = _create(admin, "create-get")
    apps = client.AppsV1Api(admin)
    fetched = apps.read_namespaced_deployment("create-get", "default")
    listed = apps.list_namespaced_deployment("default", label_selector="app=create-get")
    assert created.metadata.generation == 1
    assert created.metadata.uid == fetched.metadata.uid
    assert int(fetched.metadata.resource_version) > int(created.metadata.resource_version)  # status followed
    assert [item.metadata.name for item in listed.items] == ["create-get"]
    assert int(listed.metadata.resource_version) >= int(fetched.metadata.resource_version)
    assert (fetched.status.replicas, fetched.status.ready_replicas, fetched.status.observed_generation) == (2, 2, 1)
    assert fetched.spec.strategy.rolling_update.max_surge == "25%"


def test_list_across_namespaces_and_selectors(admin):
    _create(admin, "sel-a")
    _create(admin, "sel-b")
    apps = client.AppsV1Api(admin)
    everywhere = apps.list_deployment_for_all_namespaces(label_selector="app in (sel-a,sel-b)")
    not_a = apps.list_namespaced_deployment("default", label_selector="app in (sel-a,sel-b),app!=sel-a")
    by_name = apps.list_namespaced_deployment("default", field_selector="metadata.name=sel-b")
    missing_label = apps.list_namespaced_deployment("default", label_selector="app=sel-a,!app")
    assert [item.metadata.name for item in everywhere.items] == ["sel-a", "sel-b"]
    assert [item.metadata.name for item in not_a.items] == ["sel-b"]
    assert [item.metadata.name for item in by_name.items] == ["sel-b"]
    assert missing_label.items == []


def test_pods_follow_replicas_with_owner_and_cpu_requests(admin):
    deployment = _create(admin, "pods-follow", replicas=3, cpu="250m")
    pods = _pods(admin, "pods-follow")
    assert len(pods) == 3
    for pod in pods:
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "Deployment", "pods-follow", deployment.metadata.uid, True)
        assert pod.spec.containers[0].resources.requests == {"cpu": "250m"}
        assert pod.metadata.labels["tier"] == "web"
        assert [c.status for c in pod.status.conditions if c.type == "Ready"] == ["True"]
    client.AppsV1Api(admin).patch_namespaced_deployment_scale("pods-follow", "default", {"spec": {"replicas": 1}})
    assert len(_pods(admin, "pods-follow")) == 1


def test_scale_subresource_read_patch_replace(admin):
    _create(admin, "scaled")
    apps = client.AppsV1Api(admin)
    scale = apps.read_namespaced_deployment_scale("scaled", "default")
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 2, "app=scaled")
    patched = apps.patch_namespaced_deployment_scale("scaled", "default", {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    fresh = apps.read_namespaced_deployment_scale("scaled", "default")
    assert fresh.status.replicas == 5
    fresh.spec.replicas = 4
    replaced = apps.replace_namespaced_deployment_scale("scaled", "default", fresh)
    assert replaced.spec.replicas == 4
    deployment = apps.read_namespaced_deployment("scaled", "default")
    assert (deployment.spec.replicas, deployment.status.ready_replicas, deployment.metadata.generation) == (4, 4, 3)


def test_stale_scale_replace_is_a_conflict(admin):
    _create(admin, "stale-scale")
    apps = client.AppsV1Api(admin)
    scale = apps.read_namespaced_deployment_scale("stale-scale", "default")
    apps.patch_namespaced_deployment_scale("stale-scale", "default", {"spec": {"replicas": 3}})
    scale.spec.replicas = 9
    with pytest.raises(ApiException) as raised:
        apps.replace_namespaced_deployment_scale("stale-scale", "default", scale)
    assert (raised.value.status, raised.value.reason) == (409, "Conflict")
    assert _status(raised.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Conflict", "code": 409,
        "message": 'Operation cannot be fulfilled on deployments.apps "stale-scale": the object has been '
                   "modified; please apply your changes to the latest version and try again",
        "details": {"name": "stale-scale", "group": "apps", "kind": "deployments"}}
    assert apps.read_namespaced_deployment_scale("stale-scale", "default").spec.replicas == 3


def test_stale_deployment_replace_conflicts_and_unconditional_replace_wins(admin):
    apps = client.AppsV1Api(admin)
    old = _create(admin, "stale-replace")
    apps.patch_namespaced_deployment("stale-replace", "default", {"metadata": {"annotations": {"a": "1"}}})
    old.spec.replicas = 7
    with pytest.raises(ApiException) as raised:
        apps.replace_namespaced_deployment("stale-replace", "default", old)
    assert (raised.value.status, _status(raised.value)["reason"]) == (409, "Conflict")
    old.metadata.resource_version = None
    assert apps.replace_namespaced_deployment("stale-replace", "default", old).spec.replicas == 7


def test_patch_with_stale_resource_version_is_a_conflict(admin):
    apps = client.AppsV1Api(admin)
    created = _create(admin, "stale-patch")
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment("stale-patch", "default", {
            "metadata": {"resourceVersion": created.metadata.resource_version}, "spec": {"replicas": 4}})
    assert raised.value.status == 409


def test_strategic_merge_patch_merges_containers_by_name_and_json_patch(admin):
    apps = client.AppsV1Api(admin)
    _create(admin, "strategic", containers=[{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "side:1"}])
    apps.patch_namespaced_deployment("strategic", "default", {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "side:2"}]}}}})
    apps.patch_namespaced_deployment("strategic", "default", [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    deployment = apps.read_namespaced_deployment("strategic", "default")
    assert [(c.name, c.image) for c in deployment.spec.template.spec.containers] == [
        ("app", "app:1"), ("sidecar", "side:2")]
    assert (deployment.spec.replicas, deployment.metadata.generation) == (3, 3)
    pods = _pods(admin, "strategic")
    assert len(pods) == 3 and {pod.spec.containers[1].image for pod in pods} == {"side:2"}


def test_second_lease_create_already_exists(admin):
    coordination = client.CoordinationV1Api(admin)
    lease = {"metadata": {"name": "scalerd-leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    coordination.create_namespaced_lease("scalerd", lease)
    with pytest.raises(ApiException) as raised:
        coordination.create_namespaced_lease("scalerd", lease)
    assert raised.value.status == 409
    assert (_status(raised.value)["reason"], _status(raised.value)["message"]) == (
        "AlreadyExists", 'leases.coordination.k8s.io "scalerd-leader" already exists')


def test_missing_object_is_not_found(admin):
    with pytest.raises(ApiException) as raised:
        client.AppsV1Api(admin).read_namespaced_deployment("nowhere", "default")
    assert raised.value.status == 404
    assert _status(raised.value)["message"] == 'deployments.apps "nowhere" not found'


def test_invalid_and_strict_bodies_are_refused(server, admin):
    apps = client.AppsV1Api(admin)
    bad_replicas = deployment_manifest("negative", replicas=-1)
    with pytest.raises(ApiException) as invalid:
        apps.create_namespaced_deployment("default", bad_replicas)
    typo = deployment_manifest("typo")
    typo["spec"]["replicass"] = 3
    # The client's own model refuses unknown fields, so these two go over plain HTTP.
    collection = f"{server.url}/apis/apps/v1/namespaces/default/deployments"
    strict = requests.post(f"{collection}?fieldValidation=Strict", json=typo,
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    warned = requests.post(collection, json=typo, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    assert (invalid.value.status, _status(invalid.value)["message"]) == (
        422, 'Deployment.apps "negative" is invalid: spec.replicas: Invalid value: -1: must be greater than or '
             "equal to 0")
    assert (strict.status_code, strict.json()["message"]) == (
        400, 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
             'unknown field "spec.replicass"')
    assert warned.status_code == 201
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.replicass\\""'
    assert "replicass" not in warned.json()["spec"]


def test_watch_sees_modified(admin):
    apps = client.AppsV1Api(admin)
    _create(admin, "watched")
    since = apps.list_namespaced_deployment("default").metadata.resource_version
    threading.Timer(0.2, lambda: apps.patch_namespaced_deployment_scale(
        "watched", "default", {"spec": {"replicas": 4}})).start()
    seen = []
    for event in watch.Watch().stream(apps.list_namespaced_deployment, "default", resource_version=since,
                                      timeout_seconds=2):
        seen.append((event["type"], event["object"].metadata.name, event["object"].spec.replicas,
                     event["object"].status.ready_replicas))
        if event["object"].status.ready_replicas == 4:
            break
    assert seen[0] == ("MODIFIED", "watched", 4, 2)
    assert seen[-1] == ("MODIFIED", "watched", 4, 4)


def test_watch_from_zero_starts_with_current_objects(admin):
    apps = client.AppsV1Api(admin)
    _create(admin, "from-zero")
    events = list(watch.Watch().stream(apps.list_namespaced_deployment, "default", resource_version="0",
                                       label_selector="app=from-zero", timeout_seconds=1))
    assert [(event["type"], event["object"].metadata.name) for event in events] == [("ADDED", "from-zero")]


def test_watch_too_old_resource_version_is_gone(tmp_path):
    with running_emulator(tmp_path, history_limit=5) as small:
        admin = api_client(small.url, ADMIN_TOKEN)
        core = client.CoreV1Api(admin)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for index in range(8):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
        with pytest.raises(ApiException) as raised:
            list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                      timeout_seconds=2))
    assert raised.value.status == 410
    assert raised.value.reason == f"Expired: too old resource version: {start} ({int(start) + 4})"


def test_bookmarks_arrive_with_the_latest_resource_version(tmp_path):
    with running_emulator(tmp_path, bookmark_interval=0.2) as fast:
        core = client.CoreV1Api(api_client(fast.url, ADMIN_TOKEN))
        core.create_namespaced_config_map("default", {"metadata": {"name": "bookmarked"}})
        latest = core.list_namespaced_config_map("default").metadata.resource_version
        events = list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=latest,
                                           allow_watch_bookmarks=True, timeout_seconds=1, deserialize=False))
    bookmarks = [event for event in events if event["type"] == "BOOKMARK"]
    assert 2 <= len(bookmarks) <= 5  # one per 0.2 s in a 1 s watch, fewer when the machine is busy
    assert {event["object"]["metadata"]["resourceVersion"] for event in bookmarks} == {latest}
    assert len(events) == len(bookmarks)


def test_dropped_watch_ends_the_stream(server, admin, control):
    apps = client.AppsV1Api(admin)
    ended = threading.Event()

    def consume() -> None:
        for _ in watch.Watch().stream(apps.list_namespaced_deployment, "kube-system", resource_version="0",
                                      timeout_seconds=30):
            pass
        ended.set()

    threading.Thread(target=consume, daemon=True).start()
    wait_until(lambda: server.cluster.store.open_watches("apps/deployments"), timeout=15, what="the watch open")
    control.drop_watches()
    assert ended.wait(15)


def test_scalerd_user_rights_follow_the_manifests(admin, scalerd):
    _create(admin, "guarded")
    client.CoreV1Api(admin).create_namespaced_secret("default", {"metadata": {"name": "hidden"},
                                                                "stringData": {"k": "v"}})
    apps, core = client.AppsV1Api(scalerd), client.CoreV1Api(scalerd)
    with pytest.raises(ApiException) as delete:
        apps.delete_namespaced_deployment("guarded", "default")
    with pytest.raises(ApiException) as secret:
        core.read_namespaced_secret("hidden", "default")
    with pytest.raises(ApiException) as foreign_lease:
        client.CoordinationV1Api(scalerd).create_namespaced_lease("default", {"metadata": {"name": "x"}})
    assert apps.patch_namespaced_deployment_scale("guarded", "default", {"spec": {"replicas": 3}}).spec.replicas == 3
    client.CoordinationV1Api(scalerd).create_namespaced_lease("scalerd", {"metadata": {"name": "guarded"}})
    assert (delete.value.status, _status(delete.value)["message"]) == (
        403, f'deployments.apps "guarded" is forbidden: User "{SCALERD}" cannot delete resource "deployments" '
             'in API group "apps" in the namespace "default"')
    assert (secret.value.status, _status(secret.value)["message"]) == (
        403, f'secrets "hidden" is forbidden: User "{SCALERD}" cannot get resource "secrets" in API group "" '
             'in the namespace "default"')
    assert foreign_lease.value.status == 403


def test_unknown_token_is_unauthorized(server):
    with pytest.raises(ApiException) as raised:
        client.AppsV1Api(api_client(server.url, "nobody")).list_namespaced_deployment("default")
    assert (raised.value.status, _status(raised.value)["reason"]) == (401, "Unauthorized")


def test_fault_fires_exactly_count_times(admin, control):
    _create(admin, "faulty")
    apps = client.AppsV1Api(admin)
    before = control.faults_fired()
    control.inject_fault(verb="patch", path_pattern=r"/deployments/faulty/scale$", status=503, count=2)
    outcomes = []
    for replicas in (3, 4, 5):
        try:
            outcomes.append(apps.patch_namespaced_deployment_scale("faulty", "default",
                                                                   {"spec": {"replicas": replicas}}).spec.replicas)
        except ApiException as error:
            outcomes.append(error.status)
    assert outcomes == [503, 503, 5]
    assert control.faults_fired() - before == 2


def test_fault_429_carries_retry_after_and_409_names_the_object(server, admin, control):
    _create(admin, "throttled")
    control.inject_fault(verb="get", path_pattern="/deployments/throttled$", status=429, retry_after=7)
    control.inject_fault(verb="update", path_pattern="/deployments/throttled/scale$", status=409)
    url = f"{server.url}/apis/apps/v1/namespaces/default/deployments/throttled"
    throttled = requests.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    apps = client.AppsV1Api(admin)
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_scale("throttled", "default",
                                                 apps.read_namespaced_deployment_scale("throttled", "default"))
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert throttled.json()["details"] == {"retryAfterSeconds": 7}
    assert (conflict.value.status, _status(conflict.value)["details"]["name"]) == (409, "throttled")


def test_stall_delays_then_answers_normally(admin, control):
    _create(admin, "stalled")
    control.inject_fault(verb="get", path_pattern="/deployments/stalled$", stall_seconds=0.4)
    started = time.monotonic()
    deployment = client.AppsV1Api(admin).read_namespaced_deployment("stalled", "default")
    assert time.monotonic() - started >= 0.4
    assert deployment.metadata.name == "stalled"


def test_status_follows_spec_after_the_delay(admin, control):
    _create(admin, "delayed")
    apps = client.AppsV1Api(admin)
    control.set_status_delay(1.0)
    started = time.monotonic()
    scale = apps.patch_namespaced_deployment_scale("delayed", "default", {"spec": {"replicas": 4}})
    wait_until(lambda: apps.read_namespaced_deployment("delayed", "default").status.observed_generation == 2,
               timeout=10.0, interval=0.02, what="the status followed the spec")
    followed_after = time.monotonic() - started
    later = apps.read_namespaced_deployment("delayed", "default")
    assert (scale.spec.replicas, scale.status.replicas) == (4, 2)
    assert followed_after >= 1.0  # not before the delay; how much after it is the machine's load
    assert (later.status.replicas, later.status.ready_replicas, later.status.updated_replicas) == (4, 4, 4)


def test_pod_ready_and_pod_metrics_controls(admin, control):
    _create(admin, "measured", replicas=2)
    first, second = sorted(pod.metadata.name for pod in _pods(admin, "measured"))
    control.set_pod_metrics(namespace="default", pod=first, cpu_millicores=250)
    control.set_pod_metrics(namespace="default", pod=second, cpu_millicores=None)
    control.set_pod_ready(namespace="default", pod=second, ready=False)
    metrics = client.CustomObjectsApi(admin)
    listed = metrics.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods",
                                                   label_selector="app=measured")
    with pytest.raises(ApiException) as missing:
        metrics.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods", second)
    deployment = client.AppsV1Api(admin).read_namespaced_deployment("measured", "default")
    assert [(item["metadata"]["name"], item["containers"]) for item in listed["items"]] == [
        (first, [{"name": "main", "usage": {"cpu": "250000000n", "memory": "0"}}])]
    assert missing.value.status == 404
    assert (deployment.status.ready_replicas, deployment.status.replicas) == (1, 2)
    with pytest.raises(RuntimeError, match='HTTP 404: pods "no-such-pod" not found$'):
        control.set_pod_metrics(namespace="default", pod="no-such-pod", cpu_millicores=100)


def test_one_event_two_apis(admin):
    involved = {"kind": "Deployment", "name": "evented", "namespace": "default", "apiVersion": "apps/v1"}
    event_time = "2026-01-01T00:00:00.000000Z"  # the client's events.k8s.io model requires it
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": "events"}})
    client.CoreV1Api(admin).create_namespaced_event("events", {
        "metadata": {"name": "evented.1"}, "involvedObject": involved, "reason": "Scaled", "message": "to 3",
        "type": "Normal", "eventTime": event_time, "reportingComponent": "scalerd", "reportingInstance": "a"})
    client.EventsV1Api(admin).create_namespaced_event("events", {
        "metadata": {"name": "evented.2"}, "regarding": involved, "reason": "Scaled", "note": "to 4",
        "type": "Normal", "eventTime": event_time, "action": "Scale",
        "reportingController": "scalerd", "reportingInstance": "b"})
    core = client.CoreV1Api(admin).list_namespaced_event("events", field_selector="involvedObject.name=evented")
    events = client.EventsV1Api(admin).list_namespaced_event("events", field_selector="regarding.name=evented")
    assert [(event.metadata.name, event.message, event.reporting_component, event.involved_object.name)
            for event in core.items] == [("evented.1", "to 3", "scalerd", "evented"),
                                         ("evented.2", "to 4", "scalerd", "evented")]
    assert [(event.metadata.name, event.note, event.reporting_controller, event.regarding.name)
            for event in events.items] == [("evented.1", "to 3", "scalerd", "evented"),
                                           ("evented.2", "to 4", "scalerd", "evented")]


def test_delete_removes_the_deployment_and_its_pods(admin):
    _create(admin, "deleted")
    client.AppsV1Api(admin).delete_namespaced_deployment("deleted", "default")
    assert _pods(admin, "deleted") == []
    with pytest.raises(ApiException) as raised:
        client.AppsV1Api(admin).read_namespaced_deployment("deleted", "default")
    assert raised.value.status == 404


def test_audit_lines_are_exact(tmp_path: Path):
    with running_emulator(tmp_path) as fresh:
        control = TestbedControl(fresh.url, ADMIN_TOKEN)
        control.set_status_delay(0.0)
        started = time.time()
        client.AppsV1Api(api_client(fresh.url, ADMIN_TOKEN)).create_namespaced_deployment(
            "default", deployment_manifest("audited"))
        with pytest.raises(ApiException):
            client.CoreV1Api(api_client(fresh.url, SCALERD_TOKEN)).read_namespaced_secret("s", "default")
        with pytest.raises(ApiException):
            client.CoreV1Api(api_client(fresh.url, "wrong")).list_namespaced_pod("default")
        requests.get(f"{fresh.url}/version", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [{key: value for key, value in line.items() if key != "ts"} for line in lines] == [
        {"user": "admin", "verb": "create", "path": "/apis/apps/v1/namespaces/default/deployments", "status": 201},
        {"user": SCALERD, "verb": "get", "path": "/api/v1/namespaces/default/secrets/s", "status": 403},
        {"user": "system:anonymous", "verb": "list", "path": "/api/v1/namespaces/default/pods", "status": 401},
        {"user": "admin", "verb": "get", "path": "/version", "status": 200},
    ]
    timestamps = [line["ts"] for line in lines]
    assert timestamps == sorted(timestamps) and started <= timestamps[0] <= time.time()


def test_python_client_over_tls_with_the_certificate(server, tmp_path):
    certificate = tmp_path / "ca.crt"
    certificate.write_bytes(server.certificate_pem)
    configuration = client.Configuration()
    configuration.host = server.https_url
    configuration.ssl_ca_cert = str(certificate)
    configuration.api_key = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    namespace = client.CoreV1Api(client.ApiClient(configuration)).read_namespace("kube-system")
    assert namespace.metadata.labels == {"kubernetes.io/metadata.name": "kube-system"}


def test_streaming_list_ends_its_initial_events_with_a_bookmark(server):
    url = f"{server.url}/api/v1/namespaces/kube-system/configmaps"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    requests.post(url, json={"metadata": {"name": "streamed"}}, headers=headers, timeout=5)
    response = requests.get(url, params={"watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                                         "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "1"},
                            headers=headers, timeout=5)
    events = [json.loads(line) for line in response.text.splitlines()]
    latest = client.CoreV1Api(api_client(server.url, ADMIN_TOKEN)).list_namespaced_config_map("kube-system")
    assert [(event["type"], event["object"]["metadata"].get("name")) for event in events[:2]] == [
        ("ADDED", "streamed"), ("BOOKMARK", None)]
    assert events[1]["object"]["metadata"] == {"resourceVersion": latest.metadata.resource_version,
                                               "annotations": {"k8s.io/initial-events-end": "true"}}
    assert {event["type"] for event in events[2:]} <= {"BOOKMARK"}  # the periodic ones


def test_standalone_process_serves_until_sigterm(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.testbed.apiserver", "--port", "0", "--rbac-dir", str(REPO_MANIFESTS),
         "--audit", str(tmp_path / "audit.jsonl"), "--token", f"{ADMIN_TOKEN}=admin",
         "--certificate", str(tmp_path / "ca.crt")],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split()[-1]
        version = requests.get(f"{url}/version", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        process.stdout.close()
    assert (version.status_code, version.json()["minor"]) == (200, "37")
    assert (tmp_path / "ca.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert code == 0


def test_a_watch_is_audited_when_it_ends(tmp_path):
    with running_emulator(tmp_path) as fresh:
        core = client.CoreV1Api(api_client(fresh.url, ADMIN_TOKEN))
        stream = watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=5)
        configmap = {"metadata": {"name": "w"}}
        creator = threading.Timer(0.3, lambda: core.create_namespaced_config_map("default", configmap))
        creator.start()
        next(stream)
        creator.join()
        while_open = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        fresh.drop_watches()
        after = wait_until(at_least(2, lambda: (tmp_path / "audit.jsonl").read_text().splitlines()), timeout=10.0,
                           interval=0.02, what="the dropped watch's audit line")
    after = [json.loads(line) for line in after]
    assert [(line["verb"], line["status"]) for line in while_open] == [("create", 201)]
    assert [(line["verb"], line["status"]) for line in after] == [("create", 201), ("watch", 200)]


def test_concurrent_read_modify_write_loses_no_update(admin):
    """Four writers add 1 to the replicas ten times each through read + replace, retrying on 409."""
    _create(admin, "contended", replicas=0)
    apps = client.AppsV1Api(admin)

    def add_ten() -> None:
        for _ in range(10):
            while True:
                scale = apps.read_namespaced_deployment_scale("contended", "default")
                scale.spec.replicas = (scale.spec.replicas or 0) + 1
                try:
                    apps.replace_namespaced_deployment_scale("contended", "default", scale)
                    break
                except ApiException as error:
                    if error.status != 409:
                        raise

    writers = [threading.Thread(target=add_ten) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    deployment = apps.read_namespaced_deployment("contended", "default")
    assert (deployment.spec.replicas, deployment.status.ready_replicas) == (40, 40)
    assert len(_pods(admin, "contended")) == 40
    assert deployment.metadata.generation == 41


DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.mark.parametrize(("method", "path", "body", "content_type", "token", "code", "message"), [
    pytest.param("GET", "/_testbed/faults/fired", None, None, SCALERD_TOKEN, 403,
                 f'forbidden: User "{SCALERD}" cannot get path "/_testbed/faults/fired"', id="control-not-admin"),
    pytest.param("GET", "/_testbed/faults/fired", None, None, None, 401, "Unauthorized", id="control-no-token"),
    pytest.param("GET", "/apis/apps/v1/namespaces/default/replicasets", None, None, ADMIN_TOKEN, 404,
                 "the server could not find the requested resource", id="unknown-resource"),
    pytest.param("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?watch=1", None, None, ADMIN_TOKEN,
                 405, "the server does not allow this method on the requested resource", id="watch-metrics"),
    pytest.param("POST", "/apis/apps/v1/namespaces/default/deployments/x/scale", {}, "application/json",
                 ADMIN_TOKEN, 405, "the server does not allow this method on the requested resource",
                 id="create-on-subresource"),
    pytest.param("DELETE", DEPLOYMENTS, None, None, ADMIN_TOKEN, 405,
                 "the server does not allow this method on the requested resource", id="deletecollection"),
    pytest.param("POST", "/api/v1/namespaces/nowhere/configmaps", {"metadata": {"name": "x"}}, "application/json",
                 ADMIN_TOKEN, 404, 'namespaces "nowhere" not found', id="missing-namespace"),
    pytest.param("POST", DEPLOYMENTS, b"{not json", "application/json", ADMIN_TOKEN, 400, None, id="bad-json"),
    pytest.param("POST", "/api/v1/namespaces/default/configmaps", {"kind": "Secret", "metadata": {"name": "k"}},
                 "application/json", ADMIN_TOKEN, 400,
                 'Secret in version "v1" cannot be handled as a ConfigMap: no kind "Secret" is registered for '
                 'version "v1"', id="other-kind"),
    pytest.param("POST", "/api/v1/namespaces/default/configmaps", {"apiVersion": "v2", "metadata": {"name": "k"}},
                 "application/json", ADMIN_TOKEN, 400,
                 "the API version in the data (v2) does not match the expected API version (v1)", id="other-version"),
    pytest.param("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "Bad_Name"}},
                 "application/json", ADMIN_TOKEN, 422, None, id="bad-name"),
    pytest.param("PUT", "/api/v1/namespaces/kube-system/configmaps/one", {"metadata": {"name": "two"}},
                 "application/json", ADMIN_TOKEN, 400,
                 "the name of the object (two) does not match the name on the URL (one)", id="name-mismatch"),
    pytest.param("PATCH", "/api/v1/namespaces/kube-system/configmaps/one",
                 [{"op": "test", "path": "/data/k", "value": "other"}], "application/json-patch+json", ADMIN_TOKEN,
                 422, "the server rejected our request due to an error in our request: testing value /data/k failed",
                 id="json-patch-test"),
    pytest.param("PATCH", "/api/v1/namespaces/kube-system/configmaps/one", {"data": {}},
                 "application/apply-patch+yaml", ADMIN_TOKEN, 415, None, id="server-side-apply"),
    pytest.param("GET", f"{DEPLOYMENTS}?labelSelector=app%3D(x", None, None, ADMIN_TOKEN, 400, None,
                 id="bad-selector"),
    pytest.param("GET", f"{DEPLOYMENTS}?fieldValidation=Loose", None, None, ADMIN_TOKEN, 400,
                 'fieldValidation: Unsupported value: "Loose": supported values: "Ignore", "Strict", "Warn"',
                 id="bad-field-validation"),
])
def test_refusals(server, method, path, body, content_type, token, code, message):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    requests.post(f"{server.url}/api/v1/namespaces/kube-system/configmaps", json={
        "metadata": {"name": "one"}, "data": {"k": "v"}}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=5)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = requests.request(method, server.url + path, data=data, headers=headers, timeout=5)
    status = response.json()
    assert (response.status_code, status["kind"], status["status"], status["code"]) == (code, "Status", "Failure",
                                                                                        code)
    if message is not None:
        assert status["message"] == message


def test_pages_with_limit_and_continue(admin):
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": "paged"}})
    for index in range(5):
        core.create_namespaced_config_map("paged", {"metadata": {"name": f"page-{index}"}})
    first = core.list_namespaced_config_map("paged", limit=2)
    second = core.list_namespaced_config_map("paged", limit=2, _continue=first.metadata._continue)
    third = core.list_namespaced_config_map("paged", limit=2, _continue=second.metadata._continue)
    pages = [[item.metadata.name for item in page.items] for page in (first, second, third)]
    assert pages == [["page-0", "page-1"], ["page-2", "page-3"], ["page-4"]]
    assert (first.metadata.remaining_item_count, third.metadata._continue) == (3, None)


def test_generation_moves_on_spec_and_annotation_changes_not_on_status_or_labels(admin):
    """deployment/strategy.go PrepareForUpdate: spec or annotations changed → generation + 1."""
    _create(admin, "generations")
    apps = client.AppsV1Api(admin)

    def generation() -> tuple[int, int]:
        deployment = apps.read_namespaced_deployment("generations", "default")
        return deployment.metadata.generation, deployment.status.observed_generation

    assert generation() == (1, 1)
    apps.patch_namespaced_deployment_scale("generations", "default", {"spec": {"replicas": 3}})
    assert generation() == (2, 2)
    apps.patch_namespaced_deployment("generations", "default", {"metadata": {"annotations": {"a": "1"}}})
    assert generation() == (3, 3)
    apps.patch_namespaced_deployment("generations", "default", {"metadata": {"annotations": {"a": "1"}}})
    apps.patch_namespaced_deployment("generations", "default", {"metadata": {"labels": {"team": "x"}}})
    apps.patch_namespaced_deployment_status("generations", "default", {"status": {"collisionCount": 1}})
    assert generation() == (3, 3)
    apps.patch_namespaced_deployment("generations", "default", {"metadata": {"annotations": {"a": None}}})
    assert generation() == (4, 4)


def test_annotations_beyond_256_kib_are_invalid(admin):
    """apimachinery ValidateAnnotations: keys and values together at most TotalAnnotationSizeLimitB bytes."""
    apps = client.AppsV1Api(admin)
    _create(admin, "annotated")
    limit = 256 * 1024
    apps.patch_namespaced_deployment("annotated", "default", {"metadata": {"annotations": {"k": "x" * (limit - 1)}}})

    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("annotated", "default", {"metadata": {"annotations": {"k": "x" * limit}}})

    status = _status(refused.value)
    assert (refused.value.status, status["message"]) == (
        422, 'Deployment.apps "annotated" is invalid: metadata.annotations: Too long: must have at most 262144 bytes')
    assert status["details"]["causes"] == [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                                            "message": "Too long: must have at most 262144 bytes"}]


def test_config_map_data_beyond_1_mib_is_invalid(admin):
    """ValidateConfigMap: the values of data and binaryData together at most core.MaxSecretSize (1 MiB)."""
    core = client.CoreV1Api(admin)
    limit = 1024 * 1024
    half = "y" * (limit // 2)
    core.create_namespaced_config_map("default", {"metadata": {"name": "full"}, "data": {"a": half, "b": half}})

    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_config_map("full", "default", {"metadata": {"name": "full"},
                                                               "data": {"a": half, "b": half + "z"}})
    with pytest.raises(ApiException) as bad_key:
        core.create_namespaced_config_map("default", {"metadata": {"name": "slash"}, "data": {"a/b": "1"}})

    assert (refused.value.status, _status(refused.value)["message"]) == (
        422, 'ConfigMap "full" is invalid: []: Too long: must have at most 1048576 bytes')
    assert (bad_key.value.status, _status(bad_key.value)["details"]["causes"][0]["field"]) == (422, "data[a/b]")
