"""The write-ahead rules: what a successor concludes from a record and the Deployment's count, by tables."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalerd.config.model import Behavior, ScalingRules
from scalerd.engine import EngineState, stabilize_recommendation
from scalerd.writeahead import (
    MAX_RECORD_BYTES,
    Intent,
    LastDecision,
    Settlement,
    TargetRecord,
    compact_recommendations,
    decode_record,
    encode_record,
    fit,
    migrated_record,
    settle,
)

BEFORE = EngineState(recommendations=((90.0, 2),), scale_events=((50.0, 1),), last_change=50.0)
INTENT = Intent(from_replicas=2, to_replicas=5, at=100.0, by="leader-a")
PENDING = TargetRecord.for_intent(INTENT, state=BEFORE, reason="scale_up")
NOW = 130.0


@pytest.mark.parametrize(("record", "current", "settlement", "last_change", "scale_events"), [
    pytest.param(TargetRecord(state=BEFORE), 2, Settlement.NO_INTENT, 50.0, ((50.0, 1),),
                 id="no intent: the record as it is"),
    pytest.param(PENDING, 5, Settlement.HAPPENED, NOW, ((50.0, 1), (NOW, 3)),
                 id="killed between scale and outcome: count is `to`, counted as made now (late, never early)"),
    pytest.param(PENDING, 2, Settlement.DID_NOT_HAPPEN, 50.0, ((50.0, 1),),
                 id="killed between intent and scale: count is `from`, nothing happened"),
    pytest.param(PENDING, 7, Settlement.OVERTAKEN, NOW, ((50.0, 1), (NOW, 5)),
                 id="someone else changed it: from -> count, counted as made now (late, never early)"),
    pytest.param(PENDING, 0, Settlement.OVERTAKEN, NOW, ((50.0, 1), (NOW, -2)),
                 id="scaled to zero by hand meanwhile"),
])
def test_a_successor_settles_an_intent_from_the_deployments_count(record, current, settlement, last_change,
                                                                  scale_events):
    settled, how = settle(record, current=current, now=NOW)

    assert how is settlement
    assert settled.intent is None
    assert settled.state.last_change == last_change
    assert settled.state.scale_events == scale_events
    assert settled.state.recommendations == BEFORE.recommendations
    assert settled.decision == record.decision


@pytest.mark.parametrize(("applied", "last_change", "scale_events"), [
    pytest.param(True, 103.0, ((50.0, 1), (103.0, 3)), id="applied: the change when its write answered"),
    pytest.param(False, 50.0, ((50.0, 1),), id="refused: the state before"),
])
def test_the_leader_records_the_outcome_it_saw(applied, last_change, scale_events):
    confirmed = PENDING.confirmed(applied=applied, at=103.0)

    assert confirmed.intent is None
    assert confirmed.state.last_change == last_change
    assert confirmed.state.scale_events == scale_events
    assert confirmed.decision == LastDecision(current=2, desired=5, reason="scale_up", at=100.0)


def test_settling_equals_the_outcome_a_leader_answered_at_the_settlement_would_have_written():
    assert settle(PENDING, current=5, now=NOW)[0] == PENDING.confirmed(applied=True, at=NOW)
    assert settle(PENDING, current=2, now=NOW)[0] == PENDING.confirmed(applied=False, at=NOW)


def test_a_record_round_trips_through_its_json():
    assert decode_record(encode_record(PENDING)) == PENDING
    assert decode_record(encode_record(TargetRecord())) == TargetRecord()


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("{", "record: not JSON", id="not json"),
    pytest.param("[]", "record: expected an object (got list)", id="not an object"),
    pytest.param('{"v": 2}', "record.v: expected 1 (got 2)", id="unknown version"),
    pytest.param('{"v": 1, "intent": {"from": -1, "to": 2, "at": 1, "by": "a"}}',
                 "record.intent.from: expected an integer >= 0 (got -1)", id="negative count"),
    pytest.param('{"v": 1, "intent": {"from": 1, "to": 2, "at": "x", "by": "a"}}',
                 "record.intent.at: expected a number (got 'x')", id="time not a number"),
    pytest.param('{"v": 1, "decision": {"current": 1, "desired": 2, "at": 1}}',
                 "record.decision.reason: expected a string (got None)", id="decision without reason"),
    pytest.param('{"v": 1, "state": {"failed_cycles": -1}}',
                 "state.failed_cycles: expected an integer >= 0 (got -1)", id="bad engine state"),
])
def test_a_malformed_record_is_refused_naming_the_field(text, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace(".", r"\.")):
        decode_record(text)


@pytest.mark.parametrize(("history", "kept"), [
    pytest.param((), (), id="empty"),
    pytest.param(((1.0, 3),), ((1.0, 3),), id="one entry"),
    pytest.param(((1.0, 3), (2.0, 3), (3.0, 3)), ((3.0, 3),), id="a flat history keeps its latest entry"),
    pytest.param(((1.0, 5), (2.0, 4), (3.0, 6), (4.0, 2), (5.0, 3)),
                 ((3.0, 6), (4.0, 2), (5.0, 3)), id="dominated entries go"),
    pytest.param(((1.0, 1), (2.0, 2), (3.0, 3)), ((1.0, 1), (2.0, 2), (3.0, 3)),
                 id="a rising history is the minimum staircase"),
])
def test_compaction_keeps_the_two_staircases(history, kept):
    assert compact_recommendations(history) == kept


@given(history=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 12)), max_size=60),
       up_window=st.integers(0, 300), down_window=st.integers(0, 300), now=st.integers(0, 900),
       current=st.integers(0, 12), proposal=st.integers(0, 12))
def test_compaction_never_changes_what_a_stabilization_window_decides(history, up_window, down_window, now,
                                                                      current, proposal):
    ordered = tuple(sorted((float(time), count) for time, count in history))
    behavior = Behavior(scale_up=ScalingRules(stabilization_window=float(up_window)),
                        scale_down=ScalingRules(stabilization_window=float(down_window)))

    def stabilized(recommendations):
        return stabilize_recommendation(behavior, current=current, proposal=proposal, now=float(now),
                                        recommendations=recommendations)

    assert stabilized(compact_recommendations(ordered)) == stabilized(ordered)


def test_a_record_is_bounded_in_bytes_and_keeps_its_newest_history():
    events = tuple((1_700_000_000.0 + index, 1 if index % 2 else -1) for index in range(1000))
    rising = tuple((1_700_000_000.0 + index, index) for index in range(1000))
    record = TargetRecord(state=EngineState(recommendations=rising, scale_events=events,
                                            last_change=events[-1][0]))
    assert len(encode_record(record)) > 8 * MAX_RECORD_BYTES

    bounded, dropped = fit(record)

    assert len(encode_record(bounded)) <= MAX_RECORD_BYTES
    assert len(encode_record(bounded)) > MAX_RECORD_BYTES - 64  # it drops no more than it must
    assert dropped == 2000 - len(bounded.state.recommendations) - len(bounded.state.scale_events)
    assert bounded.state.scale_events[-1] == events[-1]
    assert bounded.state.recommendations[-1] == rising[-1]
    assert bounded.state.last_change == events[-1][0]


def test_a_record_within_its_bound_loses_nothing_but_dominated_recommendations():
    state = EngineState(recommendations=((1.0, 4), (2.0, 2), (3.0, 3)), scale_events=((2.5, 1),), last_change=2.5)

    bounded, dropped = fit(TargetRecord(state=state))

    assert dropped == 0
    assert bounded.state.recommendations == ((1.0, 4), (2.0, 2), (3.0, 3))
    assert bounded.state.scale_events == state.scale_events


def test_the_old_annotations_become_a_record():
    state = EngineState(recommendations=((10.0, 3),), scale_events=((10.0, 2),), last_change=10.0)
    decision = json.dumps({"current": 1, "desired": 3, "reason": "scale_up", "message": "m", "metrics": []})

    record = migrated_record(state_annotation=json.dumps(state.to_json()), decision_annotation=decision)

    assert record == TargetRecord(state=state, decision=LastDecision(current=1, desired=3, reason="scale_up",
                                                                     at=10.0))


@pytest.mark.parametrize(("state_text", "decision_text", "message"), [
    pytest.param("{", None, "annotation scalerd.io/state: ", id="state not json"),
    pytest.param('{"failed_cycles": "x"}', None, "annotation scalerd.io/state: state.failed_cycles", id="bad state"),
])
def test_an_unreadable_state_annotation_is_refused(state_text, decision_text, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        migrated_record(state_annotation=state_text, decision_annotation=decision_text)


def test_an_unreadable_decision_annotation_only_loses_the_decision():
    record = migrated_record(state_annotation='{"last_change": 5}', decision_annotation="nonsense")

    assert record == TargetRecord(state=EngineState(last_change=5.0))
