"""``apkshim install``, ``plan`` and ``scan`` on the command line: help, bad input,
exit statuses. Installs nothing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apkshim import autoinstall, cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget apkshim's cached context and the handlers cli.main adds to logging."""
    for name in list(os.environ):
        if name.startswith("APKSHIM"):
            monkeypatch.delenv(name)
    handlers = list(logging.getLogger().handlers)
    autoinstall.reset()
    yield
    autoinstall.reset()
    logging.getLogger().handlers[:] = handlers


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


def test_install_malformed_requirement_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli("install", "numpy>=") == 2
    error = capsys.readouterr().err
    assert "invalid requirement 'numpy>='" in error
    assert "PEP 508" in error


def test_install_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.txt"
    assert run_cli("install", "-r", str(path)) == 2
    assert f"requirement file {path} not found" in capsys.readouterr().err


def test_install_malformed_file_line_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("json\nfoo bar\n")
    assert run_cli("install", "-r", str(path)) == 2
    assert f"{path}:2: invalid requirement 'foo bar'" in capsys.readouterr().err


def test_install_nothing_given_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("install") == 2
    assert "nothing to install" in capsys.readouterr().err


def test_install_unknown_option_exits_2() -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli("install", "--no-such-option", "json")
    assert caught.value.code == 2


def test_install_help_lists_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli("install", "--help")
    assert caught.value.code == 0
    output = capsys.readouterr().out
    assert "exit status:" in output
    assert "--dry-run" in output
    assert "--from PATH" in output
    assert "--requirement FILE" in output


def test_plan_stdlib_only_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("plan", "json", "os") == 0
    output = capsys.readouterr().out
    assert "json" in output
    assert "standard-library module" in output


def test_install_dry_run_is_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("install", "--dry-run", "-q", "json") == 0
    assert capsys.readouterr().out == ""


def test_verbose_after_command_is_accepted() -> None:
    assert run_cli("plan", "-v", "-q", "json") == 0


def test_install_from_malformed_notebook_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    assert run_cli("install", "--dry-run", "--from", str(path)) == 3
    captured = capsys.readouterr()
    assert f"{path}:1: invalid notebook JSON" in captured.err
    assert "import nothing that needs installing" in captured.out


def test_install_from_stdlib_notebook_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(
        json.dumps({"cells": [{"cell_type": "code", "source": "import json"}]})
    )
    assert run_cli("install", "--dry-run", "--from", str(path)) == 0


def test_scan_lists_imports_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "script.py"
    path.write_text("import json\nimport packaging\n")
    assert run_cli("scan", str(path)) == 0
    output = capsys.readouterr().out
    assert f"{path}:1  json" in output
    assert "standard library" in output
    assert "2 imports in 1 file;" in output


def test_scan_missing_path_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("scan", str(tmp_path / "absent.py")) == 3
    assert "not found" in capsys.readouterr().err


def test_python_m_apkshim_is_same_program() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "apkshim", "plan", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0
    assert completed.stdout.startswith("usage: apkshim plan")
