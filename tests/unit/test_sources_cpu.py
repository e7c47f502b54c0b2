"""The HPA's view of a Deployment's pods (groupPods, request sums, MilliValue rounding), with a fixed clock."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client as kube

from scalerd.readings import PodCpu
from scalerd.sources.cpu import (
    CpuReadError,
    PodSample,
    go_duration,
    label_selector,
    millicores,
    pod_cpu,
    samples_by_pod,
)

NOW = 1_700_000_000.0
LONG_AGO = NOW - 3600  # well past the 5-minute CPU initialization period


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def container(name: str, cpu: str | None, *, restart_policy: str | None = None) -> kube.V1Container:
    requests = {"cpu": cpu, "memory": "64Mi"} if cpu is not None else {"memory": "64Mi"}
    return kube.V1Container(name=name, resources=kube.V1ResourceRequirements(requests=requests),
                            restart_policy=restart_policy)


def pod(name: str, *, cpu: str | None = "500m", phase: str = "Running", ready: str | None = "True",
        started: float | None = LONG_AGO, ready_since: float | None = LONG_AGO + 10, deleting: bool = False,
        containers: list[kube.V1Container] | None = None,
        init_containers: list[kube.V1Container] | None = None) -> kube.V1Pod:
    conditions = None
    if ready is not None:
        conditions = [kube.V1PodCondition(type="Ready", status=ready,
                                          last_transition_time=at(ready_since) if ready_since else None)]
    return kube.V1Pod(
        metadata=kube.V1ObjectMeta(name=name, deletion_timestamp=at(NOW - 1) if deleting else None),
        spec=kube.V1PodSpec(containers=containers or [container("app", cpu)], init_containers=init_containers),
        status=kube.V1PodStatus(phase=phase, conditions=conditions, start_time=at(started) if started else None),
    )


def sample(usage: int, *, timestamp: float = NOW - 5, window: float = 30.0) -> PodSample:
    return PodSample(usage_millicores=usage, timestamp=timestamp, window=window)


def test_ready_running_pods_carry_their_requests_and_usage_sorted_by_name():
    pods = [pod("web-b", cpu="250m"), pod("web-a", cpu="1")]

    detail = pod_cpu(pods, {"web-a": sample(700), "web-b": sample(100)}, now=NOW)

    assert detail == (PodCpu("web-a", 1000, 700, True), PodCpu("web-b", 250, 100, True))


@pytest.mark.parametrize(
    ("the_pod", "the_sample", "expected"),
    [
        pytest.param(pod("p", deleting=True), sample(300), None, id="being-deleted-left-out"),
        pytest.param(pod("p", phase="Failed"), sample(300), None, id="failed-left-out"),
        pytest.param(pod("p", phase="Pending", ready="False"), None, PodCpu("p", 500, 0, False),
                     id="pending-without-sample-is-unready-not-missing"),
        pytest.param(pod("p", phase="Pending", ready="False"), sample(300), PodCpu("p", 500, 300, False),
                     id="pending-with-sample-is-unready"),
        pytest.param(pod("p"), None, PodCpu("p", 500, None, True), id="running-without-sample-is-missing"),
        pytest.param(pod("p", ready="False", ready_since=LONG_AGO + 1), None, PodCpu("p", 500, None, True),
                     id="missing-wins-over-unready"),
        pytest.param(pod("p", ready=None), sample(300), PodCpu("p", 500, 300, False), id="no-ready-condition"),
        pytest.param(pod("p", started=None), sample(300), PodCpu("p", 500, 300, False), id="no-start-time"),
        pytest.param(pod("p", started=NOW - 60, ready_since=NOW - 50), sample(300, timestamp=NOW - 5),
                     PodCpu("p", 500, 300, True), id="initializing-ready-with-a-full-window-since"),
        pytest.param(pod("p", started=NOW - 60, ready_since=NOW - 20), sample(300, timestamp=NOW - 5),
                     PodCpu("p", 500, 300, False), id="initializing-window-began-before-ready"),
        pytest.param(pod("p", started=NOW - 60, ready="False", ready_since=NOW - 50), sample(300),
                     PodCpu("p", 500, 300, False), id="initializing-not-ready"),
        pytest.param(pod("p", ready="False", ready_since=LONG_AGO + 20), sample(300),
                     PodCpu("p", 500, 300, False), id="initialized-never-been-ready"),
        pytest.param(pod("p", ready="False", ready_since=LONG_AGO + 600), sample(300),
                     PodCpu("p", 500, 300, True), id="initialized-was-ready-once-counts"),
        pytest.param(pod("p", ready="Unknown"), sample(300), PodCpu("p", 500, 300, True),
                     id="initialized-ready-unknown-counts"),
    ],
)
def test_pods_are_grouped_as_the_hpa_does(the_pod, the_sample, expected):
    samples = {"p": the_sample} if the_sample else {"other": sample(1)}

    detail = pod_cpu([the_pod], samples, now=NOW)

    assert detail == ((expected,) if expected else ())


def test_requests_sum_containers_and_sidecars_but_not_plain_init_containers():
    the_pod = pod("p", containers=[container("app", "300m"), container("proxy", "50m")],
                  init_containers=[container("migrate", "2"), container("mesh", "100m", restart_policy="Always")])

    (detail,) = pod_cpu([the_pod], {"p": sample(10)}, now=NOW)

    assert detail.request_millicores == 450


def test_a_container_without_a_cpu_request_fails_the_reading_as_the_hpa():
    pods = [pod("web-0"), pod("web-1", containers=[container("app", "100m"), container("log-shipper", None)])]

    with pytest.raises(CpuReadError, match="^missing request for cpu in container log-shipper of pod web-1$"):
        pod_cpu(pods, {"web-0": sample(10)}, now=NOW)


def test_no_metrics_at_all_is_the_hpa_error():
    with pytest.raises(CpuReadError, match="^unable to get metrics for resource cpu: no metrics returned from "
                                           "resource metrics API$"):
        pod_cpu([pod("p")], {}, now=NOW)


def test_no_pods_is_the_hpa_error():
    with pytest.raises(CpuReadError, match="^no pods returned by selector while calculating replica count$"):
        pod_cpu([], {"p": sample(1)}, now=NOW)


def test_pod_metrics_sum_containers_and_skip_pods_with_a_container_lacking_cpu():
    pod_metrics = {"items": [
        {"metadata": {"name": "a"}, "timestamp": "2023-11-14T22:13:20Z", "window": "30s",
         "containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "10Mi"}},
                        {"name": "proxy", "usage": {"cpu": "1500000n"}}]},
        {"metadata": {"name": "b"}, "timestamp": "2023-11-14T22:13:20Z", "window": "1m0s",
         "containers": [{"name": "app", "usage": {"memory": "10Mi"}}]},
        {"metadata": {"name": "c"}, "timestamp": "2023-11-14T22:13:20Z", "window": "15s", "containers": []},
    ]}

    assert samples_by_pod(pod_metrics) == {"a": PodSample(usage_millicores=252, timestamp=1_700_000_000.0,
                                                          window=30.0)}


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        pytest.param("250m", 250, id="millicores"),
        pytest.param("1", 1000, id="cores"),
        pytest.param("1.5", 1500, id="fractional-cores"),
        pytest.param("1500000n", 2, id="nanocores-round-up"),
        pytest.param("2u", 1, id="microcores-round-up"),
        pytest.param("1000000n", 1, id="nanocores-exact"),
        pytest.param("0", 0, id="zero"),
        pytest.param("2k", 2_000_000, id="kilo"),
    ],
)
def test_cpu_quantities_in_millicores_rounded_up(quantity, expected):
    assert millicores(quantity) == expected


@given(nanocores=st.integers(min_value=0, max_value=10**15))
def test_nanocores_round_up_to_the_next_whole_millicore(nanocores):
    # metrics-server writes usage in nanocores; MilliValue() rounds any remainder up
    assert millicores(f"{nanocores}n") == -(-nanocores // 1_000_000)


@given(millis=st.integers(min_value=0, max_value=10**9))
def test_millicores_and_their_decimal_cores_agree(millis):
    assert millicores(f"{millis}m") == millis
    assert millicores(f"{millis / 1000:.3f}") == millis


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("1m0s", 60.0, id="minutes-and-seconds"),
        pytest.param("1m30.5s", 90.5, id="fractional"),
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("0", 0.0, id="bare-zero"),
    ],
)
def test_go_durations(text, expected):
    assert go_duration(text) == expected


def test_a_window_that_is_not_a_duration_is_an_error():
    with pytest.raises(CpuReadError, match="PodMetrics window '30 seconds' is not a duration"):
        go_duration("30 seconds")


def test_label_selector_from_match_labels_and_expressions():
    selector = kube.V1LabelSelector(
        match_labels={"app": "web", "tier": "front"},
        match_expressions=[
            kube.V1LabelSelectorRequirement(key="track", operator="In", values=["stable", "canary"]),
            kube.V1LabelSelectorRequirement(key="legacy", operator="NotIn", values=["yes"]),
            kube.V1LabelSelectorRequirement(key="owner", operator="Exists"),
            kube.V1LabelSelectorRequirement(key="debug", operator="DoesNotExist"),
        ],
    )

    assert label_selector(selector) == "app=web,tier=front,track in (stable,canary),legacy notin (yes),owner,!debug"
