"""The shipped mapping and the distro-metadata route with the real apt-get.

For ten mapped libraries of different shapes, each mapped import name is imported
through the hook, from a state where its package is not installed, in a fresh
interpreter of a venv over Debian's /usr/bin/python3 (``debian_venv``). The
installed package must then provide the module from Debian's dist-packages.
Afterwards the test removes exactly the packages that the install added. A
package that is installed already is removed alone, with dpkg's --force-depends,
and installed again afterwards, so no package that depends on it is removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from system_support import (  # noqa: F401 - fixtures are found by name
    APT_GET,
    apt_root,
    debian_tools,
    dpkg_state,
    is_auto_installed,
    is_installed,
    run_command,
    run_dpkg,
    run_python,
    running_lines,
)

from apkshim.mapping import Mapping

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = Mapping.load([str(ROOT / "mapping.toml")])
DIST_PACKAGES = "/usr/lib/python3/dist-packages/"

# Projects of the shipped mapping, chosen for their shapes.
SHAPES = {
    "ujson": "a compiled module, a top-level .so file",
    "pynacl": "compiled, and the import name differs from the project (nacl)",
    "protobuf": "a namespace package (google.protobuf)",
    "ruamel-yaml": "a namespace package, with a dot in the Debian package name",
    "pyserial": "the import name differs from the project (serial)",
    "toolz": "several import names (toolz, tlz)",
    "attrs": "several import names, and the package is python3-attr",
    "pymongo": "several import names; bson is in a package that it depends on",
    "mysqlclient": "compiled, an upper-case import name (MySQLdb)",
    "pycryptodomex": "compiled, shipped by python3-pycryptodome (Cryptodome)",
}
CASES = [
    (project, name) for project in SHAPES for name in SHIPPED.entries[project].imports
]

IMPORT = """\
import json
import {name} as module
print(json.dumps({{"file": getattr(module, "__file__", None),
                  "path": list(getattr(module, "__path__", []))}}))
"""
INSTALLING = "apkshim: installing {package} (apt) for 'import {key}'"
INSTALLED = re.compile(r"^apkshim: installed (\S+) (\S+) in \d+\.\d s$")


def installed_packages() -> set[str]:
    completed = run_command(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\\n"]
    )
    return {
        line.split()[1]
        for line in completed.stdout.splitlines()
        if line.startswith("ii ") and len(line.split()) == 2
    }


def packages_to_install(package: str) -> set[str]:
    """Return the packages that installing ``package`` would add, by simulation."""
    simulated = run_command(
        [*APT_GET, "install", "-s", "--no-install-recommends", "--", package]
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    return set(re.findall(r"^Inst (\S+)", simulated.stdout, re.MULTILINE))


RequireAbsent = Callable[[str], None]


@pytest.fixture
def absent_package(apt_root: None) -> Iterator[RequireAbsent]:  # noqa: F811
    """Yield a function that makes a package absent, and restore the machine after.

    A package that is absent gets installed by the test, and the teardown removes
    what its install added: the packages its simulated install lists, which were
    not there before. A package that is installed already is fetched and then
    removed alone with ``dpkg --remove --force-depends``, so that no package that
    depends on it goes with it, and the teardown installs it again.
    """
    added: set[str] = set()
    removed: list[tuple[str, bool]] = []
    before = installed_packages()

    def require_absent(package: str) -> None:
        if package not in before:
            added.update(packages_to_install(package))
            return
        fetch = ["install", "--download-only", "--reinstall", "--no-install-recommends"]
        fetched = run_command([*APT_GET, *fetch, "--", package])
        if fetched.returncode != 0:
            pytest.skip(
                f"cannot download {package}, so it could not be put back after "
                f"the test: {fetched.stderr.strip()[-300:]}"
            )
        removed.append((package, is_auto_installed(package)))
        completed = run_dpkg(["--remove", "--force-depends", package])
        assert completed.returncode == 0, completed.stdout + completed.stderr

    yield require_absent
    remove = sorted((added & installed_packages()) - before)
    if remove:
        completed = run_command([*APT_GET, "remove", "--", *remove])
        assert completed.returncode == 0, completed.stdout + completed.stderr
    for package, was_auto in removed:
        if not is_installed(package):
            restore = ["install", "--no-install-recommends", "--", package]
            completed = run_command([*APT_GET, *restore])
            assert completed.returncode == 0, completed.stdout + completed.stderr
        if was_auto:
            run_command(["apt-mark", "auto", "--", package])


def environment(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "APKSHIM": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **(extra or {}),
    }


@pytest.mark.parametrize(("project", "name"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_mapped_import_installs_debian_package(
    debian_venv: Path,
    absent_package: RequireAbsent,
    tmp_path: Path,
    project: str,
    name: str,
) -> None:
    package = SHIPPED.entries[project].packages["apt"]
    absent_package(package)
    off = run_python(debian_venv, IMPORT.format(name=name))
    assert off.returncode != 0
    assert "ModuleNotFoundError" in off.stderr

    completed = run_python(
        debian_venv, IMPORT.format(name=name), env=environment(tmp_path)
    )

    assert completed.returncode == 0, completed.stderr
    found = SHIPPED.find_import(name, "apt")
    assert found is not None
    lines = completed.stderr.splitlines()
    assert lines[0] == INSTALLING.format(package=package, key=found[0])
    installed = INSTALLED.match(lines[1])
    assert installed is not None, completed.stderr
    assert installed.group(1) == package
    state = dpkg_state(package)
    assert state == ("ii", installed.group(2))
    module = json.loads(completed.stdout)
    locations = [module["file"] or "", *module["path"]]
    assert any(location.startswith(DIST_PACKAGES) for location in locations), module


# The distro-metadata route: names that no mapping layer lists


def test_metadata_route_installs_verified_package(
    debian_venv: Path, absent_package: RequireAbsent, tmp_path: Path
) -> None:
    assert SHIPPED.find_import("gridfs", "apt") is None
    absent_package("python3-gridfs")
    env = environment(tmp_path, {"APKSHIM_LOG": "debug"})

    completed = run_python(debian_venv, IMPORT.format(name="gridfs"), env=env)

    assert completed.returncode == 0, completed.stderr
    assert INSTALLING.format(package="python3-gridfs", key="gridfs") in (
        completed.stderr.splitlines()
    )
    assert json.loads(completed.stdout)["file"].startswith(DIST_PACKAGES)
    assert is_installed("python3-gridfs")
    commands = running_lines(completed.stderr)
    assert commands[0] == "apt-cache pkgnames python3-"
    assert "apt-get download -- python3-gridfs" in commands
    assert any(command.startswith("dpkg-deb -c ") for command in commands)
    installs = [command for command in commands if " install " in command]
    assert len(installs) == 1
    assert installs[0].endswith("-- python3-gridfs")


@pytest.mark.usefixtures("debian_tools")
def test_metadata_route_rejects_package_without_module(
    debian_venv: Path, tmp_path: Path
) -> None:
    # python3-tz exists, but it ships the module pytz, not tz.
    env = environment(tmp_path, {"APKSHIM_LOG": "debug"})

    completed = run_python(debian_venv, "import tz", env=env)

    assert completed.returncode == 1
    assert "ModuleNotFoundError: No module named 'tz'" in completed.stderr
    assert "ImportInstallError" not in completed.stderr
    commands = running_lines(completed.stderr)
    assert not any(" install " in command for command in commands), commands
    if not is_installed("python3-tz"):
        assert "apt-get download -- python3-tz" in commands
    assert "python3-tz exists but ships no module tz" in completed.stderr


@pytest.mark.usefixtures("debian_tools")
def test_metadata_route_off_runs_nothing(debian_venv: Path, tmp_path: Path) -> None:
    env = environment(tmp_path, {"APKSHIM_LOG": "debug", "APKSHIM_METADATA": "0"})

    completed = run_python(debian_venv, "import gridfs", env=env)

    if not completed.returncode:
        pytest.skip("gridfs is installed here, so the import cannot miss")
    assert "No module named 'gridfs'" in completed.stderr
    assert running_lines(completed.stderr) == []


@pytest.mark.usefixtures("debian_tools")
def test_metadata_route_one_listing_for_many_misses(
    debian_venv: Path, tmp_path: Path
) -> None:
    code = (
        "for index in range(300):\n"
        "    try:\n"
        "        __import__(f'apkshim_absent_{index}')\n"
        "    except ModuleNotFoundError:\n"
        "        pass\n"
    )
    env = environment(tmp_path, {"APKSHIM_LOG": "debug"})

    completed = run_python(debian_venv, code, env=env)

    assert completed.returncode == 0, completed.stderr
    assert running_lines(completed.stderr) == ["apt-cache pkgnames python3-"]


@pytest.mark.usefixtures("debian_tools")
def test_mapping_show_explains_metadata_route(
    debian_venv: Path, tmp_path: Path
) -> None:
    completed = run_python(
        debian_venv,
        "import sys; from apkshim.cli import main; "
        "sys.exit(main(['mapping', 'show', 'gridfs']))",
        env=environment(tmp_path),
    )
    lines = completed.stdout.splitlines()
    if "result: the import succeeds without apkshim" in lines:
        pytest.skip("gridfs is installed here")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "mapping: no layer maps 'gridfs'" in lines
    assert any(
        line.startswith("metadata: python3-gridfs ships gridfs: ") for line in lines
    )
    assert lines[-1] == (
        "result: with the hook on, 'import gridfs' in user code would install "
        "python3-gridfs with apt"
    )
