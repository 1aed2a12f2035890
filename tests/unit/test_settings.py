"""Settings (command line > environment > default) and the APKSHIM switch."""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any, Optional

import pytest

import _apkshim_hook
from apkshim import settings
from apkshim.settings import Settings, resolve

from unit_support import ROOT, run_with_checkout

ON = ["1", "true", "yes", "on", "TRUE", "True", "YES", "On", "oN", " 1 ", "true\n"]
OFF = ["", "0", "false", "no", "off", "FALSE", "No", "OFF", " off "]
INVALID = [
    "2",
    "-1",
    "y",
    "n",
    "t",
    "enable",
    "enabled",
    "disable",
    "tru",
    "onn",
    "1.0",
    "yes please",
]


# The switch


@pytest.mark.parametrize("value", ON)
def test_switch_on(value: str) -> None:
    assert _apkshim_hook.parse_switch(value) is True


@pytest.mark.parametrize("value", OFF)
def test_switch_off(value: str) -> None:
    assert _apkshim_hook.parse_switch(value) is False


@pytest.mark.parametrize("value", INVALID)
def test_switch_invalid(value: str) -> None:
    assert _apkshim_hook.parse_switch(value) is None


# What the .pth line does with each value, run twice as in a venv, in a fresh
# process. -S keeps the interpreter's own site-packages (and any apkshim.pth
# installed there) out, so only this checkout's line runs.

STARTUP = f"""
import site, sys
for _ in range(2):
    site.addpackage({str(ROOT)!r}, "apkshim.pth", set())
count = sum(1 for f in sys.meta_path if getattr(f, "_apkshim_finder", False))
print(count, "apkshim" in sys.modules, "_apkshim_hook" in sys.modules)
"""


def run_startup(value: Optional[str]) -> tuple[str, list[str]]:
    extra = {} if value is None else {"APKSHIM": value}
    result = run_with_checkout(sys.executable, STARTUP, extra, flags=["-S"])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr.splitlines()


@pytest.mark.parametrize("value", ["1", "true", "Yes", "ON"])
def test_startup_enables_once(value: str) -> None:
    stdout, stderr = run_startup(value)
    # One finder, and the apkshim package itself stays unimported.
    assert stdout == "1 False True"
    assert stderr == []


@pytest.mark.parametrize("value", [None, ""])
def test_startup_unset_or_empty_imports_nothing(value: Optional[str]) -> None:
    stdout, stderr = run_startup(value)
    assert stdout == "0 False False"
    assert stderr == []


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF"])
def test_startup_off_values_stay_silent(value: str) -> None:
    stdout, stderr = run_startup(value)
    assert stdout.startswith("0 False")
    assert stderr == []


@pytest.mark.parametrize("value", ["2", "enable", "y"])
def test_startup_invalid_value_warns_once(value: str) -> None:
    stdout, stderr = run_startup(value)
    assert stdout.startswith("0 False")
    assert len(stderr) == 1, stderr
    assert repr(value) in stderr[0]
    assert "stays off" in stderr[0]


# Settings


def test_defaults() -> None:
    resolved = resolve({})
    assert resolved == Settings()
    assert resolved.scope == "user"
    assert resolved.backend == "auto"
    assert resolved.timeout == 1200.0
    assert resolved.lock_wait == 300
    assert resolved.mapping == ()
    assert resolved.other_python == "refuse"
    assert resolved.break_system_packages is False
    assert resolved.problems == ()
    assert set(resolved.sources.values()) == {"default"}
    assert set(resolved.sources) == set(settings.PARSERS)


@pytest.mark.parametrize(
    ("variable", "raw", "field", "value"),
    [
        ("APKSHIM_SCOPE", "all", "scope", "all"),
        ("APKSHIM_SCOPE", " USER ", "scope", "user"),
        ("APKSHIM_BACKEND", "apk", "backend", "apk"),
        ("APKSHIM_BACKEND", "APT", "backend", "apt"),
        ("APKSHIM_BACKEND", "auto", "backend", "auto"),
        ("APKSHIM_TIMEOUT", "30", "timeout", 30.0),
        ("APKSHIM_TIMEOUT", "0.5", "timeout", 0.5),
        ("APKSHIM_TIMEOUT", "604800", "timeout", 604800.0),
        ("APKSHIM_LOCK_WAIT", "0", "lock_wait", 0),
        ("APKSHIM_LOCK_WAIT", " 15 ", "lock_wait", 15),
        ("APKSHIM_MAPPING", "/a.toml:/b.toml", "mapping", ("/a.toml", "/b.toml")),
        ("APKSHIM_MAPPING", "/a.toml::", "mapping", ("/a.toml",)),
        ("APKSHIM_LOG", "DEBUG", "log", "debug"),
        ("APKSHIM_OTHER_PYTHON", "add-site-dir", "other_python", "add-site-dir"),
        ("APKSHIM_OTHER_PYTHON", "refuse", "other_python", "refuse"),
        ("APKSHIM_METADATA", "off", "metadata", False),
        ("APKSHIM_LOCK_DIR", "/run/lock", "lock_dir", "/run/lock"),
        ("APKSHIM_ONLY_BINARY", "no", "only_binary", False),
        ("APKSHIM_BREAK_SYSTEM_PACKAGES", "yes", "break_system_packages", True),
    ],
)
def test_valid_environment_values(
    variable: str, raw: str, field: str, value: Any
) -> None:
    resolved = resolve({variable: raw})
    assert getattr(resolved, field) == value
    assert resolved.sources[field] == variable
    assert resolved.problems == ()


@pytest.mark.parametrize(
    ("variable", "raw", "field"),
    [
        ("APKSHIM_SCOPE", "everything", "scope"),
        ("APKSHIM_SCOPE", "library", "scope"),
        ("APKSHIM_BACKEND", "dnf", "backend"),
        ("APKSHIM_BACKEND", "apt-get", "backend"),
        ("APKSHIM_TIMEOUT", "0", "timeout"),
        ("APKSHIM_TIMEOUT", "-5", "timeout"),
        ("APKSHIM_TIMEOUT", "ten", "timeout"),
        ("APKSHIM_TIMEOUT", "nan", "timeout"),
        ("APKSHIM_TIMEOUT", "inf", "timeout"),
        ("APKSHIM_TIMEOUT", "1e9", "timeout"),
        ("APKSHIM_LOCK_WAIT", "-1", "lock_wait"),
        ("APKSHIM_LOCK_WAIT", "1.5", "lock_wait"),
        ("APKSHIM_LOCK_WAIT", "soon", "lock_wait"),
        ("APKSHIM_LOG", "verbose", "log"),
        ("APKSHIM_OTHER_PYTHON", "allow", "other_python"),
        ("APKSHIM_METADATA", "maybe", "metadata"),
        ("APKSHIM_ONLY_BINARY", "2", "only_binary"),
        ("APKSHIM_BREAK_SYSTEM_PACKAGES", "please", "break_system_packages"),
    ],
)
def test_invalid_environment_values_fall_back_to_the_default(
    variable: str, raw: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="apkshim"):
        resolved = resolve({variable: raw})
    assert getattr(resolved, field) == getattr(Settings(), field)
    assert resolved.sources[field] == "default"
    (problem,) = resolved.problems
    assert problem.startswith(f"{variable}={raw!r} is invalid ("), problem
    assert problem.endswith("using the default")
    assert [r.getMessage() for r in caplog.records] == [problem]


def test_timeout_that_subprocess_cannot_wait_for_is_refused() -> None:
    # subprocess raises OverflowError for waits beyond about 24 days.
    resolved = resolve({"APKSHIM_TIMEOUT": "3e6"})
    assert resolved.timeout == Settings().timeout
    assert "at most" in resolved.problems[0]


@pytest.mark.parametrize("field", [f for f in settings.PARSERS if f != "mapping"])
def test_empty_value_counts_as_unset(field: str) -> None:
    resolved = resolve({settings.environment_name(field): ""})
    assert resolved.sources[field] == "default"
    assert resolved.problems == ()


def test_empty_mapping_is_an_explicit_empty_list() -> None:
    resolved = resolve({"APKSHIM_MAPPING": ""})
    assert resolved.mapping == ()
    assert resolved.sources["mapping"] == "APKSHIM_MAPPING"


def test_command_line_beats_environment_beats_default() -> None:
    resolved = resolve(
        {"APKSHIM_TIMEOUT": "10", "APKSHIM_SCOPE": "all"},
        {"timeout": "20"},
    )
    assert resolved.timeout == 20.0
    assert resolved.sources["timeout"] == "--timeout"
    assert resolved.scope == "all"
    assert resolved.sources["scope"] == "APKSHIM_SCOPE"
    assert resolved.lock_wait == 300
    assert resolved.sources["lock_wait"] == "default"


def test_invalid_command_line_value_falls_back_to_the_environment() -> None:
    resolved = resolve({"APKSHIM_LOCK_WAIT": "7"}, {"lock_wait": "never"})
    assert resolved.lock_wait == 7
    assert resolved.sources["lock_wait"] == "APKSHIM_LOCK_WAIT"
    (problem,) = resolved.problems
    assert problem.startswith("--lock-wait='never' is invalid (")


def test_invalid_everywhere_falls_back_to_the_default() -> None:
    resolved = resolve({"APKSHIM_BACKEND": "yum"}, {"backend": "dnf"})
    assert resolved.backend == "auto"
    assert resolved.sources["backend"] == "default"
    assert [p.split("=")[0] for p in resolved.problems] == [
        "--backend",
        "APKSHIM_BACKEND",
    ]


def test_names_are_the_same_everywhere() -> None:
    assert settings.environment_name("lock_wait") == "APKSHIM_LOCK_WAIT"
    assert settings.option_name("lock_wait") == "--lock-wait"
    assert settings.option_name("other_python") == "--other-python"


def test_resolve_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APKSHIM_LOCK_WAIT", "9")
    assert resolve().lock_wait == 9


def test_every_field_has_a_parser() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)} - {"sources", "problems"}
    assert fields == set(settings.PARSERS)
