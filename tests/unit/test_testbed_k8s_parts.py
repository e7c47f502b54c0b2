"""The API emulator's pure parts: selectors, patches, RBAC rules, the watch history, kubectl's age format."""
from __future__ import annotations

import copy

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.testbed import k8s_kinds, k8s_resources
from tests.testbed.k8s_errors import ApiError
from tests.testbed.k8s_patch import JSON_PATCH, MERGE, STRATEGIC, apply_patch, json_patch, merge_patch
from tests.testbed.k8s_rbac import Authorizer
from tests.testbed.k8s_selectors import field_matcher, label_matcher, selector_matches, selector_string
from tests.testbed.k8s_store import Store

LABELS = {"app": "web", "tier": "front", "track": "stable"}


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param("", True, id="empty"),
    pytest.param("app=web", True, id="equal"),
    pytest.param("app==web", True, id="double-equal"),
    pytest.param("app!=web", False, id="not-equal"),
    pytest.param("app=web,tier=back", False, id="and"),
    pytest.param("tier in (front, back)", True, id="in"),
    pytest.param("tier notin (front)", False, id="notin"),
    pytest.param("missing notin (x)", True, id="notin-absent"),
    pytest.param("missing!=x", True, id="not-equal-absent"),
    pytest.param("track", True, id="exists"),
    pytest.param("!track", False, id="does-not-exist"),
    pytest.param("!missing,app in (web,api),tier", True, id="mixed"),
])
def test_label_selector(selector, matches):
    assert label_matcher(selector)({"metadata": {"labels": LABELS}}) is matches


@pytest.mark.parametrize("selector", [
    pytest.param("app=(web", id="parenthesis"),
    pytest.param("!tier in (a)", id="negated-set"),
    pytest.param("a b", id="space"),
])
def test_bad_label_selector_is_a_bad_request(selector):
    with pytest.raises(ApiError) as raised:
        label_matcher(selector)
    assert raised.value.code == 400


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param("metadata.name=web-1", True, id="name"),
    pytest.param("metadata.name!=web-1", False, id="not-name"),
    pytest.param("metadata.namespace=default,involvedObject.kind=Deployment", True, id="nested"),
    pytest.param("involvedObject.name=other", False, id="other"),
])
def test_field_selector(selector, matches):
    obj = {"metadata": {"name": "web-1", "namespace": "default"}, "involvedObject": {"kind": "Deployment"}}
    assert field_matcher(selector)(obj) is matches


def test_selector_string_is_sorted_by_key_like_the_real_one():
    selector = {"matchLabels": {"tier": "front", "app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert selector_string(selector) == "app=web,!canary,env in (dev,prod),tier=front"


label_maps = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), max_size=3)


@given(match_labels=label_maps, labels=label_maps)
def test_match_labels_selector_matches_exactly_the_superset_maps(match_labels, labels):
    expected = all(labels.get(key) == value for key, value in match_labels.items())
    assert selector_matches({"matchLabels": match_labels}, labels) is expected


DEPLOYMENT = {
    "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
        {"name": "side", "image": "side:1"}]}}},
}


@pytest.mark.parametrize(("content_type", "patch", "expected_containers", "expected_replicas"), [
    pytest.param(MERGE, {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}}},
                 [{"name": "side", "image": "side:2"}], 2, id="merge-replaces-lists"),
    pytest.param(STRATEGIC, {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}}},
                 [DEPLOYMENT["spec"]["template"]["spec"]["containers"][0], {"name": "side", "image": "side:2"}], 2,
                 id="strategic-merges-by-name"),
    pytest.param(STRATEGIC, {"spec": {"template": {"spec": {"containers": [{"name": "app", "$patch": "delete"}]}}}},
                 [{"name": "side", "image": "side:1"}], 2, id="strategic-delete"),
    pytest.param(STRATEGIC, {"spec": {"replicas": 4, "template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}},
                 [{"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                  {"name": "side", "image": "side:1"}], 4, id="strategic-nested-env"),
    pytest.param(JSON_PATCH, [{"op": "replace", "path": "/spec/replicas", "value": 5},
                              {"op": "remove", "path": "/spec/template/spec/containers/0"}],
                 [{"name": "side", "image": "side:1"}], 5, id="json-patch"),
])
def test_patch_types(content_type, patch, expected_containers, expected_replicas):
    original = copy.deepcopy(DEPLOYMENT)
    patched = apply_patch(original, patch, content_type)
    assert patched["spec"]["template"]["spec"]["containers"] == expected_containers
    assert patched["spec"]["replicas"] == expected_replicas
    assert original == DEPLOYMENT


def test_strategic_patch_unions_finalizers_and_null_deletes():
    patched = apply_patch(DEPLOYMENT, {"metadata": {"finalizers": ["b"], "labels": None}}, STRATEGIC)
    assert patched["metadata"] == {"name": "web", "finalizers": ["a", "b"]}


@pytest.mark.parametrize(("operations", "code"), [
    pytest.param([{"op": "test", "path": "/spec/replicas", "value": 3}], 422, id="failed-test"),
    pytest.param([{"op": "remove", "path": "/spec/nothing/here"}], 422, id="missing-path"),
    pytest.param([{"op": "jump", "path": "/spec"}], 400, id="unknown-op"),
    pytest.param([{"op": "add", "path": "/spec/x"}], 400, id="no-value"),
])
def test_json_patch_failures(operations, code):
    with pytest.raises(ApiError) as raised:
        json_patch(DEPLOYMENT, operations)
    assert raised.value.code == code


json_values = st.recursive(st.none() | st.integers() | st.text(max_size=3),
                           lambda children: st.dictionaries(st.text(max_size=3), children, max_size=3), max_leaves=8)


@given(target=st.dictionaries(st.text(max_size=3), json_values, max_size=4),
       patch=st.dictionaries(st.text(max_size=3), json_values, max_size=4))
def test_merge_patch_is_idempotent(target, patch):
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(document=st.dictionaries(st.text(alphabet="abc/~", min_size=1, max_size=3), st.integers(), max_size=4),
       key=st.text(alphabet="abc/~", min_size=1, max_size=3), value=st.integers())
def test_json_patch_add_then_remove_restores(document, key, value):
    assume(key not in document)
    pointer = "/" + key.replace("~", "~0").replace("/", "~1")
    added = json_patch(document, [{"op": "add", "path": pointer, "value": value}])
    assert added[key] == value
    assert json_patch(added, [{"op": "remove", "path": pointer}]) == document


RBAC_DOCUMENTS = [
    {"kind": "ClusterRole", "metadata": {"name": "reader"},
     "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
               {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
               {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["only-this"]}]},
    {"kind": "ClusterRoleBinding", "metadata": {"name": "reader"},
     "roleRef": {"kind": "ClusterRole", "name": "reader"},
     "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "tools"}]},
    {"kind": "Role", "metadata": {"name": "leases", "namespace": "tools"},
     "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
    {"kind": "RoleBinding", "metadata": {"name": "leases", "namespace": "tools"},
     "roleRef": {"kind": "Role", "name": "leases"}, "subjects": [{"kind": "User", "name": "alice"}]},
    {"kind": "ConfigMap", "metadata": {"name": "ignored"}},
]


@pytest.mark.parametrize(("user", "verb", "group", "resource", "namespace", "name", "allowed"), [
    pytest.param("system:serviceaccount:tools:bot", "get", "apps", "deployments", "default", "x", True, id="get"),
    pytest.param("system:serviceaccount:tools:bot", "delete", "apps", "deployments", "default", "x", False,
                 id="verb-not-granted"),
    pytest.param("system:serviceaccount:tools:bot", "patch", "apps", "deployments/scale", "a", "x", True,
                 id="subresource"),
    pytest.param("system:serviceaccount:tools:bot", "patch", "apps", "deployments", "a", "x", False,
                 id="subresource-is-not-resource"),
    pytest.param("system:serviceaccount:tools:bot", "get", "", "configmaps", "a", "only-this", True,
                 id="resource-name"),
    pytest.param("system:serviceaccount:tools:bot", "get", "", "configmaps", "a", "other", False,
                 id="other-resource-name"),
    pytest.param("system:serviceaccount:other:bot", "get", "apps", "deployments", "a", "x", False,
                 id="other-namespace-account"),
    pytest.param("alice", "delete", "apps", "deployments/scale", "tools", "x", True, id="wildcards"),
    pytest.param("alice", "get", "apps", "deployments", "default", "x", False, id="role-binding-namespace"),
    pytest.param("alice", "list", "", "pods", "", "", False, id="cluster-scope"),
])
def test_rbac(user, verb, group, resource, namespace, name, allowed):
    authorizer = Authorizer(RBAC_DOCUMENTS)
    assert authorizer.allows(user=user, verb=verb, group=group, resource=resource, namespace=namespace,
                             name=name) is allowed


def _configmap(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}}


def test_watch_replays_after_a_resource_version_and_refuses_an_evicted_one():
    store = Store(history_limit=3)
    for index in range(5):
        store.write("/configmaps", _configmap(f"cm-{index}"))
    _, replay, _ = store.open_watch("/configmaps", "default", since=3)
    assert [(event.resource_version, event.type) for event in replay] == [(4, "ADDED"), (5, "ADDED")]
    _, from_oldest_kept, latest = store.open_watch("/configmaps", None, since=2)
    assert [event.resource_version for event in from_oldest_kept] == [3, 4, 5]
    assert latest == 5
    with pytest.raises(ApiError) as raised:
        store.open_watch("/configmaps", "default", since=1)
    assert (raised.value.code, raised.value.reason, raised.value.message) == (
        410, "Expired", "too old resource version: 1 (3)")


def test_watchers_receive_only_their_namespace_and_a_drop_ends_them():
    store = Store(history_limit=10)
    watcher, backlog, _ = store.open_watch("/configmaps", "default", since=None)
    store.write("/configmaps", {"metadata": {"name": "elsewhere", "namespace": "other"}})
    store.write("/configmaps", _configmap("here"))
    store.delete("/configmaps", "default", "here")
    assert store.drop_watches() == 1
    received = []
    while (event := watcher.events.get(timeout=1)) is not None:
        received.append((event.type, event.obj["metadata"]["name"], event.obj["metadata"]["resourceVersion"]))
    assert backlog == []
    assert received == [("ADDED", "here", "2"), ("DELETED", "here", "3")]


@pytest.mark.parametrize(("seconds", "shown"), [
    pytest.param(0, "0s", id="zero"),
    pytest.param(119, "119s", id="seconds"),
    pytest.param(125, "2m5s", id="minutes-seconds"),
    pytest.param(600, "10m", id="minutes"),
    pytest.param(3 * 3600 + 60, "3h1m", id="hours-minutes"),
    pytest.param(30 * 3600, "30h", id="hours"),
    pytest.param(50 * 3600, "2d", id="days"),
])
def test_human_duration(seconds, shown):
    assert k8s_kinds.human_duration(seconds) == shown


def test_unknown_fields_are_reported_with_their_path():
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "lables": {}},
            "spec": {"replicass": 1, "template": {"spec": {"containers": [{"name": "a", "imagee": "b"}]}}}}
    schema = k8s_kinds.schema_for(k8s_resources.DEPLOYMENTS, "Deployment")
    assert k8s_kinds.unknown_fields(body, schema) == [
        "metadata.lables", "spec.replicass", "spec.template.spec.containers[0].imagee"]
    assert k8s_kinds.prune_unknown(body, schema)["spec"] == {"template": {"spec": {"containers": [{"name": "a"}]}}}


def test_discovery_lists_the_scale_subresource_in_group_autoscaling():
    resources = k8s_resources.api_resource_list(k8s_resources.RESOURCES, group="apps", version="v1")["resources"]
    assert [entry for entry in resources if entry["name"] == "deployments/scale"] == [
        {"name": "deployments/scale", "singularName": "", "namespaced": True, "kind": "Scale",
         "verbs": ["get", "patch", "update"], "group": "autoscaling", "version": "v1"}]
