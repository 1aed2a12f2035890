"""Helpers for the unit tests: fake executables on PATH and a clean environment.

A fake executable is a /bin/sh script that records each run (its arguments, its
stdin, whether it could open a terminal, DEBIAN_FRONTEND) and then does what the
test asks, so the real apk, apt-get, sudo or doas never run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]

_RECORD = """\
(IFS='\t'; printf '%s\\n' "$*") >> {calls}
if (: </dev/tty) 2>/dev/null; then tty=yes; else tty=no; fi
printf 'stdin=%s tty=%s frontend=%s\\n' "$(readlink /proc/self/fd/0)" "$tty" \
  "${{DEBIAN_FRONTEND-unset}}" >> {details}
"""


class FakeTool:
    """A fake ``directory/name`` that records each run, then runs ``body``."""

    def __init__(self, directory: Path, name: str, body: str = "exit 0\n") -> None:
        self.path = directory / name
        self.calls_file = directory / f"{name}.calls"
        self.details_file = directory / f"{name}.details"
        record = _RECORD.format(
            calls=shlex.quote(str(self.calls_file)),
            details=shlex.quote(str(self.details_file)),
        )
        self.path.write_text("#!/bin/sh\n" + record + body)
        self.path.chmod(0o755)

    def calls(self) -> list[list[str]]:
        """Return the arguments of every run so far, oldest first."""
        if not self.calls_file.exists():
            return []
        return [line.split("\t") for line in self.calls_file.read_text().splitlines()]

    def details(self) -> list[dict[str, str]]:
        """Return stdin, tty and DEBIAN_FRONTEND as each run saw them."""
        if not self.details_file.exists():
            return []
        return [
            dict(field.split("=", 1) for field in line.split(" "))
            for line in self.details_file.read_text().splitlines()
        ]


class FakeBin:
    """A directory put first on PATH, holding fake executables."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, name: str, body: str = "exit 0\n") -> FakeTool:
        return FakeTool(self.directory, name, body)


def emit(stdout: str = "", stderr: str = "", status: int = 0) -> str:
    """Return a script body that prints ``stdout`` and ``stderr`` and exits."""
    body = ""
    if stdout:
        body += f"printf '%s' {shlex.quote(stdout)}\n"
    if stderr:
        body += f"printf '%s' {shlex.quote(stderr)} >&2\n"
    return body + f"exit {status}\n"


def clean_environment(extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Return os.environ without APKSHIM_* and PYTHON* variables, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APKSHIM", "PYTHON", "APK_EMULATOR"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def run_with_checkout(
    python: Path | str,
    code: str,
    extra: Optional[Mapping[str, str]] = None,
    flags: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``python [flags] -c code`` with this checkout first on PYTHONPATH."""
    env = clean_environment({"PYTHONPATH": str(ROOT), **(extra or {})})
    return subprocess.run(
        [str(python), *flags, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=str(ROOT),
    )
