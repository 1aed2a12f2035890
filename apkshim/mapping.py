"""The mapping from import names and PyPI projects to distro packages.

A mapping file is TOML with one table per PyPI project, named by its normalized
name (PEP 503)::

    [scikit-learn]
    imports = ["sklearn"]         # top-level or dotted import names it provides
    apk = "py3-scikit-learn"      # Alpine package
    apt = "python3-sklearn"       # Debian/Ubuntu package

Layers are read in order, each overriding the ones before it, field by field: the
shipped file, ``/etc/apkshim/mapping.toml``, ``$XDG_CONFIG_HOME/apkshim/mapping.toml``
and the files in ``APKSHIM_MAPPING``. In a later layer ``apt = false`` removes one
backend's package and ``remove = true`` removes the whole project. A file with any
error is reported and skipped as a whole, so a typo never installs a wrong package.
"""

from __future__ import annotations

import dataclasses
import keyword
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from apkshim.errors import MappingError

BACKENDS = ("apk", "apt")
FIELDS = frozenset({"imports", "remove", *BACKENDS})

# A project name as PEP 508 allows it, before normalization.
_PROJECT = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# apk-tools and abuild accept letters, digits and "_.+-" in package names.
_APK_PACKAGE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
# Debian policy 5.6.1: lowercase letters, digits, "+-.", at least two characters,
# starting with a letter or digit.
_APT_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
PACKAGE_PATTERNS = {"apk": _APK_PACKAGE, "apt": _APT_PACKAGE}

_HEADER = re.compile(r"^\s*\[\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)\s*\]\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def normalize_project(name: str) -> str:
    """Return the PEP 503 normalized form of a PyPI project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_module_name(name: str) -> bool:
    """Return whether ``name`` is a dotted Python identifier such as ``ruamel.yaml``."""
    parts = name.split(".")
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in parts)


def is_package_name(backend: str, name: str) -> bool:
    """Return whether ``name`` is a valid package name for ``backend``."""
    # fullmatch: "$" would also accept a name that ends with a newline.
    return bool(PACKAGE_PATTERNS[backend].fullmatch(name))


@dataclasses.dataclass(frozen=True)
class Location:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One project's packages after all layers are merged."""

    project: str
    imports: tuple[str, ...]
    packages: dict[str, str]
    locations: dict[str, Location]
    """The file and line that last set each field (``imports``, ``apk``, ``apt``)."""


@dataclasses.dataclass
class FileReport:
    """The outcome of reading one mapping layer, for ``apkshim doctor``."""

    path: str
    status: str
    """``read``, ``missing``, ``ignored`` (unsafe permissions) or ``invalid``."""
    entries: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    """Each fault, starting with its line number when it has one."""

    def messages(self) -> list[str]:
        """Return the problems as ``PATH:LINE: fault`` or ``PATH: fault``."""
        return [
            f"{self.path}:{problem}" if problem[:1].isdigit() else f"{self.path}: {problem}"
            for problem in self.problems
        ]


@dataclasses.dataclass
class _Table:
    project: str
    line: int
    fields: dict[str, Any]
    key_lines: dict[str, int]


def _load_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    document: dict[str, Any] = tomllib.loads(text)
    return document


def _scan_lines(text: str) -> tuple[list[tuple[str, int]], dict[tuple[str, str], int]]:
    """Find the line of every table header and of every key.

    TOML parsers give no positions, so this scan supplies the line numbers for
    messages. It only needs to be right for files that parse, and falls back to
    the header's line for keys it cannot place. Headers are returned as written,
    quotes included; keys outside any table and ``[[array]]`` headers are placed
    under the table name ``""``.
    """
    headers: list[tuple[str, int]] = []
    keys: dict[tuple[str, str], int] = {}
    current: Optional[str] = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = header.group(1).strip("\"'")
            headers.append((header.group(1), number))
            continue
        array = _ARRAY_HEADER.match(line)
        if array:
            keys.setdefault(("", array.group(1).strip("\"'")), number)
            current = None
            continue
        key = _KEY.match(line)
        if key and current is not None:
            keys.setdefault((current, key.group(1)), number)
    return headers, keys


def parse(text: str, path: str) -> list[_Table]:
    """Parse and validate one mapping file; raise MappingError listing every fault."""
    problems: list[str] = []
    headers, key_lines = _scan_lines(text)

    first_line: dict[str, tuple[str, int]] = {}
    for written, line in headers:
        name = written.strip("\"'")
        normalized = normalize_project(name)
        if "." in written and written == name:
            # TOML reads [ruamel.yaml] as a table "yaml" inside a table "ruamel".
            problems.append(
                f"{line}: [{written}] is a nested table in TOML, not the project "
                f"{name!r}; write [{normalized}] or [\"{name}\"]"
            )
        elif normalized in first_line:
            earlier_name, earlier = first_line[normalized]
            problems.append(
                f"{line}: duplicate entry [{name}]; [{earlier_name}] is already at "
                f"line {earlier}. Merge the two tables into one"
            )
        else:
            first_line[normalized] = (name, line)
    if problems:
        raise MappingError(path, problems)

    try:
        document = _load_toml(text)
    except ValueError as error:
        # tomllib's message ends with "(at line N, column M)".
        position = re.search(r"at line (\d+)", str(error))
        if position:
            number = position.group(1)
        else:  # "at end of document"
            number = str(max(1, len(text.splitlines())))
        raise MappingError(path, [f"{number}: invalid TOML: {error}"]) from None

    tables: list[_Table] = []
    import_lines: dict[str, tuple[str, int]] = {}
    for name, fields in document.items():
        top_level_line = key_lines.get(("", name), 0)
        line = first_line.get(normalize_project(name), (name, top_level_line))[1]
        if not isinstance(fields, dict):
            problems.append(
                f"{line}: top-level key {name!r} is not a table; each project is a "
                f"table such as [{name}]"
            )
            continue
        if not _PROJECT.fullmatch(name):
            problems.append(f"{line}: [{name}] is not a valid PyPI project name")
            continue
        lines = {key: key_lines.get((name, key), line) for key in fields}
        table = _Table(normalize_project(name), line, fields, lines)
        problems.extend(_validate_table(table))
        for module in _imports_of(table):
            where = lines.get("imports", line)
            if module in import_lines and import_lines[module][0] != table.project:
                other, other_line = import_lines[module]
                problems.append(
                    f"{where}: import name {module!r} is mapped by [{table.project}] "
                    f"and by [{other}] at line {other_line}; keep it in one table"
                )
            else:
                import_lines[module] = (table.project, where)
        tables.append(table)

    if problems:
        raise MappingError(path, problems)
    return tables


def _imports_of(table: _Table) -> list[str]:
    imports = table.fields.get("imports", [])
    if isinstance(imports, list):
        return [name for name in imports if isinstance(name, str)]
    return []


def _validate_table(table: _Table) -> Iterator[str]:
    for key, value in table.fields.items():
        line = table.key_lines[key]
        if key not in FIELDS:
            yield (
                f"{line}: [{table.project}] has unknown key {key!r}; expected "
                f"imports, remove or a backend ({', '.join(BACKENDS)})"
            )
        elif key == "remove":
            if value is not True:
                yield f"{line}: [{table.project}] remove must be true, not {value!r}"
            elif len(table.fields) > 1:
                yield f"{line}: [{table.project}] has remove = true and other keys"
        elif key == "imports":
            yield from _validate_imports(table, line, value)
        elif value is not False and not (
            isinstance(value, str) and is_package_name(key, value)
        ):
            yield (
                f"{line}: [{table.project}] {key} = {value!r} is not a valid {key} "
                "package name; use one package name, or false to remove it"
            )


def _validate_imports(table: _Table, line: int, value: object) -> Iterator[str]:
    if not isinstance(value, list):
        yield f"{line}: [{table.project}] imports must be a list of module names"
        return
    seen: set[str] = set()
    for module in value:
        if not isinstance(module, str) or not is_module_name(module):
            yield (
                f"{line}: [{table.project}] import name {module!r} is not a dotted "
                "Python identifier such as 'yaml' or 'google.protobuf'"
            )
        elif module in seen:
            yield f"{line}: [{table.project}] lists import name {module!r} twice"
        seen.add(module)


# Bytes a mapping file may have; the shipped one, with about 200 projects, has 20k.
MAX_FILE_SIZE = 8 * 1024 * 1024


def read_regular_file(path: str, limit: int = MAX_FILE_SIZE) -> tuple[bytes, os.stat_result]:
    """Read a regular file of at most ``limit`` bytes; raise OSError otherwise.

    A FIFO or device at a mapping path would block or never end, so the file is
    opened without blocking and checked with fstat before it is read.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(0, "not a regular file")
        if status.st_size > limit:
            raise OSError(0, f"larger than {limit} bytes")
        return handle.read(limit + 1)[:limit], status


def unsafe_permissions(status: os.stat_result) -> bool:
    """Return whether users other than this user and root can write the file.

    That is a file writable by its group or by everyone, or owned by another
    ordinary user: a mapping decides what root installs.
    """
    if status.st_uid not in (0, os.geteuid()):
        return True
    if status.st_mode & stat.S_IWOTH:
        return True
    return bool(status.st_mode & stat.S_IWGRP) and status.st_gid != 0


class Mapping:
    """The merged layers, with lookups by import name and by project."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.files: list[FileReport] = []
        # Which project lists each import name, so that merging a layer costs
        # time in proportion to its size, not to the size of all layers.
        self._owners: dict[str, str] = {}

    @classmethod
    def load(cls, paths: Iterable[str], required: Iterable[str] = ()) -> Mapping:
        """Read and merge the layers. ``required`` paths are reported when missing."""
        mapping = cls()
        required = set(required)
        for path in paths:
            mapping.add_file(path, required=path in required)
        return mapping

    def add_file(self, path: str, required: bool = False) -> FileReport:
        report = FileReport(path, "read")
        self.files.append(report)
        try:
            data, status = read_regular_file(path)
        except FileNotFoundError:
            report.status = "missing"
            if required:
                report.problems.append("not found")
            return report
        except OSError as error:
            report.status = "invalid"
            report.problems.append(f"cannot be read: {error.strerror}")
            return report

        if unsafe_permissions(status):
            report.status = "ignored"
            report.problems.append(
                "ignored: users other than this user and root can write it; "
                f"make root or this user its owner and run 'chmod go-w {path}'"
            )
            return report
        try:
            tables = parse(data.decode("utf-8"), path)
        except UnicodeDecodeError as error:
            report.status = "invalid"
            report.problems.append(f"1: not UTF-8 text ({error.reason})")
            return report
        except MappingError as error:
            report.status = "invalid"
            report.problems.extend(error.problems)
            return report

        for table in tables:
            self._merge(table, path)
        report.entries = len(tables)
        return report

    def _merge(self, table: _Table, path: str) -> None:
        if table.fields.get("remove") is True:
            removed = self.entries.pop(table.project, None)
            for name in removed.imports if removed else ():
                self._owners.pop(name, None)
            return
        old = self.entries.get(table.project)
        imports = old.imports if old else ()
        packages = dict(old.packages) if old else {}
        locations = dict(old.locations) if old else {}
        for key, value in table.fields.items():
            locations[key] = Location(path, table.key_lines[key])
            if key == "imports":
                imports = tuple(value)
            elif value is False:
                packages.pop(key, None)
            else:
                packages[key] = value
        # A later layer that claims an import name takes it from earlier projects.
        if "imports" in table.fields:
            for name in old.imports if old else ():
                self._owners.pop(name, None)
            for name in imports:
                owner = self._owners.get(name)
                if owner is not None and owner != table.project:
                    entry = self.entries[owner]
                    kept = tuple(other for other in entry.imports if other != name)
                    self.entries[owner] = dataclasses.replace(entry, imports=kept)
                self._owners[name] = table.project
        self.entries[table.project] = Entry(table.project, imports, packages, locations)

    def import_names(self, backend: str) -> dict[str, Entry]:
        """Return every import name that has a package for ``backend``."""
        names: dict[str, Entry] = {}
        for entry in self.entries.values():
            if backend in entry.packages:
                for name in entry.imports:
                    names[name] = entry
        return names

    def find_import(self, name: str, backend: str) -> Optional[tuple[str, Entry]]:
        """Return the longest mapped prefix of ``name`` and its entry, if any."""
        names = self.import_names(backend)
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            if prefix in names:
                return prefix, names[prefix]
        return None

    def mentions_import(self, name: str) -> bool:
        """Return whether any entry lists ``name``, with or without a package."""
        return name in self._owners

    def find_project(self, project: str, backend: str) -> Optional[Entry]:
        """Return the entry of a PyPI project if it has a package for ``backend``."""
        entry = self.entries.get(normalize_project(project))
        if entry is None or backend not in entry.packages:
            return None
        return entry
