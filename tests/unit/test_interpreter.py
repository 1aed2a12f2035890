"""The interpreter check: may the distro's packages serve this Python?

The distro side is chosen with ``distro_python``: symlinks in temporary
directories stand for the distro's python3. The running side is this process,
or small scripts run by /usr/bin/python3, venvs made from it, and pyenv's
interpreters, each skipped with the reason when absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from apkshim import interpreter
from apkshim.backends import Apk, Apt, Backend
from apkshim.settings import resolve

from unit_support import run_with_checkout

RUNNING = sys.version_info[:2]
RUNNING_TEXT = f"{RUNNING[0]}.{RUNNING[1]}"
DISTRO_PYTHON = Path("/usr/bin/python3")


class FakeBackend(Apt):
    """apt with a fixed python3 candidate, so nothing is queried."""

    def __init__(self, candidate: Optional[str] = None) -> None:
        super().__init__(resolve({}))
        self.candidate = candidate

    def candidate_version(self, package: str) -> Optional[str]:
        assert package == "python3"
        return self.candidate


def fake_distro_python(directory: Path, minor: int) -> Path:
    """Make ``directory/bin/python3`` a symlink to a file named python3.<minor>."""
    bin_directory = directory / "bin"
    bin_directory.mkdir(parents=True)
    real = bin_directory / f"python3.{minor}"
    real.write_text("#!/bin/sh\nexit 1\n")
    real.chmod(0o755)
    link = bin_directory / "python3"
    link.symlink_to(real.name)
    return link


def other_minor() -> int:
    return 12 if RUNNING != (3, 12) else 13


# The distro's version


def test_distro_version_follows_symlinks(tmp_path: Path) -> None:
    link = fake_distro_python(tmp_path, 12)
    chain = tmp_path / "python"
    chain.symlink_to(link)
    assert interpreter.distro_version(FakeBackend(), str(chain)) == (3, 12)


def test_distro_version_from_the_candidate_when_python3_is_missing(
    tmp_path: Path,
) -> None:
    backend = FakeBackend("3.11.2-1+b1")
    assert interpreter.distro_version(backend, str(tmp_path / "python3")) == (3, 11)
    assert interpreter.distro_version(
        FakeBackend("1:3.12.8-r1"), str(tmp_path / "x")
    ) == (3, 12)
    assert (
        interpreter.distro_version(FakeBackend(None), str(tmp_path / "python3")) is None
    )


def test_distro_version_of_an_unversioned_file_asks_the_candidate(
    tmp_path: Path,
) -> None:
    plain = tmp_path / "python3"
    plain.write_text("")
    assert interpreter.distro_version(FakeBackend("3.13.1-1"), str(plain)) == (3, 13)


# Mismatch: always refused


@pytest.mark.parametrize("rule", ["refuse", "add-site-dir"])
@pytest.mark.parametrize("backend_class", [Apk, Apt])
def test_mismatch_is_always_refused(
    tmp_path: Path, rule: str, backend_class: type[Backend]
) -> None:
    minor = other_minor()
    link = fake_distro_python(tmp_path, minor)
    verdict = interpreter.check(backend_class(resolve({})), rule, str(link))
    assert verdict.status == interpreter.MISMATCH
    assert not verdict.allowed
    assert verdict.site_directory is None
    assert f"this is Python {RUNNING_TEXT} ({sys.executable})" in verdict.reason
    assert f"built for Python 3.{minor} ({link})" in verdict.reason
    assert "--system-site-packages" in verdict.reason


def test_unknown_distro_version_is_refused(tmp_path: Path) -> None:
    verdict = interpreter.check(
        FakeBackend(None), "add-site-dir", str(tmp_path / "python3")
    )
    assert verdict.status == interpreter.MISMATCH
    assert not verdict.allowed
    assert "unknown" in verdict.reason


def test_missing_python3_with_a_matching_candidate_is_not_a_mismatch(
    tmp_path: Path,
) -> None:
    backend = FakeBackend(f"{RUNNING_TEXT}.2-1")
    verdict = interpreter.check(backend, "refuse", str(tmp_path / "python3"))
    assert verdict.status != interpreter.MISMATCH


# Same minor version, another interpreter: refused unless add-site-dir


@pytest.mark.parametrize(
    ("backend_class", "site_directory"),
    [
        (Apk, f"/usr/lib/python{RUNNING_TEXT}/site-packages"),
        (Apt, "/usr/lib/python3/dist-packages"),
    ],
)
def test_same_minor_other_interpreter(
    tmp_path: Path, backend_class: type[Backend], site_directory: str
) -> None:
    link = fake_distro_python(tmp_path, RUNNING[1])
    backend = backend_class(resolve({}))

    refused = interpreter.check(backend, "refuse", str(link))
    assert refused.status == interpreter.OTHER
    assert not refused.allowed
    assert refused.site_directory is None
    assert f"is not the distro's {link}" in refused.reason
    assert site_directory in refused.reason
    assert "APKSHIM_OTHER_PYTHON=add-site-dir" in refused.reason

    allowed = interpreter.check(backend, "add-site-dir", str(link))
    assert allowed.status == interpreter.OTHER
    assert allowed.allowed
    assert allowed.site_directory == site_directory


def test_this_interpreter_as_the_distro_python(tmp_path: Path) -> None:
    base = Path(sys.base_prefix) / "bin" / f"python{RUNNING_TEXT}"
    if not base.exists():
        pytest.skip(f"{base} is missing")
    link = tmp_path / "python3"
    link.symlink_to(os.path.realpath(base))
    verdict = interpreter.check(Apt(resolve({})), "refuse", str(link))
    in_venv = sys.prefix != sys.base_prefix
    if in_venv and not interpreter._venv_sees_system_site():
        assert verdict.status == interpreter.OTHER
        assert "was made without --system-site-packages" in verdict.reason
    else:
        assert verdict == interpreter.Verdict(
            interpreter.SERVED,
            True,
            f"this is the distro's Python {RUNNING_TEXT}",
            None,
        )


# Real interpreters, run as subprocesses

CHECK = """
import json, sys
from apkshim import backends, interpreter, settings
backend, _ = backends.choose(settings.resolve({}))
result = {"version": list(sys.version_info[:2]), "executable": sys.executable}
if backend is not None:
    for rule in ("refuse", "add-site-dir"):
        verdict = interpreter.check(backend, rule, DISTRO)
        result[rule] = {
            "status": verdict.status,
            "allowed": verdict.allowed,
            "reason": verdict.reason,
            "site_directory": verdict.site_directory,
            "backend_site": backend.site_directory,
        }
print(json.dumps(result))
"""


def check_with(python: Path, distro: Path = DISTRO_PYTHON) -> dict[str, Any]:
    result = run_with_checkout(python, CHECK.replace("DISTRO", repr(str(distro))))
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    if "refuse" not in found:
        pytest.skip("no package manager on this machine")
    return found


def distro_minor() -> int:
    if not DISTRO_PYTHON.exists():
        pytest.skip(f"{DISTRO_PYTHON} is missing: these cases need the distro's Python")
    name = os.path.basename(os.path.realpath(DISTRO_PYTHON))
    if not name.startswith("python3."):
        pytest.skip(f"{DISTRO_PYTHON} resolves to {name}, not python3.X")
    return int(name.split(".")[1])


def pyenv_python(version: str) -> Optional[Path]:
    """Return pyenv's interpreter for ``version``, such as ``3.12``, if installed."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob(f"{version}.*"), reverse=True):
        python = candidate / "bin" / f"python{version}"
        if python.exists():
            return python
    return None


@pytest.fixture(scope="module")
def distro_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Venvs over the distro's python3, with and without system site packages."""
    distro_minor()
    made = {}
    for system_site in (True, False):
        directory = tmp_path_factory.mktemp(
            "system-site" if system_site else "isolated"
        )
        command = [str(DISTRO_PYTHON), "-m", "venv", "--without-pip", str(directory)]
        if system_site:
            command.insert(3, "--system-site-packages")
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.skip(f"{DISTRO_PYTHON} cannot make a venv: {result.stderr.strip()}")
        made[system_site] = directory / "bin" / "python"
    return made


def test_distro_python_is_served() -> None:
    distro_minor()
    found = check_with(DISTRO_PYTHON)
    for rule in ("refuse", "add-site-dir"):
        assert found[rule]["status"] == interpreter.SERVED
        assert found[rule]["allowed"] is True
        assert found[rule]["site_directory"] is None


def test_venv_with_system_site_packages_is_served(
    distro_venvs: dict[bool, Path],
) -> None:
    found = check_with(distro_venvs[True])
    assert found["refuse"]["status"] == interpreter.SERVED
    assert found["refuse"]["allowed"] is True


def test_venv_without_system_site_packages_is_other(
    distro_venvs: dict[bool, Path],
) -> None:
    found = check_with(distro_venvs[False])
    refused = found["refuse"]
    assert refused["status"] == interpreter.OTHER
    assert refused["allowed"] is False
    assert "was made without --system-site-packages" in refused["reason"]
    allowed = found["add-site-dir"]
    assert allowed["status"] == interpreter.OTHER
    assert allowed["allowed"] is True
    minor = distro_minor()
    assert allowed["site_directory"] == allowed["backend_site"].format(minor=minor)


def test_pyenv_python_of_the_same_minor_is_other() -> None:
    minor = distro_minor()
    python = pyenv_python(f"3.{minor}")
    if python is None:
        pytest.skip(f"pyenv has no Python 3.{minor}, the distro's version")
    found = check_with(python)
    assert found["version"] == [3, minor]
    refused = found["refuse"]
    assert refused["status"] == interpreter.OTHER
    assert refused["allowed"] is False
    assert f"is not the distro's {DISTRO_PYTHON}" in refused["reason"]
    allowed = found["add-site-dir"]
    assert allowed["allowed"] is True
    assert allowed["site_directory"] == allowed["backend_site"].format(minor=minor)


@pytest.mark.parametrize("version", ["3.12", "3.13", "3.10", "3.9"])
def test_pyenv_python_of_another_minor_is_refused(version: str) -> None:
    minor = distro_minor()
    if version == f"3.{minor}":
        pytest.skip(f"{version} is the distro's own version")
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"pyenv has no Python {version}")
    found = check_with(python)
    for rule in ("refuse", "add-site-dir"):
        verdict = found[rule]
        assert verdict["status"] == interpreter.MISMATCH
        assert verdict["allowed"] is False
        assert f"this is Python {version}" in verdict["reason"]
        assert f"built for Python 3.{minor} ({DISTRO_PYTHON})" in verdict["reason"]


def test_distro_python_against_a_fake_newer_distro(tmp_path: Path) -> None:
    minor = distro_minor()
    fake_minor = 12 if minor != 12 else 13
    link = fake_distro_python(tmp_path, fake_minor)
    found = check_with(DISTRO_PYTHON, link)
    verdict = found["add-site-dir"]
    assert verdict["status"] == interpreter.MISMATCH
    assert f"this is Python 3.{minor}" in verdict["reason"]
    assert f"built for Python 3.{fake_minor}" in verdict["reason"]
