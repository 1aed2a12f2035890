"""Mapping entries generated from a distro's own package metadata.

Alpine
    An ``APKINDEX.tar.gz`` contains one stanza per package: ``P:`` its name, ``V:``
    its version and ``p:`` its provides. abuild adds ``py3.X:MODULE=VERSION`` for
    each top-level package directory with ``__init__.py`` (and, from abuild 3.16.0
    on, each top-level ``*.py`` module) that the package installs for Python 3.X.
    Those provides are the import names. Namespace packages and top-level
    extension modules get no provide, so they are not found here.
Debian
    A Contents file (the format of Debian's ``Contents-ARCH.gz`` and apt-file's
    data: one line per file, ``PATH`` then whitespace then
    ``[AREA/]SECTION/PACKAGE[,...]``) lists the files of each package. Import
    names come from ``usr/lib/python3/dist-packages``: a top-level ``NAME.py``, an
    extension module ``NAME.*.so`` or a package directory with ``__init__.py``. A
    package inside a directory without ``__init__.py`` (a namespace package) gives
    a dotted name such as ``google.protobuf``. Project names come from the
    ``*.dist-info`` and ``*.egg-info`` directories a package ships.

Entries of the two distros that share an import name become one table. A name
that two packages of one distro ship is left out, because the mapping could not
choose between them, and so is a table whose project name another table took.
``render`` writes sorted mapping TOML that ``apkshim.mapping.parse`` accepts.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import logging
import re
import tarfile
from collections.abc import Iterable, Sequence
from typing import Optional

from apkshim.errors import ApkshimError
from apkshim.mapping import (
    PACKAGE_PATTERNS,
    Mapping,
    is_module_name,
    normalize_project,
)

log = logging.getLogger(__name__)

_PYTHON_PROVIDE = re.compile(r"^py3\.(\d+):([^=<>~]+)")
_SITE_DIRECTORY = re.compile(r"^usr/lib/python3(?:\.\d+)?/dist-packages/")
_METADATA_DIRECTORY = re.compile(r"^([A-Za-z0-9._]+?)(?:-[^/]*)?\.(?:dist|egg)-info$")
# The prefixes distros put before a Python project's name in package names.
_PACKAGE_PREFIXES = ("py3-", "python3-")
_VALID_PROJECT = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# Directories that packages ship at the top level by mistake. Mapping them would
# let a missing local "tests" package install some library's test suite.
_NOT_IMPORT_NAMES = frozenset(
    {"doc", "docs", "example", "examples", "benchmarks", "scripts", "test", "tests"}
)


class GenerateError(ApkshimError):
    """An input file cannot be read as the format it was given as."""


@dataclasses.dataclass(frozen=True)
class Package:
    """One distro package and the import names it ships."""

    backend: str
    name: str
    imports: frozenset[str]
    projects: tuple[str, ...] = ()
    """Normalized PyPI names of the metadata directories it ships (Debian)."""


@dataclasses.dataclass(frozen=True)
class Table:
    """One generated mapping entry."""

    project: str
    imports: tuple[str, ...]
    packages: dict[str, str]


def _is_import_name(name: str) -> bool:
    return is_module_name(name) and name.split(".")[0] not in _NOT_IMPORT_NAMES


# Alpine


def read_apkindex(path: str) -> list[dict[str, list[str]]]:
    """Return the stanzas of an APKINDEX.tar.gz, each as key -> values."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            member = archive.extractfile("APKINDEX")
            if member is None:
                raise KeyError("APKINDEX")
            text = member.read().decode("utf-8", errors="replace")
    except (OSError, tarfile.TarError, EOFError) as error:
        raise GenerateError(
            f"{path}: cannot be read as an APKINDEX.tar.gz ({error}); give the "
            "index file of an apk repository"
        ) from None
    except KeyError:
        raise GenerateError(
            f"{path}: has no APKINDEX member, so it is not an apk index; give the "
            "APKINDEX.tar.gz of an apk repository"
        ) from None

    stanzas: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current = {}
        elif len(line) >= 2 and line[1] == ":":
            current.setdefault(line[0], []).append(line[2:])
    if current:
        stanzas.append(current)
    return stanzas


def apk_packages(
    stanzas: Iterable[dict[str, list[str]]], python: Optional[str] = None
) -> tuple[list[Package], str]:
    """Return the packages with ``py3.X:`` provides and the ``3.X`` used.

    ``python`` (such as ``"3.12"``) selects the provides to use. By default it is
    the version that the most provides name, because an index can still contain
    packages built for the previous Python.
    """
    provides: dict[str, dict[str, set[str]]] = collections.defaultdict(dict)
    for stanza in stanzas:
        name = stanza.get("P", [""])[0]
        for field in stanza.get("p", []):
            for provide in field.split():
                match = _PYTHON_PROVIDE.match(provide)
                if name and match and _is_import_name(match.group(2)):
                    version = f"3.{match.group(1)}"
                    provides[version].setdefault(name, set()).add(match.group(2))
    if not provides:
        return [], python or ""
    if python is None:
        python = max(
            provides, key=lambda version: sum(map(len, provides[version].values()))
        )
    chosen = provides.get(python, {})
    packages = [
        Package("apk", name, frozenset(imports)) for name, imports in chosen.items()
    ]
    return packages, python


# Debian


def read_contents(path: str) -> dict[str, list[str]]:
    """Return each package's paths from a Contents file, plain or gzip-compressed."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise GenerateError(
            f"{path}: cannot be read ({error}); give a Contents file"
        ) from None
    files: dict[str, list[str]] = collections.defaultdict(list)
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        fields = line.rsplit(None, 1)
        if not line.strip() or fields == ["FILE", "LOCATION"]:
            continue
        if len(fields) != 2:
            raise GenerateError(
                f"{path}:{number}: expected 'PATH SECTION/PACKAGE', found {line!r}; "
                "give a Contents file such as Debian's Contents-amd64.gz"
            )
        file_path = fields[0].strip().lstrip("./")
        for location in fields[1].split(","):
            files[location.rsplit("/", 1)[-1]].append(file_path)
    return dict(files)


def debian_packages(contents: dict[str, list[str]]) -> list[Package]:
    """Return the packages that ship Python modules, with their import names."""
    packages = []
    for name, paths in sorted(contents.items()):
        imports, projects = _debian_modules(paths)
        if imports:
            packages.append(Package("apt", name, frozenset(imports), projects))
    return packages


def _debian_modules(paths: Sequence[str]) -> tuple[set[str], tuple[str, ...]]:
    relative = set()
    for path in paths:
        match = _SITE_DIRECTORY.match(path)
        if match:
            relative.add(path[match.end() :].rstrip("/"))
    projects = set()
    imports = set()
    for path in relative:
        parts = path.split("/")
        metadata = _METADATA_DIRECTORY.match(parts[0])
        if metadata:
            projects.add(normalize_project(metadata.group(1)))
            continue
        name = _import_name(parts, relative)
        if name and _is_import_name(name):
            imports.add(name)
    return imports, tuple(sorted(projects))


def _import_name(parts: list[str], paths: set[str]) -> Optional[str]:
    """Return the import name that the file ``parts`` belongs to, if any.

    That is the first prefix that is a module file or a package directory with
    ``__init__.py``. The directories above it have no ``__init__.py`` in this
    package, so they are namespace packages and the name is dotted.
    """
    file_name = parts[-1]
    if file_name.endswith(".py"):
        stem = file_name[:-3]
    elif file_name.endswith(".so"):
        stem = file_name.split(".", 1)[0]
    else:
        return None
    modules = [*parts[:-1], stem]
    if "__pycache__" in modules or not all(is_module_name(part) for part in modules):
        return None
    for end in range(1, len(modules)):
        directory = "/".join(modules[:end])
        if f"{directory}/__init__.py" in paths:
            return ".".join(modules[:end])
    if stem == "__init__":
        return ".".join(modules[:-1]) if len(modules) > 1 else None
    return ".".join(modules)


# Merging and writing


def build_tables(
    packages: Sequence[Package], base: Optional[Mapping] = None
) -> list[Table]:
    """Merge packages into mapping tables, one per project, sorted by project.

    Packages of different backends that share an import name become one table.
    ``base`` names the project of any import name that it maps.
    """
    valid = []
    for package in packages:
        if PACKAGE_PATTERNS[package.backend].fullmatch(package.name):
            valid.append(package)
        else:
            log.warning(
                "skipped %r: not a valid %s package name", package.name, package.backend
            )
    groups = _group_by_import(_drop_shared_imports(valid))
    tables: dict[str, Table] = {}
    for group in groups:
        backends = collections.Counter(package.backend for package in group)
        if any(count > 1 for count in backends.values()):
            names = ", ".join(sorted(package.name for package in group))
            log.warning(
                "skipped %s: they share import names but are several packages of "
                "one distro, and one table holds one package per distro",
                names,
            )
            continue
        imports = sorted(set().union(*(package.imports for package in group)))
        project = _project_name(group, imports, base, tables)
        if project is None:
            continue
        packages_by_backend = {package.backend: package.name for package in group}
        tables[project] = Table(project, tuple(imports), packages_by_backend)
    return [tables[name] for name in sorted(tables)]


def _drop_shared_imports(packages: Sequence[Package]) -> list[Package]:
    """Remove each import name that two packages of one backend ship."""
    owners: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for package in packages:
        for name in package.imports:
            owners[package.backend, name].append(package.name)
    shared = {key for key, names in owners.items() if len(names) > 1}
    for backend, name in sorted(shared):
        log.warning(
            "left out import name %r: %s packages %s all ship it",
            name,
            backend,
            ", ".join(sorted(owners[backend, name])),
        )
    remaining = []
    for package in packages:
        imports = frozenset(
            name for name in package.imports if (package.backend, name) not in shared
        )
        if imports:
            remaining.append(dataclasses.replace(package, imports=imports))
    return remaining


def _group_by_import(packages: Sequence[Package]) -> list[list[Package]]:
    """Return the groups of packages connected by shared import names."""
    parent = list(range(len(packages)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_owner: dict[str, int] = {}
    for index, package in enumerate(packages):
        for name in package.imports:
            if name in first_owner:
                parent[root(index)] = root(first_owner[name])
            else:
                first_owner[name] = index
    groups: dict[int, list[Package]] = collections.defaultdict(list)
    for index, package in enumerate(packages):
        groups[root(index)].append(package)
    return list(groups.values())


def _project_name(
    group: list[Package],
    imports: list[str],
    base: Optional[Mapping],
    existing_tables: dict[str, Table],
) -> Optional[str]:
    """Choose the table name: from ``base``, a metadata directory or a package name."""
    candidates: list[str] = []
    if base is not None:
        for entry in base.entries.values():
            if set(entry.imports) & set(imports):
                candidates.append(entry.project)
    for package in sorted(group, key=lambda package: package.backend != "apt"):
        if len(package.projects) == 1:
            candidates.append(package.projects[0])
    for package in sorted(group, key=lambda package: package.backend):
        name = package.name
        for prefix in _PACKAGE_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        candidates.append(normalize_project(name))

    for candidate in candidates:
        if _VALID_PROJECT.fullmatch(candidate) and candidate not in existing_tables:
            return candidate
    names = ", ".join(sorted(package.name for package in group))
    log.warning(
        "skipped %s: no free project name among %s", names, ", ".join(candidates)
    )
    return None


def render(tables: Sequence[Table], sources: Sequence[str]) -> str:
    """Return the tables as mapping TOML, with a header naming the sources."""
    lines = [
        "# Generated by 'apkshim mapping generate' from:",
        *(f"#   {source}" for source in sources),
        "# Project names come from an existing mapping, the package's metadata",
        "# directories or the package name, in that order: check them before use.",
    ]
    for table in sorted(tables, key=lambda table: table.project):
        quoted = ", ".join(f'"{name}"' for name in table.imports)
        lines += ["", f"[{table.project}]", f"imports = [{quoted}]"]
        for backend in sorted(table.packages):
            lines.append(f'{backend} = "{table.packages[backend]}"')
    return "\n".join(lines) + "\n"
