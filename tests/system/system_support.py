"""Helpers and fixtures for the system tests: dpkg state, apt-get, mapping files.

The test modules import what they need from here. There is deliberately no
``tests/system/conftest.py``: every ``conftest.py`` outside a package is imported
under the one module name ``conftest``, so a second one would replace
``tests/conftest.py`` for any later ``from conftest import ...``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

TESTS = Path(__file__).resolve().parent.parent


def _shared_conftest() -> ModuleType:
    """Return ``tests/conftest.py`` as a module of its own name (see the docstring)."""
    name = "apkshim_tests_shared"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_shared = _shared_conftest()
DEBIAN_PYTHON: Path = _shared.DEBIAN_PYTHON
clean_environment = _shared.clean_environment
run_python = _shared.run_python
make_venv = _shared.make_venv
pyenv_python = _shared.pyenv_python
is_root = _shared.is_root

YAML_PACKAGE = "python3-yaml"
NO_SUCH_PACKAGE = "python3-apkshim-no-such-package"
APT_ENVIRONMENT = {"DEBIAN_FRONTEND": "noninteractive"}
# Seconds to wait for the dpkg lock that another apt-get or dpkg may hold.
LOCK_WAIT = 300
APT_GET = ["apt-get", "-y", "-q", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT}"]

# apkshim logs each command it runs at INFO as "running ARGV" (APKSHIM_LOG=debug).
RUNNING = re.compile(r"^apkshim \w+: running (.*)$", re.MULTILINE)


def missing_debian_tools() -> str | None:
    """Return why this machine cannot run the apt tests, or None if it can."""
    if not DEBIAN_PYTHON.exists():
        return f"{DEBIAN_PYTHON} is missing: these tests need Debian's own Python"
    for tool in ("apt-get", "dpkg", "dpkg-query", "apt-mark"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH: these tests need a Debian or Ubuntu system"
    return None


@pytest.fixture
def debian_tools() -> None:
    """Skip unless apt-get, dpkg and Debian's /usr/bin/python3 are present."""
    reason = missing_debian_tools()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def apt_root(debian_tools: None) -> None:
    """Skip unless the test may install and remove Debian packages."""
    if not is_root():
        pytest.skip("installing and removing Debian packages needs root")


def run_command(
    argv: list[str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a system command non-interactively and capture its output."""
    return subprocess.run(
        argv,
        check=False,
        env={**os.environ, **APT_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_dpkg(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """Run dpkg, waiting while another package manager holds its lock."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        completed = run_command(["dpkg", *arguments])
        locked = "lock" in completed.stderr and "dpkg" in completed.stderr
        if completed.returncode == 0 or not locked or time.monotonic() > deadline:
            return completed
        time.sleep(1)


def dpkg_state(package: str) -> tuple[str, str] | None:
    """Return dpkg's (status, version) of ``package``, such as ``("ii", "6.0-3+b2")``."""
    completed = run_command(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Version}", "--", package]
    )
    if completed.returncode != 0:
        return None
    status, _, version = completed.stdout.partition("\t")
    return status.strip(), version.strip()


def is_installed(package: str) -> bool:
    state = dpkg_state(package)
    return state is not None and state[0] == "ii"


def is_auto_installed(package: str) -> bool:
    completed = run_command(["apt-mark", "showauto", "--", package])
    return package in completed.stdout.split()


def write_mapping(path: Path, text: str) -> Path:
    """Write a mapping layer that apkshim accepts (not writable by group or others)."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def running_lines(stderr: str) -> list[str]:
    """Return the commands apkshim logged as run (needs ``APKSHIM_LOG=debug``)."""
    return RUNNING.findall(stderr)


def stream_text(outputs: list[dict[str, object]]) -> str:
    """Return the text of a notebook cell's stream outputs, stdout and stderr."""
    return "".join(
        str(output.get("text", ""))
        for output in outputs
        if output["output_type"] == "stream"
    )


@pytest.fixture
def python3_yaml_removed(apt_root: None) -> Iterator[None]:
    """Remove Debian's python3-yaml for one test and put it back afterwards.

    ``apt-get remove`` would also remove the packages that depend on it (here
    llvm-14-dev, llvm-14-tools, yq), so only python3-yaml goes, with
    ``dpkg --remove --force-depends``. Its .deb is fetched first, so that the
    teardown can reinstall it even without network.
    """
    was_installed = is_installed(YAML_PACKAGE)
    was_auto = was_installed and is_auto_installed(YAML_PACKAGE)
    fetch = [*APT_GET, "install", "--download-only", "--no-install-recommends"]
    if was_installed:
        fetch.append("--reinstall")
    fetched = run_command([*fetch, "--", YAML_PACKAGE])
    if fetched.returncode != 0:
        pytest.skip(
            f"cannot download {YAML_PACKAGE}, so it could not be put back after the "
            f"test: {fetched.stderr.strip()[-500:]}"
        )

    if was_installed:
        removed = run_dpkg(["--remove", "--force-depends", YAML_PACKAGE])
        assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not is_installed(YAML_PACKAGE)
    probe = run_python(DEBIAN_PYTHON, "import yaml")
    assert probe.returncode != 0, "yaml is still importable after removing python3-yaml"
    try:
        yield
    finally:
        if was_installed and not is_installed(YAML_PACKAGE):
            restored = run_command(
                [*APT_GET, "install", "--no-install-recommends", "--", YAML_PACKAGE]
            )
            assert restored.returncode == 0, restored.stdout + restored.stderr
        elif not was_installed and is_installed(YAML_PACKAGE):
            run_dpkg(["--remove", YAML_PACKAGE])
        if was_auto:
            run_command(["apt-mark", "auto", "--", YAML_PACKAGE])
