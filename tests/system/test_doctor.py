"""``python -m apkshim doctor`` on Debian's real interpreter, in venvs over it.

None of these tests changes the machine: doctor only reads and queries.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from system_support import (
    DEBIAN_PYTHON,
    clean_environment,
    make_venv,
    write_mapping,
)


def doctor(
    python: Path, env: dict[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    # The working directory is on sys.path with -m: keep this checkout's own
    # sitecustomize.py out of it.
    return subprocess.run(
        [str(python), *flags, "-m", "apkshim", "doctor"],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=python.parent,
    )


def hook_line(result: subprocess.CompletedProcess[str]) -> str:
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("hook:")]
    return line


@pytest.fixture
def spare_venv(tmp_path: Path, apkshim_wheel: Path) -> Path:
    """A venv of its own over Debian's python3, for a test that damages it."""
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: these tests need Debian's own Python")
    return make_venv(DEBIAN_PYTHON, tmp_path / "venv", apkshim_wheel)


def test_doctor_serves_with_hook_on(debian_venv: Path) -> None:
    result = doctor(debian_venv, {"APKSHIM": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert hook_line(result).startswith("hook: active")
    assert "backend: apt" in result.stdout
    assert "interpreter: served" in result.stdout


def test_doctor_reports_variable_unset(debian_venv: Path) -> None:
    result = doctor(debian_venv, {})
    assert result.returncode == 1
    assert "APKSHIM is not set" in hook_line(result)


def test_doctor_reports_invalid_variable(debian_venv: Path) -> None:
    result = doctor(debian_venv, {"APKSHIM": "maybe"})
    assert result.returncode == 1
    assert "'maybe' is invalid" in hook_line(result)


def test_doctor_reports_no_site(debian_venv: Path) -> None:
    # -S skips site, so apkshim itself must come from PYTHONPATH.
    (site_packages,) = debian_venv.parent.parent.glob("lib/python3.*/site-packages")
    env = {"APKSHIM": "1", "PYTHONPATH": str(site_packages)}
    result = doctor(debian_venv, env, "-S")
    assert result.returncode == 1
    assert "-S" in hook_line(result)


def test_doctor_reports_missing_hook_file(spare_venv: Path) -> None:
    (site_packages,) = spare_venv.parent.parent.glob("lib/python3.*/site-packages")
    (site_packages / "apkshim.pth").unlink()
    result = doctor(spare_venv, {"APKSHIM": "1"})
    assert result.returncode == 1
    assert "no apkshim.pth" in hook_line(result)


def test_doctor_reports_shadowed_sitecustomize(spare_venv: Path) -> None:
    # Debian's own sitecustomize in the standard library comes first on
    # sys.path, so apkshim's copy in site-packages never runs.
    (site_packages,) = spare_venv.parent.parent.glob("lib/python3.*/site-packages")
    (site_packages / "apkshim.pth").unlink()
    ours = Path(__file__).resolve().parents[2] / "sitecustomize.py"
    (site_packages / "sitecustomize.py").write_text(ours.read_text())
    result = doctor(spare_venv, {"APKSHIM": "1"})
    assert result.returncode == 1
    assert "sitecustomize" in hook_line(result)
    assert "/usr/lib/python3" in hook_line(result)


def test_doctor_lists_mapping_files(debian_venv: Path, tmp_path: Path) -> None:
    good = write_mapping(tmp_path / "good.toml", '[fake-a]\nimports = ["fakea"]\napt = "python3-fakea"\n')
    bad = write_mapping(tmp_path / "bad.toml", '[fake-b]\nimports = ["fakeb"\n')
    missing = tmp_path / "missing.toml"
    env = {"APKSHIM": "1", "APKSHIM_MAPPING": f"{good}:{bad}:{missing}"}
    result = doctor(debian_venv, env)
    assert f"mapping: {good}: read, 1 entries" in result.stdout
    assert f"mapping: {bad}: invalid" in result.stdout
    assert f"{bad}:2: invalid TOML" in result.stdout
    assert f"mapping: {missing}: missing" in result.stdout
    assert f"{missing}: not found" in result.stdout


def test_doctor_refuses_other_interpreter(tmp_path: Path, apkshim_wheel: Path) -> None:
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: these tests need Debian's own Python")
    python = make_venv(DEBIAN_PYTHON, tmp_path / "isolated", apkshim_wheel, system_site=False)
    result = doctor(python, {"APKSHIM": "1"})
    assert result.returncode == 1
    assert "interpreter: other" in result.stdout
    assert "without --system-site-packages" in result.stdout


def test_doctor_invalid_setting_only_warns(debian_venv: Path) -> None:
    result = doctor(debian_venv, {"APKSHIM": "1", "APKSHIM_TIMEOUT": "abc"})
    assert result.returncode == 0, result.stdout
    assert "setting: warning: APKSHIM_TIMEOUT='abc' is invalid" in result.stdout


def test_doctor_reports_missing_backend_program(debian_venv: Path, tmp_path: Path) -> None:
    # PATH without apk; doctor and the runner also look in the system
    # directories, which hold no apk on Debian.
    env = {"APKSHIM": "1", "APKSHIM_BACKEND": "apk", "PATH": str(tmp_path)}
    result = doctor(debian_venv, env)
    assert result.returncode == 1
    assert "backend: missing: apk is not on PATH" in result.stdout


def test_doctor_reports_unusable_lock_directory(debian_venv: Path, tmp_path: Path) -> None:
    env = {"APKSHIM": "1", "APKSHIM_LOCK_DIR": str(tmp_path / "missing")}
    result = doctor(debian_venv, env)
    assert result.returncode == 1
    assert "is missing or not writable" in result.stdout
