"""What 1,000 AutoScalerPolicies add to a cycle, in process: `python -m bench.policies [--count N]`.

Per cycle the leader computes every policy's status and compares it with the one the policy holds (a steady
cycle writes none); only when a policy changes does the provider merge them all into targets again. Both are
timed here on N policies of the example's shape, each in its own namespace; the targets' own cycle is
`bench.cycle`'s figure (0.29 s at 1,000 targets, bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import statistics
import time

from scalerd.config.model import Config, Defaults
from scalerd.daemon.report import TargetResult
from scalerd.policies import merge, policy_status
from scalerd.reasons import Reason

NOW = "2026-12-05T07:00:00Z"


def policies(count: int) -> list[dict]:
    return [{"metadata": {"name": "web", "namespace": f"team-{index}", "generation": 1, "uid": str(index)},
             "spec": {"maxReplicas": 10, "metrics": [
                 {"type": "prometheus", "query": f'sum(rate(requests{{team="{index}"}}[1m]))', "targetPerReplica": 50},
                 {"type": "cpu", "targetUtilization": 70}],
                 "behavior": {"cooldown": "1m"}}}
            for index in range(count)]


def steady_results(merged) -> list[TargetResult]:
    return [TargetResult(target=target.name, namespace=target.namespace, deployment=target.deployment, current=2,
                         desired=2, applied=False, reason=Reason.NO_CHANGE, message="2 replicas: no change")
            for target in merged.config.targets]


def timed(run, repeats: int) -> float:
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policies", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    objects = policies(args.count)
    base = Config(defaults=Defaults(), targets=())
    merged = merge(base, objects)
    assert len(merged.config.targets) == args.count and not merged.problems
    results = {result.target: result for result in steady_results(merged)}
    held = {key: policy_status(None, policies=merged, key=key, result=results[target.name], now=NOW)
            for key, target in merged.targets.items()}

    def steady_cycle() -> None:
        unchanged = sum(policy_status(held[key], policies=merged, key=key, result=results[target.name],
                                      now=NOW) == held[key] for key, target in merged.targets.items())
        assert unchanged == args.count

    merge_seconds = timed(lambda: merge(base, objects), args.repeats)
    status_seconds = timed(steady_cycle, args.repeats)
    print(f"policies={args.count} merge_seconds={merge_seconds:.4f} steady_status_seconds={status_seconds:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
