"""The installer with the real apt-get and real pip: one distro run, one pip run.

A pip-bound wheel depends on pyyaml, which the shipped mapping sends to Debian's
python3-yaml. With python3-yaml removed first, ``apkshim install`` must take
pyyaml from apt, in one apt-get run, and the rest from a wheelhouse of tiny
wheels through pip, offline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from system_support import (  # noqa: F401 - fixtures are found by name
    DEBIAN_PYTHON,
    YAML_PACKAGE,
    apt_root,
    clean_environment,
    debian_tools,
    dpkg_state,
    make_venv,
    python3_yaml_removed,
)

pytestmark = pytest.mark.system

TESTS = Path(__file__).resolve().parent.parent


def _wheelhouse_module() -> ModuleType:
    name = "apkshim_tests_wheelhouse"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, TESTS / "pip" / "wheelhouse.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


wheelhouse = _wheelhouse_module()

# pip needs a pyyaml distribution to resolve tinyaptapp's metadata; if pyyaml ever
# came from this wheel instead of apt, "yaml" would not be importable.
WHEELS = [
    wheelhouse.Wheel("tinyaptleaf", "1.0"),
    wheelhouse.Wheel("pyyaml", "6.0"),
    wheelhouse.Wheel("tinyaptapp", "1.0", ("tinyaptleaf", "pyyaml>=5")),
]

REPORT = """
import json, sys, apkshim
result = apkshim.install("tinyaptapp")
import yaml, tinyaptapp, tinyaptleaf
print(json.dumps({
    "decisions": [[d.requirement, d.route.value, d.package, d.version]
                  for d in result.decisions],
    "runs": [[r.tool, r.packages, r.seconds] for r in result.runs],
    "yaml": yaml.__file__,
    "tinyaptapp": tinyaptapp.__file__,
}))
"""


@pytest.mark.usefixtures("python3_yaml_removed")
def test_apt_and_pip_install_in_one_run_each(
    tmp_path: Path, apkshim_wheel: Path
) -> None:
    python = make_venv(DEBIAN_PYTHON, tmp_path / "venv", apkshim_wheel)
    wheels = wheelhouse.build_all(WHEELS, tmp_path / "wheelhouse")
    environment = clean_environment(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheels),
            "PIP_NO_CACHE_DIR": "1",
            "APKSHIM_LOCK_DIR": str(tmp_path),
        }
    )
    for name in list(environment):
        if name.startswith("PIP_") and name not in (
            "PIP_CONFIG_FILE",
            "PIP_NO_INDEX",
            "PIP_FIND_LINKS",
            "PIP_NO_CACHE_DIR",
        ):
            del environment[name]

    completed = subprocess.run(
        [str(python), "-c", REPORT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )

    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.splitlines()[-1])
    decisions = {row[0]: row[1:] for row in report["decisions"]}
    assert decisions["tinyaptapp"][:2] == ["pip", "tinyaptapp"]
    (pyyaml,) = [key for key in decisions if key.startswith("pyyaml")]
    state = dpkg_state(YAML_PACKAGE)
    assert state is not None
    assert state[0] == "ii"
    assert decisions[pyyaml] == ["distro", YAML_PACKAGE, state[1]]
    assert [run[:2] for run in report["runs"]] == [
        ["apt", [YAML_PACKAGE]],
        ["pip", ["tinyaptapp"]],
    ]
    assert all(run[2] > 0 for run in report["runs"])
    assert report["yaml"].startswith("/usr/lib/python3/dist-packages/")
    assert report["tinyaptapp"].startswith(str(tmp_path / "venv"))
    lines = completed.stderr.splitlines()
    assert lines[0] == f"apkshim: installing {YAML_PACKAGE} (apt) for {pyyaml}"
    assert lines[1].startswith(f"apkshim: installed {YAML_PACKAGE} {state[1]} in ")
    assert lines[2] == "apkshim: installing tinyaptapp (pip)"
