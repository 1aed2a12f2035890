"""Backends: command lines, classification of every documented message, versions.

The messages are those that apk-tools 2.14 and 3.0 and apt 2.6 print, verbatim
where they were recorded from real runs. Commands run are fake executables on
PATH that record their arguments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apkshim import backends
from apkshim.backends import Apk, Apt, Backend, Failure
from apkshim.backends import apt as apt_module
from apkshim.errors import InstallError
from apkshim.runner import Completed
from apkshim.settings import resolve

from unit_support import FakeBin, FakeTool, emit


@pytest.fixture
def apk() -> Apk:
    return Apk(resolve({"APKSHIM_LOCK_WAIT": "7"}))


@pytest.fixture
def apt() -> Apt:
    return Apt(resolve({"APKSHIM_LOCK_WAIT": "7"}))


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run package managers directly, as root does, whoever runs the tests."""
    from apkshim import runner

    monkeypatch.setattr(runner, "elevation", lambda executable, euid=None: [])
    yield


# Command lines


def test_apk_install_argv(apk: Apk) -> None:
    argv = apk.install_argv(["py3-yaml", "py3-lxml"])
    assert os.path.basename(argv[0]) == "apk"
    assert argv[1:] == [
        "add",
        "--no-interactive",
        "--wait",
        "7",
        "--",
        "py3-yaml",
        "py3-lxml",
    ]
    assert apk.environment() == {}


def test_apt_install_argv(apt: Apt) -> None:
    argv = apt.install_argv(["python3-yaml"])
    assert os.path.basename(argv[0]) == "apt-get"
    assert argv[1:] == [
        "install",
        "-y",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=7",
        "--",
        "python3-yaml",
    ]
    assert apt.environment() == {"DEBIAN_FRONTEND": "noninteractive"}
    assert apt.update_argv()[1:] == ["update", "-o", "DPkg::Lock::Timeout=7"]


def test_default_lock_wait_is_used() -> None:
    assert Apk(resolve({})).install_argv(["x"])[3:5] == ["--wait", "300"]
    assert "DPkg::Lock::Timeout=300" in Apt(resolve({})).install_argv(["x"])


def test_apk_runs_from_path_without_shell_or_stdin(
    apk: Apk,
    fake_bin: FakeBin,
    as_root: None,
) -> None:
    tool = fake_bin.add(
        "apk",
        emit(
            stdout=(
                "(1/2) Installing py3-dep (2.0-r1)\n"
                "(2/2) Installing py3-fakenum (1.0-r0)\n"
                "OK: 32 B in 2 packages\n"
            )
        ),
    )
    assert apk.executable == str(tool.path)
    completed = apk.install(["py3-fakenum; rm -rf /"])
    assert completed.ok
    assert tool.calls() == [
        ["add", "--no-interactive", "--wait", "7", "--", "py3-fakenum; rm -rf /"]
    ]
    (details,) = tool.details()
    assert details["stdin"] == "/dev/null"
    assert details["tty"] == "no"
    assert apk.installed_versions(completed) == {
        "py3-dep": "2.0-r1",
        "py3-fakenum": "1.0-r0",
    }


def test_apt_runs_noninteractive(
    apt: Apt,
    fake_bin: FakeBin,
    as_root: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEBIAN_FRONTEND", raising=False)
    tool = fake_bin.add(
        "apt-get",
        emit(
            stdout=(
                "Reading package lists...\n"
                "Setting up libyaml-0-2:amd64 (0.2.5-1) ...\n"
                "Setting up python3-yaml (6.0-3+b2) ...\n"
            )
        ),
    )
    completed = apt.install(["python3-yaml"])
    assert completed.ok
    assert tool.calls() == [
        [
            "install",
            "-y",
            "--no-install-recommends",
            "-o",
            "DPkg::Lock::Timeout=7",
            "--",
            "python3-yaml",
        ]
    ]
    assert tool.details() == [
        {"stdin": "/dev/null", "tty": "no", "frontend": "noninteractive"}
    ]
    assert apt.installed_versions(completed) == {
        "libyaml-0-2": "0.2.5-1",
        "python3-yaml": "6.0-3+b2",
    }


def test_install_without_privileges_fails_at_once(
    apk: Apk,
    fake_bin: FakeBin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apkshim import runner

    tool = fake_bin.add("apk")
    monkeypatch.setattr(runner, "elevation", lambda executable, euid=None: None)
    with pytest.raises(InstallError) as raised:
        apk.install(["py3-yaml"])
    message = str(raised.value)
    assert "neither 'sudo -n' nor 'doas -n'" in message
    assert f"NOPASSWD: {tool.path}" in message
    assert "permit nopass" in message
    assert tool.calls() == []


def test_elevation_prefix_comes_first(
    apk: Apk,
    fake_bin: FakeBin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apkshim import runner

    sudo = fake_bin.add("sudo", 'shift\nexec "$@"\n')
    tool = fake_bin.add("apk")
    monkeypatch.setattr(
        runner, "elevation", lambda executable, euid=None: [str(sudo.path), "-n"]
    )
    assert apk.install(["py3-yaml"]).ok
    assert sudo.calls() == [
        [
            "-n",
            str(tool.path),
            "add",
            "--no-interactive",
            "--wait",
            "7",
            "--",
            "py3-yaml",
        ]
    ]


# apt-get update when a name is unknown and the lists are missing or old

UNKNOWN = "E: Unable to locate package python3-nosuch\n"


@pytest.fixture
def lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "lists"
    directory.mkdir()
    monkeypatch.setattr(apt_module, "LISTS_DIRECTORY", str(directory))
    return directory


def apt_get(
    fake_bin: FakeBin, install_stderr: str, update_stderr: str = ""
) -> FakeTool:
    """A fake apt-get whose install fails with ``install_stderr``."""
    return fake_bin.add(
        "apt-get",
        'case "$1" in\n'
        f"  update) {emit(stderr=update_stderr)};;\n"
        f"  install) {emit(stderr=install_stderr, status=100)};;\n"
        "esac\n",
    )


def commands(tool: FakeTool) -> list[str]:
    return [call[0] for call in tool.calls()]


def test_unknown_name_with_missing_lists_updates_once(
    apt: Apt,
    fake_bin: FakeBin,
    lists: Path,
    as_root: None,
) -> None:
    tool = apt_get(fake_bin, UNKNOWN)
    completed = apt.install(["python3-nosuch"])
    assert commands(tool) == ["install", "update", "install"]
    assert apt.classify(completed) is Failure.NO_PACKAGE


def test_unknown_name_with_old_lists_updates(
    apt: Apt,
    fake_bin: FakeBin,
    lists: Path,
    as_root: None,
) -> None:
    old = lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
    old.write_text("")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    tool = apt_get(fake_bin, UNKNOWN)
    apt.install(["python3-nosuch"])
    assert commands(tool) == ["install", "update", "install"]


def test_unknown_name_with_fresh_lists_does_not_update(
    apt: Apt,
    fake_bin: FakeBin,
    lists: Path,
    as_root: None,
) -> None:
    (
        lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
    ).write_text("")
    tool = apt_get(fake_bin, UNKNOWN)
    completed = apt.install(["python3-nosuch"])
    assert commands(tool) == ["install"]
    assert apt.classify(completed) is Failure.NO_PACKAGE


def test_other_failures_do_not_update(
    apt: Apt,
    fake_bin: FakeBin,
    lists: Path,
    as_root: None,
) -> None:
    tool = apt_get(
        fake_bin,
        "E: Could not get lock /var/lib/dpkg/lock-frontend. "
        "It is held by process 7 (apt)\n",
    )
    completed = apt.install(["python3-yaml"])
    assert commands(tool) == ["install"]
    assert apt.classify(completed) is Failure.LOCKED


def test_unreachable_repository_during_update_is_a_network_failure(
    apt: Apt,
    fake_bin: FakeBin,
    lists: Path,
    as_root: None,
) -> None:
    # apt-get update exits 0 even when it cannot reach a repository.
    tool = apt_get(
        fake_bin,
        UNKNOWN,
        update_stderr=(
            "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  "
            "Temporary failure resolving 'deb.debian.org'\n"
            "W: Some index files failed to download. "
            "They have been ignored, or old ones used instead.\n"
        ),
    )
    completed = apt.install(["python3-nosuch"])
    assert commands(tool) == ["install", "update", "install"]
    assert apt.classify(completed) is Failure.NETWORK
    assert "(apt-get update) W: Failed to fetch" in completed.stderr


def test_lists_are_stale(apt: Apt, lists: Path) -> None:
    assert apt.lists_are_stale()
    packages = lists / "x_Packages"
    packages.write_text("")
    now = os.path.getmtime(packages)
    assert not apt.lists_are_stale(now=now + 3600)
    assert apt.lists_are_stale(now=now + 25 * 3600)


# Classification of every documented message


def completed(
    stderr: str = "", stdout: str = "", returncode: int = 1, timed_out: bool = False
) -> Completed:
    return Completed(
        ["/sbin/apk"], None if timed_out else returncode, stdout, stderr, 1.0, timed_out
    )


APK_NO_SUCH_PACKAGE = (
    "ERROR: unable to select packages:\n"
    "  py3-nosuch (no such package):\n"
    "    required by: world[py3-nosuch]\n"
)

APK_CASES = {
    "unknown package (v2, v3)": (completed(APK_NO_SUCH_PACKAGE), Failure.NO_PACKAGE),
    "two unknown packages": (
        completed(
            "ERROR: unable to select packages:\n"
            "  py3-nosuch (no such package):\n"
            "    required by: world[py3-nosuch]\n"
            "  py3-nosuch2 (no such package):\n"
            "    required by: world[py3-nosuch2]\n",
            returncode=2,
        ),
        Failure.NO_PACKAGE,
    ),
    "provide without a version": (
        completed(
            "ERROR: unable to select packages:\n"
            "  py3.12:foo (virtual):\n"
            "    note: please select one of the 'provided by' packages explicitly\n"
            "    provided by: py3-foo\n"
            "    required by: world[py3.12:foo]\n"
        ),
        Failure.NO_PACKAGE,
    ),
    "provide without a version, note wrapped": (
        completed(
            "ERROR: unable to select packages:\n"
            "  py3.12:foo (virtual):\n"
            "    note: please select one of the 'provided by'\n"
            "          packages explicitly\n"
            "    provided by: py3-foo\n"
            "    required by: world[py3.12:foo]\n"
        ),
        Failure.NO_PACKAGE,
    ),
    "lock held, v3": (
        completed(
            "ERROR: Unable to lock database: Resource temporarily unavailable\n"
            "ERROR: Failed to open apk database: Resource temporarily unavailable\n",
            returncode=99,
        ),
        Failure.LOCKED,
    ),
    "lock held, v2": (
        completed(
            "ERROR: Unable to lock database: temporary error (try again later)\n"
            "ERROR: Failed to open apk database: temporary error (try again later)\n",
            returncode=99,
        ),
        Failure.LOCKED,
    ),
    "lock wait ran out, v3": (
        completed(
            "Waiting for repository lock\n"
            "ERROR: Unable to lock database: Interrupted system call\n"
            "ERROR: Failed to open apk database: Interrupted system call\n",
            returncode=99,
        ),
        Failure.LOCKED,
    ),
    "lock wait ran out, v2 (waiting line on stdout)": (
        completed(
            "ERROR: Unable to lock database: Interrupted system call\n"
            "ERROR: Failed to open apk database: Interrupted system call\n",
            stdout="Waiting for repository lock\n",
            returncode=99,
        ),
        Failure.LOCKED,
    ),
    "waited for the lock, then an unknown package": (
        completed(APK_NO_SUCH_PACKAGE, stdout="Waiting for repository lock\n"),
        Failure.NO_PACKAGE,
    ),
    "not root, v3": (
        completed("ERROR: Unable to open log: Permission denied\n", returncode=99),
        Failure.PERMISSION,
    ),
    "not root, v2 and v3 --logfile=no": (
        completed(
            "ERROR: Unable to lock database: Permission denied\n"
            "ERROR: Failed to open apk database: Permission denied\n",
            returncode=99,
        ),
        Failure.PERMISSION,
    ),
    "not root with --wait, v2": (
        completed(
            "ERROR: Unable to lock database: Bad file descriptor\n"
            "ERROR: Failed to open apk database: Bad file descriptor\n",
            returncode=99,
        ),
        Failure.PERMISSION,
    ),
    "no database": (
        completed(
            "ERROR: Unable to lock database: No such file or directory\n"
            "ERROR: Failed to open apk database: No such file or directory\n",
            returncode=99,
        ),
        Failure.NO_DATABASE,
    ),
    "repository unreachable, v3": (
        completed(
            "WARNING: updating and opening "
            "http://dl-cdn.alpinelinux.org/alpine/v3.23/main/x86_64/APKINDEX.tar.gz: "
            "Connection refused\n" + APK_NO_SUCH_PACKAGE
        ),
        Failure.NETWORK,
    ),
    "repository unreachable, v3, warning only": (
        completed(
            "WARNING: updating and opening "
            "http://dl-cdn.alpinelinux.org/alpine/v3.23/main/x86_64/APKINDEX.tar.gz: "
            "Connection refused\n"
        ),
        Failure.NETWORK,
    ),
    "repository unreachable, v2 (then no such package)": (
        completed(
            "WARNING: updating and opening "
            "http://dl-cdn.alpinelinux.org/alpine/v3.20/main: "
            "could not connect to server "
            "(check repositories file)\n" + APK_NO_SUCH_PACKAGE
        ),
        Failure.NETWORK,
    ),
    "killed after the timeout": (
        completed("", stdout="(1/40) Installing ...\n", timed_out=True),
        Failure.TIMEOUT,
    ),
    "executable missing": (
        completed(
            "cannot run apk: [Errno 2] No such file or directory: 'apk'", returncode=127
        ),
        Failure.OTHER,
    ),
    "unrecognized failure": (
        completed(
            "ERROR: py3-foo-1.0-r0: trying to overwrite usr/bin/foo "
            "owned by bar-1.0-r0.\n"
        ),
        Failure.OTHER,
    ),
}


@pytest.mark.parametrize(("result", "failure"), APK_CASES.values(), ids=list(APK_CASES))
def test_apk_classification(apk: Apk, result: Completed, failure: Failure) -> None:
    assert apk.classify(result) is failure


APT_NOT_ROOT = (
    "E: Could not open lock file /var/lib/dpkg/lock-frontend - "
    "open (13: Permission denied)\n"
    "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), "
    "are you root?\n"
)
APT_LOCK_HELD = (
    "E: Could not get lock /var/lib/dpkg/lock-frontend. "
    "It is held by process 4242 (apt-get)\n"
    "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), "
    "is another process using it?\n"
)
APT_WAITING = (
    "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. "
    "It is held by process 4242 (apt-get)... 0s\r"
    "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. "
    "It is held by process 4242 (apt-get)... 1s\r"
)

APT_CASES = {
    "unknown package": (completed(UNKNOWN, returncode=100), Failure.NO_PACKAGE),
    "unknown package after reading the lists": (
        completed(
            UNKNOWN,
            stdout=(
                "Reading package lists...\n"
                "Building dependency tree...\n"
                "Reading state information...\n"
            ),
            returncode=100,
        ),
        Failure.NO_PACKAGE,
    ),
    "no installation candidate": (
        completed(
            "E: Package 'python3-foo' has no installation candidate\n",
            stdout=(
                "Package python3-foo is not available, "
                "but is referred to by another package.\n"
                "This may mean that the package is missing, has been obsoleted, or\n"
                "is only available from another source\n"
            ),
            returncode=100,
        ),
        Failure.NO_PACKAGE,
    ),
    "not root": (completed(APT_NOT_ROOT, returncode=100), Failure.PERMISSION),
    "lock held": (completed(APT_LOCK_HELD, returncode=100), Failure.LOCKED),
    "lock wait ran out": (
        completed(APT_WAITING + APT_LOCK_HELD, returncode=100),
        Failure.LOCKED,
    ),
    "waited for the lock, then an unknown package": (
        completed(APT_WAITING + "Reading package lists...\n" + UNKNOWN, returncode=100),
        Failure.NO_PACKAGE,
    ),
    "waited for the lock, then a download failed": (
        completed(
            APT_WAITING
            + "E: Failed to fetch http://deb.debian.org/debian/pool/main/p/pyyaml/"
            "python3-yaml_6.0-3%2bb2_amd64.deb  "
            "Temporary failure resolving 'deb.debian.org'\n",
            returncode=100,
        ),
        Failure.NETWORK,
    ),
    "download failed": (
        completed(
            "E: Failed to fetch http://deb.debian.org/debian/pool/main/p/pyyaml/"
            "python3-yaml_6.0-3%2bb2_amd64.deb  "
            "Temporary failure resolving 'deb.debian.org'\n"
            "E: Unable to fetch some archives, maybe run apt-get update or try with "
            "--fix-missing?\n",
            returncode=100,
        ),
        Failure.NETWORK,
    ),
    "update could not reach the mirror, then unknown": (
        completed(
            UNKNOWN
            + "\n(apt-get update) W: Failed to fetch http://deb.debian.org/debian/dists/"
            "bookworm/InRelease  "
            "Could not connect to deb.debian.org:80 (151.101.2.132), "
            "connection timed out\n",
            returncode=100,
        ),
        Failure.NETWORK,
    ),
    "killed after the timeout (a debconf prompt)": (
        completed(
            "", stdout="Setting up tzdata (2024a-0+deb12u1) ...\n", timed_out=True
        ),
        Failure.TIMEOUT,
    ),
    "maintainer script failed": (
        completed(
            "E: Sub-process /usr/bin/dpkg returned an error code (1)\n", returncode=100
        ),
        Failure.OTHER,
    ),
}


@pytest.mark.parametrize(("result", "failure"), APT_CASES.values(), ids=list(APT_CASES))
def test_apt_classification(apt: Apt, result: Completed, failure: Failure) -> None:
    assert apt.classify(result) is failure


@pytest.mark.parametrize("backend_class", [Apk, Apt])
@pytest.mark.parametrize("failure", list(Failure))
def test_every_failure_has_a_next_step(
    backend_class: type[Backend], failure: Failure
) -> None:
    backend = backend_class(resolve({}))
    step = backend.next_step(failure, ["py3-foo"])
    assert step and step[0].islower()


def test_next_steps_name_the_check_command(apk: Apk, apt: Apt) -> None:
    assert "apk search -x py3-foo" in apk.next_step(Failure.NO_PACKAGE, ["py3-foo"])
    assert "apt-cache policy python3-foo" in apt.next_step(
        Failure.NO_PACKAGE, ["python3-foo"]
    )
    assert "APKSHIM_TIMEOUT" in apk.next_step(Failure.TIMEOUT, ["x"])
    assert "APKSHIM_LOCK_WAIT" in apt.next_step(Failure.LOCKED, ["x"])


# Versions from success output and from policy queries


def test_apk_versions_from_success_output(apk: Apk) -> None:
    output = (
        "fetch https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz\n"
        "( 1/3) Installing yaml (0.2.5-r2)\n"
        "( 2/3) Installing py3-yaml (6.0.1-r3)\n"
        "( 3/3) Installing py3-yaml-pyc (6.0.1-r3)\n"
        "OK: 58 MiB in 40 packages\n"
    )
    versions = apk.installed_versions(completed(stdout=output, returncode=0))
    assert versions == {
        "yaml": "0.2.5-r2",
        "py3-yaml": "6.0.1-r3",
        "py3-yaml-pyc": "6.0.1-r3",
    }


def test_apt_versions_from_success_output(apt: Apt) -> None:
    output = (
        "Unpacking python3-yaml (6.0-3+b2) ...\n"
        "Setting up libyaml-0-2:amd64 (0.2.5-1) ...\n"
        "Setting up python3-yaml (6.0-3+b2) ...\n"
        "Setting up python3-numpy (1:1.24.2-1+deb12u1) ...\n"
    )
    versions = apt.installed_versions(completed(stdout=output, returncode=0))
    assert versions == {
        "libyaml-0-2": "0.2.5-1",
        "python3-yaml": "6.0-3+b2",
        "python3-numpy": "1:1.24.2-1+deb12u1",
    }


APK_POLICY = """\
py3-numpy policy:
  1.25.2-r0:
    lib/apk/db/installed
    https://dl-cdn.alpinelinux.org/alpine/v3.19/community
  1.26.4-r0:
    https://dl-cdn.alpinelinux.org/alpine/v3.20/community
  2.1.0-r0:
    @edge https://dl-cdn.alpinelinux.org/alpine/edge/community
"""


def test_apk_policy_installed_and_candidate(apk: Apk, fake_bin: FakeBin) -> None:
    tool = fake_bin.add("apk", emit(stdout=APK_POLICY))
    assert apk.installed_version("py3-numpy") == "1.25.2-r0"
    # 2.1.0 is only in a tagged repository, which "apk add py3-numpy" does not use.
    assert apk.candidate_version("py3-numpy") == "1.26.4-r0"
    assert tool.calls() == [["policy", "--", "py3-numpy"]] * 2


def test_apk_policy_not_installed(apk: Apk, fake_bin: FakeBin) -> None:
    fake_bin.add(
        "apk",
        emit(
            stdout="py3-yaml policy:\n  6.0.1-r3:\n    https://dl-cdn.alpinelinux.org/alpine/v3.20/main\n"
        ),
    )
    assert apk.installed_version("py3-yaml") is None
    assert apk.candidate_version("py3-yaml") == "6.0.1-r3"


def test_apk_policy_installed_only(apk: Apk, fake_bin: FakeBin) -> None:
    fake_bin.add(
        "apk", emit(stdout="py3-old policy:\n  0.9-r3:\n    lib/apk/db/installed\n")
    )
    assert apk.installed_version("py3-old") == "0.9-r3"
    assert apk.candidate_version("py3-old") == "0.9-r3"


def test_apk_policy_unknown_name(apk: Apk, fake_bin: FakeBin) -> None:
    fake_bin.add("apk", emit())  # apk policy prints nothing for an unknown name
    assert apk.installed_version("py3-nosuch") is None
    assert apk.candidate_version("py3-nosuch") is None


APT_POLICY = """\
python3-yaml:
  Installed: (none)
  Candidate: 6.0-3+b2
  Version table:
     6.0-3+b2 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
"""


def test_apt_cache_policy_candidate(apt: Apt, fake_bin: FakeBin) -> None:
    tool = fake_bin.add("apt-cache", emit(stdout=APT_POLICY))
    assert apt.candidate_version("python3-yaml") == "6.0-3+b2"
    assert tool.calls() == [["policy", "--", "python3-yaml"]]


def test_apt_cache_policy_without_candidate(apt: Apt, fake_bin: FakeBin) -> None:
    fake_bin.add(
        "apt-cache",
        emit(
            stdout=(
                "python3-foo:\n"
                "  Installed: (none)\n"
                "  Candidate: (none)\n"
                "  Version table:\n"
            )
        ),
    )
    assert apt.candidate_version("python3-foo") is None


def test_apt_cache_policy_unknown_name(apt: Apt, fake_bin: FakeBin) -> None:
    fake_bin.add(
        "apt-cache", emit(stderr="N: Unable to locate package python3-nosuch\n")
    )
    assert apt.candidate_version("python3-nosuch") is None


@pytest.mark.parametrize(
    ("stdout", "status", "version"),
    [
        ("ii  6.0-3+b2", 0, "6.0-3+b2"),
        ("ii  1:1.24.2-1+deb12u1", 0, "1:1.24.2-1+deb12u1"),
        ("rc  6.0-3+b2", 0, None),
        ("un  ", 0, None),
        ("", 1, None),
    ],
)
def test_dpkg_query_installed_version(
    apt: Apt,
    fake_bin: FakeBin,
    stdout: str,
    status: int,
    version: str | None,
) -> None:
    stderr = "dpkg-query: no packages found matching python3-yaml\n" if status else ""
    tool = fake_bin.add("dpkg-query", emit(stdout=stdout, stderr=stderr, status=status))
    assert apt.installed_version("python3-yaml") == version
    assert tool.calls() == [
        ["-W", "-f=${db:Status-Abbrev} ${Version}", "--", "python3-yaml"]
    ]


# Choosing the backend


def test_backend_setting_wins(tmp_path: Path) -> None:
    chosen, reason = backends.choose(
        resolve({"APKSHIM_BACKEND": "apk"}), str(tmp_path / "none")
    )
    assert isinstance(chosen, Apk)
    assert reason == "set by APKSHIM_BACKEND"


@pytest.mark.parametrize(
    ("os_release", "tool", "expected"),
    [
        ("ID=alpine\nVERSION_ID=3.20.0\n", "apk", Apk),
        ('ID=debian\nVERSION_ID="12"\n', "apt-get", Apt),
        ("ID=ubuntu\nID_LIKE=debian\n", "apt-get", Apt),
        ('ID="linuxmint"\nID_LIKE="ubuntu debian"\n', "apt-get", Apt),
        ('ID=postmarketos\nID_LIKE="alpine"\n', "apk", Apk),
    ],
)
def test_backend_from_os_release(
    tmp_path: Path,
    fake_bin: FakeBin,
    monkeypatch: pytest.MonkeyPatch,
    os_release: str,
    tool: str,
    expected: type[Backend],
) -> None:
    from apkshim import runner

    path = tmp_path / "os-release"
    path.write_text(os_release)
    fake_bin.add(tool)
    monkeypatch.setattr(
        runner,
        "find_executable",
        lambda name: str(fake_bin.directory / name) if name == tool else None,
    )
    chosen, reason = backends.choose(resolve({}), str(path))
    assert isinstance(chosen, expected)
    assert str(path) in reason


def test_no_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from apkshim import runner

    monkeypatch.setattr(runner, "find_executable", lambda name: None)
    chosen, reason = backends.choose(resolve({}), str(tmp_path / "missing"))
    assert chosen is None
    assert "no apk or apt-get" in reason
