"""The top-level sitecustomize.py enables the hook and runs the one it shadows."""

from __future__ import annotations

import shutil
from pathlib import Path

from system_support import DEBIAN_PYTHON, run_python

ROOT = Path(__file__).resolve().parent.parent.parent

SHOW_STATE = (
    "import sys, sitecustomize; "
    "print('finder', any(getattr(f, '_apkshim_finder', False) for f in sys.meta_path)); "
    "print('shadowed', getattr(sys, 'shadowed_sitecustomize_ran', False))"
)


def _copy_sitecustomize(directory: Path) -> Path:
    directory.mkdir()
    shutil.copy(ROOT / "sitecustomize.py", directory / "sitecustomize.py")
    return directory


def _write_shadowed(directory: Path) -> Path:
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(
        "import sys\nsys.shadowed_sitecustomize_ran = True\n"
    )
    return directory


def test_sitecustomize_runs_shadowed_one(tmp_path: Path) -> None:
    ours = _copy_sitecustomize(tmp_path / "ours")
    theirs = _write_shadowed(tmp_path / "theirs")
    path = f"{ours}:{theirs}:{ROOT}"
    result = run_python(DEBIAN_PYTHON, SHOW_STATE, {"PYTHONPATH": path, "APKSHIM": "1"})
    assert result.returncode == 0, result.stderr
    assert "finder True" in result.stdout
    assert "shadowed True" in result.stdout
    assert result.stderr == ""


def test_sitecustomize_off_still_chains(tmp_path: Path) -> None:
    ours = _copy_sitecustomize(tmp_path / "ours")
    theirs = _write_shadowed(tmp_path / "theirs")
    path = f"{ours}:{theirs}:{ROOT}"
    result = run_python(DEBIAN_PYTHON, SHOW_STATE, {"PYTHONPATH": path})
    assert "finder False" in result.stdout
    assert "shadowed True" in result.stdout


def test_sitecustomize_without_apkshim_is_silent(tmp_path: Path) -> None:
    ours = _copy_sitecustomize(tmp_path / "ours")
    environment = {"PYTHONPATH": str(ours), "APKSHIM": "1"}
    result = run_python(DEBIAN_PYTHON, "print('started')", environment)
    assert result.stdout == "started\n"
    assert result.stderr == ""
