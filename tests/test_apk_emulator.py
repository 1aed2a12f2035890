"""Tests of the apk-tools emulator in tests/apk_emulator, run as a user runs apk.

Each test builds a repository of fake packages with ``build_repository``, lays out
a root with ``init_root`` and runs the ``apk`` launcher in a subprocess. The
expected messages are those of apk-tools 2.14.10 and 3.0.6.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import select
import socket
import subprocess
import tarfile
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from apk_emulator.repository import (
    IndexRecord,
    Package,
    build_repository,
    init_root,
    parse_records,
    read_apkindex,
    read_apkindex_description,
)

APK = Path(__file__).resolve().parent / "apk_emulator" / "apk"
SITE = "usr/lib/python3.11/site-packages"

YAML = Package(
    "py3-fakeyaml",
    "6.0.1-r0",
    files={f"{SITE}/yaml/__init__.py": "VERSION = '6.0.1'\n"},
    depends=["python3~3.11"],
    description="fake YAML parser",
)
PYTHON = Package("python3", "3.11.7-r0", files={"usr/bin/python3": "#!fake\n"})
NUMPY = Package(
    "py3-fakenum",
    "1.0-r0",
    files={f"{SITE}/fakenum/__init__.py": "", f"{SITE}/fakenum/core.py": "x = 1\n"},
    depends=["py3-fakedep"],
)
DEPENDENCY = Package("py3-fakedep", "2.1-r3", files={f"{SITE}/fakedep.py": "y = 2\n"})
VIRTUAL = Package("py3-virtual", "1.0-r0", provides=["py3.11:fakevirtual"])
BROKEN = Package("py3-broken", "1.0-r0", depends=["so:libmissing.so.1"])
EXTENSION = Package(
    "py3-extension",
    "1.0-r0",
    files={
        f"{SITE}/_speedups.cpython-311-x86_64-linux-musl.so": b"\x7fELF",
        f"{SITE}/namespace/part.py": "",
        f"{SITE}/six.py": "",
    },
)
OLD_MULTI = Package("py3-multi", "1.0-r0")
NEW_MULTI = Package("py3-multi", "1.10-r1")
PACKAGES = [YAML, PYTHON, NUMPY, DEPENDENCY, VIRTUAL, BROKEN, EXTENSION, OLD_MULTI]
UNREACHABLE = "http://127.0.0.1:9/alpine/v3.19/main"
UNREACHABLE_INDEX = f"{UNREACHABLE}/x86_64/APKINDEX.tar.gz"


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Setup:
    """A root whose repositories file lists ``repository`` (and maybe more)."""

    root: Path
    repository: Path

    def apk(
        self, *arguments: str, version: int = 3, env: Mapping[str, str] | None = None
    ) -> Result:
        return run_apk(self.root, *arguments, version=version, env=env)

    def start_apk(
        self, *arguments: str, version: int = 3, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(APK), *arguments],
            env=apk_environment(self.root, version, env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(self.root.parent),
        )

    def installed(self) -> list[IndexRecord]:
        text = (self.root / "lib/apk/db/installed").read_text()
        return parse_records(text)

    def installed_names(self) -> list[str]:
        return [record.name for record in self.installed()]

    def world(self) -> list[str]:
        return (self.root / "etc/apk/world").read_text().split()

    def log(self) -> list[list[str]]:
        lines = (self.root / "emulator.log").read_text().splitlines()
        return [json.loads(line) for line in lines]


def apk_environment(
    root: Path | None, version: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APK_EMULATOR", "PYTHON"))
    }
    env["APK_EMULATOR_VERSION"] = str(version)
    if root is not None:
        env["APK_EMULATOR_ROOT"] = str(root)
    env.update(extra or {})
    return env


def run_apk(
    root: Path | None,
    *arguments: str,
    version: int = 3,
    env: Mapping[str, str] | None = None,
) -> Result:
    started = time.monotonic()
    completed = subprocess.run(
        [str(APK), *arguments],
        check=False,
        env=apk_environment(root, version, env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(root.parent) if root else None,
    )
    seconds = time.monotonic() - started
    return Result(completed.returncode, completed.stdout, completed.stderr, seconds)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    repository = tmp_path / "repo"
    build_repository(repository, PACKAGES)
    root = init_root(tmp_path / "root", [repository])
    return Setup(root, repository)


@contextlib.contextmanager
def held_lock(root: Path) -> Iterator[None]:
    """Hold apk's database lock from the test process, as another apk would."""
    with open(root / "lib/apk/db/lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def first_gzip_member(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    decompressor.decompress(data)
    return data[: len(data) - len(decompressor.unused_data)]


def q1_checksum(data: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


# --- The repository builder ------------------------------------------------------


def test_build_repository_writes_one_apk_per_package(setup: Setup) -> None:
    names = sorted(path.name for path in setup.repository.glob("*.apk"))

    assert names == sorted(
        f"{package.name}-{package.version}.apk" for package in PACKAGES
    )
    assert (setup.repository / "APKINDEX.tar.gz").is_file()


def test_apk_file_is_gzip_tar_with_pkginfo_first(setup: Setup) -> None:
    path = setup.repository / "py3-fakeyaml-6.0.1-r0.apk"

    with tarfile.open(path, mode="r:gz") as archive:
        names = archive.getnames()
        pkginfo_file = archive.extractfile(".PKGINFO")
        assert pkginfo_file is not None
        pkginfo = pkginfo_file.read().decode()
        init = archive.extractfile(f"{SITE}/yaml/__init__.py")
        assert init is not None
        content = init.read()

    assert names[0] == ".PKGINFO"
    assert f"{SITE}/yaml/__init__.py" in names
    assert "usr/lib" in names, "parent directories are tar members too"
    assert "pkgname = py3-fakeyaml\n" in pkginfo
    assert "pkgver = 6.0.1-r0\n" in pkginfo
    assert "depend = python3~3.11\n" in pkginfo
    assert "provides = py3.11:yaml=6.0.1-r0\n" in pkginfo
    assert content == b"VERSION = '6.0.1'\n"


def test_apk_control_part_is_its_own_gzip_stream(setup: Setup) -> None:
    data = (setup.repository / "py3-fakeyaml-6.0.1-r0.apk").read_bytes()
    control = first_gzip_member(data)

    assert len(control) < len(data), "the data tar is a second gzip stream"
    control_tar = gzip.decompress(control)
    assert control_tar[:9] == b".PKGINFO\0"
    assert not control_tar.endswith(b"\0" * 1024), "no end-of-archive blocks"


def test_apkindex_records_have_standard_fields(setup: Setup) -> None:
    records = {
        record.name: record
        for record in read_apkindex(setup.repository / "APKINDEX.tar.gz")
    }
    yaml = records["py3-fakeyaml"]
    apk_bytes = (setup.repository / "py3-fakeyaml-6.0.1-r0.apk").read_bytes()

    assert [key for key, _ in yaml.lines][:7] == ["C", "P", "V", "A", "S", "I", "T"]
    assert yaml.version == "6.0.1-r0"
    assert yaml.arch == "x86_64"
    assert yaml.size == len(apk_bytes)
    assert yaml.installed_size == len("VERSION = '6.0.1'\n")
    assert yaml.description == "fake YAML parser"
    assert yaml.depends == ["python3~3.11"]
    assert yaml.provides == ["py3.11:yaml=6.0.1-r0"]
    assert yaml.checksum == q1_checksum(first_gzip_member(apk_bytes))
    assert "D" not in dict(records["python3"].lines), "no D: line without depends"


def test_apkindex_archive_has_description_and_blank_lines(setup: Setup) -> None:
    index = setup.repository / "APKINDEX.tar.gz"

    with tarfile.open(index, mode="r:gz") as archive:
        names = archive.getnames()
        member = archive.extractfile("APKINDEX")
        assert member is not None
        text = member.read().decode()

    assert names == ["DESCRIPTION", "APKINDEX"]
    assert read_apkindex_description(index) == "apk emulator test repository"
    assert text.count("\n\nC:") == len(PACKAGES) - 1
    assert text.endswith("\n\n")


def test_python_provides_skip_extensions_and_namespaces(setup: Setup) -> None:
    records = {
        record.name: record
        for record in read_apkindex(setup.repository / "APKINDEX.tar.gz")
    }

    assert records["py3-fakenum"].provides == ["py3.11:fakenum=1.0-r0"]
    assert records["py3-fakedep"].provides == ["py3.11:fakedep=2.1-r3"]
    assert records["py3-extension"].provides == ["py3.11:six=1.0-r0"]
    assert records["py3-virtual"].provides == ["py3.11:fakevirtual"]


def test_package_rejects_paths_outside_the_root() -> None:
    for path in ("/etc/passwd", "../escape", "usr/../../escape"):
        with pytest.raises(ValueError, match="invalid package file path"):
            Package("py3-bad", "1.0-r0", files={path: ""})


def test_init_root_lays_out_apk_database(tmp_path: Path) -> None:
    root = init_root(tmp_path / "root", ["/srv/repo", UNREACHABLE])

    assert (root / "etc/apk/repositories").read_text() == f"/srv/repo\n{UNREACHABLE}\n"
    assert (root / "etc/apk/world").read_text() == ""
    assert (root / "lib/apk/db/installed").read_text() == ""
    assert not (root / "lib/apk/db/lock").exists(), "apk add creates the lock"


# --- Root, version, logging ------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
def test_version_line(setup: Setup, version: int) -> None:
    result = setup.apk("--version", version=version)

    expected = {2: "apk-tools 2.14.10", 3: "apk-tools 3.0.6"}[version]
    assert result.status == 0
    assert result.stdout == f"{expected}, compiled for x86_64.\n"
    assert result.stderr == ""


def test_launcher_runs_from_path_through_symlink(setup: Setup, tmp_path: Path) -> None:
    bin_directory = tmp_path / "bin"
    bin_directory.mkdir()
    (bin_directory / "apk").symlink_to(APK)
    env = apk_environment(setup.root, 3)
    env["PATH"] = f"{bin_directory}{os.pathsep}{env.get('PATH', '')}"

    completed = subprocess.run(
        ["apk", "--version"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("apk-tools 3.0.6")


def test_missing_root_exits_99(tmp_path: Path) -> None:
    result = run_apk(None, "add", "py3-fakeyaml")

    assert result.status == 99
    assert "APK_EMULATOR_ROOT" in result.stderr
    assert result.stdout == ""


def test_slash_root_is_rejected(tmp_path: Path) -> None:
    result = run_apk(None, "--root", "/", "info")

    assert result.status == 99
    assert "is /" in result.stderr


def test_root_option_overrides_environment(setup: Setup, tmp_path: Path) -> None:
    other = init_root(tmp_path / "other", [setup.repository])

    result = setup.apk("--root", str(other), "add", "py3-fakedep")

    assert result.status == 0, result.stderr
    assert (other / SITE / "fakedep.py").is_file()
    assert not (setup.root / SITE / "fakedep.py").exists()


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (3, "ERROR: Unable to open root: No such file or directory\n"),
        (
            2,
            (
                "ERROR: Unable to open root: No such file or directory\n"
                "ERROR: Failed to open apk database: No such file or directory\n"
            ),
        ),
    ],
)
def test_root_that_does_not_exist(tmp_path: Path, version: int, expected: str) -> None:
    result = run_apk(
        None, "--root", str(tmp_path / "absent"), "add", "x", version=version
    )

    assert result.status == 99
    assert result.stderr == expected


def test_every_run_is_logged_as_json(setup: Setup) -> None:
    setup.apk("--version")
    setup.apk("add", "--", "py3-nosuch")
    setup.apk("info", "-e", "python3")

    assert setup.log() == [
        ["--version"],
        ["add", "--", "py3-nosuch"],
        ["info", "-e", "python3"],
    ]


# --- apk add ---------------------------------------------------------------------


def test_add_installs_package_and_dependencies(setup: Setup) -> None:
    result = setup.apk("add", "--no-interactive", "--", "py3-fakeyaml")

    assert result.status == 0, result.stderr
    assert result.stdout == (
        "(1/2) Installing python3 (3.11.7-r0)\n"
        "(2/2) Installing py3-fakeyaml (6.0.1-r0)\n"
        "OK: 25 B in 2 packages\n"
    )
    assert result.stderr == ""
    assert (setup.root / SITE / "yaml/__init__.py").read_text() == "VERSION = '6.0.1'\n"
    assert (setup.root / "usr/bin/python3").stat().st_mode & 0o777 == 0o755
    assert setup.installed_names() == ["python3", "py3-fakeyaml"]
    assert setup.world() == ["py3-fakeyaml"]


def test_installed_database_lists_files(setup: Setup) -> None:
    setup.apk("add", "py3-fakeyaml")

    record = setup.installed()[1]
    keys = [key for key, _ in record.lines]

    assert record.name == "py3-fakeyaml"
    assert record.files == [f"{SITE}/yaml/__init__.py"]
    assert ("F", "usr/lib") in record.lines, "parent directories get F: lines"
    assert keys.index("R") > keys.index("F")
    assert record.value("Z") == q1_checksum(b"VERSION = '6.0.1'\n")


def test_add_by_python_provide_selects_package(setup: Setup) -> None:
    result = setup.apk("add", "py3.11:fakenum")

    assert result.status == 0, result.stderr
    assert "(1/2) Installing py3-fakedep (2.1-r3)" in result.stdout
    assert "(2/2) Installing py3-fakenum (1.0-r0)" in result.stdout
    assert setup.world() == ["py3.11:fakenum"]


def test_add_installed_package_is_noop(setup: Setup) -> None:
    setup.apk("add", "py3-fakeyaml")

    result = setup.apk("add", "py3-fakeyaml", "py3.11:yaml")

    assert result.status == 0
    assert result.stdout == "OK: 25 B in 2 packages\n"
    assert setup.world() == ["py3-fakeyaml", "py3.11:yaml"]


def test_add_quiet_prints_nothing(setup: Setup) -> None:
    result = setup.apk("add", "-q", "py3-fakedep")

    assert result.status == 0
    assert result.stdout == ""
    assert setup.installed_names() == ["py3-fakedep"]


def test_add_unknown_package_installs_nothing(setup: Setup) -> None:
    result = setup.apk("add", "py3-fakedep", "py3-nosuch")

    assert result.status == 1
    assert result.stdout == ""
    assert result.stderr == (
        "ERROR: unable to select packages:\n"
        "  py3-nosuch (no such package):\n"
        "    required by: world[py3-nosuch]\n"
    )
    assert setup.installed_names() == []
    assert setup.world() == []
    assert not (setup.root / SITE).exists()


def test_add_exit_status_counts_unknown_names(setup: Setup) -> None:
    result = setup.apk("add", "py3-nosuch-a", "py3-nosuch-b", "py3-fakedep")

    assert result.status == 2
    assert result.stderr.count("(no such package)") == 2


def test_exit_status_is_capped_at_99(setup: Setup) -> None:
    names = [f"py3-nosuch-{number}" for number in range(120)]

    result = setup.apk("add", *names)

    assert result.status == 99
    assert result.stderr.count("(no such package)") == 120


def test_add_unversioned_provide_is_not_selected(setup: Setup) -> None:
    result = setup.apk("add", "py3.11:fakevirtual")

    assert result.status == 1
    # apk wraps the note at 50 columns when its output is not a terminal.
    assert result.stderr == (
        "ERROR: unable to select packages:\n"
        "  py3.11:fakevirtual (virtual):\n"
        "    note: please select one of the 'provided by'\n"
        "          packages explicitly\n"
        "    provided by: py3-virtual\n"
        "    required by: world[py3.11:fakevirtual]\n"
    )
    assert setup.installed_names() == []


def test_add_missing_dependency_names_requirer(setup: Setup) -> None:
    result = setup.apk("add", "py3-broken")

    assert result.status == 1
    assert result.stderr == (
        "ERROR: unable to select packages:\n"
        "  so:libmissing.so.1 (no such package):\n"
        "    required by: py3-broken-1.0-r0[so:libmissing.so.1]\n"
    )


def test_add_double_dash_ends_options(setup: Setup) -> None:
    result = setup.apk("add", "--", "-s")

    assert result.status == 1
    assert "  -s (no such package):" in result.stderr


def test_add_simulate_changes_nothing(setup: Setup) -> None:
    result = setup.apk("add", "-s", "py3-fakeyaml")

    assert result.status == 0, result.stderr
    assert "(2/2) Installing py3-fakeyaml (6.0.1-r0)" in result.stdout
    assert result.stdout.endswith("OK: 0 B in 0 packages\n")
    assert setup.installed_names() == []
    assert setup.world() == []
    assert not (setup.root / SITE).exists()
    assert not (setup.root / "lib/apk/db/lock").exists(), "-s takes no lock"


def test_add_picks_newest_version(setup: Setup, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    build_repository(newer, [NEW_MULTI])
    init_root(setup.root, [setup.repository, newer])

    result = setup.apk("add", "py3-multi")

    assert result.status == 0, result.stderr
    assert "Installing py3-multi (1.10-r1)" in result.stdout


def test_add_versioned_constraint(setup: Setup, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    build_repository(newer, [NEW_MULTI])
    init_root(setup.root, [setup.repository, newer])

    result = setup.apk("add", "py3-multi<1.5")

    assert result.status == 0, result.stderr
    assert "Installing py3-multi (1.0-r0)" in result.stdout
    assert setup.world() == ["py3-multi<1.5"]


def test_add_counter_is_padded_to_total_width(tmp_path: Path) -> None:
    chain = [
        Package(f"py3-chain{number}", "1.0-r0", depends=[f"py3-chain{number + 1}"])
        for number in range(9)
    ] + [Package("py3-chain9", "1.0-r0")]
    build_repository(tmp_path / "repo", chain)
    root = init_root(tmp_path / "root", [tmp_path / "repo"])

    result = run_apk(root, "add", "py3-chain0")

    assert result.status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "( 1/10) Installing py3-chain9 (1.0-r0)"
    assert lines[9] == "(10/10) Installing py3-chain0 (1.0-r0)"


def test_add_without_database_directory(setup: Setup) -> None:
    for path in (setup.root / "lib/apk/db").iterdir():
        path.unlink()
    (setup.root / "lib/apk/db").rmdir()

    result = setup.apk("add", "py3-fakedep")

    assert result.status == 99
    assert result.stderr == (
        "ERROR: Unable to lock database: No such file or directory\n"
        "ERROR: Failed to open apk database: No such file or directory\n"
    )


def test_unknown_name_is_no_such_package(setup: Setup) -> None:
    result = setup.apk("add", "py3.11:nosuch")

    assert result.status == 1
    assert "  py3.11:nosuch (no such package):" in result.stderr


# --- Unreachable repositories ------------------------------------------------------


@pytest.fixture
def unreachable(setup: Setup) -> Setup:
    init_root(setup.root, [setup.repository, UNREACHABLE])
    return setup


def test_v3_unreachable_repository_warns(unreachable: Setup) -> None:
    result = unreachable.apk("add", "py3-nosuch")

    assert result.status == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"WARNING: updating and opening {UNREACHABLE_INDEX}: Connection refused\n"
        "ERROR: unable to select packages:\n"
        "  py3-nosuch (no such package):\n"
        "    required by: world[py3-nosuch]\n"
    )


def test_v3_quiet_still_warns(unreachable: Setup) -> None:
    result = unreachable.apk("add", "-q", "py3-nosuch")

    assert "WARNING: updating and opening" in result.stderr


def test_v2_unreachable_repository_warns(unreachable: Setup) -> None:
    result = unreachable.apk("add", "py3-nosuch", version=2)

    assert result.status == 1
    assert result.stdout == f"fetch {UNREACHABLE_INDEX}\n"
    assert result.stderr.startswith(
        f"WARNING: updating and opening {UNREACHABLE}: could not connect to server "
        "(check repositories file)\n"
        "ERROR: unable to select packages:\n"
    )


def test_v2_quiet_hides_network_failure(unreachable: Setup) -> None:
    result = unreachable.apk("add", "-q", "py3-nosuch", version=2)

    assert result.status == 1
    assert result.stdout == ""
    assert result.stderr == (
        "ERROR: unable to select packages:\n"
        "  py3-nosuch (no such package):\n"
        "    required by: world[py3-nosuch]\n"
    )


@pytest.mark.parametrize(
    ("version", "warning"),
    [
        (3, f"WARNING: fetching {UNREACHABLE_INDEX}: Connection refused"),
        (2, f"WARNING: fetching {UNREACHABLE}: could not connect to server"),
    ],
)
def test_no_cache_fetches_directly(
    unreachable: Setup, version: int, warning: str
) -> None:
    result = unreachable.apk("add", "--no-cache", "py3-nosuch", version=version)

    assert warning in result.stderr


def test_local_repository_beside_unreachable_works(unreachable: Setup) -> None:
    result = unreachable.apk("add", "py3-fakedep")

    assert result.status == 0
    assert result.stdout.endswith("OK: 6 B in 1 packages\n")


def test_unreachable_repository_gets_no_connection(setup: Setup) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        init_root(setup.root, [f"http://127.0.0.1:{port}/alpine/v3.19/main"])

        result = setup.apk("add", "py3-fakeyaml")
        readable, _, _ = select.select([listener], [], [], 0.2)

    assert result.status == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert readable == [], "the emulator connected to the repository's server"


# --- The database lock -------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "reason"),
    [(3, "Resource temporarily unavailable"), (2, "temporary error (try again later)")],
)
def test_busy_lock_fails_at_once(setup: Setup, version: int, reason: str) -> None:
    with held_lock(setup.root):
        result = setup.apk("add", "py3-fakedep", version=version)

    assert result.status == 99
    assert result.stdout == ""
    assert result.stderr == (
        f"ERROR: Unable to lock database: {reason}\n"
        f"ERROR: Failed to open apk database: {reason}\n"
    )
    assert result.seconds < 5
    assert setup.installed_names() == []


@pytest.mark.parametrize("version", [2, 3])
def test_busy_lock_with_wait_times_out(setup: Setup, version: int) -> None:
    with held_lock(setup.root):
        result = setup.apk("add", "--wait", "1", "py3-fakedep", version=version)

    assert result.status == 99
    errors = (
        "ERROR: Unable to lock database: Interrupted system call\n"
        "ERROR: Failed to open apk database: Interrupted system call\n"
    )
    if version == 3:
        assert result.stdout == ""
        assert result.stderr == "Waiting for repository lock\n" + errors
    else:
        assert result.stdout == "Waiting for repository lock\n"
        assert result.stderr == errors
    assert 1 <= result.seconds < 10


def test_wait_succeeds_when_lock_is_released(setup: Setup) -> None:
    holder = setup.start_apk("add", "py3-fakedep", env={"APK_EMULATOR_DELAY": "1.5"})
    try:
        deadline = time.monotonic() + 20
        while not (setup.root / "lib/apk/db/lock").exists():
            assert time.monotonic() < deadline, "the first apk never took the lock"
            time.sleep(0.05)
        time.sleep(0.3)
        waiter = setup.apk("add", "--wait", "20", "py3-fakeyaml")
    finally:
        _, holder_err = holder.communicate(timeout=60)

    assert holder.returncode == 0, holder_err
    assert waiter.status == 0, waiter.stderr
    assert waiter.stderr.startswith("Waiting for repository lock\n")
    assert sorted(setup.installed_names()) == ["py3-fakedep", "py3-fakeyaml", "python3"]


def test_delay_holds_the_lock(setup: Setup) -> None:
    result = setup.apk("add", "py3-fakedep", env={"APK_EMULATOR_DELAY": "1"})

    assert result.status == 0, result.stderr
    assert result.seconds >= 1


@pytest.mark.parametrize(
    "arguments",
    [
        ("info", "-e", "python3"),
        ("policy", "py3-fakeyaml"),
        ("search", "-x", "py3-fakeyaml"),
        ("list", "--providers", "py3.11:yaml"),
        ("add", "-s", "py3-fakeyaml"),
    ],
)
def test_read_only_commands_take_no_lock(
    setup: Setup, arguments: tuple[str, ...]
) -> None:
    with held_lock(setup.root):
        result = setup.apk(*arguments)

    assert "lock" not in result.stderr
    assert result.status in (0, 1), result.stderr


# --- Running as a user who is not root ----------------------------------------------

PERMISSION_DENIED = (
    "ERROR: Unable to lock database: Permission denied\n"
    "ERROR: Failed to open apk database: Permission denied\n"
)
AS_USER = {"APK_EMULATOR_AS_USER": "1"}


def test_v3_user_fails_on_log_file(setup: Setup) -> None:
    result = setup.apk("add", "py3-fakedep", env=AS_USER)

    assert result.status == 99
    assert result.stderr == "ERROR: Unable to open log: Permission denied\n"


@pytest.mark.parametrize("option", ["--logfile=no", "--no-logfile"])
def test_v3_user_without_log_fails_on_lock(setup: Setup, option: str) -> None:
    result = setup.apk(option, "add", "py3-fakedep", env=AS_USER)

    assert result.status == 99
    assert result.stderr == PERMISSION_DENIED


def test_v2_user_fails_on_lock(setup: Setup) -> None:
    result = setup.apk("add", "--wait", "3", "py3-fakedep", version=2, env=AS_USER)

    assert result.status == 99
    assert result.stderr == PERMISSION_DENIED
    assert setup.installed_names() == []


def test_user_can_run_read_only_commands(setup: Setup) -> None:
    setup.apk("add", "py3-fakedep")

    result = setup.apk("info", "-e", "py3-fakedep", env=AS_USER)

    assert result.status == 0
    assert result.stdout == "py3-fakedep\n"


# --- Queries ----------------------------------------------------------------------


def test_info_exists_counts_missing_names(setup: Setup) -> None:
    setup.apk("add", "py3-fakeyaml")

    result = setup.apk(
        "info", "-e", "py3-fakeyaml", "py3-fakedep", "py3.11:yaml", "nosuch"
    )

    assert result.status == 2
    assert result.stdout == "py3-fakeyaml\npy3-fakeyaml\n"


def test_info_exists_quiet_prints_nothing(setup: Setup) -> None:
    setup.apk("add", "py3-fakedep")

    result = setup.apk("-q", "info", "-e", "py3-fakedep")

    assert result.status == 0
    assert result.stdout == ""


def test_policy_lists_versions_and_origins(setup: Setup, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    build_repository(newer, [NEW_MULTI])
    init_root(setup.root, [setup.repository, newer])
    setup.apk("add", "py3-multi<1.5")

    result = setup.apk("policy", "py3-multi")

    assert result.status == 0
    assert result.stdout == (
        "py3-multi policy:\n"
        "  1.0-r0:\n"
        "    lib/apk/db/installed\n"
        f"    {setup.repository}\n"
        "  1.10-r1:\n"
        f"    {newer}\n"
    )


@pytest.mark.parametrize("name", ["py3-nosuch", "py3.11:yaml"])
def test_policy_prints_nothing_for_other_names(setup: Setup, name: str) -> None:
    result = setup.apk("policy", name)

    assert result.status == 0
    assert result.stdout == ""


@pytest.mark.parametrize(("version", "status"), [(3, 1), (2, 0)])
def test_search_exact_without_match(setup: Setup, version: int, status: int) -> None:
    result = setup.apk("search", "-x", "py3-nosuch", version=version)

    assert result.status == status
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["py3-fakeyaml", "py3.11:yaml"])
def test_search_exact_finds_name_and_provide(setup: Setup, name: str) -> None:
    result = setup.apk("search", "-x", name)

    assert result.status == 0
    assert result.stdout == "py3-fakeyaml-6.0.1-r0\n"


def test_list_providers(setup: Setup) -> None:
    setup.apk("add", "py3-fakeyaml")

    result = setup.apk("list", "--providers", "py3.11:yaml")

    assert result.status == 0
    assert result.stdout == (
        "<py3.11:yaml> py3-fakeyaml-6.0.1-r0 x86_64 {py3-fakeyaml} (MIT) [installed]\n"
    )


def test_update_counts_packages_and_unreachable(unreachable: Setup) -> None:
    result = unreachable.apk("update")

    assert result.status == 1
    assert result.stdout == (
        f"apk emulator test repository [{unreachable.repository}]\n"
        f"1 unavailable, 0 stale; {len(PACKAGES)} distinct packages available\n"
    )


# --- Command line -----------------------------------------------------------------


def test_unknown_applet(setup: Setup) -> None:
    result = setup.apk("frobnicate")

    assert result.status == 1
    assert result.stderr == (
        "ERROR: 'frobnicate' is not an apk command. See 'apk --help'.\n"
    )


def test_unknown_option_prints_usage(setup: Setup) -> None:
    result = setup.apk("add", "--bogus", "py3-fakedep")

    assert result.status == 1
    assert result.stderr == f"{APK}: unrecognized option: bogus\n"
    assert result.stdout.startswith("apk-tools 3.0.6, compiled for x86_64.\n")
    assert setup.installed_names() == []


def test_v3_accepts_boolean_values(setup: Setup) -> None:
    result = setup.apk("add", "--interactive=no", "--progress=no", "py3-fakedep")

    assert result.status == 0, result.stderr


def test_v2_rejects_boolean_values(setup: Setup) -> None:
    result = setup.apk("add", "--interactive=no", "py3-fakedep", version=2)

    assert result.status == 1
    assert result.stderr == f"{APK}: option does not take an argument: interactive\n"


def test_v2_rejects_logfile_option(setup: Setup) -> None:
    result = setup.apk("--logfile=no", "add", "py3-fakedep", version=2)

    assert result.status == 1
    assert result.stderr == f"{APK}: unrecognized option: logfile=no\n"


def test_short_options_combine(setup: Setup) -> None:
    result = setup.apk("add", "-qs", "py3-fakedep")

    assert result.status == 0
    assert result.stdout == ""
    assert setup.installed_names() == []


def test_not_emulated_applet_fails(setup: Setup) -> None:
    result = setup.apk("del", "py3-fakedep")

    assert result.status == 1
    assert "not emulated" in result.stderr
