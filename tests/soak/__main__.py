"""`python -m tests.soak --seconds N --targets 50 --out DIR`: a test bed of its own, one soak run, its report.

Exit 0 when no invariant was violated, 1 otherwise; the report is `DIR/report.json`.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from tests.soak.runner import Soak
from tests.testbed.bed import TestBed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the chaos lasts (default 60)")
    parser.add_argument("--targets", type=int, default=50, help="targets and Deployments (default 50)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the bed, logs and report.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault and metric choices")
    parser.add_argument("--rotate-every", type=float, default=120.0, metavar="SECONDS",
                        help="replace the leader (SIGTERM or SIGKILL) this often (default 120)")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like an error: the bed and the scalerd processes are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))
    with TestBed(args.out / "bed") as bed:
        report = Soak(bed, seconds=args.seconds, targets=args.targets, out=args.out, seed=args.seed,
                      rotate_every=args.rotate_every).run()
    summary = {key: value for key, value in report.items() if key != "faults"}
    print(json.dumps(summary, indent=2))
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
