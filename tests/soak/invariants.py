"""The soak's promises, checked from what the run left behind: pure functions over records, no I/O.

Times are Unix seconds. The daemon decides a cycle at its clock reading `now` and writes a little later (metric
reads, retries); the audit log shows the write, not `now`. So each write is dated by its *intent*: its decision's
`now`, the time in its write-ahead intent id (for a decision without one, the first attempt of its retry chain).
Not by the first attempt the audit log joins to it: an attempt before the decision was another decision's (one that
gave up, or a leader killed between a refused attempt and its retry), and metric reads on a busy machine put even
its own first attempt seconds after `now`.

A change counts from when it landed. The daemon dates it when its scale write answered, as the HPA does
(kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go, `reconcileAutoscaler`: `storeScaleEvent` after
a successful `Scales().Update`, `timestampedScaleEvent{..., time.Now(), ...}`), which is a moment after it landed;
a change that spent seconds on 429s before landing is inside a policy period those seconds longer than its intent
says. A change whose maker was killed before it stored the outcome counts from when a successor settled it.
The checks allow `tolerance` seconds for the rest (an answer lost and confirmed by a later read). A check that
uses the tolerance is never stricter than the daemon's own rule: whatever it reports is a real breach.
"""
from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    """The part of one target's configuration that the invariants check; Pods policies, one per direction."""

    min_replicas: int
    max_replicas: int
    cooldown: float
    up_pods: int
    up_period: float
    down_pods: int
    down_period: float


@dataclass(frozen=True)
class Attempt:
    """One scale write request of the daemon's user, from the emulator's audit log."""

    deployment: str
    ts: float
    status: int


@dataclass(frozen=True)
class AppliedDecision:
    """A decision log line with `applied: true`, and the identity of the process that logged it."""

    deployment: str
    ts: float
    current: int
    desired: int
    identity: str
    intent: str | None = None
    """The id of the write-ahead intent the change was written under (`scalerd.writeahead.Intent.id`)."""
    settled: float | None = None
    """When a successor settled the intent its maker never confirmed (its `intent_settled` line)."""

    @property
    def decided(self) -> float | None:
        """The decision's clock reading: the time in its intent id (`Intent.id` is `by@at`)."""
        return None if self.intent is None else float(self.intent.rpartition("@")[2])


@dataclass(frozen=True)
class Write:
    """A successful scale write joined with the decision that made it."""

    deployment: str
    intent: float
    """Its decision's clock reading; the first attempt of its retry chain for a decision that names no intent."""
    landed: float
    current: int
    desired: int
    identity: str
    settled: float | None = None
    """When a successor settled the change its maker never confirmed; the daemon counts it from then."""

    @property
    def counted(self) -> float:
        """When the daemon counts the change from: when its write answered (a moment after it landed), or when
        it was settled (the latest it can have landed: `scalerd.writeahead.settle`)."""
        return self.landed if self.settled is None else self.settled


@dataclass(frozen=True)
class Term:
    """One identity's leadership, from its `lease_acquired` log line to `lease_lost`/`lease_released` or death."""

    identity: str
    start: float
    end: float


@dataclass(frozen=True)
class LeaseRequest:
    """One request of the daemon's user on the Lease, from the emulator's audit log."""

    ts: float
    verb: str
    status: int


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


SUCCESS_LIMIT = 300
"""A status below this is a write that landed."""


def retry_chains(attempts: Iterable[Attempt]) -> dict[str, list[tuple[float, float]]]:
    """Per deployment, (first attempt, landed) of each successful write: failed attempts join the success after
    them, whoever made them (the audit log names one user for every process).
    """
    chains: dict[str, list[tuple[float, float]]] = {}
    chain_start: dict[str, float] = {}
    for attempt in sorted(attempts, key=lambda attempt: attempt.ts):
        started = chain_start.setdefault(attempt.deployment, attempt.ts)
        if attempt.status < SUCCESS_LIMIT:
            chains.setdefault(attempt.deployment, []).append((started, attempt.ts))
            del chain_start[attempt.deployment]
    return chains


def join_writes(attempts: Iterable[Attempt], decisions: Iterable[AppliedDecision]) -> tuple[list[Write],
                                                                                            list[Violation]]:
    """The k-th landed write of a deployment is the k-th applied decision about it, whoever logged it.

    Different counts mean a write nobody owns (or a decision that claims a write the server never took).
    """
    chains = retry_chains(attempts)
    by_deployment: dict[str, list[AppliedDecision]] = {}
    for decision in sorted(decisions, key=lambda decision: decision.ts):
        by_deployment.setdefault(decision.deployment, []).append(decision)
    writes: list[Write] = []
    violations: list[Violation] = []
    for deployment in sorted(set(chains) | set(by_deployment)):
        landed, claimed = chains.get(deployment, []), by_deployment.get(deployment, [])
        if len(landed) != len(claimed):
            violations.append(Violation("attributed writes", (
                f"{deployment}: {len(landed)} scale writes in the audit log, {len(claimed)} applied decisions")))
        writes.extend(
            Write(deployment=deployment, intent=_dated(first_attempt, decision), landed=landed_at,
                  current=decision.current, desired=decision.desired, identity=decision.identity,
                  settled=decision.settled)
            for (first_attempt, landed_at), decision in zip(landed, claimed)
        )
    return sorted(writes, key=lambda write: write.landed), violations


def _dated(first_attempt: float, decision: AppliedDecision) -> float:
    return first_attempt if decision.decided is None else decision.decided


def check_bounds(writes: Iterable[Write], rules: Mapping[str, Rules]) -> list[Violation]:
    return [
        Violation("replicas within bounds", (
            f"{write.deployment} set to {write.desired} at {write.landed:.3f}, outside "
            f"[{rules[write.deployment].min_replicas}, {rules[write.deployment].max_replicas}]"))
        for write in writes
        if not rules[write.deployment].min_replicas <= write.desired <= rules[write.deployment].max_replicas
    ]


def check_observed_bounds(samples: Iterable[tuple[float, Mapping[str, int]]],
                          rules: Mapping[str, Rules]) -> list[Violation]:
    """Replica counts read from the Deployments during the run."""
    return [
        Violation("replicas within bounds", f"{deployment} observed at {replicas} at {ts:.3f}")
        for ts, replicas_by_deployment in samples
        for deployment, replicas in sorted(replicas_by_deployment.items())
        if deployment in rules
        and not rules[deployment].min_replicas <= replicas <= rules[deployment].max_replicas
    ]


def check_cooldown(writes: Sequence[Write], rules: Mapping[str, Rules], *, tolerance: float) -> list[Violation]:
    violations = []
    for deployment, history in _by_deployment(writes).items():
        cooldown = rules[deployment].cooldown
        for earlier, later in itertools.pairwise(history):
            gap = later.intent - earlier.intent
            if gap < cooldown - tolerance:
                violations.append(Violation("cooldown", (
                    f"{deployment}: changes {earlier.current}->{earlier.desired} and "
                    f"{later.current}->{later.desired} {gap:.3f}s apart (cooldown {cooldown:g}s)")))
    return violations


def check_policies(writes: Sequence[Write], rules: Mapping[str, Rules], *, tolerance: float) -> list[Violation]:
    """The HPA's Pods policy: a change may move at most `value` away from the count one `period` before it.

    The counts are the Deployment's as the daemon counts its changes (`Write.counted`); `now - period` is this
    write's intent minus the period, and every count within `tolerance` of that moment is a candidate: the limit
    is taken from the most favourable one.
    """
    violations = []
    for deployment, history in _by_deployment(writes).items():
        rule = rules[deployment]
        history.sort(key=lambda write: write.counted)
        counted = [write.counted for write in history]
        for index, write in enumerate(history):
            if write.desired == write.current:
                continue
            scaling_up = write.desired > write.current
            period, pods = (rule.up_period, rule.up_pods) if scaling_up else (rule.down_period, rule.down_pods)
            counts = _counts_between(history[:index], counted[:index], start=write.intent - period - tolerance,
                                     end=write.intent - period + tolerance, initial=history[0].current)
            if scaling_up and write.desired > max(counts) + pods:
                violations.append(Violation("policy window", (
                    f"{deployment}: {write.current}->{write.desired} at {write.intent:.3f}; {period:g}s earlier "
                    f"it was at most {max(counts)}, and the policy allows {pods} Pods per {period:g}s")))
            if not scaling_up and write.desired < min(counts) - pods:
                violations.append(Violation("policy window", (
                    f"{deployment}: {write.current}->{write.desired} at {write.intent:.3f}; {period:g}s earlier "
                    f"it was at least {min(counts)}, and the policy allows {pods} Pods per {period:g}s")))
    return violations


def check_single_writer(writes: Iterable[Write], terms: Sequence[Term], *, slack: float = 0.0) -> list[Violation]:
    """Every write falls inside a term of the identity that made it, and while two identities' terms overlap
    at most one of them writes.

    Terms come from log lines, so they are what each process believed: a frozen leader that wakes believes it
    still leads until its next renewal attempt says otherwise; its fencing must keep it from writing meanwhile.
    `slack`: how much later than a term's recorded end a write may land (the end is a log line written after
    the fact, or the moment a process was killed).
    """
    writes = list(writes)
    violations = []
    for write in writes:
        if not any(term.identity == write.identity and term.start <= write.landed <= term.end + slack
                   for term in terms):
            violations.append(Violation("one writer", (
                f"{write.identity} wrote {write.deployment} at {write.landed:.3f} outside its leadership")))
    ordered = sorted(terms, key=lambda term: term.start)
    for index, earlier in enumerate(ordered):
        for later in ordered[index + 1:]:
            if later.start >= earlier.end or later.identity == earlier.identity:
                continue
            start, end = later.start, min(earlier.end, later.end)
            writers = {write.identity for write in writes if start <= write.landed <= end}
            if {earlier.identity, later.identity} <= writers:
                violations.append(Violation("one writer", (
                    f"{earlier.identity} and {later.identity} both wrote between {start:.3f} and {end:.3f}")))
    return violations


def check_takeovers(requests: Iterable[LeaseRequest], terms: Sequence[Term], *, lease_duration: float,
                    standbys: int) -> list[Violation]:
    """Each new leader took the Lease at the first reads that showed it expired, counted in reads, not seconds.

    A standby learns of the old holder's last renewal at its next read and takes the Lease once that record has
    stood `lease_duration` on its own clock: after the renewal plus the duration each standby makes at most one read
    too early to act on (its clock started at that read) and one that shows the Lease expired, whose write is the
    takeover. A busy machine spaces the reads out but adds none; a standby that waits out the duration twice adds
    a read every retry period.
    """
    requests = sorted(requests, key=lambda request: request.ts)
    writes = [request.ts for request in requests if request.verb != "get" and request.status < SUCCESS_LIMIT]
    violations = []
    ordered = sorted(terms, key=lambda term: term.start)
    for earlier, later in itertools.pairwise(ordered):
        if later.identity == earlier.identity:
            continue
        taken = bisect.bisect_right(writes, later.start) - 1
        if taken < 1:
            continue
        expired = writes[taken - 1] + lease_duration
        late = [request for request in requests
                if request.verb == "get" and expired < request.ts < writes[taken]]
        if len(late) > 2 * standbys:
            violations.append(Violation("takeover", (
                f"{later.identity} took the Lease at {writes[taken]:.3f} after {len(late)} reads past the last "
                f"renewal ({writes[taken - 1]:.3f}) plus the {lease_duration:g}s lease duration; "
                f"{standbys} standbys make at most {2 * standbys}")))
    return violations


def check_memory(samples: Sequence[tuple[float, int]], *, limit: float = 0.10) -> tuple[float, list[Violation]]:
    """Growth of the mean RSS from the middle third of the samples to the last; a violation above `limit`.

    The first third is the warm-up (lazy imports, the first list of every cache, the first leadership): about 6 MiB
    that a process of 65 MiB grows once, not a leak, and a 60-second run spends a third of its samples there.
    """
    if len(samples) < 3:
        return 0.0, [Violation("memory", f"{len(samples)} RSS samples: too few to compare thirds")]
    third = len(samples) // 3
    middle = sum(rss for _ts, rss in samples[third:2 * third]) / third
    last = sum(rss for _ts, rss in samples[-third:]) / third
    growth = last / middle - 1.0
    if growth >= limit:
        return growth, [Violation("memory", (
            f"mean RSS grew {growth:.1%} from the middle third ({middle / 2**20:.1f} MiB) "
            f"to the last ({last / 2**20:.1f} MiB)"))]
    return growth, []


def _by_deployment(writes: Iterable[Write]) -> dict[str, list[Write]]:
    grouped: dict[str, list[Write]] = {}
    for write in sorted(writes, key=lambda write: write.intent):
        grouped.setdefault(write.deployment, []).append(write)
    return grouped


def _counts_between(history: Sequence[Write], times: Sequence[float], *, start: float, end: float,
                    initial: int) -> list[int]:
    """Every replica count between `start` and `end`, given earlier writes and the times they count from."""
    before = bisect.bisect_right(times, start)
    counts = [history[before - 1].desired if before else initial]
    counts += [write.desired for write in history[before:bisect.bisect_right(times, end)]]
    return counts

