"""The chaos soak: two `scalerd run` processes, N targets, changing metrics and random faults from the matrix.

Everything a check needs is recorded while the run goes on (replica counts, RSS, /healthz, liveness, the faults
injected) or left behind by it (the emulator's audit log, each process's JSON log); `invariants` judges it all at
the end. Faults, chosen at random every `fault_every` seconds (seeded, so a run can be repeated):

- API answers on scale writes: 500 or 503 bursts, 429 with Retry-After, 409 storms;
- the API slow: GETs (re-reads after a conflict) and LISTs (re-lists after a dropped watch) stall;
- every watch dropped;
- Prometheus down for a few seconds, then back;
- Lease renewals failing for a while: the leader is fenced, may lose the Lease, the standby may take it;
- a process replaced every `rotate_every` seconds: the leader (or, when the leader is the first process, which
  stays for the whole run so that its memory can be followed, the standby) is stopped with SIGTERM or SIGKILL
  and a fresh process started.
"""
from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from kubernetes import client as kube_client

from tests.integration.daemon_support import (
    FAST_LEASE,
    NAMESPACE,
    ScalerdDaemon,
    audit_lines,
    create_deployment,
    lease_holder,
)
from tests.soak.invariants import (
    Rules,
    Term,
    Violation,
    check_bounds,
    check_cooldown,
    check_memory,
    check_observed_bounds,
    check_policies,
    check_single_writer,
    check_takeovers,
    join_writes,
)
from tests.soak.records import (
    attributed_changes,
    leadership_terms,
    lease_requests,
    rss_bytes,
    scale_attempts,
)
from tests.testbed.kafka_tools import unique_name

LEASE_DURATION = 3.0
PROCESSES = 2
"""Live at any time: a replaced process's successor starts once it is gone."""
RULES = Rules(min_replicas=1, max_replicas=12, cooldown=5.0, up_pods=3, up_period=10.0, down_pods=2,
              down_period=10.0)
PER_REPLICA = 10
PROMETHEUS_TIMEOUT = 1.0
TOLERANCE = 2.0
"""Seconds between a cycle's clock reading and its first write attempt: the metric reads (up to the Prometheus
timeout), then waiting for one of the daemon's 8 target workers while others retry their writes."""
FALLBACK_EVERY = 5
"""Every fifth target has a fallback, so Prometheus outages also drive fallback changes."""
FALLBACK_REPLICAS = 4
SAMPLE_EVERY = 1.0


@dataclass
class _Process:
    daemon: ScalerdDaemon
    started_at: float
    died_at: float | None = None
    stopped_on_purpose: bool = False
    rss: list[tuple[float, int]] = field(default_factory=list)


class Soak:
    """One soak run on a running test bed; `run()` returns the report (also written to `out/report.json`)."""

    def __init__(self, bed, *, seconds: float, targets: int, out: Path, seed: int = 0, fault_every: float = 2.0,
                 rotate_every: float = 120.0, stop_signals: tuple[str, ...] = ("SIGTERM", "SIGKILL")) -> None:
        self._bed = bed
        self._seconds = seconds
        self._out = Path(out)
        self._random = random.Random(seed)
        self._seed = seed
        self._fault_every = fault_every
        self._rotate_every = rotate_every
        self._stop_signals = stop_signals
        self._run_id = unique_name("soak")[-6:]
        self._deployments = [f"soak-{self._run_id}-{index:02d}" for index in range(targets)]
        self._lease = f"soak-{self._run_id}"
        self._admin = bed.admin_api_client()
        self._processes: list[_Process] = []
        self._faults: list[dict] = []
        self._replica_samples: list[tuple[float, dict[str, int]]] = []
        self._health_failures: list[str] = []
        self._stop_sampling = threading.Event()
        self._lock = threading.Lock()

    # -- the run ----------------------------------------------------------------------------------------------

    def run(self) -> dict:
        self._out.mkdir(parents=True, exist_ok=True)
        config_path = self._out / "scalerd.yaml"
        config_path.write_text(self._config_text())
        self._rps = {deployment: float(self._random.randint(0, 60)) for deployment in self._deployments}
        self._bed.write_metrics(self._metrics_text())
        for deployment in self._deployments:
            create_deployment(self._admin, deployment, replicas=2, annotations={"soak": self._run_id})
        self._config_args = ["--config", str(config_path)]
        self._start_processes(PROCESSES)
        sampler = threading.Thread(target=self._sample_forever, name="sampler", daemon=True)
        sampler.start()
        started = time.time()
        try:
            self._chaos_until(started + self._seconds)
        finally:
            self._bed.control.clear_faults()
            self._ensure_prometheus()
            self._stop_sampling.set()
            sampler.join(timeout=10)
            ended = time.time()
            for process in self._live():
                process.daemon.terminate()
                process.stopped_on_purpose = True
            for process in self._processes:
                process.daemon.close()
        report = self._report(started=started, ended=ended)
        (self._out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        return report

    def _chaos_until(self, deadline: float) -> None:
        actions: list[tuple[Callable[[], dict], int]] = [
            (self._api_errors, 4), (self._api_throttling, 2), (self._api_conflicts, 2), (self._api_stall, 2),
            (self._drop_watches, 2), (self._prometheus_outage, 1), (self._lease_renewal_failures, 1),
        ]
        next_rotation = time.time() + min(self._rotate_every, self._seconds / 2)
        while time.time() < deadline:
            self._change_metrics()
            if time.time() >= next_rotation:
                fault = self._replace_a_process()
                next_rotation = time.time() + self._rotate_every
            else:
                [action] = self._random.choices([action for action, _ in actions],
                                                weights=[weight for _, weight in actions])
                fault = action()
            self._faults.append({"ts": time.time(), **fault})
            time.sleep(max(0.0, min(self._fault_every, deadline - time.time())))

    # -- faults -----------------------------------------------------------------------------------------------

    def _scale_pattern(self) -> str:
        return rf"/deployments/soak-{self._run_id}-\d+/scale$"

    def _api_errors(self) -> dict:
        status, count = self._random.choice([500, 503]), self._random.randint(2, 6)
        self._bed.control.inject_fault(verb="patch", path_pattern=self._scale_pattern(), status=status, count=count)
        return {"fault": f"scale writes answered {status}", "count": count}

    def _api_throttling(self) -> dict:
        count = self._random.randint(1, 3)
        self._bed.control.inject_fault(verb="patch", path_pattern=self._scale_pattern(), status=429, count=count,
                                       retry_after=1)
        return {"fault": "scale writes answered 429 Retry-After: 1", "count": count}

    def _api_conflicts(self) -> dict:
        count = self._random.randint(2, 5)
        self._bed.control.inject_fault(verb="patch", path_pattern=self._scale_pattern(), status=409, count=count)
        return {"fault": "scale writes answered 409", "count": count}

    def _api_stall(self) -> dict:
        seconds = round(self._random.uniform(0.5, 1.5), 2)
        self._bed.control.inject_fault(verb="get", path_pattern=rf"/deployments/soak-{self._run_id}-\d+$",
                                       stall_seconds=seconds, count=3)
        self._bed.control.inject_fault(verb="list", path_pattern=r"/deployments$", stall_seconds=seconds, count=2)
        return {"fault": "GET and LIST of Deployments stalled", "seconds": seconds}

    def _drop_watches(self) -> dict:
        self._bed.control.drop_watches()
        return {"fault": "every watch dropped"}

    def _prometheus_outage(self) -> dict:
        # Long enough, mostly, for the targets with a fallback (after 3 failed cycles) to use it.
        seconds = round(self._random.uniform(2.0, 8.0), 1)
        self._bed.stop_prometheus()
        time.sleep(seconds)
        back_after = self._bed.start_prometheus()
        return {"fault": "Prometheus down", "seconds": seconds, "back_after": back_after}

    def _lease_renewal_failures(self) -> dict:
        count = self._random.randint(2, 8)
        self._bed.control.inject_fault(verb="update", path_pattern=f"/leases/{self._lease}$", status=500, count=count)
        return {"fault": "Lease updates answered 500", "count": count}

    def _replace_a_process(self) -> dict:
        """The leader, SIGTERMed or SIGKILLed, and a fresh process started; when the leader is the first process
        (kept for the whole run, so that its memory can be followed), the standby is replaced instead."""
        holder = lease_holder(self._admin, self._lease)
        live = self._live()
        steady = self._processes[0]
        leader = next((process for process in live if process.daemon.identity == holder), None)
        victim = leader if leader is not steady else next((process for process in live if process is not steady),
                                                          None)
        if victim is None:
            return {"fault": "replacement skipped: no live leader", "holder": holder}
        role = "leader" if victim is leader else "standby"
        signal_name = self._random.choice(self._stop_signals)
        victim.stopped_on_purpose = True
        if signal_name == "SIGTERM":
            victim.daemon.terminate()
        else:
            victim.daemon.kill()
        victim.died_at = time.time()
        self._start_processes(1)
        return {"fault": f"{role} replaced after {signal_name}", "holder": holder}

    def _ensure_prometheus(self) -> None:
        if "prometheus" not in self._bed.running_pids():
            self._bed.start_prometheus()

    # -- load -------------------------------------------------------------------------------------------------

    def _change_metrics(self) -> None:
        for deployment in self._random.sample(self._deployments, k=max(1, len(self._deployments) // 5)):
            self._rps[deployment] = float(self._random.randint(0, 160))
        self._bed.write_metrics(self._metrics_text())

    def _metrics_text(self) -> str:
        return "".join(f'soak_rps{{deployment="{name}"}} {value}\n' for name, value in self._rps.items())

    def _config_text(self) -> str:
        lines = [
            "apiVersion: scalerd/v1",
            "defaults:",
            "  interval: 1s",
            f"  prometheus: {{url: '{self._bed.prometheus_url}', timeout: {PROMETHEUS_TIMEOUT:g}s}}",
            "targets:",
        ]
        for index, deployment in enumerate(self._deployments):
            lines += [
                f"  - name: {deployment}",
                f"    namespace: {NAMESPACE}",
                f"    deployment: {deployment}",
                f"    minReplicas: {RULES.min_replicas}",
                f"    maxReplicas: {RULES.max_replicas}",
                "    metrics:",
                (f"      - {{type: prometheus, name: rps, query: 'sum(soak_rps{{deployment=\"{deployment}\"}})', "
                f"targetPerReplica: {PER_REPLICA}}}"),
                "    behavior:",
                f"      cooldown: {RULES.cooldown:g}s",
                (f"      scaleUp: {{stabilizationWindow: 0s, policies: [{{type: Pods, value: {RULES.up_pods}, "
                f"period: {RULES.up_period:g}s}}]}}"),
                (f"      scaleDown: {{stabilizationWindow: 0s, policies: [{{type: Pods, value: {RULES.down_pods}, "
                f"period: {RULES.down_period:g}s}}]}}"),
            ]
            if index % FALLBACK_EVERY == 0:
                lines.append(f"    fallback: {{failureThreshold: 3, replicas: {FALLBACK_REPLICAS}}}")
        return "\n".join(lines) + "\n"

    # -- processes and sampling -------------------------------------------------------------------------------

    def _start_processes(self, count: int) -> None:
        """Started together, watched once ready: a process still starting has no /healthz yet."""
        daemons = [
            ScalerdDaemon(self._bed, self._out, config_args=self._config_args,
                          identity=f"soak-{len(self._processes) + number}-{self._run_id}",
                          extra=("--lease-name", self._lease, *FAST_LEASE))
            for number in range(count)
        ]
        started_at = time.time()
        for daemon in daemons:
            daemon.wait_ready()
        with self._lock:
            self._processes += [_Process(daemon=daemon, started_at=started_at) for daemon in daemons]

    def _live(self) -> list[_Process]:
        with self._lock:
            return [process for process in self._processes if not process.stopped_on_purpose]

    def _sample_forever(self) -> None:
        apps = kube_client.AppsV1Api(self._admin)
        wanted = set(self._deployments)
        while not self._stop_sampling.wait(SAMPLE_EVERY):
            now = time.time()
            listed = apps.list_namespaced_deployment(NAMESPACE).items
            self._replica_samples.append((now, {
                item.metadata.name: item.spec.replicas for item in listed if item.metadata.name in wanted}))
            for process in self._live():
                self._sample_process(process, now)

    def _sample_process(self, process: _Process, now: float) -> None:
        name = process.daemon.identity
        if process.daemon.process.poll() is not None:
            if not process.stopped_on_purpose:
                self._health_failures.append(f"{name} exited with {process.daemon.process.returncode} at {now:.3f}")
                process.stopped_on_purpose = True  # reported once
            return
        rss = rss_bytes(process.daemon.process.pid)
        if rss is not None:
            process.rss.append((now, rss))
        try:
            status = process.daemon.get("/healthz").status_code
        except requests.RequestException as error:
            status = f"no answer ({type(error).__name__})"
        if status != 200 and not process.stopped_on_purpose:
            self._health_failures.append(f"{name} /healthz {status} at {now:.3f}")

    # -- judgement --------------------------------------------------------------------------------------------

    def _report(self, *, started: float, ended: float) -> dict:
        rules = {deployment: RULES for deployment in self._deployments}
        events_by_identity = {process.daemon.identity: process.daemon.log_events() for process in self._processes}
        decisions = attributed_changes(events_by_identity)
        terms: list[Term] = []
        for process in self._processes:
            identity = process.daemon.identity
            terms += leadership_terms(identity, events_by_identity[identity], died_at=process.died_at,
                                      ended_at=ended)
        audit = audit_lines(self._bed.audit_path)
        attempts = scale_attempts(audit, deployments=self._deployments)
        writes, violations = join_writes(attempts, decisions)
        violations += check_bounds(writes, rules)
        violations += check_observed_bounds(self._replica_samples, rules)
        violations += check_cooldown(writes, rules, tolerance=TOLERANCE)
        violations += check_policies(writes, rules, tolerance=TOLERANCE)
        violations += check_single_writer(writes, terms, slack=0.5)
        violations += check_takeovers(lease_requests(audit, lease=self._lease), terms, lease_duration=LEASE_DURATION,
                                      standbys=PROCESSES)
        violations += [Violation("process alive and healthy", failure) for failure in self._health_failures]
        memory = {}
        for process in self._processes:
            if process.died_at is None and process.started_at <= started:
                growth, memory_violations = check_memory(process.rss)
                memory[process.daemon.identity] = {
                    "first_rss_mib": round(process.rss[0][1] / 2**20, 1) if process.rss else None,
                    "last_rss_mib": round(process.rss[-1][1] / 2**20, 1) if process.rss else None,
                    "growth_middle_to_last_third": round(growth, 4),
                }
                violations += memory_violations
        failed_attempts = [attempt for attempt in attempts if attempt.status >= 300]
        reasons = [{"reason": event["reason"]} for events in events_by_identity.values() for event in events
                   if event.get("event") == "decision"]
        return {
            "seconds": round(ended - started, 1),
            "targets": len(self._deployments),
            "seed": self._seed,
            "processes": [process.daemon.identity for process in self._processes],
            "leadership_terms": len(terms),
            "takeover_seconds": _takeovers(terms),
            "decisions_by_reason": _count_by(reasons, "reason"),
            "faults_injected": len(self._faults),
            "faults_by_kind": _count_by(self._faults, "fault"),
            "scale_writes_landed": len(writes),
            "scale_attempts_refused": len(failed_attempts),
            "refused_by_status": _count_by([{"status": str(a.status)} for a in failed_attempts], "status"),
            "replica_samples": len(self._replica_samples),
            "memory": memory,
            "violations": [str(violation) for violation in violations],
            "faults": self._faults,
        }


def _count_by(records: list[dict], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[str(record[key])] = counts.get(str(record[key]), 0) + 1
    return dict(sorted(counts.items()))



def _takeovers(terms: list[Term]) -> list[float]:
    """Seconds from the end of one identity's leadership to the start of the next one's."""
    ordered = sorted(terms, key=lambda term: term.start)
    return [round(later.start - earlier.end, 2) for earlier, later in itertools.pairwise(ordered)
            if later.identity != earlier.identity]
