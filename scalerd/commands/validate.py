"""`scalerd validate FILE`: exit 0 with "ok: N targets", or exit 2 with one line per problem on stderr."""
from __future__ import annotations

import argparse
import sys

from scalerd.config import ConfigError, load_config_file

EXIT_INVALID = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the configuration file (YAML)")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config_file(args.file)
    except ConfigError as error:
        for line in error.problems:
            print(line, file=sys.stderr)
        return EXIT_INVALID
    print(f"ok: {len(config.targets)} targets")
    return 0
