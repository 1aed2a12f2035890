"""Finding the imports of notebooks, ``.py`` files and folders, and what each needs.

Notebooks are read as JSON (nbformat 4, and 3's worksheets), without Jupyter.
Their code cells are IPython, not Python, so before parsing each cell:

* a cell magic (``%%bash``, ``%%html``, ``%%writefile`` ...) makes the whole cell
  something else, and the cell is skipped, except ``%%time``, ``%%timeit``,
  ``%%capture``, ``%%prun`` and ``%%debug``, whose body is Python;
* a line magic or shell line (``%pip install x``, ``!ls``, ``files = !ls``,
  automagic such as ``pip install x``) and a help line (``np.array?``) become
  ``pass``, keeping the indentation and the line numbers. ``%time STATEMENT``
  keeps its statement.

A file or cell that still does not parse is reported with its path and line and
skipped; the rest of the scan goes on.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from importlib.machinery import PathFinder
from typing import Any, Optional, Union

from apkshim import stdlib, versions
from apkshim.mapping import Entry, Mapping, read_regular_file

PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
# Automagic: IPython runs these line magics without the "%" when no variable
# of that name exists.
_AUTOMAGIC = re.compile(r"^(pip|conda|mamba|cd|ls|pwd|env)(\s+[^\s=(\[.]|$)")
_SHELL_ASSIGNMENT = re.compile(r"^[\w.,\s]+=\s*[!%]")
_HELP = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+\?{1,2})$")
_SKIPPED_DIRECTORIES = frozenset(
    {"__pycache__", "node_modules", "site-packages", "dist-packages"}
)
SUFFIXES = (".py", ".ipynb")


@dataclasses.dataclass(frozen=True)
class Location:
    """The position of an import: a line of a file, or a line of a notebook cell."""

    path: str
    line: int
    cell: Optional[int] = None
    """The cell's position in the notebook, counting from 1, for notebooks."""

    def __str__(self) -> str:
        if self.cell is None:
            return f"{self.path}:{self.line}"
        return f"{self.path} cell {self.cell}:{self.line}"


@dataclasses.dataclass(frozen=True)
class Import:
    """One imported module name and where it is imported."""

    module: str
    location: Location


@dataclasses.dataclass
class ScanReport:
    """The imports found, and the files or cells that were skipped and why."""

    imports: list[Import] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    files: int = 0
    """How many files were read."""


class NotebookError(ValueError):
    """A file is not a readable Jupyter notebook. The message names its path."""


def scan(paths: Iterable[str]) -> ScanReport:
    """Return the imports of every notebook and ``.py`` file under ``paths``.

    A folder is walked recursively, skipping hidden folders, ``__pycache__``,
    ``node_modules``, site-packages and virtual environments.
    """
    report = ScanReport()
    for path in paths:
        if os.path.isdir(path):
            for file_path in _walk(path):
                _scan_file(file_path, report)
        elif os.path.exists(path):
            if not path.endswith(SUFFIXES):
                report.problems.append(
                    f"{path}: not a .py file, notebook or folder; skipped"
                )
                continue
            _scan_file(path, report)
        else:
            report.problems.append(f"{path}: not found; check the path; skipped")
    return report


def _walk(root: str) -> Iterator[str]:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not name.startswith(".")
            and name not in _SKIPPED_DIRECTORIES
            and not os.path.exists(os.path.join(directory, name, "pyvenv.cfg"))
        )
        for name in sorted(files):
            if name.endswith(SUFFIXES):
                yield os.path.join(directory, name)


# Bytes of one notebook or source file that scan reads; larger files are skipped.
MAX_FILE_SIZE = 64 * 1024 * 1024


def _scan_file(path: str, report: ScanReport) -> None:
    try:
        data = read_regular_file(path, MAX_FILE_SIZE)[0]
    except OSError as error:
        report.problems.append(f"{path}: cannot be read: {error.strerror}; skipped")
        return
    report.files += 1
    try:
        _scan_data(path, data, report)
    except (RecursionError, MemoryError):
        report.problems.append(
            f"{path}: too deeply nested or too large to parse; skipped"
        )


def _scan_data(path: str, data: bytes, report: ScanReport) -> None:
    if path.endswith(".ipynb"):
        _scan_notebook(path, data, report)
        return
    try:
        report.imports.extend(imports_in_source(data, path))
    except SyntaxError as error:
        report.problems.append(
            f"{path}:{error.lineno or 1}: invalid Python ({error.msg}); fix it or "
            "exclude the file; skipped"
        )
    except ValueError as error:  # NUL bytes, undecodable text
        report.problems.append(f"{path}: invalid Python ({error}); skipped")


def _scan_notebook(path: str, data: bytes, report: ScanReport) -> None:
    try:
        cells = notebook_code_cells(data, path)
    except NotebookError as error:
        report.problems.append(f"{error}; skipped")
        return
    for number, source in cells:
        try:
            found = imports_in_source(cell_to_python(source), path, number)
        except SyntaxError as error:
            where = Location(path, error.lineno or 1, number)
            report.problems.append(
                f"{where}: invalid Python ({error.msg}); this cell was skipped. Fix "
                "it, or tell apkshim about the import with 'apkshim install'"
            )
            continue
        except ValueError as error:
            report.problems.append(f"{path} cell {number}: {error}; skipped")
            continue
        report.imports.extend(found)


def notebook_code_cells(data: bytes, path: str) -> list[tuple[int, str]]:
    """Return (cell number, source) for every code cell of a notebook file.

    Raises NotebookError naming the path, and the line for invalid JSON.
    """
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise NotebookError(f"{path}: not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"{path}:{error.lineno}: invalid notebook JSON ({error.msg}); open and "
            "save it again in Jupyter, or restore it from version control"
        ) from None
    cells = _cells(document, path)
    code: list[tuple[int, str]] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(
                f"{path}: cell {number} has a source that is neither text nor a "
                "list of lines; open and save it again in Jupyter"
            )
        code.append((number, source))
    return code


def _cells(document: Any, path: str) -> list[Any]:
    if isinstance(document, dict):
        if isinstance(document.get("cells"), list):
            return list(document["cells"])
        worksheets = document.get("worksheets")  # nbformat 3
        if isinstance(worksheets, list):
            return [
                cell
                for sheet in worksheets
                if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
                for cell in sheet["cells"]
            ]
    raise NotebookError(
        f"{path}: not a Jupyter notebook (no list of cells); check that it is "
        "an .ipynb file saved by Jupyter"
    )


def cell_to_python(source: str) -> str:
    """Return the Python of an IPython cell: magics and shell lines become ``pass``."""
    lines = source.splitlines()
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()[2:].split(None, 1)
        if not magic or magic[0] not in PYTHON_CELL_MAGICS:
            return ""
        lines[first] = ""
    return "\n".join(_line_to_python(line) for line in lines)


def _line_to_python(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("%time "):
        return indent + stripped.split(None, 1)[1]
    if (
        stripped.startswith(("!", "%"))
        or _SHELL_ASSIGNMENT.match(stripped)
        or _HELP.match(stripped.rstrip())
        or _AUTOMAGIC.match(stripped)
    ):
        return indent + "pass"
    return line


def imports_in_source(
    source: Union[str, bytes], path: str, cell: Optional[int] = None
) -> list[Import]:
    """Return the absolute imports of Python source, in order. Raises SyntaxError.

    Besides ``import`` statements, this finds ``importlib.import_module("x")``
    and ``__import__("x")`` called with a literal name.
    """
    tree = ast.parse(source, filename=path)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call):
            names = _dynamic_import(node)
        else:
            continue
        for name in names:
            found.append(Import(name, Location(path, node.lineno, cell)))
    found.sort(key=lambda item: item.location.line)
    return found


def _dynamic_import(call: ast.Call) -> list[str]:
    function = call.func
    called = (
        function.attr
        if isinstance(function, ast.Attribute)
        else function.id
        if isinstance(function, ast.Name)
        else ""
    )
    if called not in ("import_module", "__import__") or not call.args:
        return []
    argument = call.args[0]
    if not isinstance(argument, ast.Constant) or not isinstance(argument.value, str):
        return []
    if not argument.value or argument.value.startswith("."):
        return []
    return [argument.value]


@dataclasses.dataclass(frozen=True)
class Resolution:
    """The source of an imported name here: stdlib, local, installed or mapped."""

    kind: str
    """``stdlib``, ``local``, ``installed``, ``mapped`` or ``unmapped``."""
    project: Optional[str] = None
    """The PyPI project that provides it, when the mapping names one."""
    package: Optional[str] = None
    """The backend's distro package, when the mapping names one."""
    detail: str = ""

    def __str__(self) -> str:
        return self.detail


def find_project(mapping: Mapping, module: str) -> Optional[tuple[str, Entry]]:
    """Return the longest mapped prefix of ``module`` and its entry, for any backend."""
    names: dict[str, Entry] = {}
    for entry in mapping.entries.values():
        for name in entry.imports:
            names[name] = entry
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in names:
            return prefix, names[prefix]
    return None


def resolve(item: Import, mapping: Mapping, backend: Optional[str]) -> Resolution:
    """Return what the import ``item`` resolves to, without importing anything."""
    module = item.module
    top = module.partition(".")[0]
    if stdlib.is_stdlib(module):
        return Resolution("stdlib", detail="standard library")
    local = _local_module(top, os.path.dirname(os.path.abspath(item.location.path)))
    if local is not None:
        return Resolution("local", detail=f"local module {local}")

    found = find_project(mapping, module)
    key = found[0] if found else top
    project = found[1].project if found else None
    package = found[1].packages.get(backend) if found and backend else None
    origin = _find_without_import(key)
    if origin is not None:
        version = versions.installed_version(project) if project else None
        what = f"{project} {version}" if project and version else origin
        return Resolution("installed", project, package, f"installed ({what})")
    if found is None:
        return Resolution(
            "unmapped",
            detail="not installed and not mapped; install its project by name",
        )
    if package is not None:
        target = f"{backend} {package}"
    elif backend is not None:
        target = f"pip (no {backend} package in the mapping)"
    else:
        target = "pip (no package manager)"
    return Resolution("mapped", project, package, f"{project}: {target}")


def _local_module(name: str, directory: str) -> Optional[str]:
    for candidate in (f"{name}.py", name):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    return None


def _find_without_import(module: str) -> Optional[str]:
    """Return where ``module`` would be loaded from, importing none of its parents."""
    parts = module.split(".")
    if parts[0] in sys.builtin_module_names:
        return "built in"
    search: Optional[Sequence[str]] = None
    origin: Optional[str] = None
    for end in range(1, len(parts) + 1):
        spec = PathFinder.find_spec(".".join(parts[:end]), search)
        if spec is None:
            return None
        origin = spec.origin or ", ".join(spec.submodule_search_locations or [])
        search = list(spec.submodule_search_locations or [])
    return origin


def resolve_all(
    report: ScanReport, mapping: Mapping, backend: Optional[str]
) -> list[tuple[Import, Resolution]]:
    """Resolve every import of a scan, caching by module and folder."""
    cache: dict[tuple[str, str], Resolution] = {}
    resolved: list[tuple[Import, Resolution]] = []
    for item in report.imports:
        key = (item.module, os.path.dirname(os.path.abspath(item.location.path)))
        if key not in cache:
            cache[key] = resolve(item, mapping, backend)
        resolved.append((item, cache[key]))
    return resolved
