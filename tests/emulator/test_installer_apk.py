"""The installer's routing on Alpine, with the apk emulator and real pip offline.

apkshim runs in a venv over Debian's python3 with system site packages, with
``APKSHIM_BACKEND=apk`` and the emulator first on PATH. The emulator installs
into its own root, whose site-packages directory a ``.pth`` file puts on the
venv's sys.path, as the distro's directory is on an Alpine Python's. pip reads
only a wheelhouse that the tests write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent.parent
EMULATOR = TESTS / "apk_emulator"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


shared = _load("apkshim_tests_shared", TESTS / "conftest.py")
wheelhouse = _load("apkshim_tests_wheelhouse", TESTS / "pip" / "wheelhouse.py")
if not (EMULATOR / "repository.py").exists():
    pytest.skip("the apk emulator is missing", allow_module_level=True)
repository = _load("apkshim_tests_apk_repository", EMULATOR / "repository.py")

MAPPING = "".join(
    f'[{name}]\nimports = ["{name}"]\napk = "py3-{name}"\n\n'
    for name in ("tinydistro", "tinynum", "tinyold", "tinyodd", "tinyabsent")
)
# (project, apk version, upstream version in its metadata)
DISTRO_PACKAGES = [
    ("tinydistro", "1.0-r0", "1.0"),
    ("tinynum", "1.26.4-r0", "1.26.4"),
    ("tinyold", "0.9-r3", "0.9"),
    ("tinyodd", "1.2.3a-r0", "1.2.3a0"),
]
WHEELS = [
    wheelhouse.Wheel("tinyleaf", "1.0"),
    wheelhouse.Wheel("tinydistro", "1.0"),
    wheelhouse.Wheel("tinydistro", "5.0"),
    wheelhouse.Wheel("tinyold", "1.0"),
    wheelhouse.Wheel("tinyodd", "1.5"),
    wheelhouse.Wheel("tinyapp", "1.0", ("tinyleaf>=1.0", "tinydistro>=0.5")),
    wheelhouse.Wheel("tinyneedsnew", "1.0", ("tinydistro>=5",)),
]

RUN_INSTALL = """
import json, sys, apkshim
result = apkshim.install(*sys.argv[1:], notify=lambda text: None)
print(json.dumps([[d.requirement, d.route.value, d.package, d.version,
                   list(d.required_by)] for d in result.decisions]))
"""


class Alpine:
    """A venv, an emulated apk root, a wheelhouse and the environment to use them."""

    def __init__(self, tmp_path: Path, apkshim_wheel: Path) -> None:
        self.python = shared.make_venv(DEBIAN_PYTHON, tmp_path / "venv", apkshim_wheel)
        minor = subprocess.run(
            [str(self.python), "-c", "import sys; print(sys.version_info[1])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        site = f"usr/lib/python3.{minor}/site-packages"
        packages = [
            repository.Package(
                f"py3-{project}",
                version,
                files={
                    f"{site}/{project}/__init__.py": f'__version__ = "{upstream}"\n',
                    f"{site}/{project}-{upstream}.dist-info/METADATA": (
                        f"Metadata-Version: 2.1\nName: {project}\nVersion: {upstream}\n"
                    ),
                },
            )
            for project, version, upstream in DISTRO_PACKAGES
        ]
        repository.build_repository(tmp_path / "repository", packages)
        self.root = repository.init_root(tmp_path / "root", [tmp_path / "repository"])
        self.site = self.root / site
        self.site.mkdir(parents=True)
        venv_site = subprocess.run(
            [str(self.python), "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        Path(venv_site, "apk-emulator-root.pth").write_text(f"{self.site}\n")
        self.venv_site = Path(venv_site)

        self.wheels = wheelhouse.build_all(WHEELS, tmp_path / "wheelhouse")
        mapping = tmp_path / "mapping.toml"
        mapping.write_text(MAPPING)
        self.environment = shared.clean_environment(
            {
                "PATH": f"{EMULATOR}{os.pathsep}{os.environ.get('PATH', '')}",
                "APK_EMULATOR_ROOT": str(self.root),
                "APKSHIM_BACKEND": "apk",
                "APKSHIM_MAPPING": str(mapping),
                "APKSHIM_LOCK_DIR": str(tmp_path),
                "PIP_CONFIG_FILE": os.devnull,
                "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": str(self.wheels),
                "PIP_NO_CACHE_DIR": "1",
            }
        )
        for name in list(self.environment):
            if name.startswith("PIP_") and name not in (
                "PIP_CONFIG_FILE",
                "PIP_NO_INDEX",
                "PIP_FIND_LINKS",
                "PIP_NO_CACHE_DIR",
            ):
                del self.environment[name]

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *argv],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )

    def install(self, *requirements: str) -> dict[str, list[Any]]:
        completed = self.run("-c", RUN_INSTALL, *requirements)
        assert completed.returncode == 0, completed.stderr
        rows = json.loads(completed.stdout.splitlines()[-1])
        return {row[0]: row[1:] for row in rows}

    def apk_adds(self) -> list[list[str]]:
        """Return the package names of every 'apk add' the emulator ran."""
        log = self.root / "emulator.log"
        runs = (
            [json.loads(line) for line in log.read_text().splitlines()]
            if (log.exists())
            else []
        )
        adds = []
        for argv in runs:
            if "add" in argv:
                adds.append(argv[argv.index("--") + 1 :] if "--" in argv else argv)
        return adds

    def location(self, project: str) -> str:
        """Return the directory the installed distribution ``project`` lives in."""
        code = (
            "import importlib.metadata as m, sys; "
            f"print(m.distribution({project!r}).locate_file(''))"
        )
        completed = self.run("-c", code)
        assert completed.returncode == 0, completed.stderr
        return completed.stdout.strip()


@pytest.fixture
def alpine(tmp_path: Path, apkshim_wheel: Path) -> Alpine:
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: the venv needs the distro's Python")
    return Alpine(tmp_path, apkshim_wheel)


def test_apk_routes_by_candidate_version(alpine: Alpine) -> None:
    decisions = alpine.install(
        "tinynum>=1.20", "tinyold>=1", "tinyodd>=1", "tinyleaf", "json"
    )
    assert decisions["tinynum>=1.20"][:3] == ["distro", "py3-tinynum", "1.26.4-r0"]
    assert decisions["tinyold>=1"][:3] == ["pip", "tinyold", "1.0"]
    assert decisions["tinyodd>=1"][:3] == ["pip", "tinyodd", "1.5"]
    assert decisions["tinyleaf"][:3] == ["pip", "tinyleaf", "1.0"]
    assert decisions["json"][0] == "skipped"
    assert alpine.apk_adds() == [["py3-tinynum"]]


def test_apk_unpinned_unconvertible_goes_to_distro(alpine: Alpine) -> None:
    decisions = alpine.install("tinyodd", "tinyold")
    assert decisions["tinyodd"][:3] == ["distro", "py3-tinyodd", "1.2.3a-r0"]
    assert decisions["tinyold"][:3] == ["distro", "py3-tinyold", "0.9-r3"]
    assert alpine.apk_adds() == [["py3-tinyodd", "py3-tinyold"]]


def test_apk_modules_importable_same_process(alpine: Alpine) -> None:
    code = (
        "import apkshim; apkshim.install('tinynum', 'tinyleaf', notify=print); "
        "import tinynum, tinyleaf; print(tinynum.__version__, tinyleaf.__version__)"
    )
    completed = alpine.run("-c", code)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "1.26.4 1.0"


def test_apk_intercepts_mapped_dependency(alpine: Alpine) -> None:
    decisions = alpine.install("tinyapp")
    assert decisions["tinyapp"][:2] == ["pip", "tinyapp"]
    (dependency,) = [key for key in decisions if key.startswith("tinydistro")]
    assert decisions[dependency][:3] == ["distro", "py3-tinydistro", "1.0-r0"]
    assert decisions[dependency][3] == ["tinyapp"]
    (leaf,) = [key for key in decisions if key.startswith("tinyleaf")]
    assert decisions[leaf][0] == "pip"
    assert alpine.apk_adds() == [["py3-tinydistro"]]
    assert alpine.location("tinydistro") == str(alpine.site)
    assert alpine.location("tinyapp") == str(alpine.venv_site)


def test_apk_dependency_too_old_stays_with_pip(alpine: Alpine) -> None:
    decisions = alpine.install("tinyneedsnew")
    (dependency,) = [key for key in decisions if key.startswith("tinydistro")]
    assert decisions[dependency][0] == "pip"
    assert alpine.apk_adds() == []
    assert alpine.location("tinydistro") == str(alpine.venv_site)


def test_apk_plan_installs_nothing(alpine: Alpine) -> None:
    completed = alpine.run("-m", "apkshim", "plan", "tinyapp", "tinyold>=1")
    assert completed.returncode == 0, completed.stderr
    assert "py3-tinydistro" in completed.stdout
    assert "0.9-r3 does not satisfy >=1" in completed.stdout
    assert "would run (apk):" in completed.stdout
    assert alpine.apk_adds() == []


def test_apk_install_from_notebook_one_run(alpine: Alpine, tmp_path: Path) -> None:
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "source": "%load_ext apkshim\nimport tinynum",
                    },
                    {
                        "cell_type": "code",
                        "source": ["import tinydistro\n", "import json"],
                    },
                    {"cell_type": "code", "source": "import tinyleaf  # not mapped"},
                ]
            }
        )
    )
    completed = alpine.run("-m", "apkshim", "install", "--from", str(notebook))
    assert completed.returncode == 0, completed.stderr
    assert alpine.apk_adds() == [["py3-tinynum", "py3-tinydistro"]]
    assert f"{notebook} cell 1:2" in completed.stdout


def test_apk_missing_candidate_goes_to_pip(alpine: Alpine) -> None:
    completed = alpine.run("-m", "apkshim", "plan", "tinyabsent")
    assert completed.returncode == 1
    assert "no such distribution" in completed.stderr
    assert alpine.apk_adds() == []
