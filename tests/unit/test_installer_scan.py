"""Scanning notebooks, .py files and folders for imports, and resolving them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from apkshim import scan
from apkshim.mapping import Mapping

MAPPING = """\
[pyyaml]
imports = ["yaml"]
apk = "py3-yaml"

[tinyaptonly]
imports = ["tinyaptonly"]
apt = "python3-tinyaptonly"

[tinyproto]
imports = ["tinyns.proto"]
apk = "py3-tinyproto"
"""


def notebook(*cells: Any, nbformat: int = 4) -> str:
    built = []
    for cell in cells:
        if isinstance(cell, tuple):
            kind, source = cell
        else:
            kind, source = "code", cell
        built.append({"cell_type": kind, "metadata": {}, "source": source})
    return json.dumps(
        {"cells": built, "metadata": {}, "nbformat": nbformat, "nbformat_minor": 5}
    )


def modules(report: scan.ScanReport) -> list[tuple[str, str]]:
    return [(item.module, str(item.location)) for item in report.imports]


@pytest.fixture
def mapping(tmp_path: Path) -> Mapping:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING)
    return Mapping.load([str(path)])


def test_scan_py_file_lists_imports_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "analysis.py"
    path.write_text(
        "import os, yaml as y\n"
        "from numpy.linalg import norm\n"
        "from . import sibling\n"
        "def f():\n"
        "    import pandas\n"
        "importlib.import_module('scipy.stats')\n"
        "__import__('lxml')\n"
    )
    report = scan.scan([str(path)])
    assert modules(report) == [
        ("os", f"{path}:1"),
        ("yaml", f"{path}:1"),
        ("numpy.linalg", f"{path}:2"),
        ("pandas", f"{path}:5"),
        ("scipy.stats", f"{path}:6"),
        ("lxml", f"{path}:7"),
    ]
    assert report.problems == []
    assert report.files == 1


def test_scan_notebook_cells_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(
        notebook(
            ("markdown", "import not_code"),
            ["import yaml\n", "\n", "import numpy\n"],
            "from pandas import DataFrame",
        )
    )
    report = scan.scan([str(path)])
    assert modules(report) == [
        ("yaml", f"{path} cell 2:1"),
        ("numpy", f"{path} cell 2:3"),
        ("pandas", f"{path} cell 3:1"),
    ]


def test_scan_notebook_magics_and_shell_lines(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(
        notebook(
            "%load_ext apkshim\n"
            "!pip install requests\n"
            "files = !ls\n"
            "pip install six\n"
            "np.array?\n"
            "if True:\n"
            "    %matplotlib inline\n"
            "    import yaml\n"
            "%time import numpy\n",
            "%%bash\nimport not_python\n",
            "%%time\nimport scipy\n",
            "%%writefile helper.py\nimport also_not_here\n",
        )
    )
    report = scan.scan([str(path)])
    assert modules(report) == [
        ("yaml", f"{path} cell 1:8"),
        ("numpy", f"{path} cell 1:9"),
        ("scipy", f"{path} cell 3:2"),
    ]
    assert report.problems == []


def test_scan_nbformat3_worksheets(tmp_path: Path) -> None:
    path = tmp_path / "old.ipynb"
    path.write_text(
        json.dumps(
            {
                "worksheets": [
                    {"cells": [{"cell_type": "code", "input": ["import yaml\n"]}]}
                ],
                "nbformat": 3,
            }
        )
    )
    assert modules(scan.scan([str(path)])) == [("yaml", f"{path} cell 1:1")]


def test_scan_folder_skips_hidden_venv_and_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import yaml\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text("import numpy\n")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "c.py").write_text("import hidden\n")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "venv" / "d.py").write_text("import venvonly\n")
    (tmp_path / "notes.txt").write_text("import text\n")
    report = scan.scan([str(tmp_path)])
    assert [module for module, _ in modules(report)] == ["yaml", "numpy"]
    assert report.files == 2


def test_scan_invalid_python_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import yaml\ndef broken(:\n")
    good = tmp_path / "good.py"
    good.write_text("import numpy\n")
    report = scan.scan([str(bad), str(good)])
    assert modules(report) == [("numpy", f"{good}:1")]
    (problem,) = report.problems
    assert problem.startswith(f"{bad}:2: invalid Python")
    assert problem.endswith("skipped")


def test_scan_invalid_cell_skips_only_that_cell(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(notebook("import yaml\n", "x = (\n", "import numpy\n"))
    report = scan.scan([str(path)])
    assert [module for module, _ in modules(report)] == ["yaml", "numpy"]
    (problem,) = report.problems
    assert problem.startswith(f"{path} cell 2:")
    assert "invalid Python" in problem


def test_scan_malformed_notebook_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text('{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}\n')
    report = scan.scan([str(path)])
    assert report.imports == []
    (problem,) = report.problems
    assert problem.startswith(f"{path}:3: invalid notebook JSON")
    assert "save it again" in problem


def test_scan_json_without_cells_is_not_notebook(tmp_path: Path) -> None:
    path = tmp_path / "data.ipynb"
    path.write_text('{"hello": 1}')
    (problem,) = scan.scan([str(path)]).problems
    assert problem.startswith(f"{path}: not a Jupyter notebook")


def test_scan_notebook_with_bad_source_type(tmp_path: Path) -> None:
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": 3}]}))
    (problem,) = scan.scan([str(path)]).problems
    assert "cell 1 has a source that is neither text nor a list" in problem


def test_scan_notebook_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.ipynb"
    path.write_bytes(b'{"cells": ["\xe9"]}')
    (problem,) = scan.scan([str(path)]).problems
    assert problem.startswith(f"{path}: not UTF-8 text")


def test_scan_missing_path_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "absent.ipynb"
    (problem,) = scan.scan([str(path)]).problems
    assert problem == f"{path}: not found; check the path; skipped"


def test_scan_other_file_type_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("import yaml\n")
    (problem,) = scan.scan([str(path)]).problems
    assert "not a .py file, notebook or folder" in problem


def test_cell_to_python_keeps_line_count() -> None:
    source = "%pip install x\nimport a\n!ls\n"
    assert scan.cell_to_python(source) == "pass\nimport a\npass"


def test_cell_to_python_skips_non_python_cell_magic() -> None:
    assert scan.cell_to_python("\n%%html\n<b>import x</b>\n") == ""


def first_resolution(
    tmp_path: Path, source: str, mapping: Mapping, backend: str = "apk"
) -> scan.Resolution:
    path = tmp_path / "user.py"
    path.write_text(source)
    report = scan.scan([str(path)])
    return scan.resolve_all(report, mapping, backend)[0][1]


def test_resolve_stdlib(tmp_path: Path, mapping: Mapping) -> None:
    assert first_resolution(tmp_path, "import json\n", mapping).kind == "stdlib"


def test_resolve_local_module(tmp_path: Path, mapping: Mapping) -> None:
    (tmp_path / "helpers.py").write_text("")
    found = first_resolution(tmp_path, "import helpers\n", mapping)
    assert found.kind == "local"
    assert str(tmp_path / "helpers.py") in found.detail


def test_resolve_installed(tmp_path: Path, mapping: Mapping) -> None:
    found = first_resolution(tmp_path, "import packaging.version\n", mapping)
    assert found.kind == "installed"


def test_resolve_mapped_missing(tmp_path: Path, mapping: Mapping) -> None:
    found = first_resolution(tmp_path, "import tinyns.proto.sub\n", mapping)
    assert found.kind == "mapped"
    assert found.project == "tinyproto"
    assert found.package == "py3-tinyproto"
    assert found.detail == "tinyproto: apk py3-tinyproto"


def test_resolve_mapped_for_other_backend_goes_to_pip(
    tmp_path: Path, mapping: Mapping
) -> None:
    found = first_resolution(tmp_path, "import tinyaptonly\n", mapping)
    assert found.kind == "mapped"
    assert found.package is None
    assert found.detail == "tinyaptonly: pip (no apk package in the mapping)"


def test_resolve_unmapped(tmp_path: Path, mapping: Mapping) -> None:
    found = first_resolution(tmp_path, "import apkshim_unknown_module\n", mapping)
    assert found.kind == "unmapped"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deep.ipynb", "[" * 100000 + "]" * 100000),
        ("deep.py", "x = " + "(" * 100000 + ")" * 100000 + "\n"),
        ("sheets.ipynb", '{"worksheets": [{"cells": null}]}'),
    ],
)
def test_scan_skips_hostile_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    report = scan.scan([str(path)])
    assert report.imports == []
    assert len(report.problems) <= 1


def test_scan_skips_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    report = scan.scan([str(fifo)])
    assert report.files == 0
    assert "not a regular file" in report.problems[0]
