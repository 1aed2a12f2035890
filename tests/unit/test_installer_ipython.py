"""The IPython extension in a real in-process IPython shell."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from apkshim import autoinstall, finder


@pytest.fixture
def shell(import_state: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    for name in list(os.environ):
        if name.startswith("APKSHIM"):
            monkeypatch.delenv(name)
    autoinstall.reset()
    finder.uninstall()
    instance = interactiveshell.InteractiveShell.instance()
    try:
        yield instance
    finally:
        interactiveshell.InteractiveShell.clear_instance()
        autoinstall.reset()


def test_load_ext_enables_hook_without_variable(shell: Any) -> None:
    assert finder.installed_finder() is None
    shell.run_line_magic("load_ext", "apkshim")
    assert finder.installed_finder() is sys.meta_path[-1]


def test_load_ext_registers_magic(shell: Any) -> None:
    shell.run_line_magic("load_ext", "apkshim")
    assert "apkshim" in shell.magics_manager.magics["line"]


def test_magic_plan_prints_table(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "apkshim")
    returned = shell.run_line_magic("apkshim", "plan json")
    assert returned is None
    assert "standard-library module" in capsys.readouterr().out


def test_magic_bad_requirement_prints_error(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "apkshim")
    shell.run_line_magic("apkshim", "install 'numpy>='")
    assert "invalid requirement 'numpy>='" in capsys.readouterr().err


def test_magic_bad_arguments_keep_kernel(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "apkshim")
    shell.run_line_magic("apkshim", "frobnicate")
    assert "invalid choice" in capsys.readouterr().err


def test_magic_unbalanced_quote_is_reported(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("load_ext", "apkshim")
    shell.run_line_magic("apkshim", "install 'numpy")
    assert "cannot split" in capsys.readouterr().err


def test_unload_ext_removes_hook(shell: Any) -> None:
    shell.run_line_magic("load_ext", "apkshim")
    shell.run_line_magic("unload_ext", "apkshim")
    assert finder.installed_finder() is None


def test_package_import_stays_light() -> None:
    import subprocess

    code = (
        "import sys, apkshim; "
        "print(sorted(m for m in ('apkshim.ipython', 'apkshim.installer', "
        "'packaging') if m in sys.modules))"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("APKSHIM")}
    environment["PYTHONPATH"] = root
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=root,
    )
    assert completed.stdout.strip() == "[]"
