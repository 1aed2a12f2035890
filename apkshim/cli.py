"""The ``apkshim`` command line; ``python -m apkshim`` runs the same program."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Optional

from apkshim.commands import COMMANDS
from apkshim.errors import ApkshimError

# Exit statuses, documented in README.md.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apkshim",
        description=(
            "Install Python modules from the distribution's prebuilt packages "
            "(apk, apt), with pip for the rest."
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="show more: -v for each command run, -vv for their output",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=0, help="show errors only"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"apkshim.commands.{name}")
        module.register(subparsers)
    return parser


def _configure_logging(verbose: int, quiet: int) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose == 1:
        level = logging.INFO
    elif verbose > 1:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="apkshim: %(message)s", stream=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    _configure_logging(arguments.verbose, arguments.quiet)
    try:
        status: int = arguments.handler(arguments)
    except ApkshimError as error:
        print(f"apkshim: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
