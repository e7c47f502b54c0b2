"""The state store on the API emulator with the scalerd ServiceAccount: sharding, preconditions, batching, bounds."""
from __future__ import annotations

import threading

import pytest

from scalerd.engine import EngineState
from scalerd.kube.state_store import SHARDS, StateStore, data_key, shard_name, shard_of
from scalerd.kube.writer import KubeWriter
from scalerd.writeahead import Intent, TargetRecord, decode_record, encode_record
from tests.integration.kube_emulator import running_emulator

STORE_NAMESPACE = "scalerd"
CONFIG_MAPS = f"/api/v1/namespaces/{STORE_NAMESPACE}/configmaps"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("state-store")) as running:
        yield running


@pytest.fixture
def prefix(request) -> str:
    return "t" + str(abs(hash(request.node.name)) % 10**8)


def make_store(emulator, prefix: str, **options) -> StateStore:
    api_client = emulator.scalerd_client()
    writer = KubeWriter(api_client, dry_run=False, may_write=lambda: True)
    return StateStore(api_client, writer, namespace=STORE_NAMESPACE, prefix=prefix, **options)


def record(to: int, *, at: float = 1_700_000_000.0) -> TargetRecord:
    intent = Intent(from_replicas=1, to_replicas=to, at=at, by="test")
    return TargetRecord.for_intent(intent, state=EngineState(), reason="scale_up")


def store_requests(emulator, after: float) -> list[tuple[str, str, int]]:
    return [(line["verb"], line["path"], line["status"]) for line in emulator.audit(after=after)
            if line["path"].startswith(CONFIG_MAPS)]


def test_a_record_put_by_one_process_is_read_by_the_next(emulator, prefix):
    first = make_store(emulator, prefix)
    first.load()
    key = ("shop", "web")

    outcome = first.put(key, record(5))

    assert outcome.applied
    second = make_store(emulator, prefix)
    second.load()
    assert second.record(key) == record(5)
    stored = emulator.admin_core().read_namespaced_config_map(shard_name(prefix, shard_of(key)), STORE_NAMESPACE)
    assert decode_record(stored.data[data_key(key)]) == record(5)
    assert stored.metadata.labels == {"app.kubernetes.io/managed-by": "scalerd", "scalerd.io/store": prefix}


def test_a_deposed_writer_is_refused_with_a_conflict_and_the_newer_record_stays(emulator, prefix):
    key = ("shop", "web")
    old_leader, new_leader = make_store(emulator, prefix), make_store(emulator, prefix)
    old_leader.load()
    old_leader.put(key, record(3))
    new_leader.load()
    assert new_leader.put(key, record(4)).applied

    refused = old_leader.put(key, record(9))

    assert refused.status == "conflict"
    assert not old_leader.loaded()
    reader = make_store(emulator, prefix)
    reader.load()
    assert reader.record(key) == record(4)


def test_two_first_writers_of_one_config_map_cannot_both_create_it(emulator, prefix):
    key = ("shop", "web")
    one, other = make_store(emulator, prefix), make_store(emulator, prefix)
    one.load()
    other.load()

    assert one.put(key, record(3)).applied
    assert other.put(key, record(4)).status == "conflict"


def test_a_steady_store_sends_no_request_and_one_list_loads_it(emulator, prefix):
    store = make_store(emulator, prefix)
    for index in range(20):
        store.put(("shop", f"web-{index}"), record(2))
    reader = make_store(emulator, prefix)
    started = emulator.audit()[-1]["ts"]

    reader.load()
    for index in range(20):
        assert reader.record(("shop", f"web-{index}")) == record(2)
    reader.end_cycle()
    reader.end_cycle()

    assert [(verb, status) for verb, _, status in store_requests(emulator, started)] == [("list", 200)]


def test_puts_that_meet_at_one_config_map_go_out_in_one_request(emulator, prefix):
    keys = [key for key in (("shop", f"api-{index}") for index in range(400)) if shard_of(key) == 7][:6]
    store = make_store(emulator, prefix)
    store.load()
    store.put(keys[0], record(1))
    started = emulator.audit()[-1]["ts"]
    emulator.server.cluster.store.lock.acquire()  # holds every write until all six are waiting
    outcomes = {}
    threads = [threading.Thread(target=lambda key=key: outcomes.setdefault(key, store.put(key, record(6))))
               for key in keys]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=0.5)
    finally:
        emulator.server.cluster.store.lock.release()
    for thread in threads:
        thread.join(timeout=10)

    assert all(outcome.applied for outcome in outcomes.values()) and len(outcomes) == 6
    writes = [entry for entry in store_requests(emulator, started) if entry[0] == "update"]
    assert len(writes) == 2  # the first put alone, then the five that queued behind it together
    reader = make_store(emulator, prefix)
    reader.load()
    assert all(reader.record(key) == record(6) for key in keys)


def test_staged_outcomes_travel_with_the_next_write_or_are_flushed_one_cycle_later(emulator, prefix):
    store = make_store(emulator, prefix)
    store.load()
    key = ("shop", "web")
    store.put(key, record(5))
    started = emulator.audit()[-1]["ts"]

    store.stage(key, record(5).confirmed(applied=True, at=1_700_000_001.0))
    store.end_cycle()  # staged in this cycle: not yet due
    assert store_requests(emulator, started) == []
    store.end_cycle()

    assert [verb for verb, _, _ in store_requests(emulator, started)] == ["update"]
    reader = make_store(emulator, prefix)
    reader.load()
    assert reader.record(key) == record(5).confirmed(applied=True, at=1_700_000_001.0)


def test_a_config_map_beyond_the_data_limit_is_not_sent(emulator, prefix):
    store = make_store(emulator, prefix, data_limit=600)
    store.load()
    started = emulator.audit()[-1]["ts"]
    keys = [key for key in (("shop", f"big-{index}") for index in range(400)) if shard_of(key) == 3][:4]

    outcomes = [store.put(key, record(index + 1)) for index, key in enumerate(keys)]

    assert [outcome.applied for outcome in outcomes[:2]] == [True, True]
    assert outcomes[-1].status == "failed"
    assert "beyond the API server's 600" in outcomes[-1].detail
    assert len(store_requests(emulator, started)) < len(keys)


def test_five_thousand_targets_fit_in_sixty_four_config_maps_far_below_the_limit(emulator, prefix):
    """Every record at a typical size (a change and a few recommendations), all flushed at once: one write per
    ConfigMap, and the largest stays far below 1 MiB."""
    state = EngineState(recommendations=((1_700_000_000.5, 3), (1_700_000_015.5, 4), (1_700_000_030.5, 2)),
                        scale_events=((1_700_000_030.5, -2),), last_change=1_700_000_030.5)
    sample = TargetRecord.for_intent(Intent(from_replicas=4, to_replicas=2, at=1_700_000_030.5, by="scalerd-0"),
                                        state=state, reason="scale_down").confirmed(applied=True, at=1_700_000_031.0)
    store = make_store(emulator, prefix)
    store.load()
    started = emulator.audit()[-1]["ts"]
    for index in range(5000):
        store.stage((f"team-{index % 50}", f"consumer-{index}"), sample)

    store.end_cycle(flush_all=True)

    assert [(verb, status) for verb, _, status in store_requests(emulator, started)] == [("create", 201)] * SHARDS
    config_maps = emulator.admin_core().list_namespaced_config_map(
        STORE_NAMESPACE, label_selector=f"scalerd.io/store={prefix}").items
    sizes = [sum(len(value) for value in config_map.data.values()) for config_map in config_maps]
    assert len(config_maps) == SHARDS
    assert sum(len(config_map.data) for config_map in config_maps) == 5000
    assert len(encode_record(sample)) == 263
    assert max(sizes) < 24 * 1024  # 21,156 bytes measured
