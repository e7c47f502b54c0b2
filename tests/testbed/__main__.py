"""`python -m tests.testbed --dir DIR`: start the test bed, print `ready`, run until SIGTERM or SIGINT."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from tests.testbed.bed import TestBed
from tests.testbed.processes import StopRequested, stop_on_signals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True,
                        help="where kubeconfig, endpoints.json, startup.json, metrics.prom and logs go")
    args = parser.parse_args(argv)
    stop_on_signals()
    try:
        with TestBed(args.dir) as bed:
            print(f"startup seconds: {json.dumps(bed.startup_seconds)}", file=sys.stderr)
            print("ready", flush=True)
            while True:
                signal.pause()
    except StopRequested:
        return 0
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        print(f"test bed failed to start: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
