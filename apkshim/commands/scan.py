"""``apkshim scan``: list the imports of notebooks and .py files, and their sources."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from apkshim import autoinstall
from apkshim.commands.install import (
    EXIT_FILES_SKIPPED,
    EXIT_OK,
    add_output_arguments,
    format_columns,
)

EXIT_STATUSES = """\
exit status:
  0  every file was read
  2  invalid options
  3  some files could not be read or parsed; they are listed and were skipped
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="list the imports of notebooks, .py files and folders",
        description="List every import of the notebooks (code cells), .py files "
        "and folders given, with its file and line, and what it resolves to: "
        "the standard library, a local module, an installed distribution, a "
        "mapped project with its distro package, or nothing known. IPython "
        "magics and shell lines are skipped; a cell magic other than %%time, "
        "%%timeit, %%capture, %%prun and %%debug skips its cell. "
        "'apkshim install --from PATH' installs the mapped ones.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a notebook (.ipynb), a .py file or a folder",
    )
    add_output_arguments(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from apkshim import scan

    report = scan.scan(arguments.paths)
    context = autoinstall.context()
    backend = context.backend.name if context.backend else None
    resolved = scan.resolve_all(report, context.mapping, backend)
    rows = [["location", "import", "resolves to"]]
    rows += [[str(item.location), item.module, str(found)] for item, found in resolved]
    if not getattr(arguments, "quiet", 0):
        if resolved:
            print("\n".join(format_columns(rows)))
        missing = sorted(
            {
                found.project
                for _, found in resolved
                if found.kind == "mapped" and found.project
            }
        )
        print(
            f"{len(resolved)} imports in {report.files} "
            f"{'file' if report.files == 1 else 'files'}; to install: "
            f"{', '.join(missing) or 'nothing'}"
        )
    for problem in report.problems:
        print(f"apkshim: warning: {problem}", file=sys.stderr)
    return EXIT_FILES_SKIPPED if report.problems else EXIT_OK
