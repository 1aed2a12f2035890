"""The import hook end to end: a fresh interpreter with APKSHIM=1 and the apk emulator.

The interpreter is a venv over Debian's python3 with system site packages and
apkshim's wheel, so the interpreter check serves it. ``apk`` on PATH is the
emulator, whose root's site-packages directory is on PYTHONPATH but does not
exist until the first install.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import emulator_support
import pytest
from emulator_support import (
    ABSENT_PACKAGE,
    INSTALL_ERROR,
    NOTICE_INSTALLED,
    YAML_DIST_INFO,
    YAML_PACKAGE,
    YAML_VERSION,
    Alpine,
    add_argv,
    assert_failure_report,
    child_processes,
    finish,
    import_report,
    is_alive,
    metadata,
    process_start_time,
    stop,
    wait_for,
)

# Fixtures that emulator_support defines, registered here under their names.
alpine = emulator_support.alpine

# A repository URL on the loopback discard port. The emulator never connects:
# it reports every http:// repository as unreachable, as apk does without network.
UNREACHABLE = "http://127.0.0.1:9/alpine/v3.19/main"


@contextlib.contextmanager
def flock_held(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` in this process, as another apk would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(descriptor)


# The main job


def test_hook_installs_and_imports_module(alpine: Alpine) -> None:
    assert not alpine.site.exists()

    (result,) = alpine.run(import_report("apkfakeyaml")).results()

    assert result.get("value") == "apkfakeyaml", result
    assert result["file"] == str(alpine.site / "apkfakeyaml" / "__init__.py")
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


def test_hook_prints_two_notices(alpine: Alpine) -> None:
    outcome = alpine.run(import_report("apkfakeyaml"))

    started, finished = outcome.notices()
    assert (
        started == f"apkshim: installing {YAML_PACKAGE} (apk) for 'import apkfakeyaml'"
    )
    installed = NOTICE_INSTALLED.match(finished)
    assert installed is not None, finished
    assert installed.group(1) == YAML_PACKAGE
    assert installed.group(2) == YAML_VERSION
    assert outcome.stderr.splitlines() == [started, finished]


def test_hook_runs_module_body_once(alpine: Alpine) -> None:
    outcome = alpine.run(
        "import os; print(os.getpid())\n" + import_report("apkfakeyaml", attempts=2)
    )

    first, second = outcome.results()
    assert first.get("value") == "apkfakeyaml", first
    assert second == first
    pid = outcome.stdout.splitlines()[0]
    assert alpine.module_runs() == [f"apkfakeyaml {pid}"]


def test_hook_installs_nothing_when_present(alpine: Alpine) -> None:
    first = alpine.run(import_report("apkfakeyaml"))
    assert first.results()[0].get("value") == "apkfakeyaml", first.stderr

    second = alpine.run(import_report("apkfakeyaml"))

    assert second.results()[0].get("value") == "apkfakeyaml"
    assert second.stderr == ""
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


def test_dotted_key_installs_longest_prefix(alpine: Alpine) -> None:
    # apkfakens and apkfakens.sub are both mapped; the parent is missing too.
    (result,) = alpine.run(import_report("apkfakens.sub")).results()

    assert result.get("value") == "apkfakens.sub", result
    assert alpine.adds() == [add_argv("py3-apkfakens-sub")]


def test_dotted_unmapped_child_uses_parent_key(alpine: Alpine) -> None:
    (result,) = alpine.run(import_report("apkfakens.other")).results()

    assert result.get("value") == "apkfakens.other", result
    assert alpine.adds() == [add_argv("py3-apkfakens")]


# Failures: each import error names everything, and the package is tried once.


@pytest.mark.parametrize("version", ["2", "3"])
def test_unknown_package_fails_once(alpine: Alpine, version: str) -> None:
    outcome = alpine.run(
        import_report("apkfakeabsent", attempts=2), {"APK_EMULATOR_VERSION": version}
    )

    first, second = outcome.results()
    assert_failure_report(
        first,
        name="apkfakeabsent",
        package=ABSENT_PACKAGE,
        command=alpine.add_command(ABSENT_PACKAGE),
        status="1",
        last_line=f"    required by: world[{ABSENT_PACKAGE}]",
        cause="no such package",
        next_step=f"check the name with 'apk search -x {ABSENT_PACKAGE}'",
    )
    assert second == first
    assert alpine.adds() == [add_argv(ABSENT_PACKAGE)]
    assert len(outcome.notices()) == 1


def test_database_lock_held_too_long_fails(alpine: Alpine) -> None:
    with flock_held(alpine.root / "lib" / "apk" / "db" / "lock"):
        outcome = alpine.run(
            import_report("apkfakeyaml", attempts=2), {"APKSHIM_LOCK_WAIT": "1"}
        )

    first, second = outcome.results()
    assert_failure_report(
        first,
        name="apkfakeyaml",
        package=YAML_PACKAGE,
        command=alpine.add_command(YAML_PACKAGE, wait=1),
        status="99",
        last_line="ERROR: Failed to open apk database: Interrupted system call",
        cause="package database locked",
        next_step="another package manager held the database lock for 1 s",
    )
    assert "raise APKSHIM_LOCK_WAIT" in first["message"]
    assert second == first
    assert alpine.adds() == [add_argv(YAML_PACKAGE, wait=1)]


@pytest.mark.parametrize(
    ("version", "last_line"),
    [
        ("2", "ERROR: Failed to open apk database: Permission denied"),
        ("3", "ERROR: Unable to open log: Permission denied"),
    ],
    ids=["2", "3"],
)
def test_not_root_fails_with_permission(
    alpine: Alpine, version: str, last_line: str
) -> None:
    # apkshim runs as root here, so it runs apk directly; the emulator plays a
    # user without root, and apkshim must still classify its output.
    env = {"APK_EMULATOR_AS_USER": "1", "APK_EMULATOR_VERSION": version}

    outcome = alpine.run(import_report("apkfakeyaml", attempts=2), env)

    first, second = outcome.results()
    assert_failure_report(
        first,
        name="apkfakeyaml",
        package=YAML_PACKAGE,
        command=alpine.add_command(YAML_PACKAGE),
        status="99",
        last_line=last_line,
        cause="permission denied",
        next_step="apk was denied permission although apkshim runs it as root",
    )
    assert second == first
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


@pytest.mark.parametrize("version", ["2", "3"])
def test_unreachable_repository_fails_with_network(
    alpine: Alpine, version: str
) -> None:
    alpine.build(repositories=[UNREACHABLE], local=False)

    outcome = alpine.run(
        import_report("apkfakeyaml", attempts=2), {"APK_EMULATOR_VERSION": version}
    )

    first, second = outcome.results()
    assert_failure_report(
        first,
        name="apkfakeyaml",
        package=YAML_PACKAGE,
        command=alpine.add_command(YAML_PACKAGE),
        status="1",
        last_line=f"    required by: world[{YAML_PACKAGE}]",
        cause="network failure",
        next_step="check the network and the repositories in /etc/apk/repositories",
    )
    assert UNREACHABLE in first["message"]
    assert second == first
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


def test_timeout_kills_package_manager(alpine: Alpine) -> None:
    env = {"APKSHIM_TIMEOUT": "2", "APK_EMULATOR_DELAY": "600"}
    process = alpine.start(import_report("apkfakeyaml", attempts=2), env)
    started = time.monotonic()
    emulator = None
    try:
        (pid,) = wait_for(lambda: child_processes(process.pid), 30, "apk to start")
        start_time = process_start_time(pid)
        assert start_time is not None
        emulator = (pid, start_time)
        outcome = finish(process, timeout=60)
    finally:
        if emulator is not None and is_alive(*emulator):
            os.kill(emulator[0], signal.SIGKILL)
        stop(process)
    elapsed = time.monotonic() - started

    first, second = outcome.results()
    assert_failure_report(
        first,
        name="apkfakeyaml",
        package=YAML_PACKAGE,
        command=alpine.add_command(YAML_PACKAGE),
        status="none, killed after 2 s",
        last_line="(none)",
        cause="timed out",
        next_step="the run was killed after 2 s; raise APKSHIM_TIMEOUT",
    )
    assert second == first
    assert not is_alive(*emulator), f"apk (pid {emulator[0]}) survived the timeout"
    # The 2 s timeout, at most 5 s of SIGTERM grace, and two interpreter starts.
    assert elapsed < 30
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


def test_apkshim_lock_held_too_long_fails(alpine: Alpine) -> None:
    env = {"APKSHIM_TIMEOUT": "1", "APKSHIM_LOCK_WAIT": "1"}
    with flock_held(alpine.lock_dir / "apkshim-install.lock"):
        (result,) = alpine.run(import_report("apkfakeyaml"), env).results()

    assert result.get("error") == INSTALL_ERROR, result
    assert result["name"] == "apkfakeyaml"
    assert f"could not install {YAML_PACKAGE} (apk)" in result["message"]
    assert "another apkshim install held" in result["message"]
    assert "for more than 2 s" in result["message"]
    assert alpine.emulator_runs() == []


def test_installed_but_broken_runs_nothing(alpine: Alpine) -> None:
    # The distribution's metadata is there, its module is gone.
    dist_info = alpine.site / YAML_DIST_INFO
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(metadata("apkfake-yaml", "6.0.1"))

    outcome = alpine.run(import_report("apkfakeyaml", attempts=2))

    first, second = outcome.results()
    assert first.get("error") == INSTALL_ERROR, first
    assert first["name"] == "apkfakeyaml"
    assert "apkfake-yaml 6.0.1 is installed" in first["message"]
    assert "'import apkfakeyaml' still fails" in first["message"]
    assert "does not reinstall" in first["message"]
    assert f"apk fix {YAML_PACKAGE}" in first["message"]
    assert second == first
    assert alpine.emulator_runs() == []
    assert outcome.notices() == []


def test_install_invisible_to_python_is_reported(alpine: Alpine) -> None:
    # Without PYTHONPATH the interpreter never searches the emulator's root.
    outcome = alpine.run(import_report("apkfakeyaml", attempts=2), {"PYTHONPATH": None})

    first, second = outcome.results()
    assert first.get("error") == INSTALL_ERROR, first
    assert first["name"] == "apkfakeyaml"
    assert f"apk installed {YAML_PACKAGE}" in first["message"]
    assert "this Python still cannot find 'apkfakeyaml'" in first["message"]
    assert second == first
    assert (alpine.site / "apkfakeyaml" / "__init__.py").exists()
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]
