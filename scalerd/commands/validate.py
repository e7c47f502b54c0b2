"""`scalerd validate FILE`: exit 0 with "ok: N targets", or exit 2 with one line per problem on stderr."""
from __future__ import annotations

import argparse

from scalerd.commands import exits
from scalerd.config import ConfigError, load_config_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the configuration file (YAML)")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config_file(args.file)
    except ConfigError as error:
        return exits.report_config_error(error)
    print(f"ok: {len(config.targets)} targets")
    return exits.OK
