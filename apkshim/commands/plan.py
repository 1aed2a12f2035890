"""``apkshim plan``: show where each requirement would go, installing nothing."""

from __future__ import annotations

import argparse
from typing import Any

from apkshim.commands.install import (
    EXIT_STATUSES,
    ROUTING,
    add_arguments,
    install_or_plan,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show where each requirement would go (distro, pip, skipped)",
        description="Show, as a table, where each requirement and each dependency "
        "that pip would pull in would go, with the package, the version and the "
        "reason, then the commands that would run. Installs nothing; pip's "
        "resolution runs with --dry-run.\n\n" + ROUTING,
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    return install_or_plan(arguments, dry_run=True)
