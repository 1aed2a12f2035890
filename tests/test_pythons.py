"""The unit tests on every supported CPython, each in the venv that .ci/run makes.

.ci/run creates ``.ci/venvs/<version>`` from pyenv's interpreter with pytest,
packaging and the backports; a version whose venv is absent is skipped with the
reason, so a machine without that interpreter still runs the rest.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def clean_environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APKSHIM", "PYTHON", "APK_EMULATOR", "PYTEST"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.mark.parametrize("version", VERSIONS)
def test_unit_tests_pass_on(version: str) -> None:
    python = ROOT / ".ci" / "venvs" / version / "bin" / "python"
    if not python.exists():
        pytest.skip(
            f"{python.relative_to(ROOT)} is absent; "
            f".ci/run makes it from pyenv's {version}"
        )
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, pytest; print('%d.%d' % sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check.returncode != 0:
        pytest.skip(
            f"{python.relative_to(ROOT)} cannot run pytest: {check.stderr.strip()}"
        )
    assert check.stdout.strip() == version

    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=str(ROOT),
        env=clean_environment(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"Python {version}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )
