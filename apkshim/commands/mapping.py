"""``apkshim mapping``: check mapping files, explain an import, generate entries."""

from __future__ import annotations

import argparse
import os
import re
import sys
from importlib.machinery import ModuleSpec, PathFinder
from typing import Any, Optional

from apkshim.finder import mapping_layers
from apkshim import autoinstall, distrometa, generate, settings, stdlib
from apkshim.commands.doctor import hook_status
from apkshim.errors import MappingError
from apkshim.mapping import BACKENDS, Entry, Mapping, is_module_name, parse

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EXIT_STATUSES = """\
exit status:
  0  check: no problems; show: the import succeeds or would be served
  1  check: a file has problems; show: the import would fail
  2  invalid options
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mapping",
        help="check mapping files, explain an import, generate entries",
        description="Work with the mapping from import names and PyPI projects "
        "to distro packages.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    check = actions.add_parser(
        "check",
        help="lint mapping files",
        description="Read each mapping file as apkshim does and list every problem "
        "as FILE:LINE: message: invalid TOML, invalid project, module or package "
        "names, duplicate tables, an import name in two tables, unknown keys or "
        "backends, unsafe permissions. Without FILE, checks every layer apkshim "
        "reads here.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("files", nargs="*", metavar="FILE", help="a mapping file")
    check.set_defaults(handler=run_check)

    show = actions.add_parser(
        "show",
        help="explain what 'import NAME' would do on this machine",
        description="Explain what 'import NAME' in user code would do on this "
        "machine with the hook on: whether the module is there already, the "
        "mapping entry with its file and line, the package and backend, the "
        "distro-metadata route, the interpreter check, or why nothing would "
        "be installed.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("name", metavar="NAME", help="a module name such as yaml")
    show.set_defaults(handler=run_show)

    produce = actions.add_parser(
        "generate",
        help="generate mapping entries from a distro's package index",
        description="Print mapping entries for the Python modules that a distro's "
        "package metadata lists: an Alpine APKINDEX.tar.gz (the py3.X:MODULE "
        "provides that abuild adds) or a Debian Contents file (the files under "
        "dist-packages). Entries of both that share an import name become one "
        "table. The output is sorted mapping TOML that 'apkshim mapping check' "
        "accepts.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    produce.add_argument(
        "--apkindex",
        action="append",
        default=[],
        metavar="FILE",
        help="an APKINDEX.tar.gz; repeat for several repositories",
    )
    produce.add_argument(
        "--debian-contents",
        action="append",
        default=[],
        metavar="FILE",
        help="a Debian Contents file, plain or .gz; repeat for several",
    )
    produce.add_argument(
        "--python",
        type=_python_version,
        metavar="3.X",
        help="use the apk provides for this Python (default: the most common one)",
    )
    produce.add_argument(
        "--base",
        metavar="FILE",
        help="a mapping file whose project names are used for the import names it maps",
    )
    produce.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of stdout"
    )
    produce.set_defaults(handler=run_generate)


def _python_version(text: str) -> str:
    if not re.fullmatch(r"3\.\d+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a version such as 3.12")
    return text


# check


def run_check(arguments: argparse.Namespace) -> int:
    """Lint the files given, or every layer; print each problem with its line."""
    explicit = bool(arguments.files)
    required = set(settings.resolve(os.environ).mapping)
    paths = arguments.files or mapping_layers(os.environ)
    problems = 0
    for path in paths:
        report = Mapping().add_file(path, required=explicit or path in required)
        if report.status == "missing" and not report.problems:
            print(f"{path}: not present")
        elif report.status == "read":
            print(f"{path}: ok, {report.entries} entries")
        for message in report.messages():
            print(message)
        problems += len(report.problems)
    if problems:
        print(f"{problems} problems found", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# show


def run_show(arguments: argparse.Namespace) -> int:
    """Print what ``import NAME`` would do; exit 0 when it would succeed."""
    name = arguments.name
    if not is_module_name(name):
        print(
            f"apkshim: error: {name!r} is not a module name; give a dotted Python "
            "identifier such as yaml or google.protobuf",
            file=sys.stderr,
        )
        return EXIT_USAGE
    lines, served = explain(name)
    print("\n".join(lines))
    return EXIT_OK if served else EXIT_FAILED


def explain(name: str) -> tuple[list[str], bool]:
    """Return the lines that explain ``import name`` and whether it would succeed."""
    current = autoinstall.load_context(warn=False)
    lines = [f"import {name}"]
    for report in current.mapping.files:
        lines += [f"mapping file skipped: {message}" for message in report.messages()]
    top = name.split(".")[0]

    if stdlib.is_stdlib(top) or top in sys.builtin_module_names:
        lines.append(
            f"result: {top} is in the standard library; apkshim is not involved"
        )
        return lines, True
    spec = _find_without_hook(name)
    if spec is not None:
        where = spec.origin or ", ".join(spec.submodule_search_locations or [])
        lines.append(f"module: found at {where}")
        lines.append("result: the import succeeds without apkshim")
        return lines, True
    lines.append(f"module: not found by {sys.executable}")

    backend = current.backend
    if backend is None:
        lines.append(f"backend: none: {current.backend_reason}")
        lines.append("result: nothing would be installed, because there is no backend")
        return lines, False
    lines.append(f"backend: {backend.name}: {current.backend_reason}")
    lines.append(f"hook: {hook_status()[1]}")
    lines.append(
        f"scope: {current.settings.scope}: "
        + (
            "every import may install"
            if current.settings.scope == "all"
            else "only imports made by user code install, never library imports"
        )
    )

    found = current.mapping.find_import(name, backend.name)
    entry: Optional[Entry] = None
    if found is not None:
        key, entry = found
        lines += _describe_entry(key, entry, backend.name)
    else:
        lines += _describe_unmapped(current, name, backend.name)
        if current.settings.metadata and current.mapping.mentions_import(top):
            # The hook leaves a name alone that the mapping lists without a
            # package for this backend, as "apt = false" in a user layer does.
            lines.append(
                f"metadata: not consulted, because the mapping lists {top!r} "
                f"without a package for {backend.name}"
            )
        elif current.settings.metadata:
            resolution = distrometa.resolve(current.settings, backend, top)
            if resolution.package is not None:
                entry = resolution.entry()
                lines.append(
                    f"metadata: {resolution.package} ships {top}: {resolution.reason}"
                )
            else:
                lines.append(f"metadata: no package: {resolution.reason}")
    lines.append(f"metadata route: {distrometa.describe_setting(current.settings)}")
    if entry is None:
        lines.append(
            "result: nothing would be installed; the import fails with "
            "ModuleNotFoundError"
        )
        return lines, False

    package = entry.packages[backend.name]
    lines.append(f"package: {package}: {_package_state(backend, package)}")
    verdict = current.verdict()
    lines.append(f"interpreter: {verdict.status}: {verdict.reason}")
    if not verdict.allowed:
        lines.append(f"result: nothing would be installed: {verdict.reason}")
        return lines, False
    version = autoinstall._distribution_version(entry.project)
    if version is not None:
        lines.append(
            f"result: {entry.project} {version} is installed but does not provide "
            f"{name}, so apkshim would not reinstall it and the import fails"
        )
        return lines, False
    lines.append(
        f"result: with the hook on, 'import {name}' in user code would install "
        f"{package} with {backend.name}"
    )
    return lines, True


def _find_without_hook(name: str) -> Optional[ModuleSpec]:
    """Find ``name`` with the standard path finder, running no package's code."""
    path: Optional[list[str]] = None
    spec: Optional[ModuleSpec] = None
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        spec = PathFinder.find_spec(".".join(parts[:end]), path)
        if spec is None:
            return None
        locations = spec.submodule_search_locations
        if end < len(parts) and not locations:
            return None
        path = list(locations or [])
    return spec


def _describe_entry(key: str, entry: Entry, backend: str) -> list[str]:
    imports = entry.locations.get("imports")
    package = entry.locations.get(backend)
    lines = [
        f"mapping: [{entry.project}] maps {key!r}"
        + (f", imports at {imports}" if imports else "")
    ]
    if package is not None:
        lines.append(f"mapping: {backend} = {entry.packages[backend]!r} at {package}")
    return lines


def _describe_unmapped(
    current: autoinstall.Context, name: str, backend: str
) -> list[str]:
    for other in BACKENDS:
        if other == backend:
            continue
        found = current.mapping.find_import(name, other)
        if found is not None:
            key, entry = found
            return [
                f"mapping: [{entry.project}] maps {key!r} for {other} only "
                f"({entry.packages[other]}), not for {backend}"
            ]
    return [f"mapping: no layer maps {name!r}"]


def _package_state(backend: Any, package: str) -> str:
    installed = backend.installed_version(package)
    if installed is not None:
        return f"installed, version {installed}"
    candidate = backend.candidate_version(package)
    if candidate is None:
        return f"not installed, and {backend.name} offers no version of it"
    return f"not installed; {backend.name} would install version {candidate}"


# generate


def run_generate(arguments: argparse.Namespace) -> int:
    """Print or write mapping entries generated from the inputs."""
    if not arguments.apkindex and not arguments.debian_contents:
        print(
            "apkshim: error: give --apkindex FILE, --debian-contents FILE or both",
            file=sys.stderr,
        )
        return EXIT_USAGE

    base: Optional[Mapping] = None
    if arguments.base:
        base = Mapping()
        report = base.add_file(arguments.base, required=True)
        if report.status != "read":
            print("\n".join(report.messages()), file=sys.stderr)
            return EXIT_FAILED

    packages: list[generate.Package] = []
    sources: list[str] = []
    if arguments.apkindex:
        stanzas = []
        for path in arguments.apkindex:
            stanzas += generate.read_apkindex(path)
        found, python = generate.apk_packages(stanzas, arguments.python)
        packages += found
        sources += [f"{path} (py{python}: provides)" for path in arguments.apkindex]
    for path in arguments.debian_contents:
        packages += generate.debian_packages(generate.read_contents(path))
        sources.append(f"{path} (Debian Contents)")

    tables = generate.build_tables(packages, base)
    text = generate.render(tables, sources)
    try:
        parse(text, "<generated>")
    except MappingError as error:
        # A bug in apkshim.generate, never a fault of the input.
        raise AssertionError(
            f"apkshim generated an invalid mapping:\n{error}"
        ) from None

    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    counts = ", ".join(
        f"{backend} {sum(backend in table.packages for table in tables)}"
        for backend in BACKENDS
    )
    print(f"apkshim: {len(tables)} entries ({counts})", file=sys.stderr)
    return EXIT_OK
