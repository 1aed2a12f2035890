"""The installer with real pip, offline, against a wheelhouse of tiny wheels.

Each test runs apkshim in a fresh venv's interpreter, because pip installs into
``sys.executable``. The distro's packages cannot serve a venv without system
site packages, so everything goes to pip there. Dependencies routed to the
distro are tested in tests/emulator/test_installer_apk.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest
from pip_support import (  # noqa: F401 - fixtures are found by name
    DEBIAN_PYTHON,
    dependency_wheels,
    offline_environment,
    pip_venv,
    wheelhouse,
)

ROOT = Path(__file__).resolve().parents[2]

RUN_INSTALL = """
import json, sys, apkshim
result = apkshim.install(*sys.argv[2:], dry_run=sys.argv[1] == "dry")
print(json.dumps({
    "decisions": [[d.requirement, d.route.value, d.package, d.version, d.seconds,
                   list(d.required_by)] for d in result.decisions],
    "runs": [[r.tool, r.packages, r.seconds] for r in result.runs],
    "notes": result.notes,
}))
"""


def run(
    python: Path,
    argv: list[str],
    wheelhouse: Path,
    extra: Optional[dict[str, str]] = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *argv],
        env=offline_environment(wheelhouse, extra),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def install(
    python: Path,
    wheelhouse: Path,
    *requirements: str,
    dry_run: bool = False,
) -> dict[str, Any]:
    completed = run(
        python,
        ["-c", RUN_INSTALL, "dry" if dry_run else "wet", *requirements],
        wheelhouse,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def importable(python: Path, module: str) -> bool:
    return run(python, ["-c", f"import {module}"], Path(os.devnull)).returncode == 0


def test_install_pip_closure_offline(pip_venv: Path, wheelhouse: Path) -> None:
    result = install(pip_venv, wheelhouse, "tinyapp", "json")
    decisions = {row[0]: row for row in result["decisions"]}
    assert decisions["tinyapp"][1:4] == ["pip", "tinyapp", "1.0"]
    assert decisions["json"][1] == "skipped"
    assert [run[:2] for run in result["runs"]] == [["pip", ["tinyapp"]]]
    assert result["runs"][0][2] > 0
    assert decisions["tinyapp"][4] == result["runs"][0][2]
    assert importable(pip_venv, "tinyleaf")
    assert importable(pip_venv, "tinydistro")


def test_install_module_importable_same_process(
    pip_venv: Path, wheelhouse: Path
) -> None:
    code = (
        "import apkshim; apkshim.install('tinyleaf<2', notify=lambda text: None); "
        "import tinyleaf; print(tinyleaf.__version__)"
    )
    completed = run(pip_venv, ["-c", code], wheelhouse)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "1.0"


def test_install_notices_on_stderr(pip_venv: Path, wheelhouse: Path) -> None:
    completed = run(pip_venv, ["-m", "apkshim", "install", "tinyleaf"], wheelhouse)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.splitlines()
    assert "apkshim: installing tinyleaf (pip)" in lines
    assert any(line.startswith("apkshim: installed tinyleaf 2.0 in ") for line in lines)


def test_install_satisfied_is_skipped_second_time(
    pip_venv: Path, wheelhouse: Path
) -> None:
    install(pip_venv, wheelhouse, "tinyleaf")
    result = install(pip_venv, wheelhouse, "tinyleaf>=2")
    assert result["decisions"][0][1] == "skipped"
    assert result["runs"] == []


def test_plan_installs_nothing(pip_venv: Path, wheelhouse: Path) -> None:
    completed = run(pip_venv, ["-m", "apkshim", "plan", "tinyapp"], wheelhouse)
    assert completed.returncode == 0, completed.stderr
    assert "tinyapp" in completed.stdout
    assert "would run (pip)" in completed.stdout
    assert not importable(pip_venv, "tinyapp")


def test_install_dry_run_installs_nothing(pip_venv: Path, wheelhouse: Path) -> None:
    result = install(pip_venv, wheelhouse, "tinyapp", dry_run=True)
    assert result["runs"][0][2] is None
    assert not importable(pip_venv, "tinyapp")


def test_install_reads_pip_config_file(
    pip_venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nno-index = true\nfind-links = {wheelhouse}\n")
    environment = {
        "PIP_CONFIG_FILE": str(config),
        "PIP_FIND_LINKS": "",
        "PIP_NO_INDEX": "",
    }
    completed = run(
        pip_venv,
        ["-m", "apkshim", "install", "-q", "tinyleaf"],
        Path(os.devnull),
        environment,
    )
    assert completed.returncode == 0, completed.stderr
    assert importable(pip_venv, "tinyleaf")


def test_install_unknown_project_fails_with_cause(
    pip_venv: Path, wheelhouse: Path
) -> None:
    completed = run(pip_venv, ["-m", "apkshim", "install", "tinynosuch"], wheelhouse)
    assert completed.returncode == 1
    assert "pip could not install the requirements: no such distribution" in (
        completed.stderr
    )
    assert "command: " in completed.stderr
    assert "next step: " in completed.stderr


def test_install_source_only_needs_only_binary_off(
    pip_venv: Path, wheelhouse: Path
) -> None:
    completed = run(pip_venv, ["-m", "apkshim", "install", "tinysource"], wheelhouse)
    assert completed.returncode == 1
    assert "--only-binary :all:" in completed.stderr
    assert "APKSHIM_ONLY_BINARY=0" in completed.stderr


def test_install_requirement_file_offline(
    pip_venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# for the notebook\ntinyleaf<2\njson\n")
    completed = run(
        pip_venv, ["-m", "apkshim", "install", "-r", str(requirements)], wheelhouse
    )
    assert completed.returncode == 0, completed.stderr
    assert f"{requirements}:2" in completed.stdout
    assert importable(pip_venv, "tinyleaf")


def test_install_externally_managed_refused_before_pip(
    wheelhouse: Path, tmp_path: Path
) -> None:
    stdlib = (
        subprocess.run(
            [
                str(DEBIAN_PYTHON),
                "-c",
                "import sysconfig; print(sysconfig.get_path('stdlib'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        if DEBIAN_PYTHON.exists()
        else ""
    )
    if not stdlib or not Path(stdlib, "EXTERNALLY-MANAGED").exists():
        pytest.skip(f"{DEBIAN_PYTHON} is not marked externally managed (PEP 668)")
    if (
        subprocess.run(
            [str(DEBIAN_PYTHON), "-c", "import packaging, pip"], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("Debian's python3-packaging and python3-pip are not installed")
    completed = run(
        DEBIAN_PYTHON,
        ["-m", "apkshim", "install", "tinyleaf"],
        wheelhouse,
        {"PYTHONPATH": str(ROOT), "APKSHIM_LOCK_DIR": str(tmp_path)},
    )
    assert completed.returncode == 1
    assert "externally managed (PEP 668)" in completed.stderr
    assert "--system-site-packages" in completed.stderr
    assert "installing" not in completed.stderr
