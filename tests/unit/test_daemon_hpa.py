"""The loop beside a HorizontalPodAutoscaler that scales a managed Deployment: decide, never write, warn once."""
from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from scalerd.kube.cache import hpa_target
from scalerd.readings import Reading
from scalerd.reasons import Reason
from tests.unit.daemon_fakes import FakeHpas, Harness, make_config, rps_target


class Bed(Harness):
    """Two targets, `api` (2 replicas) and `web` (3), each read at 45 rps, and the HPAs the cache would know."""

    def __init__(self, *, with_hpas: bool = True) -> None:
        self.hpas = FakeHpas()
        super().__init__(make_config(rps_target("api"), rps_target("web")), hpas=self.hpas if with_hpas else None)
        self.cluster.add("api", replicas=2)
        self.cluster.add("web", replicas=3)
        self.set_rps(45.0, "api")
        self.set_rps(45.0, "web")

    def cycle(self, **options) -> dict:
        self.clocks.advance(1.0)
        return {result.target: result for result in self.daemon.run_cycle(**options)}

    def conflict_events(self) -> list[dict]:
        return [event for event in self.writer.events if event["reason"] == "HPAConflict"]


@pytest.fixture
def bed() -> Bed:
    return Bed()


def test_a_deployment_scaled_by_an_hpa_is_decided_but_never_written(bed):
    bed.hpas.scaling[("apps", "api")] = "api-hpa"

    with capture_logs() as logs:
        results = bed.cycle()

    api = results["api"]
    assert (api.current, api.desired, api.applied, api.reason, api.error, api.write_status) == (
        2, 5, False, Reason.HPA_CONFLICT, None, None)
    assert [(name, replicas) for name, replicas, _ in bed.writer.scales] == [("web", 5)]
    assert [key for key, _ in bed.store.puts] == [("apps", "web")]
    [decision] = [line for line in logs if line["event"] == "decision" and line["target"] == "api"]
    assert decision["reason"] == Reason.HPA_CONFLICT
    assert decision["message"].startswith(
        "HorizontalPodAutoscaler api-hpa also scales Deployment apps/api: scalerd does not write its replicas while "
        "that HPA exists (it would have set 5: ")
    [warning] = [line for line in logs if line["event"] == "hpa_conflict"]
    assert (warning["log_level"], warning["target"], warning["hpa"]) == ("warning", "api", "api-hpa")


def test_one_warning_event_per_conflict_not_per_cycle(bed):
    bed.hpas.scaling[("apps", "api")] = "api-hpa"

    for _ in range(3):
        bed.cycle()

    [event] = bed.conflict_events()
    assert (event["type"], event["involved"], event["namespace"]) == ("Warning", "api", "apps")
    assert event["message"] == (
        "HorizontalPodAutoscaler api-hpa also scales Deployment apps/api: scalerd does not write its replicas while "
        "that HPA exists; delete the HPA or the scalerd target api")


def test_the_event_comes_again_only_after_the_conflict_went_away_and_came_back(bed):
    bed.sources.values[("api", "rps")] = Reading("rps", value=20.0)  # 2 replicas: nothing to write
    bed.hpas.scaling[("apps", "api")] = "api-hpa"
    bed.cycle()
    bed.cycle()
    del bed.hpas.scaling[("apps", "api")]
    bed.cycle()
    bed.hpas.scaling[("apps", "api")] = "api-hpa-2"
    bed.cycle()

    assert [event["message"].split()[1] for event in bed.conflict_events()] == ["api-hpa", "api-hpa-2"]


def test_scalerd_manages_the_deployment_again_at_the_cycle_after_the_hpa_is_deleted(bed):
    bed.hpas.scaling[("apps", "api")] = "api-hpa"
    bed.cycle()
    bed.cluster.update("apps", "api", replicas=4)  # the HPA scaled it meanwhile
    del bed.hpas.scaling[("apps", "api")]

    api = bed.cycle()["api"]

    assert (api.current, api.desired, api.applied, api.reason) == (4, 5, True, "scale_up")
    assert [(name, replicas) for name, replicas, _ in bed.writer.scales] == [("web", 5), ("api", 5)]
    assert bed.store.persisted[("apps", "api")].state.last_change is not None


def test_once_waits_for_the_hpas_first_list(bed):
    bed.hpas.scaling[("apps", "web")] = "web-hpa"

    results = bed.cycle(wait_for_every_target=True)

    assert bed.hpas.waits == [10.0]
    assert (results["web"].reason, results["api"].applied) == (Reason.HPA_CONFLICT, True)


def test_without_an_hpa_reader_every_target_is_written():
    bed = Bed(with_hpas=False)

    results = bed.cycle()

    assert {name: result.applied for name, result in results.items()} == {"api": True, "web": True}


@pytest.mark.parametrize(("scale_target_ref", "deployment"), [
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, "api", id="apps-v1-deployment"),
    pytest.param({"apiVersion": "apps/v1beta2", "kind": "Deployment", "name": "api"}, "api", id="other-apps-version"),
    pytest.param({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "api"}, None, id="statefulset"),
    pytest.param({"apiVersion": "example.com/v1", "kind": "Deployment", "name": "api"}, None, id="other-group"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment"}, None, id="no-name"),
    pytest.param(None, None, id="no-ref"),
])
def test_hpa_target_names_only_deployments_of_the_apps_group(scale_target_ref, deployment):
    assert hpa_target({"spec": {"scaleTargetRef": scale_target_ref}}) == deployment
