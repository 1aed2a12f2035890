"""pyenv's Python 3.12 against Debian's packages, which are built for Python 3.11.

The import is refused with the interpreter-mismatch error before apt-get runs.
Nothing is installed, so the test needs no root; it does need apt-get (so that
apkshim picks the apt backend) and Debian's /usr/bin/python3.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from system_support import (  # noqa: F401 - fixtures are found by name
    DEBIAN_PYTHON,
    debian_tools,
    dpkg_state,
    make_venv,
    pyenv_python,
    run_python,
    running_lines,
)

IMPORT_BS4 = """\
import json
try:
    import bs4
except ModuleNotFoundError as error:
    kind = type(error)
    print(json.dumps({
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "name": error.name,
        "message": str(error),
    }))
else:
    print(json.dumps({"imported": bs4.__file__}))
"""


def minor_version(python: Path) -> str | None:
    """Return ``python``'s version as ``3.12``, or None if it does not run."""
    completed = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() if completed.returncode == 0 else None


@pytest.fixture(scope="module")
def pyenv312_venv(
    tmp_path_factory: pytest.TempPathFactory, apkshim_wheel: Path
) -> Path:
    python = pyenv_python("3.12")
    if python is None or minor_version(python) != "3.12":
        pytest.skip(f"pyenv's Python 3.12 is not installed or does not run ({python})")
    return make_venv(python, tmp_path_factory.mktemp("pyenv312-venv"), apkshim_wheel)


@pytest.mark.usefixtures("debian_tools")
def test_python312_is_refused_before_apt_get_runs(pyenv312_venv: Path) -> None:
    debian = minor_version(DEBIAN_PYTHON)
    if debian == "3.12":
        pytest.skip("Debian's python3 is 3.12 here, so 3.12 is no mismatch")
    precondition = run_python(pyenv312_venv, "import bs4")
    assert precondition.returncode != 0, "bs4 must be missing in the 3.12 venv"
    before = dpkg_state("python3-bs4")

    result = run_python(
        pyenv312_venv, IMPORT_BS4, env={"APKSHIM": "1", "APKSHIM_LOG": "debug"}
    )

    assert result.returncode == 0, result.stderr
    error = json.loads(result.stdout)
    assert error.get("type") == "apkshim.errors.ImportInstallError", error
    assert error["name"] == "bs4"
    message = error["message"]
    assert "python3-bs4 (apt)" in message
    assert "'import bs4'" in message
    assert "interpreter mismatch" in message
    assert "Python 3.12" in message
    assert f"Python {debian} ({DEBIAN_PYTHON})" in message
    assert f"{DEBIAN_PYTHON} -m venv --system-site-packages" in message, "next step"
    ran = running_lines(result.stderr)
    assert not [line for line in ran if "apt-get" in line], ran
    assert "apkshim: installing" not in result.stderr
    assert dpkg_state("python3-bs4") == before
