"""The soak's judge must catch each breach it claims to catch, and pass the daemon's legitimate behaviour."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.soak.invariants import (
    AppliedDecision,
    Attempt,
    LeaseRequest,
    Rules,
    Term,
    Write,
    check_bounds,
    check_cooldown,
    check_memory,
    check_observed_bounds,
    check_policies,
    check_single_writer,
    check_takeovers,
    join_writes,
    retry_chains,
)
from tests.soak.records import attributed_changes

RULES = Rules(min_replicas=1, max_replicas=12, cooldown=5.0, up_pods=3, up_period=10.0, down_pods=2,
              down_period=10.0)
BY_NAME = {"web": RULES}


def write(intent: float, current: int, desired: int, *, identity: str = "a", landed: float | None = None) -> Write:
    return Write(deployment="web", intent=intent, landed=intent if landed is None else landed, current=current,
                 desired=desired, identity=identity)


def test_failed_attempts_date_the_write_that_follows_them():
    attempts = [Attempt("web", 10.0, 503), Attempt("web", 10.4, 429), Attempt("web", 11.5, 200),
                Attempt("api", 12.0, 200), Attempt("web", 20.0, 200)]

    assert retry_chains(attempts) == {"web": [(10.0, 11.5), (20.0, 20.0)], "api": [(12.0, 12.0)]}


def test_writes_are_joined_to_decisions_in_order_and_unowned_writes_reported():
    attempts = [Attempt("web", 10.0, 500), Attempt("web", 10.3, 200), Attempt("web", 20.0, 200)]
    decisions = [AppliedDecision("web", 10.35, 2, 5, "a"), AppliedDecision("web", 20.1, 5, 3, "b"),
                 AppliedDecision("api", 30.0, 1, 2, "b")]

    writes, violations = join_writes(attempts, decisions)

    assert writes == [Write("web", 10.0, 10.3, 2, 5, "a"), Write("web", 20.0, 20.0, 5, 3, "b")]
    assert [str(v) for v in violations] == [
        "attributed writes: api: 0 scale writes in the audit log, 1 applied decisions"]


def test_a_refused_attempt_before_the_decision_does_not_date_the_write_that_follows_it():
    """The failed soak run of 2026-12-05 (target soak-4b23be-20, times in seconds after 10:53:00 UTC): leader a
    changed 4 -> 6 at its 11.949 clock reading, tried 6 -> 7 at 18.046 (answered 409), was SIGKILLed; b took over
    at 22.590 and changed 6 -> 9 (decided 22.591, landed 22.70), then 9 -> 4 by fallback (decided 30.591).
    a's refused attempt is not b's: b's write is dated from its own decision, and both changes keep the
    policies (4 -> 6 is outside b's 10 s window; 9 -> 4 is 6 - 2 from the count at 20.591)."""
    attempts = [Attempt("web", 12.0, 200), Attempt("web", 18.046, 409), Attempt("web", 22.70, 200),
                Attempt("web", 30.66, 200)]
    decisions = [AppliedDecision("web", 12.04, 4, 6, "a", intent="a@11.949"),
                 AppliedDecision("web", 22.77, 6, 9, "b", intent="b@22.591"),
                 AppliedDecision("web", 30.70, 9, 4, "b", intent="b@30.591")]

    writes, violations = join_writes(attempts, decisions)

    assert [(write.intent, write.landed) for write in writes] == [(11.949, 12.0), (22.591, 22.70), (30.591, 30.66)]
    assert violations == []
    assert check_policies(writes, BY_NAME, tolerance=2.0) == []
    assert check_cooldown(writes, BY_NAME, tolerance=2.0) == []


def test_a_change_counts_in_the_windows_from_when_it_landed_not_from_its_first_refused_attempt():
    """5 -> 8 decided at 0, refused (429) until it landed at 4.0: the daemon, like the HPA, dates it when the write
    answered, so at 13.0 it is inside the scale-down period and 8 -> 3 is 5 - 2 from the count before it."""
    attempts = [Attempt("web", 0.05, 429), Attempt("web", 1.1, 429), Attempt("web", 4.0, 200),
                Attempt("web", 13.1, 200)]
    decisions = [AppliedDecision("web", 4.01, 5, 8, "a", intent="a@0.000"),
                 AppliedDecision("web", 13.11, 8, 3, "a", intent="a@13.000")]

    writes, _ = join_writes(attempts, decisions)

    assert check_policies(writes, BY_NAME, tolerance=2.0) == []
    assert [str(violation) for violation in check_policies(
        [*writes, Write("web", intent=16.0, landed=16.1, current=3, desired=2, identity="a")], BY_NAME,
        tolerance=2.0)] == ["policy window: web: 3->2 at 16.000; 10s earlier it was at least 8, and the policy "
                            "allows 2 Pods per 10s"]


def test_a_change_a_successor_settled_counts_from_the_settlement():
    """The soak of 2026-12-05 11:50 with the intent's time: a's 8 -> 6 landed at 30.97 after 503s; a logged it and
    was killed before storing the outcome; b settled it at 34.99 and counts it from then (late, never early), so at
    44.0 the scale-down is inside b's period and its start is 8: 6 -> 11 is 8 + 3."""
    attempts = [Attempt("web", 27.8, 503), Attempt("web", 30.97, 200), Attempt("web", 44.1, 200)]
    decisions = [AppliedDecision("web", 31.015, 8, 6, "a", intent="a@27.569", settled=34.99),
                 AppliedDecision("web", 44.2, 6, 11, "b", intent="b@44.000")]

    writes, _ = join_writes(attempts, decisions)

    assert [(write.landed, write.counted) for write in writes] == [(30.97, 34.99), (44.1, 44.1)]
    assert check_policies(writes, BY_NAME, tolerance=2.0) == []
    unsettled = [replace(write, settled=None) for write in writes]
    assert [str(violation) for violation in check_policies(unsettled, BY_NAME, tolerance=2.0)] == [
        "policy window: web: 6->11 at 44.000; 10s earlier it was at most 6, and the policy allows 3 Pods per 10s"]


@pytest.mark.parametrize(("desired", "breaches"), [
    pytest.param(1, 0, id="at-min"),
    pytest.param(12, 0, id="at-max"),
    pytest.param(0, 1, id="below-min"),
    pytest.param(13, 1, id="above-max"),
])
def test_bounds(desired, breaches):
    assert len(check_bounds([write(0.0, 5, desired)], BY_NAME)) == breaches
    assert len(check_observed_bounds([(0.0, {"web": desired, "other": 99})], BY_NAME)) == breaches


@pytest.mark.parametrize(("gap", "breaches"), [
    pytest.param(5.0, 0, id="exactly-the-cooldown"),
    pytest.param(3.0, 0, id="within-the-tolerance"),
    pytest.param(2.9, 1, id="beyond-the-tolerance"),
    pytest.param(1.0, 1, id="every-cycle"),
])
def test_cooldown(gap, breaches):
    writes = [write(100.0, 2, 4), write(100.0 + gap, 4, 5)]

    assert len(check_cooldown(writes, BY_NAME, tolerance=2.0)) == breaches


@pytest.mark.parametrize(("history", "breaches"), [
    pytest.param([(100.0, 2, 5)], 0, id="up-by-the-policy-value"),
    pytest.param([(100.0, 2, 6)], 1, id="up-beyond-the-policy-value"),
    pytest.param([(100.0, 2, 5), (105.0, 5, 6)], 1, id="second-step-inside-the-period"),
    pytest.param([(100.0, 2, 5), (110.0, 5, 8)], 0, id="second-step-one-period-later"),
    pytest.param([(100.0, 2, 5), (109.0, 5, 8)], 0, id="one-period-later-within-the-tolerance"),
    pytest.param([(100.0, 2, 5), (107.0, 5, 8)], 1, id="beyond-the-tolerance"),
    pytest.param([(100.0, 10, 8)], 0, id="down-by-the-policy-value"),
    pytest.param([(100.0, 10, 7)], 1, id="down-beyond-the-policy-value"),
    # The HPA counts a scale-down inside the period back into the start: 8 -> 6 then up to 11 is 8 + 3.
    pytest.param([(100.0, 8, 6), (105.0, 6, 11)], 0, id="up-after-a-down-in-the-same-period"),
    pytest.param([(100.0, 8, 6), (105.0, 6, 12)], 1, id="up-after-a-down-beyond-the-start-plus-value"),
])
def test_policy_windows(history, breaches):
    writes = [write(intent, current, desired) for intent, current, desired in history]

    assert len(check_policies(writes, BY_NAME, tolerance=1.0)) == breaches


@given(steps=st.lists(st.tuples(st.floats(10.0, 30.0), st.integers(-2, 3)), max_size=20))
def test_changes_that_keep_the_policies_and_the_cooldown_are_never_flagged(steps):
    writes, replicas, at = [], 6, 0.0
    for gap, change in steps:
        at += gap
        desired = min(12, max(1, replicas + change))
        if desired != replicas:
            writes.append(write(at, replicas, desired))
            replicas = desired

    assert check_policies(writes, BY_NAME, tolerance=1.0) == []
    assert check_cooldown(writes, BY_NAME, tolerance=1.0) == []
    assert check_bounds(writes, BY_NAME) == []


@pytest.mark.parametrize(("terms", "writes", "breaches"), [
    pytest.param([Term("a", 0, 10), Term("b", 13, 20)], [write(5, 2, 3), write(15, 3, 4, identity="b")], 0,
                 id="handover"),
    pytest.param([Term("a", 0, 10), Term("b", 9, 20)], [write(5, 2, 3), write(9.5, 3, 4, identity="b")], 0,
                 id="overlapping-terms-one-writer"),
    pytest.param([Term("a", 0, 10), Term("b", 9, 20)], [write(9.2, 2, 3), write(9.5, 3, 4, identity="b")], 1,
                 id="overlapping-terms-two-writers"),
    pytest.param([Term("a", 0, 10), Term("b", 13, 20)], [write(11, 2, 3)], 1, id="write-after-the-term"),
    pytest.param([Term("a", 0, 10), Term("b", 13, 20)], [write(10.4, 2, 3)], 0, id="write-within-the-slack"),
    pytest.param([Term("a", 0, 10)], [write(5, 2, 3, identity="b")], 1, id="a-writer-that-never-led"),
    pytest.param([Term("a", 0, 10), Term("a", 10, 20)], [write(15, 2, 3)], 0, id="same-identity-again"),
])
def test_single_writer(terms, writes, breaches):
    assert len(check_single_writer(writes, terms, slack=0.5)) == breaches


def _leader_renewing_until(last_renewal: float, *, reads_from: float, reads_until: float) -> list[LeaseRequest]:
    """A leader renewing every 0.5 s until `last_renewal`, a standby reading every 0.5 s over the span."""
    renewals = [LeaseRequest(at / 2, "update", 200) for at in range(0, int(last_renewal * 2) + 1)]
    reads = [LeaseRequest(at / 2 + 0.1, "get", 200) for at in range(int(reads_from * 2), int(reads_until * 2))]
    return renewals + reads


@pytest.mark.parametrize(("taken", "breaches"), [
    pytest.param(13.7, 0, id="written-after-the-read-that-showed-it-expired"),
    pytest.param(14.2, 0, id="written-slowly-after-that-read"),
    pytest.param(14.7, 1, id="one-read-late"),
    pytest.param(16.7, 1, id="after-waiting-the-duration-again"),
])
def test_a_takeover_comes_at_the_first_reads_that_show_the_lease_expired(taken, breaches):
    """The leader's last renewal at 10.0, seen by the standby at 10.1, a 3 s lease: its read at 13.1 is too early
    (13.1 on its clock), the one at 13.6 shows the Lease expired, and the takeover's write follows it."""
    requests = [*_leader_renewing_until(10.0, reads_from=0.0, reads_until=taken - 0.1),
                LeaseRequest(taken, "update", 200)]
    terms = [Term("a", 0.0, 10.2), Term("b", taken + 0.05, 30.0)]

    assert len(check_takeovers(requests, terms, lease_duration=3.0, standbys=1)) == breaches


@pytest.mark.parametrize(("rss", "growth", "breaches"), [
    pytest.param([100, 100, 100, 100, 100, 100], 0.0, 0, id="flat"),
    pytest.param([60, 90, 100, 100, 100, 100], 0.0, 0, id="warm-up-in-the-first-third-only"),
    pytest.param([100, 100, 100, 100, 109, 109], 0.09, 0, id="nine-percent"),
    pytest.param([100, 100, 100, 100, 110, 110], 0.10, 1, id="ten-percent"),
    pytest.param([100, 100], 0.0, 1, id="too-few-samples"),
])
def test_memory_growth_between_the_middle_and_last_third(rss, growth, breaches):
    measured, violations = check_memory([(float(index), value) for index, value in enumerate(rss)])

    assert measured == pytest.approx(growth)
    assert len(violations) == breaches


def _log(event: str, ts: str, **fields) -> dict:
    return {"event": event, "timestamp": f"2026-01-01T00:00:{ts}+00:00", **fields}


def test_a_change_a_killed_leader_never_logged_is_attributed_to_it_through_its_successors_settlement():
    """Killed between scale write and decision line: only the successor's `intent_settled` names the change;
    killed after the line but before the outcome was stored: both name it, and it counts once."""
    events = {
        "a": [_log("decision", "01", deployment="web", current=2, desired=4, applied=True, intent="a@1.000")],
        "b": [_log("intent_settled", "09", deployment="web", intent="a@1.000", by="a", at=1.0, from_replicas=2,
                   to_replicas=4, settlement="happened"),
              _log("intent_settled", "09", deployment="api", intent="a@5.000", by="a", at=5.0, from_replicas=1,
                   to_replicas=3, settlement="happened"),
              _log("intent_settled", "09", deployment="db", intent="a@6.000", by="a", at=6.0, from_replicas=1,
                   to_replicas=3, settlement="did_not_happen")],
    }

    changes = attributed_changes(events)

    assert sorted((change.deployment, change.identity, change.current, change.desired, change.intent, change.settled)
                  for change in changes) == [("api", "a", 1, 3, "a@5.000", 1767225609.0),
                                             ("web", "a", 2, 4, "a@1.000", 1767225609.0)]
    assert next(change.ts for change in changes if change.deployment == "api") == 5.0


def test_targets_changed_in_one_cycle_share_an_intent_id_and_are_settled_each_on_its_own():
    """An intent id is its maker and its cycle's time: a logged change of `web` and a settled one of `api` from the
    same cycle are two changes, and only `api` counts from its settlement."""
    events = {
        "a": [_log("decision", "01", deployment="web", current=2, desired=4, applied=True, intent="a@1.000")],
        "b": [_log("intent_settled", "09", deployment="api", intent="a@1.000", by="a", at=1.0, from_replicas=1,
                   to_replicas=3, settlement="happened")],
    }

    changes = attributed_changes(events)

    assert sorted((change.deployment, change.settled) for change in changes) == [("api", 1767225609.0),
                                                                                 ("web", None)]
