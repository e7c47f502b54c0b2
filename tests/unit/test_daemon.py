"""The loop with the real engine and fake edges (tests/unit/daemon_fakes.py): a fake cache, writer, sources,
elector and clocks."""
from __future__ import annotations

import concurrent.futures
import json
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from scalerd.config.model import Behavior, PolicyType, PrometheusSettings, ScalingPolicy, ScalingRules
from scalerd.daemon.history import LAST_DECISION_ANNOTATION, STATE_ANNOTATION
from scalerd.daemon.loop import MAX_DECIDE_ATTEMPTS, PAUSED_ANNOTATION, Daemon
from scalerd.engine import EngineState
from scalerd.kube.state_store import StoreUnavailable
from scalerd.logs import REDACTED, REDACTOR
from scalerd.readings import Reading
from scalerd.writeahead import settle
from tests.unit.daemon_fakes import MONOTONIC_START, WALL_START, FakeHpas, Harness, make_config, rps_target


def test_a_change_writes_its_intent_then_scales_then_records_its_outcome_and_emits_an_event(harness):
    harness.set_rps(45.0)

    [result] = harness.daemon.run_cycle()

    assert (result.current, result.desired, result.applied, result.error) == (2, 5, True, None)
    assert [(m.name, m.value, m.proposal) for m in result.metrics] == [("rps", 45.0, 5)]
    assert harness.writer.scales == [("api", 5, "1")]
    assert harness.writer.annotations == []  # nothing but the scale touches the Deployment
    [(key, intent_record)] = harness.store.puts
    assert key == ("apps", "api")
    assert (intent_record.intent.from_replicas, intent_record.intent.to_replicas, intent_record.intent.at) == (
        2, 5, WALL_START)
    assert intent_record.state.last_change is None  # the state before the change, until its outcome is known
    assert (intent_record.decision.desired, intent_record.decision.reason) == (5, "scale_up")
    [flushed] = harness.store.flushes
    assert flushed[key] == intent_record.confirmed(applied=True, at=WALL_START)
    [event] = harness.writer.events
    assert (event["reason"], event["type"], event["involved"]) == ("ScaledUp", "Normal", "api")
    assert event["message"].startswith("2 -> 5 (")
    assert "rps=45 proposes 5" in event["message"]


def test_the_stored_state_is_in_wall_clock_time(harness):
    harness.set_rps(45.0)
    harness.daemon.run_cycle()

    persisted = harness.persisted[("apps", "api")].state
    expected = EngineState().with_change(now=WALL_START, from_replicas=2, to_replicas=5)
    assert persisted.last_change == expected.last_change
    assert persisted.scale_events == expected.scale_events


def test_a_deployment_with_the_old_annotations_is_migrated_once_into_the_store():
    bed = Harness(make_config(rps_target(cooldown=60.0)))
    change = EngineState().with_change(now=WALL_START - 10.0, from_replicas=2, to_replicas=5)
    decision = json.dumps({"current": 2, "desired": 5, "reason": "scale_up", "message": "m", "metrics": []})
    bed.cluster.add("api", replicas=5, annotations={STATE_ANNOTATION: json.dumps(change.to_json()),
                                                    LAST_DECISION_ANNOTATION: decision, "team": "orders"})
    bed.set_rps(95.0)

    [held] = bed.daemon.run_cycle()
    bed.clocks.advance(1.0)
    bed.daemon.run_cycle()

    assert (held.desired, held.reason) == (5, "cooldown")  # the migrated history holds the cooldown
    assert bed.writer.annotations == [("apps", "api", (STATE_ANNOTATION, LAST_DECISION_ANNOTATION))]
    assert dict(bed.cluster.views[("apps", "api")].annotations) == {"team": "orders"}
    migrated = bed.persisted[("apps", "api")]
    assert (migrated.state.last_change, migrated.decision.desired) == (WALL_START - 10.0, 5)


def test_a_steady_cycle_makes_no_write_at_all(harness):
    harness.set_rps(20.0)

    [result] = harness.daemon.run_cycle()

    assert (result.current, result.desired, result.applied) == (2, 2, False)
    assert harness.writer.writes() == 0


def test_the_decision_log_line_names_target_replicas_reason_and_metrics(harness):
    harness.set_rps(45.0)

    with capture_logs() as logs:
        harness.daemon.run_cycle()

    [line] = [entry for entry in logs if entry["event"] == "decision"]
    assert line["target"] == "api"
    assert (line["current"], line["desired"], line["applied"]) == (2, 5, True)
    assert line["reason"]
    assert line["metrics"] == [{"name": "rps", "value": 45.0, "proposal": 5, "error": None}]


def test_cycle_reads_every_metric_once_at_the_cycle_wall_time_and_counts_decisions(harness):
    harness.set_rps(45.0)
    harness.daemon.run_cycle()
    harness.clocks.advance(1.0)
    harness.daemon.run_cycle()

    assert harness.sources.read_at == [WALL_START, WALL_START + 1.0]
    assert harness.sample("scalerd_decisions_total", target="api", direction="up") == 1.0
    assert harness.sample("scalerd_decisions_total", target="api", direction="none") == 1.0
    assert harness.sample("scalerd_last_successful_cycle_timestamp_seconds") == WALL_START + 1.0
    assert harness.sample("scalerd_cycle_duration_seconds_count") == 2.0
    assert harness.health.last_cycle_completed == MONOTONIC_START + 1.0


def test_a_failed_reading_is_counted_by_source(harness):
    harness.sources.values[("api", "rps")] = Reading("rps", error="prometheus http://x: connection refused")

    [result] = harness.daemon.run_cycle()

    assert harness.sample("scalerd_metric_errors_total", source="prometheus") == 1.0
    assert result.metrics[0].error == "prometheus http://x: connection refused"
    assert harness.writer.writes() == 0


def test_a_conflict_is_re_read_and_decided_again(harness):
    harness.set_rps(45.0)
    harness.writer.scale_statuses = ["conflict"]
    harness.cluster.update("apps", "api", replicas=3)

    [result] = harness.daemon.run_cycle()

    assert harness.cluster.refreshes == 1
    assert [replicas for _name, replicas, _version in harness.writer.scales] == [5, 5]
    assert (result.current, result.desired, result.applied) == (3, 5, True)
    assert harness.writer.events[0]["message"].startswith("3 -> 5 (")


def test_conflicts_stop_after_three_decisions_and_report_an_error(harness):
    harness.set_rps(45.0)
    harness.writer.scale_statuses = ["conflict"] * 5

    [result] = harness.daemon.run_cycle()

    assert len(harness.writer.scales) == MAX_DECIDE_ATTEMPTS
    assert harness.cluster.refreshes == MAX_DECIDE_ATTEMPTS - 1
    assert (result.applied, result.write_status) == (False, "conflict")
    assert result.error == "write conflict: scripted conflict"
    assert harness.writer.annotations == []
    assert [event["reason"] for event in harness.writer.events] == ["ScaleFailed"]


@pytest.mark.parametrize(
    ("status", "event_reasons"),
    [
        pytest.param("dry_run", [], id="dry-run-writes-nothing"),
        pytest.param("fenced", ["ScaleFailed"], id="fenced"),
        pytest.param("forbidden", ["ScaleFailed"], id="forbidden"),
        pytest.param("failed", ["ScaleFailed"], id="failed"),
    ],
)
def test_a_write_not_applied_changes_no_state(harness, status, event_reasons):
    harness.set_rps(45.0)
    harness.writer.scale_statuses = [status]

    [result] = harness.daemon.run_cycle()

    assert (result.desired, result.applied, result.write_status) == (5, False, status)
    assert harness.writer.annotations == []
    assert [event["reason"] for event in harness.writer.events] == event_reasons
    # The intent was stored; its outcome, recorded or settled against the unchanged count, is no change.
    stored, _ = settle(harness.persisted[("apps", "api")], current=2, now=WALL_START + 1.0)
    assert stored.state.last_change is None


def test_a_missing_deployment_is_skipped_and_the_other_targets_still_run():
    bed = Harness(make_config(rps_target("api"), rps_target("gone")))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0, "api")
    bed.set_rps(45.0, "gone")

    with capture_logs() as logs:
        results = {result.target: result for result in bed.daemon.run_cycle()}

    assert results["gone"].reason == "deployment_not_found"
    assert results["gone"].error == "deployment apps/gone not found"
    assert [(line["event"], line["log_level"]) for line in logs if line.get("target") == "gone"] == [
        ("deployment_not_found", "warning")]
    assert (results["api"].desired, results["api"].applied) == (5, True)


def test_an_exception_in_one_target_fails_that_target_only():
    bed = Harness(make_config(rps_target("api"), rps_target("broken")))
    bed.cluster.add("api", replicas=2)
    bed.cluster.add("broken", replicas=2)
    bed.set_rps(45.0, "api")

    def explode(namespace, name):
        if name == "broken":
            raise RuntimeError("cache bug")

    bed.cluster.get_hook = explode

    # Every target waited for: logging the traceback can outlast the cycle's deadline on a busy machine.
    results = {result.target: result for result in bed.daemon.run_cycle(wait_for_every_target=True)}

    assert results["broken"].error == "RuntimeError: cache bug"
    assert results["api"].applied is True


@pytest.mark.parametrize(
    ("target_paused", "annotation"),
    [
        pytest.param(True, None, id="config"),
        pytest.param(False, "true", id="annotation"),
    ],
)
def test_a_paused_target_is_not_scaled(target_paused, annotation):
    bed = Harness(make_config(rps_target(paused=target_paused)))
    bed.cluster.add("api", replicas=2, annotations={PAUSED_ANNOTATION: annotation} if annotation else None)
    bed.set_rps(45.0)

    [result] = bed.daemon.run_cycle()

    assert (result.desired, result.applied) == (2, False)
    assert bed.writer.writes() == 0


def test_a_standby_reads_nothing_writes_nothing_and_reports_not_leading():
    bed = Harness(make_config(rps_target()), leading=False)
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)

    assert bed.daemon.run_cycle() == []
    assert (bed.sources.reads, bed.writer.writes()) == (0, 0)
    assert bed.sample("scalerd_leader") == 0.0
    assert bed.health.last_cycle_completed == MONOTONIC_START
    assert bed.after_cycles == []  # no AutoScalerPolicy status either: the leader's alone

    bed.elector.leading = True
    [result] = bed.daemon.run_cycle()
    assert result.applied is True
    assert bed.sample("scalerd_leader") == 1.0
    assert bed.after_cycles == [[result]]


def test_a_new_leader_continues_the_cooldown_from_the_annotation():
    config = make_config(rps_target(cooldown=60.0))
    bed = Harness(config)
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)
    [first] = bed.daemon.run_cycle()
    assert (first.desired, first.applied) == (5, True)

    bed.clocks.wall_now += 30.0
    successor = bed.new_leader(config)
    bed.set_rps(95.0)
    [held] = successor.run_cycle()
    assert (held.current, held.desired, held.applied) == (5, 5, False)

    bed.clocks.advance(31.0)
    [scaled] = successor.run_cycle()
    assert (scaled.current, scaled.desired, scaled.applied) == (5, 10, True)


@pytest.mark.parametrize(("count", "held_until"), [
    pytest.param(7, 20.0 + 60.0, id="killed between scale and outcome: counted at takeover, late never early"),
    pytest.param(5, None, id="killed between intent and scale: no change happened, none is held"),
    pytest.param(6, 20.0 + 60.0, id="someone else changed it meanwhile: counted at takeover, late never early"),
])
def test_a_successor_settles_the_intent_a_killed_leader_left(count, held_until):
    config = make_config(rps_target(cooldown=60.0))
    bed = Harness(config)
    bed.cluster.add("api", replicas=5)
    bed.store.put_statuses = ["applied"]
    bed.set_rps(65.0)
    bed.writer.scale_statuses = ["failed"]  # the leader never learns whether 5 -> 7 landed, then dies
    [first] = bed.daemon.run_cycle()
    assert (first.desired, first.applied, first.write_status) == (7, False, "failed")
    assert bed.persisted[("apps", "api")].intent.to_replicas == 7
    bed.clocks.wall_now += 20.0
    bed.cluster.update("apps", "api", replicas=count)

    successor = bed.new_leader(config)
    bed.set_rps(95.0)
    with capture_logs() as logs:
        [decided] = successor.run_cycle()

    [settled_line] = [line for line in logs if line["event"] == "intent_settled"]
    assert (settled_line["from_replicas"], settled_line["to_replicas"], settled_line["current"]) == (5, 7, count)
    if held_until is None:
        assert (decided.desired, decided.applied) == (10, True)
        return
    assert (decided.desired, decided.reason) == (count, "cooldown")
    bed.clocks.advance(held_until - 20.0 - 1.0)
    [still] = successor.run_cycle()
    bed.clocks.advance(2.0)
    [scaled] = successor.run_cycle()
    assert (still.reason, scaled.desired, scaled.applied) == ("cooldown", 10, True)


def test_a_leader_that_lost_the_lease_forgets_its_memory_and_reloads_from_the_store():
    bed = Harness(make_config(rps_target(cooldown=60.0)), leading=True)
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)
    bed.daemon.run_cycle()
    bed.elector.leading = False
    bed.daemon.run_cycle()
    # Meanwhile the other leader scaled and stored a change right now.
    bed.store.persist("api", EngineState().with_change(now=WALL_START, from_replicas=5, to_replicas=7))
    bed.cluster.update("apps", "api", replicas=7)
    bed.elector.leading = True
    bed.set_rps(95.0)

    [result] = bed.daemon.run_cycle()

    assert (result.current, result.desired, result.applied) == (7, 7, False)


def test_a_reload_drops_a_removed_target_updates_the_cached_deployments_and_rebuilds_sources_when_defaults_change():
    bed = Harness(make_config(rps_target("api"), rps_target("old", namespace="legacy")))
    bed.cluster.add("api", replicas=2)
    bed.cluster.add("old", replicas=2, namespace="legacy")
    first_sources = bed.sources
    bed.provider.next = make_config(rps_target("api"), interval=2.0)
    bed.set_rps(45.0, "api")
    bed.set_rps(45.0, "old")

    results = bed.daemon.run_cycle()

    assert [result.target for result in results] == ["api"]
    assert [name for name, _replicas, _version in bed.writer.scales] == ["api"]
    assert bed.cluster.deployments == [{("apps", "api")}]
    assert first_sources.closed is True and bed.sources is not first_sources
    assert (bed.daemon.interval, bed.health.interval) == (2.0, 2.0)


def test_a_reload_with_the_same_defaults_keeps_the_sources():
    bed = Harness(make_config(rps_target("api")))
    bed.cluster.add("api", replicas=2)
    bed.provider.next = make_config(rps_target("api", max_replicas=3))
    bed.set_rps(45.0)

    [result] = bed.daemon.run_cycle()

    assert result.desired == 3
    assert len(bed.built_sources) == 1 and bed.sources.closed is False


@pytest.mark.parametrize(
    "slow_write",
    [
        pytest.param("scale", id="scale-write"),
        pytest.param("intent", id="intent-write"),
        pytest.param("event", id="hpa-conflict-event"),
        pytest.param("remove_annotations", id="old-annotations-removal"),
    ],
)
def test_a_target_whose_write_overruns_the_cycle_deadline_delays_no_other_and_is_not_started_again(slow_write):
    # A 0.8 s cycle deadline: "api" meets it even on a busy machine, "slow" is held past it by `release` in one
    # of its API writes (targets are decided in one thread, and write in a pool).
    hpas = FakeHpas()
    bed = Harness(make_config(rps_target("slow"), rps_target("api"), interval=1.0), hpas=hpas)
    bed.cluster.add("slow", replicas=2,
                    annotations={STATE_ANNOTATION: "{}"} if slow_write == "remove_annotations" else None)
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0, "slow")
    bed.set_rps(45.0, "api")
    if slow_write == "event":
        hpas.scaling[("apps", "slow")] = "slow-hpa"
    release = threading.Event()
    bed.writer.write_hook = lambda write, name: release.wait(15) if (write, name) == (slow_write, "slow") else None
    bed.store.put_hook = lambda key: release.wait(15) if slow_write == "intent" and key == ("apps", "slow") else None

    with capture_logs() as logs:
        first = bed.daemon.run_cycle()
        second = bed.daemon.run_cycle()
        release.set()
        deadline = time.monotonic() + 15
        while not [entry for entry in logs if entry["event"] == "decision" and entry["target"] == "slow"]:
            assert time.monotonic() < deadline, "the overrunning target never finished"
            time.sleep(0.01)

    assert [(result.target, result.desired, result.applied) for result in first] == [("api", 5, True)]
    assert [(result.target, result.desired, result.applied) for result in second] == [("api", 5, False)]
    assert [entry["target"] for entry in logs if entry["event"] == "target_overran"] == ["slow"]
    assert [entry["target"] for entry in logs if entry["event"] == "target_skipped"] == ["slow"]


def test_run_forever_skips_the_cycles_an_overrun_missed_instead_of_stacking_them():
    bed = Harness(make_config(rps_target(), interval=0.05))
    bed.cluster.add("api", replicas=2)
    stop = threading.Event()

    def slow_read():
        bed.clocks.advance(0.13)  # over two and a half intervals: the next two ticks are missed
        if bed.sources.reads == 2:
            stop.set()

    bed.sources.on_read = slow_read

    with capture_logs() as logs:
        bed.daemon.run_forever(stop)

    assert bed.sources.reads == 2
    assert [entry["missed"] for entry in logs if entry["event"] == "cycle_skipped"] == [2, 2]


def test_no_cycle_runs_before_the_cache_has_synced_and_none_counts_as_completed(harness):
    harness.cluster.is_synced = False
    harness.set_rps(45.0)
    harness.clocks.advance(1.0)

    assert harness.daemon.run_cycle() == []
    assert (harness.sources.reads, harness.writer.writes()) == (0, 0)
    assert harness.health.last_cycle_completed is None
    assert harness.sample("scalerd_cycle_duration_seconds_count") == 0.0


def test_news_of_a_leadership_change_makes_the_next_cycle_reload_state_from_the_store():
    bed = Harness(make_config(rps_target(cooldown=60.0)), leading=True)
    bed.cluster.add("api", replicas=2)
    bed.set_rps(20.0)
    [steady] = bed.daemon.run_cycle()
    assert steady.applied is False
    # Lost and regained between two cycles; meanwhile the other leader changed the count and stored it.
    bed.daemon.leadership_changed(False)
    bed.daemon.leadership_changed(True)
    bed.store.persist("api", EngineState().with_change(now=WALL_START, from_replicas=5, to_replicas=3))
    bed.cluster.update("apps", "api", replicas=3)
    bed.set_rps(95.0)

    [result] = bed.daemon.run_cycle()

    assert (result.current, result.desired, result.reason) == (3, 3, "cooldown")


def _scaled_up_100_seconds_ago(bed: Harness) -> None:
    """The previous leader's last change: 2 -> 8 at WALL_START - 100 s, stored with its recommendation."""
    change_time = WALL_START - 100.0
    bed.store.persist("api", EngineState(recommendations=((change_time, 8),)).with_change(
        now=change_time, from_replicas=2, to_replicas=8,
    ))
    bed.cluster.add("api", replicas=8)


def test_a_new_leader_holds_the_current_count_for_one_scale_down_window_from_takeover():
    bed = Harness(make_config(rps_target()))  # default scaleDown window: 300 s
    _scaled_up_100_seconds_ago(bed)
    bed.set_rps(15.0)

    [held] = bed.daemon.run_cycle()
    bed.clocks.advance(299.0)
    [still_held] = bed.daemon.run_cycle()
    bed.clocks.advance(2.0)
    [scaled] = bed.daemon.run_cycle()

    assert (held.desired, held.reason) == (8, "stabilized")
    assert (still_held.desired, still_held.reason) == (8, "stabilized")
    assert (scaled.desired, scaled.applied) == (2, True)


def test_without_the_takeover_hold_the_persisted_history_alone_bounds_the_scale_down():
    bed = Harness(make_config(rps_target()))
    _scaled_up_100_seconds_ago(bed)
    bed.set_rps(15.0)

    def once_process() -> Daemon:
        return Daemon(
            config=make_config(rps_target()), config_provider=None, cache=bed.cluster, writer=bed.writer,
            sources_factory=lambda _config: bed.sources, elector=None, metrics=bed.metrics, health=bed.health,
            monotonic=bed.clocks.monotonic, wall=bed.clocks.wall,
            history=bed.history(hold_current_on_takeover=False),
        )

    [held] = once_process().run_cycle()
    bed.clocks.advance(201.0)  # the persisted recommendation (8, 100 s before) leaves the 300 s window
    [scaled] = once_process().run_cycle()

    assert (held.desired, held.reason) == (8, "stabilized")
    assert (scaled.desired, scaled.applied) == (2, True)


def test_a_rotated_bearer_token_is_masked_from_the_next_cycle_on(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first-token-0a1b")
    bed = Harness(make_config(rps_target(), prometheus=PrometheusSettings(bearer_token_file=str(token_file))))
    bed.cluster.add("api", replicas=2)
    bed.daemon.run_cycle()
    token_file.write_text("rotated-token-9z8y")

    bed.daemon.run_cycle()

    masked = REDACTOR(None, "info", {"event": "x", "error": "401 for rotated-token-9z8y and first-token-0a1b"})
    assert masked["error"] == f"401 for {REDACTED} and {REDACTED}"


def test_a_cycle_that_raises_is_logged_and_the_loop_goes_on():
    bed = Harness(make_config(rps_target(), interval=0.01))
    bed.cluster.add("api", replicas=2)
    stop = threading.Event()

    def failing_then_stopping_read():
        if bed.sources.reads == 1:
            raise RuntimeError("source defect")
        stop.set()

    bed.sources.on_read = failing_then_stopping_read

    with capture_logs() as logs:
        bed.daemon.run_forever(stop)

    assert bed.sources.reads == 2
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == ["cycle_failed"]
    assert bed.health.last_cycle_completed == MONOTONIC_START


WRITE_STATUSES = ("applied", "conflict", "failed", "fenced", "forbidden", "not_found", "dry_run")


@settings(max_examples=60, deadline=None)
@given(statuses=st.lists(st.sampled_from(WRITE_STATUSES), min_size=1, max_size=5))
def test_whatever_the_api_answers_a_target_writes_at_most_three_times_and_persists_only_what_was_applied(
    statuses,
):
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)
    bed.writer.scale_statuses = list(statuses)

    [result] = bed.daemon.run_cycle()

    # The fake server answers "applied" once the script runs out.
    answers = [*statuses, *["applied"] * MAX_DECIDE_ATTEMPTS][:MAX_DECIDE_ATTEMPTS]
    final = next((status for status in answers if status != "conflict"), "conflict")
    expected_attempts = MAX_DECIDE_ATTEMPTS if final == "conflict" else answers.index(final) + 1
    assert len(bed.writer.scales) == expected_attempts
    assert result.applied == (final == "applied")
    assert result.write_status == final
    count = bed.cluster.views[("apps", "api")].replicas
    assert count == (5 if final == "applied" else 2)
    stored, _ = settle(bed.persisted[("apps", "api")], current=count, now=WALL_START + 1.0)
    assert stored.state.last_change == (WALL_START if final == "applied" else None)


def test_a_metric_still_being_read_delays_only_its_own_target():
    # A 0.8 s cycle deadline: "api" meets it even on a busy machine, "slow" waits for `unanswered`.
    bed = Harness(make_config(rps_target("api"), rps_target("slow"), interval=1.0))
    bed.cluster.add("api", replicas=2)
    bed.cluster.add("slow", replicas=2)
    bed.set_rps(45.0)
    unanswered = concurrent.futures.Future()
    submit_all = bed.sources.submit_all

    def slow_server(targets, *, at=None):
        pending = submit_all(targets, at=at)
        pending[("slow", "rps")] = unanswered
        return pending

    bed.sources.submit_all = slow_server
    with capture_logs() as logs:
        first = bed.daemon.run_cycle()
        second = bed.daemon.run_cycle()
    assert [(result.target, result.desired) for result in first + second] == [("api", 5), ("api", 5)]
    assert {"event": "target_skipped", "target": "slow", "why": "still running from the previous cycle",
            "log_level": "warning"} in logs

    unanswered.set_result(Reading("rps", value=90.0))
    deadline = time.monotonic() + 15
    while ("slow", 6, "1") not in bed.writer.scales and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ("slow", 6, "1") in bed.writer.scales


def test_once_waits_for_every_target():
    bed = Harness(make_config(rps_target("api"), interval=0.2))
    bed.cluster.add("api", replicas=2)
    late = concurrent.futures.Future()
    bed.sources.submit_all = lambda targets, *, at=None: {("api", "rps"): late}
    threading.Timer(0.5, late.set_result, args=[Reading("rps", value=45.0)]).start()

    [result] = bed.daemon.run_cycle(wait_for_every_target=True)

    assert (result.target, result.desired, result.applied) == ("api", 5, True)


@pytest.mark.parametrize(
    "moved",
    [
        pytest.param({"deployment": "api-v2"}, id="deployment"),
        pytest.param({"namespace": "apps-v2"}, id="namespace"),
    ],
)
def test_a_target_moved_to_another_deployment_by_a_reload_starts_from_that_deployments_history(moved):
    bed = Harness(make_config(rps_target(cooldown=600.0)))
    bed.cluster.add("api", replicas=2)
    moved_target = rps_target(cooldown=600.0, **moved)
    bed.cluster.add(moved_target.deployment, namespace=moved_target.namespace, replicas=2)
    bed.set_rps(45.0)
    [first] = bed.daemon.run_cycle()
    assert (first.deployment, first.applied) == ("api", True)

    bed.provider.next = make_config(moved_target)
    bed.clocks.advance(1.0)
    [second] = bed.daemon.run_cycle()

    # The old Deployment's change 1 s ago is not this Deployment's: no cooldown holds it.
    assert (second.namespace, second.deployment) == (moved_target.namespace, moved_target.deployment)
    assert (second.current, second.desired, second.reason, second.applied) == (2, 5, first.reason, True)


class SteppingWallClock:
    """A wall clock that moves on by `step` seconds at every reading: a second reading in a cycle shows."""

    def __init__(self, start: float, step: float) -> None:
        self.readings: list[float] = []
        self._next = start
        self._step = step

    def __call__(self) -> float:
        self.readings.append(self._next)
        self._next += self._step
        return self.readings[-1]


def test_a_cycle_reads_the_wall_clock_once_and_persists_its_state_at_that_reading():
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)
    wall = SteppingWallClock(WALL_START, step=7.0)
    daemon = Daemon(
        config=make_config(rps_target()), config_provider=None, cache=bed.cluster, writer=bed.writer,
        sources_factory=lambda _config: bed.sources, elector=None, metrics=bed.metrics, health=bed.health,
        monotonic=bed.clocks.monotonic, wall=wall, history=bed.history(bed.store),
    )

    [result] = daemon.run_cycle()

    assert result.applied is True
    assert bed.sources.read_at == [WALL_START]
    persisted = bed.persisted[("apps", "api")].state
    assert (persisted.last_change, persisted.scale_events) == (WALL_START, ((WALL_START, 3),))
    # The takeover's hold of the current count, and this cycle's proposal: both at the one reading.
    assert persisted.recommendations == ((WALL_START, 2), (WALL_START, 5))
    assert wall.readings == [WALL_START]


def test_a_change_counts_from_when_its_scale_write_answered_as_the_hpas_scale_events_do():
    """The HPA stores a scale event once its scale Update returned (kubernetes/kubernetes
    pkg/controller/podautoscaler/horizontal.go: `storeScaleEvent` after `Scales().Update`, stamped `time.Now()`):
    a write that spent 3 s on retries (429, 503) holds the policy's period 3 s past the decision, here and in the
    store a successor reads."""
    up_3_per_10s = ScalingRules(stabilization_window=0.0, policies=(ScalingPolicy(PolicyType.PODS, 3, 10.0),))
    bed = Harness(make_config(rps_target(behavior=Behavior(cooldown=0.0, scale_up=up_3_per_10s))))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(95.0)
    answer_scale = bed.writer.scale

    def scale_after_retries(*, view, replicas):
        bed.clocks.advance(3.0)
        return answer_scale(view=view, replicas=replicas)

    bed.writer.scale = scale_after_retries
    [first] = bed.daemon.run_cycle()
    bed.clocks.advance(8.0)  # 11 s after the first decision, 8 s after its write answered
    [second] = bed.daemon.run_cycle()

    assert (first.current, first.desired, first.applied) == (2, 5, True)
    assert (second.current, second.desired, second.reason, second.applied) == (5, 5, "rate_limited", False)
    assert bed.persisted[("apps", "api")].state.scale_events == ((WALL_START + 3.0, 3),)


def test_a_new_leader_reads_the_persisted_state_on_the_cycles_one_clock_reading():
    bed = Harness(make_config(rps_target(cooldown=60.0)))
    _scaled_up_100_seconds_ago(bed)
    bed.set_rps(95.0)
    wall = SteppingWallClock(WALL_START - 30.0, step=7.0)  # the change was 70 s before this cycle's reading
    daemon = Daemon(
        config=make_config(rps_target(cooldown=80.0)), config_provider=None, cache=bed.cluster, writer=bed.writer,
        sources_factory=lambda _config: bed.sources, elector=None, metrics=bed.metrics, health=bed.health,
        monotonic=bed.clocks.monotonic, wall=wall, history=bed.history(),
    )

    [result] = daemon.run_cycle()

    assert (result.current, result.desired, result.reason, result.applied) == (8, 8, "cooldown", False)
    assert wall.readings == [WALL_START - 30.0]


def test_a_change_whose_intent_cannot_be_stored_is_not_made():
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)
    bed.store.put_statuses = ["conflict"]  # another process wrote the store: this one may be deposed

    [result] = bed.daemon.run_cycle()

    assert (result.desired, result.applied, result.write_status) == (5, False, "state_not_written")
    assert result.error.startswith("write state_not_written: the intent could not be stored first (conflict)")
    assert bed.writer.scales == []
    assert [event["reason"] for event in bed.writer.events] == ["ScaleFailed"]


def test_the_store_is_read_once_per_leadership_and_a_steady_cycle_writes_nothing_to_it():
    bed = Harness(make_config(rps_target()), leading=True)
    bed.cluster.add("api", replicas=2)
    bed.set_rps(20.0)

    for _ in range(3):
        bed.clocks.advance(1.0)
        bed.daemon.run_cycle()
    bed.daemon.leadership_changed(False)
    bed.daemon.leadership_changed(True)
    bed.daemon.run_cycle()

    assert bed.store.loads == 2
    assert (bed.store.puts, bed.store.flushes) == ([], [])


def test_a_store_that_cannot_be_read_decides_nothing():
    bed = Harness(make_config(rps_target()))
    bed.cluster.add("api", replicas=2)
    bed.set_rps(45.0)

    def unavailable() -> None:
        raise StoreUnavailable("list ConfigMaps in scalerd: HTTP 503 Service Unavailable")

    bed.store.load = unavailable
    with capture_logs() as logs:
        results = bed.daemon.run_cycle()

    assert results == [] and bed.writer.scales == []
    [line] = [line for line in logs if line["event"] == "state_unavailable"]
    assert line["error"] == "list ConfigMaps in scalerd: HTTP 503 Service Unavailable"
