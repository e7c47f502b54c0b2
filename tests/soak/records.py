"""Reading what scalerd processes and the API emulator left behind into the records `invariants` checks."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from tests.soak.invariants import AppliedDecision, Attempt, LeaseRequest, Term
from tests.testbed.apiserver import SCALERD_USER

SCALE_PATH = re.compile(r"/apis/apps/v1/namespaces/[^/]+/deployments/(?P<name>[^/]+)/scale$")
WRITE_VERBS = ("patch", "update")
LEADERSHIP_ENDED = ("lease_lost", "lease_released")


def log_time(event: Mapping) -> float:
    """A structlog line's ISO timestamp as Unix seconds."""
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def scale_attempts(audit: Iterable[Mapping], *, deployments: Iterable[str] | None = None) -> list[Attempt]:
    """The scalerd user's write requests on Deployments' scale subresource, whatever their answer."""
    wanted = None if deployments is None else set(deployments)
    attempts = []
    for line in audit:
        match = SCALE_PATH.search(line["path"])
        if (match and line["user"] == SCALERD_USER and line["verb"] in WRITE_VERBS
                and (wanted is None or match["name"] in wanted)):
            attempts.append(Attempt(deployment=match["name"], ts=line["ts"], status=line["status"]))
    return attempts


def lease_requests(audit: Iterable[Mapping], *, lease: str) -> list[LeaseRequest]:
    """The scalerd user's requests on the Lease `lease`, whatever their answer."""
    return [LeaseRequest(ts=line["ts"], verb=line["verb"], status=line["status"]) for line in audit
            if line["user"] == SCALERD_USER and line["path"].endswith(f"/leases/{lease}")]


def applied_decisions(identity: str, events: Iterable[Mapping]) -> list[AppliedDecision]:
    return [
        AppliedDecision(deployment=event["deployment"], ts=log_time(event), current=event["current"],
                        desired=event["desired"], identity=identity, intent=event.get("intent"))
        for event in events if event.get("event") == "decision" and event.get("applied")
    ]


def attributed_changes(events_by_identity: Mapping[str, Iterable[Mapping]]) -> list[AppliedDecision]:
    """Every change a process made: its applied decisions, and the intents a successor found had happened.

    A leader killed between its scale write and its decision log line never logs the change; its successor
    settles the intent it left (`intent_settled`, settlement `happened`) and so names the change and who made it,
    dated by the intent's own time. An intent both logged as applied and settled later (a kill after the log
    line, before the outcome was stored) is one change. Either way the successor counts the change from its
    settlement (`AppliedDecision.settled`).
    """
    events_by_identity = {identity: list(events) for identity, events in events_by_identity.items()}
    # An intent id is its maker and its cycle's time: every target changed in that cycle shares it.
    settlements = {(event["deployment"], event["intent"]): event
                   for events in events_by_identity.values() for event in events
                   if event.get("event") == "intent_settled" and event.get("settlement") == "happened"}
    decisions = [replace(decision, settled=_settled_at(settlements.get((decision.deployment, decision.intent))))
                 for identity, events in events_by_identity.items()
                 for decision in applied_decisions(identity, events)]
    known = {(decision.deployment, decision.intent) for decision in decisions}
    decisions += [
        AppliedDecision(deployment=deployment, ts=event["at"], current=event["from_replicas"],
                        desired=event["to_replicas"], identity=event["by"], intent=intent,
                        settled=_settled_at(event))
        for (deployment, intent), event in settlements.items() if (deployment, intent) not in known
    ]
    return decisions


def _settled_at(settlement: Mapping | None) -> float | None:
    return None if settlement is None else log_time(settlement)


def leadership_terms(identity: str, events: Iterable[Mapping], *, died_at: float | None = None,
                     ended_at: float) -> list[Term]:
    """From `lease_acquired` to `lease_lost`/`lease_released`; a term still open ends when the process died
    (SIGKILL: `died_at`) or, for a process alive at the end, at `ended_at`."""
    terms, started = [], None
    for event in events:
        if event.get("event") == "lease_acquired" and started is None:
            started = log_time(event)
        elif event.get("event") in LEADERSHIP_ENDED and started is not None:
            terms.append(Term(identity=identity, start=started, end=log_time(event)))
            started = None
    if started is not None:
        terms.append(Term(identity=identity, start=started, end=died_at if died_at is not None else ended_at))
    return terms


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a live process (Linux /proc); None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None
