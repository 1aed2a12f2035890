"""The distro-metadata route end to end, against the apk emulator.

Each test builds a repository of fake packages in apk's real formats, with the
``py3.X:MODULE`` provides that abuild adds, and runs a fresh interpreter of a venv
over Debian's python3 with ``APKSHIM=1`` and ``APKSHIM_BACKEND=apk``. No mapping
layer lists the modules, so only the distro's metadata can resolve them. The
emulator logs every run in ``<root>/emulator.log``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

TESTS = Path(__file__).resolve().parent.parent
EMULATOR = TESTS / "apk_emulator"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# The emulator starts with "env python3", which must be Debian's python3.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


shared = _load("apkshim_tests_shared", TESTS / "conftest.py")
repository = _load("apkshim_tests_apk_repository", EMULATOR / "repository.py")

IMPORT = "import {name}; print({name}.VALUE)"


def add_argv(package: str) -> list[str]:
    return ["add", "--no-interactive", "--wait", "300", "--", package]


class Alpine:
    """An emulated Alpine system with the packages of ``packages``."""

    def __init__(self, directory: Path, python: Path, minor: int) -> None:
        self.directory = directory
        self.python = python
        self.minor = minor
        self.site_relative = f"usr/lib/python3.{minor}/site-packages"
        self.root = directory / "root"
        self.site = self.root / self.site_relative
        self.bin = directory / "bin"
        self.bin.mkdir()
        (self.bin / "apk").symlink_to(EMULATOR / "apk")
        self.mapping = directory / "mapping.toml"
        self.mapping.write_text("")
        self.mapping.chmod(0o644)
        repository.build_repository(directory / "repository", self.packages())
        repository.init_root(self.root, [directory / "repository"])
        self.site.mkdir(parents=True)

    def package(
        self, name: str, files: dict[str, str], version: str = "1.0-r0"
    ) -> object:
        return repository.Package(
            name,
            version,
            files={
                f"{self.site_relative}/{path}": text for path, text in files.items()
            },
        )

    def packages(self) -> list[object]:
        return [
            # A regular package: abuild adds py3.X:apkmetagrid.
            self.package(
                "py3-apkmeta-grid",
                {"apkmetagrid/__init__.py": "VALUE = 'grid'\n"},
                version="3.11.0-r2",
            ),
            # A single-file module: abuild 3.16.0 and later add py3.X:apkmetasingle.
            self.package("py3-apkmetasingle", {"apkmetasingle.py": "VALUE = 1\n"}),
            # Two packages provide the same module, so apkshim does not choose.
            self.package(
                "py3-apkmeta-one", {"apkmetashared/__init__.py": "VALUE = 1\n"}
            ),
            self.package(
                "py3-apkmeta-two", {"apkmetashared/__init__.py": "VALUE = 2\n"}
            ),
            # A top-level extension module gets no provide.
            self.package(
                "py3-apkmetaext",
                {f"apkmetaext.cpython-3{self.minor}-x86_64-linux-musl.so": ""},
            ),
        ]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        values = {
            "PATH": f"{self.bin}{os.pathsep}{SYSTEM_PATH}",
            "APKSHIM": "1",
            "APKSHIM_BACKEND": "apk",
            "APKSHIM_MAPPING": str(self.mapping),
            "APKSHIM_LOCK_DIR": str(self.directory),
            "APK_EMULATOR_ROOT": str(self.root),
            "XDG_CONFIG_HOME": str(self.directory / "config"),
            "PYTHONPATH": str(self.site),
            **(extra or {}),
        }
        environment: dict[str, str] = shared.clean_environment(values)
        return environment

    def run(
        self, *argv: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *argv],
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            cwd=str(self.directory),
            check=False,
        )

    def runs(self) -> list[list[str]]:
        log = self.root / "emulator.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def lists(self) -> list[list[str]]:
        return [argv for argv in self.runs() if argv[:1] == ["list"]]

    def adds(self) -> list[list[str]]:
        return [argv for argv in self.runs() if argv[:1] == ["add"]]


@pytest.fixture
def alpine(tmp_path: Path, debian_venv: Path) -> Alpine:
    minor = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sys; print(sys.version_info[1])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return Alpine(tmp_path, debian_venv, int(minor))


# The emulator lists provides as apk-tools does


def test_emulator_lists_provides_by_glob(alpine: Alpine) -> None:
    completed = subprocess.run(
        [
            str(alpine.bin / "apk"),
            "list",
            "--providers",
            f"PY3.{alpine.minor}:APKMETA*",
        ],
        env=alpine.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    python = f"py3.{alpine.minor}"
    assert completed.stdout.splitlines() == [
        f"<{python}:apkmetagrid> py3-apkmeta-grid-3.11.0-r2 x86_64 "
        "{py3-apkmeta-grid} (MIT)",
        f"<{python}:apkmetashared> py3-apkmeta-one-1.0-r0 x86_64 "
        "{py3-apkmeta-one} (MIT)",
        f"<{python}:apkmetashared> py3-apkmeta-two-1.0-r0 x86_64 "
        "{py3-apkmeta-two} (MIT)",
        f"<{python}:apkmetasingle> py3-apkmetasingle-1.0-r0 x86_64 "
        "{py3-apkmetasingle} (MIT)",
    ]


# Imports that the route serves


@pytest.mark.parametrize("apk_version", ["2", "3"])
def test_unmapped_import_installs_provider(alpine: Alpine, apk_version: str) -> None:
    completed = alpine.run(
        "-c",
        IMPORT.format(name="apkmetagrid"),
        env={"APK_EMULATOR_VERSION": apk_version},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "grid\n"
    assert completed.stderr.splitlines()[0] == (
        "apkshim: installing py3-apkmeta-grid (apk) for 'import apkmetagrid'"
    )
    assert completed.stderr.splitlines()[1].startswith(
        "apkshim: installed py3-apkmeta-grid 3.11.0-r2 in "
    )
    assert alpine.runs() == [
        ["list", "--providers", f"py3.{alpine.minor}:*"],
        add_argv("py3-apkmeta-grid"),
    ]


def test_unmapped_single_file_module_installs(alpine: Alpine) -> None:
    completed = alpine.run("-c", IMPORT.format(name="apkmetasingle"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "1\n"
    assert alpine.adds() == [add_argv("py3-apkmetasingle")]


def test_installed_module_needs_no_query_later(alpine: Alpine) -> None:
    assert alpine.run("-c", IMPORT.format(name="apkmetagrid")).returncode == 0
    again = alpine.run("-c", IMPORT.format(name="apkmetagrid"))
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    assert len(alpine.runs()) == 2


# Imports that the route leaves alone


def test_two_providers_install_nothing(alpine: Alpine) -> None:
    completed = alpine.run("-c", "import apkmetashared")
    assert completed.returncode == 1
    assert "ModuleNotFoundError: No module named 'apkmetashared'" in completed.stderr
    assert alpine.adds() == []


def test_extension_without_provide_installs_nothing(alpine: Alpine) -> None:
    completed = alpine.run("-c", "import apkmetaext")
    assert completed.returncode == 1
    assert "No module named 'apkmetaext'" in completed.stderr
    assert alpine.adds() == []


def test_many_misses_query_apk_once(alpine: Alpine) -> None:
    code = (
        "for index in range(200):\n"
        "    try:\n"
        "        __import__(f'apkmeta_absent_{index}')\n"
        "    except ModuleNotFoundError:\n"
        "        pass\n"
        "import apkmetagrid\n"
    )
    completed = alpine.run("-c", code)
    assert completed.returncode == 0, completed.stderr
    assert len(alpine.lists()) == 1
    assert alpine.adds() == [add_argv("py3-apkmeta-grid")]


def test_metadata_off_runs_no_apk(alpine: Alpine) -> None:
    completed = alpine.run("-c", "import apkmetagrid", env={"APKSHIM_METADATA": "0"})
    assert completed.returncode == 1
    assert "No module named 'apkmetagrid'" in completed.stderr
    assert alpine.runs() == []


def test_library_import_runs_no_apk(alpine: Alpine) -> None:
    site = subprocess.run(
        [str(alpine.python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    library = Path(site) / "apkmeta_library.py"
    library.write_text(
        "try:\n    import apkmetagrid\nexcept ImportError:\n    FOUND = False\n"
    )
    try:
        completed = alpine.run("-c", "import apkmeta_library as m; print(m.FOUND)")
    finally:
        library.unlink()
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "False\n"
    assert alpine.runs() == []


# What users read


def test_mapping_show_names_provider(alpine: Alpine) -> None:
    completed = alpine.run("-m", "apkshim", "mapping", "show", "apkmetagrid")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert "mapping: no layer maps 'apkmetagrid'" in lines
    assert (
        "metadata: py3-apkmeta-grid ships apkmetagrid: apk lists py3-apkmeta-grid "
        "as the one provider of apkmetagrid"
    ) in lines
    assert lines[-1] == (
        "result: with the hook on, 'import apkmetagrid' in user code would install "
        "py3-apkmeta-grid with apk"
    )
    assert alpine.adds() == []


def test_mapping_show_explains_two_providers(alpine: Alpine) -> None:
    completed = alpine.run("-m", "apkshim", "mapping", "show", "apkmetashared")
    assert completed.returncode == 1
    assert (
        "metadata: no package: 2 packages provide apkmetashared (py3-apkmeta-one, "
        "py3-apkmeta-two), so apkshim does not choose; add a mapping entry for the "
        "right one"
    ) in completed.stdout.splitlines()
