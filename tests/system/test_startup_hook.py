"""The start-up hook (apkshim.pth) on Debian's real interpreter, in venvs over it.

Debian's ``site`` processes a venv's ``.pth`` files twice when the venv sees the
system site packages, so every start-up here runs the hook line twice. None of
these tests changes the machine: they start interpreters and read what the hook
did.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from system_support import (
    DEBIAN_PYTHON,
    make_venv,
    run_python,
    running_lines,
    write_mapping,
)

REPORT = """\
import json, sys
finders = [f for f in sys.meta_path if getattr(f, "_apkshim_finder", False)]
print(json.dumps({
    "finders": len(finders),
    "last": bool(finders) and sys.meta_path[-1] is finders[0],
    "sitecustomize": getattr(sys.modules.get("sitecustomize"), "__file__", None),
    "prefix": sys.prefix,
    "modules": sorted(sys.modules),
}))
"""


def site_packages(venv_python: Path) -> Path:
    (directory,) = venv_python.parent.parent.glob("lib/python3.*/site-packages")
    return directory


def report(python: Path, env: dict[str, str], code: str = "") -> dict[str, object]:
    result = run_python(python, code + REPORT, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    data["stderr"] = result.stderr
    return data


@pytest.fixture
def spare_venv(tmp_path: Path, apkshim_wheel: Path) -> Path:
    """A venv of its own over Debian's python3, for a test that damages it."""
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: these tests need Debian's own Python")
    return make_venv(DEBIAN_PYTHON, tmp_path / "venv", apkshim_wheel)


def test_hook_is_active_although_debian_ships_a_sitecustomize(
    debian_venv: Path,
) -> None:
    data = report(debian_venv, {"APKSHIM": "1"})

    sitecustomize = data["sitecustomize"]
    if sitecustomize is None:
        pytest.skip("this python3 ships no sitecustomize, so nothing is shadowed")
    assert isinstance(sitecustomize, str)
    assert not sitecustomize.startswith(str(data["prefix"])), "Debian's own, not ours"
    assert data["finders"] == 1
    assert data["last"], "the finder sits at the end of sys.meta_path"
    assert data["stderr"] == ""


def test_hook_imports_nothing_heavy_at_start_up(debian_venv: Path) -> None:
    off = report(debian_venv, {})
    on = report(debian_venv, {"APKSHIM": "1"})

    added = set(on["modules"]) - set(off["modules"])  # type: ignore[arg-type]
    heavy = {"apkshim", "tomllib", "tomli", "packaging", "subprocess", "logging"}
    assert not added & heavy, sorted(added)
    assert not [name for name in added if name.startswith("apkshim.")], sorted(added)


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", " On ", "TRUE"])
def test_apkshim_value_enables_the_hook(debian_venv: Path, value: str) -> None:
    data = report(debian_venv, {"APKSHIM": value})

    assert data["finders"] == 1
    assert data["last"]
    assert data["stderr"] == ""


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off", "OFF", "False"])
def test_apkshim_value_disables_the_hook(debian_venv: Path, value: str | None) -> None:
    data = report(debian_venv, {} if value is None else {"APKSHIM": value})

    assert data["finders"] == 0
    assert data["stderr"] == ""


def test_invalid_apkshim_value_warns_once_and_stays_off(debian_venv: Path) -> None:
    # One more pass over apkshim.pth on top of the two at start-up.
    again = f"import site; site.addsitedir({str(site_packages(debian_venv))!r})\n"

    data = report(debian_venv, {"APKSHIM": "maybe"}, code=again)

    assert data["finders"] == 0
    lines = str(data["stderr"]).splitlines()
    assert len(lines) == 1, data["stderr"]
    assert lines[0].startswith("apkshim: ")
    assert "'maybe'" in lines[0]


def test_hook_run_again_and_explicit_enable_keep_one_finder(debian_venv: Path) -> None:
    again = f"import site; site.addsitedir({str(site_packages(debian_venv))!r})\n"
    enable = "import apkshim; apkshim.enable(); apkshim.enable()\n"

    data = report(debian_venv, {"APKSHIM": "1"}, code=again + enable)

    assert data["finders"] == 1
    assert data["last"]
    assert data["stderr"] == ""


@pytest.mark.parametrize("removed", [["apkshim"], ["apkshim", "_apkshim_hook.py"]])
def test_start_up_is_silent_when_the_package_is_gone_but_the_pth_stays(
    spare_venv: Path, removed: list[str]
) -> None:
    directory = site_packages(spare_venv)
    for name in removed:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    shutil.rmtree(directory / "__pycache__", ignore_errors=True)
    assert (directory / "apkshim.pth").exists()

    result = run_python(spare_venv, "print('started')", env={"APKSHIM": "1"})

    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n"
    assert result.stderr == ""


BROKEN_MAPPING = """\
[apkshim-broken]
imports = ["apkshimbroken"]
apt = "python3-apkshim-broken
"""


def test_broken_mapping_file_does_not_stop_start_up(
    debian_venv: Path, tmp_path: Path
) -> None:
    mapping = write_mapping(tmp_path / "broken.toml", BROKEN_MAPPING)
    env = {"APKSHIM": "1", "APKSHIM_MAPPING": str(mapping)}

    started = run_python(debian_venv, "print('started')", env=env)

    assert started.returncode == 0, started.stderr
    assert started.stdout == "started\n"
    assert len(started.stderr.splitlines()) <= 1, started.stderr
    assert "Traceback" not in started.stderr

    # The file is read on the first mapped miss: reported with path and line,
    # skipped, and the import fails as it would without apkshim.
    missed = run_python(
        debian_venv,
        "import apkshimbroken",
        env={**env, "APKSHIM_LOG": "debug"},
    )

    assert missed.returncode == 1
    assert missed.stderr.splitlines()[-1] == (
        "ModuleNotFoundError: No module named 'apkshimbroken'"
    )
    reports = [line for line in missed.stderr.splitlines() if str(mapping) in line]
    assert reports, missed.stderr
    assert re.search(r"\b3\b", reports[0].split(str(mapping), 1)[1]), reports[0]
    # The distro-metadata route may list package names, but nothing installs.
    installs = [line for line in running_lines(missed.stderr) if " install " in line]
    assert installs == []


@pytest.mark.parametrize("content", ["", "def activate(:\n", "raise RuntimeError('x')\n"])
def test_start_up_is_silent_with_a_damaged_hook_module(
    spare_venv: Path, content: str
) -> None:
    (site_packages(spare_venv) / "_apkshim_hook.py").write_text(content)

    started = run_python(spare_venv, "print('started')", env={"APKSHIM": "1"})

    assert started.returncode == 0
    assert started.stdout == "started\n"
    assert "Traceback" not in started.stderr
    assert len(started.stderr.splitlines()) <= 1, started.stderr
