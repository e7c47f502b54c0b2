"""`make demo`: scalerd scaling a Kafka consumer live on the local test bed, then the HPA and predictive replayed.

The consumer is simulated by committing offsets for the group at a rate proportional to the Deployment's
replicas, so the loop closes: a backlog raises replicas, more replicas drain it faster, scalerd scales back.
Beside the file's target, a team's AutoScalerPolicy (applied with kubectl) scales a second Deployment in its
own namespace on a Prometheus gauge the demo steps through QUEUE_STEPS.

The replay cannot use the live run's lag: a forecast needs an hour of samples first (docs/predictive.md, "Cold
start"). It replays the week of bursty Kafka backlog of docs/predictive.md's table (bench/traces/kafka_backlog.py)
through the consumer's lag rule at that trace's scale, exactly as bench.predictive does, once as the HPA default and
once with `predictive: {leadTime: 60s}`, both with replicas that serve 60 s after they are added.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from confluent_kafka import Consumer, TopicPartition

from bench.predictive import INTERVAL, LEAD_TIME, STARTUP_DELAY, TRACES, target_for
from scalerd.config.model import Target
from tests.testbed.bed import TestBed
from tests.testbed.processes import LOCALHOST, free_port

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "config" / "demo.yaml"
NAMESPACE, DEPLOYMENT, TOPIC, GROUP = "default", "orders-consumer", "orders", "orders-demo"
PARTITIONS = 8
RECORDS_PER_REPLICA_PER_SECOND = 40
# (seconds after the start, records spread over the partitions)
BURSTS = ((4, 2400), (34, 3600), (64, 1200))
KUBECTL = Path(sys.executable).parent / "kubectl"
CRD = REPO / "manifests" / "crd"
POLICY_NAMESPACE, POLICY_DEPLOYMENT = "team-reports", "reports-worker"
POLICY_TARGET = f"{POLICY_NAMESPACE}/{POLICY_DEPLOYMENT}"
JOBS_PER_REPLICA = 10
# (seconds after the start, the gauge report_jobs_queued): 3 replicas from the first cycle, 6 at 40 s, 1 again
# once the 10 s scale-down window after 70 s has passed.
QUEUE_STEPS = ((0, 30), (40, 60), (70, 10))
POLICY = {
    "apiVersion": "scalerd.io/v1alpha1", "kind": "AutoScalerPolicy",
    "metadata": {"name": POLICY_DEPLOYMENT, "namespace": POLICY_NAMESPACE},
    "spec": {
        "maxReplicas": 8,
        "metrics": [{"type": "prometheus", "name": "queued", "query": "sum(report_jobs_queued)",
                     "targetPerReplica": JOBS_PER_REPLICA}],
        "behavior": {"cooldown": "0s", "scaleUp": {"stabilizationWindow": "0s"},
                     "scaleDown": {"stabilizationWindow": "10s"}},
    },
}
REPLAY_TRACE = next(trace for trace in TRACES if trace.name == "kafka")
REPLAYS = (("HPA default", "hpa-default"), ("predictive", "predictive"))
"""(the row's label, the replay's directory and configuration name), the HPA default first."""


@dataclass
class Backlog:
    """Produced and consumed offsets per partition, shared by the producer and the consumer threads."""

    produced: list[int] = field(default_factory=lambda: [0] * PARTITIONS)
    consumed: list[int] = field(default_factory=lambda: [0] * PARTITIONS)
    lock: threading.Lock = field(default_factory=threading.Lock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=90, help="how long scalerd runs (default: 90)")
    parser.add_argument("--dir", type=Path, default=REPO / "demo-out", help="where everything is written")
    args = parser.parse_args(argv)
    out = args.dir.resolve()
    out.mkdir(parents=True, exist_ok=True)

    print(f"starting the test bed in {out / 'testbed'} (Prometheus, tansu, Kubernetes API emulator) ...", flush=True)
    with TestBed(out / "testbed") as bed:
        parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in bed.startup_seconds.items())
        print(f"test bed ready ({parts}); kubeconfig: {bed.kubeconfig_path}", flush=True)
        _create_deployment(bed, NAMESPACE, DEPLOYMENT)
        bed.kafka.create_topic(TOPIC, partitions=PARTITIONS)
        _apply_policy(bed, out)
        config_path = _write_config(out, bootstrap=bed.kafka_bootstrap, prometheus=bed.prometheus_url)
        _run_scalerd(bed, config_path=config_path, seconds=args.seconds, log_path=out / "scalerd.log")
        _kubectl(bed, out, "get", "asp", "-A", show=True)
    print("test bed stopped; no process left behind.", flush=True)

    _replay_side_by_side(out / "replay")
    print(f"scalerd's own log (JSON, one line per decision): {out / 'scalerd.log'}")
    return 0


def _create_deployment(bed: TestBed, namespace: str, name: str) -> None:
    from kubernetes import client

    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                "name": "worker", "image": f"example/{name}:1",
                "resources": {"requests": {"cpu": "250m"}}}]}},
        },
    }
    client.AppsV1Api(bed.admin_api_client()).create_namespaced_deployment(namespace, body)


def _apply_policy(bed: TestBed, out: Path) -> None:
    """The team's side: its namespace and Deployment, then the CRD and its AutoScalerPolicy with kubectl."""
    from kubernetes import client

    client.CoreV1Api(bed.admin_api_client()).create_namespace({"metadata": {"name": POLICY_NAMESPACE}})
    _create_deployment(bed, POLICY_NAMESPACE, POLICY_DEPLOYMENT)
    policy_path = out / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    _kubectl(bed, out, "apply", "-k", str(CRD))
    _kubectl(bed, out, "apply", "-f", str(policy_path), show=True)


def _kubectl(bed: TestBed, out: Path, *args: str, show: bool = False) -> None:
    env = {**os.environ, "KUBECONFIG": str(bed.kubeconfig_path), "KUBECACHEDIR": str(out / "kubectl-cache")}
    finished = subprocess.run([str(KUBECTL), "--context", "admin", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed (exit {finished.returncode}): {finished.stderr}")
    if show:
        print(f"\n$ kubectl {' '.join(args)}\n{finished.stdout.rstrip()}", flush=True)


def _write_config(out: Path, *, bootstrap: str, prometheus: str) -> Path:
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["defaults"]["kafka"]["bootstrapServers"] = bootstrap
    config["defaults"]["prometheus"]["url"] = prometheus
    path = out / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _run_scalerd(bed: TestBed, *, config_path: Path, seconds: int, log_path: Path) -> None:
    """Runs `scalerd run` for `seconds` while the backlog comes and goes."""
    backlog = Backlog()
    stop = threading.Event()
    command = [sys.executable, "-m", "scalerd", "run", "--config", str(config_path),
               "--policies", "--kubeconfig", str(bed.kubeconfig_path), "--context", "scalerd", "--no-leader-elect",
               "--lease-namespace", "scalerd", "--listen", f"{LOCALHOST}:{free_port()}", "--log-format", "json"]
    _set_queue(bed, QUEUE_STEPS[0][1])
    print(f"\n$ scalerd run --config {config_path.name} --policies --context scalerd --no-leader-elect "
          "--lease-namespace scalerd\n"
          f"  {DEPLOYMENT}: Kafka lag, bursts of {', '.join(str(n) for _, n in BURSTS)} records; each replica drains "
          f"{RECORDS_PER_REPLICA_PER_SECOND}/s\n"
          f"  {POLICY_TARGET} (AutoScalerPolicy): {JOBS_PER_REPLICA} queued jobs a replica; the queue goes "
          + ", ".join(f"{jobs} at {at}s" for at, jobs in QUEUE_STEPS) + "\n", flush=True)
    print(f"{'time':>10}  {'target':<27}  {'metric':>6}  {'replicas':>8}  {'reason':<18} why", flush=True)
    daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    threads = [
        threading.Thread(target=_produce_bursts, args=(bed, backlog, stop, started), daemon=True),
        threading.Thread(target=_step_queue, args=(bed, stop, started), daemon=True),
        threading.Thread(target=_drain, args=(bed, backlog, stop), daemon=True),
        threading.Thread(target=_show_decisions, args=(daemon, log_path, seconds, started), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=seconds)
    finally:
        stop.set()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=10)
        threads[3].join(timeout=5)
    print(f"\nscalerd stopped after {time.monotonic() - started:.0f}s (exit {code}).", flush=True)


def _produce_bursts(bed: TestBed, backlog: Backlog, stop: threading.Event, started: float) -> None:
    for at, records in BURSTS:
        if stop.wait(max(0.0, started + at - time.monotonic())):
            return
        per_partition = records // PARTITIONS
        for partition in range(PARTITIONS):
            if stop.is_set():
                return
            bed.kafka.produce(TOPIC, {partition: per_partition})
            with backlog.lock:
                backlog.produced[partition] += per_partition


def _set_queue(bed: TestBed, jobs: int) -> None:
    bed.write_metrics(f"# TYPE report_jobs_queued gauge\nreport_jobs_queued {jobs}\n")
    bed.wait_for_prometheus_value("sum(report_jobs_queued)", float(jobs), timeout=30)


def _step_queue(bed: TestBed, stop: threading.Event, started: float) -> None:
    for at, jobs in QUEUE_STEPS[1:]:
        if stop.wait(max(0.0, started + at - time.monotonic())):
            return
        _set_queue(bed, jobs)


def _drain(bed: TestBed, backlog: Backlog, stop: threading.Event) -> None:
    """The consumer: each ready replica commits RECORDS_PER_REPLICA_PER_SECOND records a second."""
    from kubernetes import client

    apps = client.AppsV1Api(bed.admin_api_client())
    committer = Consumer({"bootstrap.servers": bed.kafka_bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    try:
        while not stop.wait(0.5):
            replicas = apps.read_namespaced_deployment(DEPLOYMENT, NAMESPACE).status.ready_replicas or 0
            budget = replicas * RECORDS_PER_REPLICA_PER_SECOND // 2
            with backlog.lock:
                for partition in range(PARTITIONS):
                    share = min(budget // PARTITIONS, backlog.produced[partition] - backlog.consumed[partition])
                    backlog.consumed[partition] += share
                offsets = [TopicPartition(TOPIC, p, backlog.consumed[p]) for p in range(PARTITIONS)]
            committer.commit(offsets=offsets, asynchronous=False)
    finally:
        committer.close()


def _show_decisions(daemon: subprocess.Popen, log_path: Path, seconds: int, started: float) -> None:
    with log_path.open("w") as log:
        for line in daemon.stderr:
            log.write(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") != "decision":
                continue
            value = next(iter(entry.get("metrics", [])), {}).get("value")
            change = (f"{entry['current']} -> {entry['desired']}" if entry["desired"] != entry["current"]
                      else str(entry["current"]))
            elapsed = f"[{time.monotonic() - started:3.0f}s/{seconds}s]"
            value_text = "?" if value is None else f"{value:.0f}"
            print(f"{elapsed:>10}  {entry['target']:<27}  {value_text:>6}  {change:>8}  {entry['reason']:<18} "
                  f"{entry.get('message', '')}", flush=True)


def _replay_side_by_side(replay_dir: Path) -> None:
    """`scalerd simulate` of the consumer's rule as the HPA default and with `predictive`; prints one row each."""
    replay_dir.mkdir(parents=True, exist_ok=True)
    rows = REPLAY_TRACE.rows()
    bench_target = target_for(REPLAY_TRACE, rows)
    with (replay_dir / "kafka-backlog.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "kafka"])
        # repr: the exact floats bench.predictive replays, so that the figures are its table's.
        writer.writerows((f"{row.timestamp:g}", repr(row.values[0])) for row in rows)
    days = (rows[-1].timestamp - rows[0].timestamp) / 86400
    delay, lead_time = f"{STARTUP_DELAY:g}s", f"{LEAD_TIME:g}s"
    print(f"\nreplay: the HPA default and predictive: {{leadTime: {lead_time}}} side by side on {days:g} days of a "
          f"bursty Kafka backlog\n  ({len(rows):,} samples, bench/traces/kafka_backlog.py; a forecast needs an hour of "
          "samples, more than the live run)\n"
          f"  through {DEPLOYMENT}'s lag rule at the trace's scale (lagPerReplica "
          f"{bench_target.metrics[0].lag_per_replica:g}, replicas {bench_target.min_replicas}-"
          f"{bench_target.max_replicas}), interval {INTERVAL:g}s,\n  replicas serving {delay} after they are added. "
          f"In {replay_dir}:", flush=True)
    summaries = {}
    for label, name in REPLAYS:
        config = {"apiVersion": "scalerd/v1", "defaults": {"interval": f"{INTERVAL:g}s"},
                  "targets": [_replay_target(bench_target, lead_time=lead_time if name == "predictive" else None)]}
        (replay_dir / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        arguments = ["simulate", "--config", f"{name}.yaml", "--trace", "kafka-backlog.csv", "--startup-delay", delay,
                     "--out", name]
        print(f"$ scalerd {' '.join(arguments)}", flush=True)
        finished = subprocess.run([sys.executable, "-m", "scalerd", *arguments], cwd=replay_dir, capture_output=True,
                                  text=True, check=False)
        if finished.returncode != 0:
            raise RuntimeError(f"scalerd simulate failed (exit {finished.returncode}): {finished.stderr}")
        summaries[label] = json.loads((replay_dir / name / "summary.json").read_text())
    print(f"\n{'':<12}  {'cost x oracle':>13}  {'under-provisioned':>17}  {'changes':>7}")
    for label, summary in summaries.items():
        cost = summary["replica_seconds"] / summary["oracle_replica_seconds"]
        under = summary["underprovisioned_seconds"] / (summary["steps"] * INTERVAL)
        print(f"{label:<12}  {cost:>13.3f}  {under:>17.1%}  {summary['scale_events']:>7,}")
    print("(cost: replica-seconds over the oracle's, which has exactly the replicas the lag needs at every step;\n"
          " under-provisioned: the share of the time the lag needs more replicas than serve; changes: scale events)\n"
          f"\nboth over time (blue: predictive, orange: the HPA default, dashed: the oracle; and the 6 h around the peak):"
          f"\n  {replay_dir / 'predictive' / 'plot.png'}\n"
          "each replay's decisions.csv and summary.json: "
          + ", ".join(str(replay_dir / name) for _, name in REPLAYS), flush=True)


def _replay_target(bench_target: Target, *, lead_time: str | None) -> dict:
    """The demo's consumer target with bench.predictive's scale, bounds and behavior for the replayed trace."""
    target = yaml.safe_load(DEMO_CONFIG.read_text())["targets"][0]
    target["metrics"][0]["lagPerReplica"] = bench_target.metrics[0].lag_per_replica
    target |= {"minReplicas": bench_target.min_replicas, "maxReplicas": bench_target.max_replicas,
               "behavior": {"cooldown": f"{bench_target.behavior.cooldown:g}s"}}
    if lead_time is not None:
        target["predictive"] = {"leadTime": lead_time}
    return target


if __name__ == "__main__":
    sys.exit(main())
