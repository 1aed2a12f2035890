"""``%load_ext apkshim`` and the ``%apkshim`` magic in a real kernel, run by nbclient.

The kernel is Debian's python3-ipykernel in the ``debian_venv`` fixture's venv,
started without ``APKSHIM``. ``%apkshim install`` installs a tiny wheel through
pip, offline, and the next cell imports it in the same kernel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from system_support import run_python, stream_text

nbformat = pytest.importorskip("nbformat", reason="needs the test extras (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="needs the test extras (nbclient)")

pytestmark = pytest.mark.notebook

TESTS = Path(__file__).resolve().parent.parent
KERNEL_NAME = "apkshim-magic-venv"
# A name no other test installs, because debian_venv is shared by the session.
LEAF = "tinymagicleaf"

HOOK_ACTIVE = (
    "import sys\n"
    "print(any(getattr(f, '_apkshim_finder', False) for f in sys.meta_path))"
)
CELLS = {
    "before": HOOK_ACTIVE,
    "load": "%load_ext apkshim",
    "after": HOOK_ACTIVE,
    "plan": f"%apkshim plan {LEAF} json",
    "install": f"%apkshim install {LEAF}",
    "import": f"import {LEAF}\nprint({LEAF}.__version__)",
    "bad": "%apkshim install 'numpy>='",
    "help": "%apkshim plan --help",
}


def _wheelhouse_module() -> ModuleType:
    name = "apkshim_tests_wheelhouse"
    if name not in sys.modules:
        path = TESTS / "pip" / "wheelhouse.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def kernel(
    debian_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Register a kernelspec for the venv's ipykernel, with pip offline."""
    if run_python(debian_venv, "import ipykernel").returncode != 0:
        pytest.skip("needs Debian's python3-ipykernel (see .ci/run)")
    if run_python(debian_venv, f"import {LEAF}").returncode == 0:
        pytest.skip(f"{LEAF} is already installed in {debian_venv}")
    wheelhouse = _wheelhouse_module()
    wheels = wheelhouse.build_all(
        [wheelhouse.Wheel(LEAF, "1.0")], tmp_path / "wheelhouse"
    )
    spec_directory = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_directory.mkdir(parents=True)
    spec = {
        "argv": [
            str(debian_venv),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "apkshim: magic",
        "language": "python",
        "env": {
            "APKSHIM_LOCK_DIR": str(tmp_path),
            "IPYTHONDIR": str(tmp_path / "ipython"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheels),
            "PIP_NO_CACHE_DIR": "1",
        },
    }
    (spec_directory / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    for name in list(os.environ):
        if name.startswith(("APKSHIM", "PYTHON", "PIP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    yield KERNEL_NAME


def run_notebook(kernel_name: str, sources: list[str]) -> list[list[dict[str, Any]]]:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = nbclient.NotebookClient(
        notebook, kernel_name=kernel_name, timeout=600, startup_timeout=120
    )
    client.execute()
    return [cell.outputs for cell in notebook.cells]


def test_magic_loads_hook_and_installs(kernel: str) -> None:
    outputs = dict(zip(CELLS, run_notebook(kernel, list(CELLS.values()))))

    assert stream_text(outputs["before"]) == "False\n"
    assert stream_text(outputs["after"]) == "True\n"
    planned = stream_text(outputs["plan"])
    assert "standard-library module" in planned
    assert "would run (pip):" in planned
    installed = stream_text(outputs["install"])
    assert f"apkshim: installing {LEAF} (pip)" in installed
    assert f"apkshim: installed {LEAF} 1.0 in " in installed
    assert stream_text(outputs["import"]) == "1.0\n"
    assert "invalid requirement 'numpy>='" in stream_text(outputs["bad"])
    assert stream_text(outputs["help"]).startswith("usage: apkshim plan")
