"""A real notebook: nbclient runs cells on an ipykernel in the Debian venv.

The kernel is Debian's python3-ipykernel, seen through the venv's system site
packages, started with ``APKSHIM=1``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from system_support import (  # noqa: F401 - fixtures are found by name
    YAML_PACKAGE,
    apt_root,
    debian_tools,
    dpkg_state,
    python3_yaml_removed,
    run_python,
    running_lines,
    stream_text,
    write_mapping,
)

nbformat = pytest.importorskip("nbformat", reason="needs the test extras (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="needs the test extras (nbclient)")

pytestmark = [pytest.mark.system, pytest.mark.notebook]

KERNEL_NAME = "apkshim-debian-venv"

# What `import bs4` probes with guarded imports in bs4.dammit and bs4.builder.
BS4_PROBES = ["cchardet", "chardet", "charset_normalizer", "html5lib", "lxml"]

# Every probed name mapped, to packages that do not exist: a probe that reached
# apt-get would fail loudly instead of installing something real.
PROBE_MAPPING = "".join(
    f"[apkshim-probe-{name.replace('_', '-')}]\n"
    f'imports = ["{name}"]\n'
    f'apt = "python3-apkshim-no-such-{name.replace("_", "-")}"\n\n'
    for name in BS4_PROBES
)

CELLS = {
    "import": "import yaml",
    "use": "print(yaml.safe_load('a: 1'))",
    "probe": "import bs4",
    "report": """\
import json
import apkshim.autoinstall, apkshim.finder
finder = apkshim.finder.installed_finder()
print(json.dumps({
    "declined": finder.declined,
    "failed": sorted(package for _, package in apkshim.autoinstall._failed),
}))
""",
}


@pytest.fixture
def kernel(
    debian_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Register a kernelspec that runs ipykernel on the venv's python with APKSHIM=1."""
    if run_python(debian_venv, "import ipykernel, bs4").returncode != 0:
        pytest.skip("needs Debian's python3-ipykernel and python3-bs4 (see .ci/run)")
    mapping = write_mapping(tmp_path / "probes.toml", PROBE_MAPPING)
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
        "display_name": "apkshim: Debian venv",
        "language": "python",
        "env": {
            "APKSHIM": "1",
            "APKSHIM_LOG": "debug",
            "APKSHIM_MAPPING": str(mapping),
            "IPYTHONDIR": str(tmp_path / "ipython"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        },
    }
    (spec_directory / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")

    for name in list(os.environ):
        if name.startswith(("APKSHIM", "PYTHON")):
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
        notebook, kernel_name=kernel_name, timeout=1200, startup_timeout=120
    )
    client.execute()
    return [cell.outputs for cell in notebook.cells]


def missing_bs4_probes(python: Path) -> list[str]:
    """Return the names bs4 probes that are absent, so that the finder sees them."""
    code = (
        "import importlib.util, json\n"
        f"print(json.dumps([n for n in {BS4_PROBES!r} "
        "if importlib.util.find_spec(n) is None]))"
    )
    result = run_python(python, code)
    assert result.returncode == 0, result.stderr
    missing: list[str] = json.loads(result.stdout)
    return missing


@pytest.mark.usefixtures("python3_yaml_removed")
def test_notebook_cell_installs_yaml_and_library_probes_install_nothing(
    kernel: str, debian_venv: Path
) -> None:
    missing_probes = missing_bs4_probes(debian_venv)
    if not missing_probes:
        pytest.skip(f"every module bs4 probes is installed ({BS4_PROBES})")

    outputs = dict(zip(CELLS, run_notebook(kernel, list(CELLS.values()))))

    imported = stream_text(outputs["import"])
    assert re.search(
        r"^apkshim: installing python3-yaml \(apt\) for 'import yaml'$",
        imported,
        re.MULTILINE,
    ), imported
    installed = re.search(
        r"^apkshim: installed python3-yaml (\S+) in \d+\.\d s$", imported, re.MULTILINE
    )
    assert installed, imported
    assert dpkg_state(YAML_PACKAGE) == ("ii", installed.group(1))
    assert stream_text(outputs["use"]) == "{'a': 1}\n"

    probed = stream_text(outputs["probe"])
    assert "apkshim" not in probed, "importing bs4 must install nothing"
    assert running_lines(probed) == []
    report = json.loads(stream_text(outputs["report"]))
    assert report["failed"] == [], "no package manager ran for a probe"
    for name in missing_probes:
        reason = report["declined"].get(name, "")
        assert reason.startswith("imported by library code"), (name, report["declined"])
