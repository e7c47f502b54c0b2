"""The pure parts of the Deployment cache: what a view holds, version ordering, reconnect backoff."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalerd.kube.cache import RECONNECT_MAX, DeploymentView, is_older, reconnect_delay

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "812", "generation": 4,
                 "annotations": {"scalerd.io/paused": "true"}, "labels": {"app": "web"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "front"}}},
    "status": {"replicas": 3, "readyReplicas": 2, "observedGeneration": 3},
}


def test_view_of_a_deployment():
    view = DeploymentView.from_object(DEPLOYMENT)
    assert view == DeploymentView(
        namespace="shop", name="web", uid="u-1", resource_version="812", replicas=3, ready_replicas=2,
        selector={"app": "web", "tier": "front"}, annotations={"scalerd.io/paused": "true"},
        generation=4, observed_generation=3,
    )


def test_view_cannot_be_changed_through_its_mappings():
    view = DeploymentView.from_object(DEPLOYMENT)
    with pytest.raises(TypeError):
        view.annotations["scalerd.io/paused"] = "false"


def test_view_of_a_fresh_deployment_uses_the_api_defaults():
    fresh = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
    view = DeploymentView.from_object(fresh)
    assert (view.replicas, view.ready_replicas, dict(view.annotations), dict(view.selector)) == (1, 0, {}, {})
    assert (view.generation, view.observed_generation, view.resource_version) == (0, 0, "")


def test_view_of_a_deployment_scaled_to_zero():
    assert DeploymentView.from_object({**DEPLOYMENT, "spec": {"replicas": 0}}).replicas == 0


@pytest.mark.parametrize(("candidate", "current", "older"), [
    pytest.param("9", "10", True, id="numerically-older"),
    pytest.param("10", "9", False, id="numerically-newer"),
    pytest.param("10", "10", False, id="same"),
    pytest.param("abc", "10", False, id="opaque-candidate"),
    pytest.param("10", "", False, id="unknown-current"),
])
def test_is_older(candidate, current, older):
    assert is_older(candidate, current) is older


@given(st.integers(1, 60), st.floats(0.0, 1.0))
def test_reconnect_delay_grows_and_is_capped(failures, fraction):
    step = min(RECONNECT_MAX, 0.5 * 2 ** (failures - 1))
    assert step / 2 <= reconnect_delay(failures, random_fraction=lambda: fraction) <= step
