"""``apkshim install``: install requirements from the distro where it can, else pip.

``apkshim plan`` shares this module's options and table; see ``plan.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apkshim import autoinstall

# The installer and the scanner import ``packaging``, so the handlers import them
# when they run: building the parser for 'apkshim doctor' must not need it.
if TYPE_CHECKING:
    from apkshim.installer import Request, Result

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_FILES_SKIPPED = 3

EXIT_STATUSES = """\
exit status:
  0  done: everything is installed, already present or skipped (plan: planned)
  1  a package-manager or pip run failed, pip could not resolve the
     requirements, or pip would reject this Python as externally managed
  2  invalid input: a malformed requirement, a missing or invalid requirement
     file, or invalid options
  3  done, but files given to --from could not be read or parsed; they are
     listed and were skipped
"""

ROUTING = """\
Each requirement (PEP 508) is skipped when it names a standard-library module,
its environment marker is false, or an installed distribution satisfies it. It
goes to the distro's package manager when the mapping names a package and the
distro's candidate version satisfies the specifier, and to pip otherwise.
Dependencies that pip would pull in are resolved first (pip install --dry-run
--report); those the distro ships in a satisfying version go to the distro too.
All distro packages are installed in one package-manager run, then all
pip-bound requirements in one pip run.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "install",
        help="install requirements from distro packages, and the rest with pip",
        description="Install requirements: distro packages where they satisfy the "
        "requirement,\npip for the rest.\n\n" + ROUTING,
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be installed, as 'apkshim plan' does; install nothing",
    )
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments that ``install`` and ``plan`` share."""
    parser.add_argument(
        "requirements",
        nargs="*",
        metavar="REQ",
        help="a PEP 508 requirement, such as 'numpy>=1.24' (quote it in the shell)",
    )
    parser.add_argument(
        "-r",
        "--requirement",
        dest="files",
        action="append",
        default=[],
        metavar="FILE",
        help="read requirements from FILE, one a line; repeatable",
    )
    parser.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="also install the mapped imports of these notebooks, .py files and "
        "folders (see 'apkshim scan'); it takes every argument after it, so put "
        "it last",
    )
    parser.add_argument(
        "--only-binary",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let pip install wheels only and never build from source "
        "(default: on, or APKSHIM_ONLY_BINARY)",
    )
    parser.add_argument(
        "--break-system-packages",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pass --break-system-packages to pip for a Python that is externally "
        "managed (PEP 668) (default: off, or APKSHIM_BREAK_SYSTEM_PACKAGES)",
    )
    add_output_arguments(parser)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Accept ``-v``/``-q`` after the command name too, as before it."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show more: -v for each command run, -vv for their output",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=argparse.SUPPRESS,
        help="show errors only",
    )


def run(arguments: argparse.Namespace) -> int:
    return install_or_plan(arguments, dry_run=arguments.dry_run)


def install_or_plan(arguments: argparse.Namespace, dry_run: bool) -> int:
    """Read the requests, plan, run unless ``dry_run``, print the table."""
    from apkshim import installer
    from apkshim.installer import Request

    quiet = bool(getattr(arguments, "quiet", 0))
    try:
        requests = [Request(text) for text in arguments.requirements]
        for path in arguments.files:
            requests.extend(installer.read_requirement_file(path))
        skipped_files = _requests_from_sources(arguments.sources, requests)
        installer.parse_requests(requests)
    except installer.RequirementError as error:
        for problem in error.problems:
            print(f"apkshim: error: {problem}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    if not requests:
        if arguments.sources:
            print("apkshim: the files import nothing that needs installing")
            return EXIT_FILES_SKIPPED if skipped_files else EXIT_OK
        print(
            "apkshim: error: nothing to install; give requirements, -r FILE or "
            "--from PATH (see --help)",
            file=sys.stderr,
        )
        return EXIT_INVALID_INPUT

    context = autoinstall.context()
    settings = context.settings
    if arguments.only_binary is not None:
        settings = dataclasses.replace(settings, only_binary=arguments.only_binary)
    if arguments.break_system_packages is not None:
        settings = dataclasses.replace(
            settings, break_system_packages=arguments.break_system_packages
        )
    result = installer.plan(requests, context, settings)
    status = EXIT_OK
    if dry_run:
        if result.blocked and any(run.tool == "pip" for run in result.runs):
            status = EXIT_FAILED
    else:
        notify = _silent if quiet else None
        try:
            installer.execute(result, context, notify, settings)
        except installer.InstallFailed as error:
            if not quiet:
                print(format_result(error.result))
            print(f"apkshim: error: {error}", file=sys.stderr)
            return EXIT_FAILED
    if not quiet:
        print(format_result(result))
    if result.blocked and dry_run:
        print(f"apkshim: error: {result.blocked}", file=sys.stderr)
    if status == EXIT_OK and skipped_files:
        status = EXIT_FILES_SKIPPED
    return status


def _silent(text: str) -> None:
    pass


def _requests_from_sources(sources: Sequence[str], requests: list[Request]) -> bool:
    """Add a request per missing mapped import of ``sources``.

    Returns whether any file was skipped.
    """
    from apkshim import scan
    from apkshim.installer import Request

    if not sources:
        return False
    report = scan.scan(sources)
    for problem in report.problems:
        print(f"apkshim: warning: {problem}", file=sys.stderr)
    context = autoinstall.context()
    backend = context.backend.name if context.backend else None
    projects: set[str] = set()
    for item, resolution in scan.resolve_all(report, context.mapping, backend):
        if resolution.kind == "mapped" and resolution.project not in projects:
            assert resolution.project is not None
            projects.add(resolution.project)
            requests.append(Request(resolution.project, str(item.location)))
    return bool(report.problems)


def format_result(result: Result) -> str:
    """Return the result as a table, then the runs and any notes."""
    from apkshim.installer import Route

    show_origin = any(decision.origin for decision in result.decisions)
    header = ["requirement", "route", "package", "version", "reason"]
    if show_origin:
        header.insert(1, "from")
    rows = [header]
    for decision in result.decisions:
        name = decision.requirement
        if decision.required_by:
            name = "  " + name
        row = [
            name,
            decision.route.value,
            decision.package or "-",
            decision.version or "-",
            decision.reason,
        ]
        if show_origin:
            row.insert(1, decision.origin or "-")
        rows.append(row)
    lines = format_columns(rows)

    for run in result.runs:
        if run.seconds is None:
            lines.append(f"would run ({run.tool}): {run.command}")
        else:
            lines.append(f"ran ({run.tool}, {run.seconds:.1f} s): {run.command}")
    if not result.runs and not result.routed(Route.PIP) and not result.dry_run:
        lines.append("nothing to install")
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def format_columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Return the rows as lines of aligned columns; the last column is not padded."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines
