"""Fixtures shared by every test: the import-state guard and test interpreters."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")
EMULATOR_DIRECTORY = ROOT / "tests" / "apk_emulator"


@pytest.fixture
def import_state() -> Iterator[None]:
    """Snapshot and restore the whole import state around a test."""
    modules = dict(sys.modules)
    path = list(sys.path)
    meta_path = list(sys.meta_path)
    path_hooks = list(sys.path_hooks)
    importer_cache = dict(sys.path_importer_cache)
    try:
        yield
    finally:
        sys.modules.clear()
        sys.modules.update(modules)
        sys.path[:] = path
        sys.meta_path[:] = meta_path
        sys.path_hooks[:] = path_hooks
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(importer_cache)
        importlib.invalidate_caches()


def clean_environment(extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Return os.environ without APKSHIM_* and PYTHON* variables, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APKSHIM", "PYTHON", "APK_EMULATOR"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def run_python(
    python: Path | str,
    code: str,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 600,
    cwd: Optional[Path] = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a fresh interpreter with a clean environment."""
    return subprocess.run(
        [str(python), "-c", code],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=str(cwd) if cwd else None,
    )


@pytest.fixture(scope="session")
def apkshim_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build apkshim's wheel once per session, offline, from this checkout."""
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("apkshim-*.whl")
    return wheel


def make_venv(
    base_python: Path, directory: Path, wheel: Path, system_site: bool = True
) -> Path:
    """Create a venv from ``base_python`` with apkshim's wheel installed; return its python."""
    command = [str(base_python), "-m", "venv", str(directory)]
    if system_site:
        command.insert(3, "--system-site-packages")
    subprocess.run(command, check=True, timeout=300)
    python = directory / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=300,
        env=clean_environment(),
    )
    return python


@pytest.fixture(scope="session")
def debian_venv(tmp_path_factory: pytest.TempPathFactory, apkshim_wheel: Path) -> Path:
    """A venv over Debian's /usr/bin/python3 with system site packages and apkshim."""
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: these tests need Debian's own Python")
    if subprocess.run([str(DEBIAN_PYTHON), "-c", "import venv, ensurepip"],
                      capture_output=True).returncode != 0:
        pytest.skip("Debian's python3-venv is not installed")
    return make_venv(DEBIAN_PYTHON, tmp_path_factory.mktemp("debian-venv"), apkshim_wheel)


def pyenv_python(version: str) -> Optional[Path]:
    """Return pyenv's interpreter for ``version`` (such as ``3.12``), if installed."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(root.glob(f"{version}.*"), reverse=True)
    for candidate in candidates:
        python = candidate / "bin" / f"python{version}"
        if python.exists():
            return python
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


def is_root() -> bool:
    return os.geteuid() == 0
