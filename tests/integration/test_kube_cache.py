"""DeploymentCache on the API emulator with the scalerd ServiceAccount: list once, then follow the watch; only the
configured Deployments are kept."""
from __future__ import annotations

import threading
import time

import pytest
from structlog.testing import capture_logs

from scalerd.kube.cache import DeploymentCache
from tests.integration.daemon_support import wait_until
from tests.integration.kube_emulator import deployment, running_emulator

MERGE_PATCH = "application/merge-patch+json"
SHORT_HISTORY = 5


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("kube-cache")) as running:
        running.create_namespaces("shop", "elsewhere", "resume", "fresh", "first", "second", "stopping", "flaky",
                                  "crowded", "relisted")
        yield running


@pytest.fixture
def admin(emulator):
    return emulator.admin_apps()


@pytest.fixture
def cache(emulator):
    caches: list[DeploymentCache] = []

    def make(deployments) -> tuple[DeploymentCache, list[tuple[str, int]]]:
        """A started, synced cache whose watch is open, and the (verb, status) of every request it sent, as it
        counts them. Synced means listed: the watch opens just after, so a test's next request could precede it."""
        sent: list[tuple[str, int]] = []
        made = DeploymentCache(emulator.scalerd_client(), deployments=deployments,
                               on_request=lambda verb, code: sent.append((verb, code)))
        caches.append(made)
        made.start()
        assert made.wait_synced(15.0)
        wait_until(lambda: ("watch", 200) in sent, timeout=10.0)
        return made, sent

    yield make
    for made in caches:
        made.stop()


def scale(admin, namespace: str, name: str, replicas: int) -> None:
    admin.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}},
                                            _content_type=MERGE_PATCH)


def replicas_in(cache: DeploymentCache, namespace: str, name: str) -> int | None:
    view = cache.get(namespace, name)
    return None if view is None else view.replicas


def deployment_requests(emulator, namespace: str) -> list[tuple[str, str]]:
    """What the emulator logged (a watch only once it has ended)."""
    prefix = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return [(line["verb"], line["path"]) for line in emulator.audit() if line["path"].startswith(prefix)]


def test_one_list_then_the_watch_carries_every_change_and_no_get(emulator, admin, cache):
    admin.create_namespaced_deployment("shop", deployment("web", replicas=2))
    admin.create_namespaced_deployment("shop", deployment("api", replicas=1))
    admin.create_namespaced_deployment("elsewhere", deployment("web", replicas=9))
    shop, sent = cache([("shop", "web"), ("shop", "api"), ("shop", "batch")])
    web = shop.get("shop", "web")
    assert (web.replicas, dict(web.selector), web.generation) == (2, {"app": "web"}, 1)
    assert shop.get("elsewhere", "web") is None

    scale(admin, "shop", "web", 4)
    wait_until(lambda: replicas_in(shop, "shop", "web") == 4, timeout=10.0)
    admin.patch_namespaced_deployment("web", "shop", {"metadata": {"annotations": {"scalerd.io/paused": "true"}}},
                                      _content_type=MERGE_PATCH)
    wait_until(lambda: shop.get("shop", "web").annotations.get("scalerd.io/paused") == "true", timeout=10.0)
    admin.delete_namespaced_deployment("api", "shop")
    wait_until(lambda: shop.get("shop", "api") is None, timeout=10.0)
    admin.create_namespaced_deployment("shop", deployment("batch", replicas=3))
    wait_until(lambda: replicas_in(shop, "shop", "batch") == 3, timeout=10.0)
    for _ in range(50):
        assert shop.get("shop", "web").replicas == 4

    assert sent == [("list", 200), ("watch", 200)]
    assert deployment_requests(emulator, "shop") == [("list", "/apis/apps/v1/namespaces/shop/deployments")]
    assert deployment_requests(emulator, "elsewhere") == []


def test_a_dropped_watch_resumes_from_the_last_version_without_a_new_list(emulator, admin, cache):
    admin.create_namespaced_deployment("resume", deployment("web", replicas=1))
    resume, sent = cache([("resume", "web")])
    scale(admin, "resume", "web", 2)
    wait_until(lambda: replicas_in(resume, "resume", "web") == 2, timeout=10.0)  # the watch is open
    emulator.server.drop_watches()
    scale(admin, "resume", "web", 6)
    wait_until(lambda: replicas_in(resume, "resume", "web") == 6, timeout=10.0)
    assert sent == [("list", 200), ("watch", 200), ("watch", 200)]
    assert [verb for verb, _ in deployment_requests(emulator, "resume")] == ["list", "watch"]


def test_a_version_gone_from_the_history_makes_it_list_again(tmp_path):
    with running_emulator(tmp_path, history_limit=SHORT_HISTORY) as short:
        short.create_namespaces("gone", "filler")
        admin = short.admin_apps()
        admin.create_namespaced_deployment("gone", deployment("web", replicas=0))
        sent: list[tuple[str, int]] = []
        gone = DeploymentCache(short.scalerd_client(), deployments=[("gone", "web")],
                               on_request=lambda verb, code: sent.append((verb, code)))
        gone.start()
        try:
            assert gone.wait_synced(5.0)
            admin.patch_namespaced_deployment("web", "gone", {"metadata": {"annotations": {"seen": "yes"}}},
                                              _content_type=MERGE_PATCH)
            wait_until(lambda: "seen" in gone.get("gone", "web").annotations, timeout=10.0)  # the watch is open
            # The reconnecting watch is held back while more writes than the history keeps go by.
            short.server.inject_fault(verb="watch", path_pattern="/namespaces/gone/deployments$", stall_seconds=1.0)
            short.server.drop_watches()
            scale(admin, "gone", "web", 7)
            for index in range(SHORT_HISTORY + 1):
                admin.create_namespaced_deployment("filler", deployment(f"filler-{index}", replicas=0))
            wait_until(lambda: replicas_in(gone, "gone", "web") == 7, timeout=10.0)
        finally:
            gone.stop()
    # The second watch is answered 200 with an ERROR event (410 Gone) in its stream, as a real API server does.
    assert sent == [("list", 200), ("watch", 200), ("watch", 200), ("list", 200), ("watch", 200)]


def test_refresh_is_one_get_that_updates_the_cache(emulator, admin, cache):
    admin.create_namespaced_deployment("fresh", deployment("web", replicas=1))
    fresh, _ = cache([("fresh", "web"), ("fresh", "missing")])
    scale(admin, "fresh", "web", 3)
    view = fresh.refresh("fresh", "web")
    assert (view.name, view.replicas) == ("web", 3)
    assert replicas_in(fresh, "fresh", "web") == 3
    assert fresh.refresh("fresh", "missing") is None

    def gets() -> list[tuple[str, int]]:
        return [(line["path"], line["status"]) for line in emulator.audit() if line["verb"] == "get"]

    wait_until(lambda: len(gets()) == 2, timeout=10.0)  # a request is logged once answered
    assert gets() == [("/apis/apps/v1/namespaces/fresh/deployments/web", 200),
                      ("/apis/apps/v1/namespaces/fresh/deployments/missing", 404)]


def test_namespaces_follow_the_configuration(emulator, admin, cache):
    admin.create_namespaced_deployment("first", deployment("web", replicas=1))
    admin.create_namespaced_deployment("second", deployment("web", replicas=2))
    moving, _ = cache([("first", "web")])
    moving.set_deployments([("second", "web")])
    assert moving.wait_synced(5.0)
    assert (moving.get("first", "web"), replicas_in(moving, "second", "web")) == (None, 2)
    watchers = [thread.name for thread in threading.enumerate() if thread.name.startswith("deployment-watch-")]
    assert "deployment-watch-first" not in watchers and "deployment-watch-second" in watchers


def test_stop_ends_every_watch_thread(emulator, admin):
    admin.create_namespaced_deployment("stopping", deployment("web", replicas=1))
    stopping = DeploymentCache(emulator.scalerd_client(), deployments=[("stopping", "web")])
    stopping.start()
    assert stopping.wait_synced(5.0)
    stopping.stop()
    assert "deployment-watch-stopping" not in [thread.name for thread in threading.enumerate()]
    assert not stopping.synced() or stopping.get("stopping", "web") is None


def test_failing_reconnects_back_off_and_resume_from_the_last_version(emulator, admin, cache):
    admin.create_namespaced_deployment("flaky", deployment("web", replicas=1))
    flaky, sent = cache([("flaky", "web")])
    scale(admin, "flaky", "web", 2)
    wait_until(lambda: replicas_in(flaky, "flaky", "web") == 2, timeout=10.0)  # the watch is open
    emulator.server.inject_fault(verb="watch", path_pattern="/namespaces/flaky/deployments$", status=500, count=2)
    emulator.server.drop_watches()
    with capture_logs() as logs:
        started = time.monotonic()
        scale(admin, "flaky", "web", 5)
        wait_until(lambda: replicas_in(flaky, "flaky", "web") == 5, timeout=15.0, what="the watch resumed")
        waited = time.monotonic() - started
    assert sent == [("list", 200), ("watch", 200), ("watch", 500), ("watch", 500), ("watch", 200)]
    # The delays the cache chose, not the wall time, which only grows on a busy machine.
    first, second = (entry["retry_in"] for entry in logs if entry["event"] == "deployment_watch_failed")
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0, "two backoff steps: 0.25-0.5 s, then 0.5-1 s"
    assert waited >= first + second - 0.02, "it waited them out (rounded to 0.01 s in the log)"


def test_only_the_configured_deployments_are_kept_and_a_newly_named_one_is_there_at_once(emulator, admin, cache):
    for name, replicas in (("web", 1), ("api", 2), ("other", 3)):
        admin.create_namespaced_deployment("crowded", deployment(name, replicas=replicas))
    crowded, sent = cache([("crowded", "web")])
    admin.create_namespaced_deployment("crowded", deployment("late", replicas=4))
    scale(admin, "crowded", "web", 5)
    wait_until(lambda: replicas_in(crowded, "crowded", "web") == 5, timeout=10.0)  # the watch carried both events
    assert [crowded.get("crowded", name) for name in ("api", "other", "late")] == [None, None, None]

    crowded.set_deployments([("crowded", "api"), ("crowded", "late")])

    assert (replicas_in(crowded, "crowded", "api"), replicas_in(crowded, "crowded", "late")) == (2, 4)
    assert crowded.get("crowded", "web") is None
    assert sent == [("list", 200), ("watch", 200), ("get", 200), ("get", 200)]
    scale(admin, "crowded", "other", 6)
    scale(admin, "crowded", "late", 7)
    wait_until(lambda: replicas_in(crowded, "crowded", "late") == 7, timeout=10.0)
    assert crowded.get("crowded", "other") is None
    assert sent == [("list", 200), ("watch", 200), ("get", 200), ("get", 200)]


def test_a_newly_named_deployment_whose_get_fails_comes_with_a_fresh_list(emulator, admin, cache):
    admin.create_namespaced_deployment("relisted", deployment("web", replicas=1))
    admin.create_namespaced_deployment("relisted", deployment("api", replicas=3))
    relisted, sent = cache([("relisted", "web")])
    emulator.server.inject_fault(verb="get", path_pattern="/namespaces/relisted/deployments/api$", status=500, count=1)

    relisted.set_deployments([("relisted", "web"), ("relisted", "api")])

    assert relisted.wait_synced(5.0)
    assert (replicas_in(relisted, "relisted", "web"), replicas_in(relisted, "relisted", "api")) == (1, 3)
    wait_until(lambda: len(sent) == 5, timeout=10.0)
    assert sent == [("list", 200), ("watch", 200), ("get", 500), ("list", 200), ("watch", 200)]
