"""Helpers and fixtures for the pip tests: tiny wheels, offline pip, fresh venvs.

There is no conftest.py here. Every conftest.py outside a package is imported
under the one module name ``conftest``, so a second one would replace
tests/conftest.py. Test modules import these fixtures by name instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Optional

import pytest
from wheelhouse import Wheel, build_all, repack_installed

TESTS = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _shared_conftest() -> ModuleType:
    """Return tests/conftest.py under a name of its own (see the docstring)."""
    name = "apkshim_tests_shared"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


make_venv = _shared_conftest().make_venv

# tinyapp pulls in two dependencies, and tinyleaf 2.0 lets a specifier pick
# between two versions.
WHEELS = (
    Wheel("tinyleaf", "1.0"),
    Wheel("tinyleaf", "2.0"),
    Wheel("tinydistro", "1.0"),
    Wheel("tinyapp", "1.0", ("tinyleaf>=1.0,<2", "tinydistro>=0.5")),
)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheelhouse")
    build_all(WHEELS, directory)
    # A project that publishes only a source distribution.
    (directory / "tinysource-1.0.tar.gz").write_bytes(b"not built in these tests")
    return directory


def offline_environment(
    wheelhouse: Path, extra: Optional[Mapping[str, str]] = None
) -> dict[str, str]:
    """Return a clean environment in which pip reads only ``wheelhouse``.

    pip reads no configuration file (``PIP_CONFIG_FILE`` is os.devnull). The
    variables set no index, the wheelhouse as find-links and no cache.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APKSHIM", "PYTHON", "PIP_", "APK_EMULATOR"))
    }
    environment.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheelhouse),
            "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    )
    environment.update(extra or {})
    return environment


@pytest.fixture(scope="session")
def dependency_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder with a wheel of this interpreter's ``packaging``."""
    directory = tmp_path_factory.mktemp("dependencies")
    repack_installed("packaging", directory)
    return directory


@pytest.fixture
def pip_venv(tmp_path: Path, apkshim_wheel: Path, dependency_wheels: Path) -> Path:
    """Return the python of a fresh venv without system site packages, with apkshim.

    The distro's packages cannot serve such a venv, so apkshim sends everything
    to pip there. ``packaging`` comes from a wheel of the test runner's copy.
    """
    base = DEBIAN_PYTHON if DEBIAN_PYTHON.exists() else Path(sys.executable)
    python: Path = make_venv(base, tmp_path / "venv", apkshim_wheel, system_site=False)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(dependency_wheels),
            "packaging",
        ],
        check=True,
        timeout=300,
        env=offline_environment(dependency_wheels),
    )
    return python
