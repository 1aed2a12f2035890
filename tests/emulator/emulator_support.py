"""Helpers for the end-to-end tests of the import hook against the apk emulator.

Each test builds an emulated Alpine system of its own (``Alpine``). It has a
repository of fake packages, an emulator root, a throwaway mapping and an ``apk``
symlink to the emulator first on PATH. The mapping lists made-up module names
(``apkfake...``), so nothing installed on the machine interferes. The tests start fresh interpreters with
``APKSHIM=1`` and read what the emulator logged in ``<root>/emulator.log``.

The fake packages put their modules in ``usr/lib/python3.X/site-packages`` under
the root, where X is the minor version of Debian's /usr/bin/python3. The test
interpreter finds that directory through PYTHONPATH, although it does not exist
before the first install.

There is deliberately no ``tests/emulator/conftest.py``: every ``conftest.py``
outside a package is imported under the one module name ``conftest``, so a second
one would replace ``tests/conftest.py``. Test modules bind the fixtures below to
module-level names, which is where pytest looks for them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent.parent
EMULATOR = TESTS / "apk_emulator"
APK_LAUNCHER = EMULATOR / "apk"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# PATH for the test interpreters and the emulator: the symlink directory comes
# first, and pyenv's shims stay out so that the emulator's "env python3" is
# Debian's python3.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# apkshim's default APKSHIM_LOCK_WAIT, which it passes to "apk add --wait".
DEFAULT_LOCK_WAIT = 300


def _load(name: str, path: Path) -> ModuleType:
    """Import ``path`` as module ``name`` once; other test folders share the name."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


shared = _load("apkshim_tests_shared", TESTS / "conftest.py")
repository = _load("apkshim_tests_apk_repository", EMULATOR / "repository.py")
clean_environment = shared.clean_environment
pyenv_python = shared.pyenv_python

# The made-up projects of the default mapping. apkfakens is a namespace package
# when only py3-apkfakens-sub is installed, as "google" is for google.protobuf.
MAPPING = """\
[apkfake-yaml]
imports = ["apkfakeyaml"]
apk = "py3-apkfakeyaml"

[apkfake-ns]
imports = ["apkfakens"]
apk = "py3-apkfakens"

[apkfake-ns-sub]
imports = ["apkfakens.sub"]
apk = "py3-apkfakens-sub"

[apkfake-absent]
imports = ["apkfakeabsent"]
apk = "py3-apkfakeabsent"

[apkfake-pth]
imports = ["apkfakepth"]
apk = "py3-apkfakepth"
"""
YAML_PACKAGE = "py3-apkfakeyaml"
YAML_VERSION = "6.0.1-r0"
YAML_DIST_INFO = "apkfake_yaml-6.0.1.dist-info"
ABSENT_PACKAGE = "py3-apkfakeabsent"
NOTICE_INSTALLED = re.compile(r"^apkshim: installed (\S+) (\S+) in \d+\.\d s$")

# Imports a module, catching ModuleNotFoundError, ``attempts`` times in one
# process and prints one JSON line of what each attempt gave.
IMPORT_REPORT = """\
import json
results = []
for attempt in range({attempts}):
    try:
        import {module} as imported
    except ModuleNotFoundError as error:
        kind = type(error)
        results.append({{
            "error": f"{{kind.__module__}}.{{kind.__qualname__}}",
            "name": error.name,
            "message": str(error),
        }})
    else:
        results.append({{"value": imported.VALUE, "file": imported.__file__}})
print(json.dumps(results))
"""
INSTALL_ERROR = "apkshim.errors.ImportInstallError"


def import_report(module: str, attempts: int = 1) -> str:
    """Return code that imports ``module`` ``attempts`` times and reports each."""
    return IMPORT_REPORT.format(module=module, attempts=attempts)


def module_source(counter: Path, module: str) -> str:
    """Return a module body that appends ``MODULE PID`` to ``counter`` when it runs."""
    return (
        "import os\n"
        f"with open({str(counter)!r}, 'a') as _runs:\n"
        f"    _runs.write({module!r} + ' ' + str(os.getpid()) + '\\n')\n"
        f"VALUE = {module!r}\n"
    )


def metadata(project: str, version: str) -> str:
    """Return the METADATA file of a dist-info directory, as importlib.metadata reads it."""
    return f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"


def distro_minor_version() -> int:
    """Return the minor version of Debian's python3, skipping without one."""
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: these tests need Debian's own Python")
    completed = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sys; print(sys.version_info[1])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(completed.stdout)


def write_mapping(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write a mapping layer; 0o644 is a mode that apkshim accepts."""
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@dataclasses.dataclass
class Outcome:
    """What a test interpreter printed: its exit status, stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[Any]:
        """Return each line of stdout parsed as JSON, checking the exit status first."""
        assert self.returncode == 0, self.stderr
        lines = self.stdout.splitlines()
        assert lines, f"nothing on stdout; stderr:\n{self.stderr}"
        return [json.loads(line) for line in lines]

    def results(self) -> list[dict[str, Any]]:
        """Return the attempts that ``import_report`` code printed as its last line."""
        results: list[dict[str, Any]] = self.json_lines()[-1]
        return results

    def notices(self) -> list[str]:
        """Return the user-facing ``apkshim: ...`` lines of stderr."""
        return [
            line for line in self.stderr.splitlines() if line.startswith("apkshim: ")
        ]


class Alpine:
    """An emulated Alpine system for one test, and the environment that uses it."""

    def __init__(self, directory: Path, python: Path, minor: int) -> None:
        self.directory = directory
        self.python = python
        self.minor = minor
        self.site_relative = f"usr/lib/python3.{minor}/site-packages"
        self.repository_directory = directory / "repository"
        self.root = directory / "root"
        self.site = self.root / self.site_relative
        self.counter = directory / "module-runs.txt"
        self.lock_dir = directory / "locks"
        self.lock_dir.mkdir()
        self.bin = directory / "bin"
        self.bin.mkdir()
        self.apk = self.bin / "apk"
        self.apk.symlink_to(APK_LAUNCHER)
        self.mapping = write_mapping(directory / "mapping.toml", MAPPING)
        self.mapping_layers = [self.mapping]
        self.config_home = directory / "config"
        self.build()

    def package(
        self, name: str, version: str, files: Mapping[str, str], **fields: Any
    ) -> Any:
        """Return a ``repository.Package`` whose paths are relative to site-packages."""
        return repository.Package(
            name,
            version,
            files={
                f"{self.site_relative}/{path}": text for path, text in files.items()
            },
            **fields,
        )

    def default_packages(self) -> list[Any]:
        yaml = self.package(
            YAML_PACKAGE,
            YAML_VERSION,
            {
                "apkfakeyaml/__init__.py": module_source(self.counter, "apkfakeyaml"),
                f"{YAML_DIST_INFO}/METADATA": metadata("apkfake-yaml", "6.0.1"),
            },
        )
        namespace = self.package(
            "py3-apkfakens",
            "1.0-r0",
            {
                "apkfakens/__init__.py": "",
                "apkfakens/other.py": module_source(self.counter, "apkfakens.other"),
            },
        )
        # No apkfakens/__init__.py: the parent is a namespace package.
        namespace_sub = self.package(
            "py3-apkfakens-sub",
            "2.0-r1",
            {"apkfakens/sub/__init__.py": module_source(self.counter, "apkfakens.sub")},
        )
        # The module lies outside site-packages, in a directory that a .pth file
        # of the package adds to sys.path.
        pth = self.package(
            "py3-apkfakepth",
            "1.0-r0",
            {
                "apkfakepth.pth": "apkfakepth-lib\n",
                "apkfakepth-lib/apkfakepth.py": module_source(
                    self.counter, "apkfakepth"
                ),
            },
        )
        return [yaml, namespace, namespace_sub, pth]

    def build(
        self,
        extra: Sequence[Any] = (),
        repositories: Sequence[str] = (),
        local: bool = True,
    ) -> None:
        """(Re)build the repository and an empty root.

        The root's repositories file lists the local repository (unless ``local``
        is false) and then ``repositories``.
        """
        repository.build_repository(
            self.repository_directory, [*self.default_packages(), *extra]
        )
        listed = [str(self.repository_directory)] if local else []
        repository.init_root(self.root, [*listed, *repositories])

    def add_mapping_layer(self, name: str, text: str, mode: int = 0o644) -> Path:
        """Write a mapping layer that APKSHIM_MAPPING lists after the others."""
        path = write_mapping(self.directory / name, text, mode)
        self.mapping_layers.append(path)
        return path

    def replace_apk(self, script: str) -> None:
        """Put a shell script in place of the emulator as ``apk`` on PATH."""
        self.apk.unlink()
        self.apk.write_text(script)
        self.apk.chmod(0o755)

    def environment(
        self, extra: Mapping[str, str | None] | None = None
    ) -> dict[str, str]:
        """Return the clean environment of a test interpreter, updated by ``extra``.

        A variable that ``extra`` sets to None is left out.
        """
        values: dict[str, str | None] = {
            "PATH": f"{self.bin}{os.pathsep}{SYSTEM_PATH}",
            "APKSHIM": "1",
            "APKSHIM_BACKEND": "apk",
            "APKSHIM_MAPPING": os.pathsep.join(map(str, self.mapping_layers)),
            "APKSHIM_LOCK_DIR": str(self.lock_dir),
            "APK_EMULATOR_ROOT": str(self.root),
            "XDG_CONFIG_HOME": str(self.config_home),
            "PYTHONPATH": str(self.site),
        }
        values.update(extra or {})
        environment = clean_environment(values)
        for name, value in values.items():
            if value is None:
                del environment[name]
        return environment

    def command(self, python: Path | None = None) -> list[str]:
        return [str(python or self.python), "-c"]

    def run(
        self,
        code: str,
        env: Mapping[str, str | None] | None = None,
        python: Path | None = None,
        timeout: float = 120,
    ) -> Outcome:
        """Run ``code`` in a fresh interpreter and wait for it."""
        completed = subprocess.run(
            [*self.command(python), code],
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=str(self.directory),
            check=False,
        )
        return Outcome(completed.returncode, completed.stdout, completed.stderr)

    def start(
        self,
        code: str,
        env: Mapping[str, str | None] | None = None,
        python: Path | None = None,
        stdin: int = subprocess.DEVNULL,
    ) -> subprocess.Popen[str]:
        """Start ``code`` in a fresh interpreter, with stdout and stderr piped."""
        return subprocess.Popen(
            [*self.command(python), code],
            env=self.environment(env),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(self.directory),
        )

    def emulator_runs(self) -> list[list[str]]:
        """Return the arguments of every emulator run so far, oldest first."""
        log = self.root / "emulator.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def adds(self) -> list[list[str]]:
        """Return the arguments of every ``apk add`` the emulator ran."""
        return [argv for argv in self.emulator_runs() if argv[:1] == ["add"]]

    def module_runs(self) -> list[str]:
        """Return one ``MODULE PID`` line for each time a fake module body ran."""
        if not self.counter.exists():
            return []
        return self.counter.read_text().splitlines()

    def add_command(self, package: str, wait: int = DEFAULT_LOCK_WAIT) -> str:
        """Return the command line apkshim runs to install ``package``."""
        return f"{self.apk} add --no-interactive --wait {wait} -- {package}"


def add_argv(package: str, wait: int = DEFAULT_LOCK_WAIT) -> list[str]:
    """Return the emulator.log entry of apkshim's ``apk add`` of ``package``."""
    return ["add", "--no-interactive", "--wait", str(wait), "--", package]


@pytest.fixture
def alpine(tmp_path: Path, debian_venv: Path) -> Alpine:
    """An emulated Alpine system, used from a venv over Debian's python3."""
    return Alpine(tmp_path, debian_venv, distro_minor_version())


@pytest.fixture(scope="session")
def apkshim_tree(tmp_path_factory: pytest.TempPathFactory, apkshim_wheel: Path) -> Path:
    """The files of apkshim's wheel, unpacked into a directory for PYTHONPATH."""
    directory = tmp_path_factory.mktemp("apkshim-tree")
    with zipfile.ZipFile(apkshim_wheel) as wheel:
        wheel.extractall(directory)
    return directory


# Enables the hook explicitly, for interpreters whose site directories do not
# contain apkshim.pth (apkshim comes from PYTHONPATH there).
ENABLE = "import apkshim; apkshim.enable()\n"


def process_start_time(pid: int) -> int | None:
    """Return the start time of a live process in clock ticks, or None.

    A zombie counts as gone: it has exited, and only its exit status is left.
    The start time distinguishes a process from a later one that reuses its id.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may contain spaces. After it come
    # the state (field 3 in proc(5)) and, 19 fields later, the start time (22).
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def read_pid(path: Path) -> int | None:
    """Return the process id that a script wrote to ``path``, or None before it did."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def is_alive(pid: int, start_time: int) -> bool:
    """Return whether the process ``pid`` that started at ``start_time`` still runs."""
    return process_start_time(pid) == start_time


def child_processes(parent: int) -> list[int]:
    """Return the ids of the live child processes of ``parent``."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == parent and fields[0] not in ("Z", "X"):
            children.append(int(entry.name))
    return children


def wait_for(condition: Callable[[], Any], timeout: float, description: str) -> Any:
    """Poll ``condition()`` until it returns something true, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


def finish(process: subprocess.Popen[str], timeout: float = 120) -> Outcome:
    """Wait for a started interpreter and return what it printed."""
    stdout, stderr = process.communicate(timeout=timeout)
    return Outcome(process.returncode, stdout, stderr)


def stop(process: subprocess.Popen[str]) -> None:
    """Kill a started interpreter that is still running and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.communicate()


def assert_failure_report(
    result: Mapping[str, Any],
    name: str,
    package: str,
    command: str,
    status: str,
    last_line: str,
    cause: str,
    next_step: str,
) -> None:
    """Check that an import error carries everything a user needs to act on it."""
    message = result.get("message", "")
    assert result.get("error") == INSTALL_ERROR, result
    assert result["name"] == name
    assert f"for 'import {name}'" in message, message
    assert f"install {package} (apk)" in message, message
    assert f"  command: {command}\n" in message, message
    assert f"  exit status: {status}\n" in message, message
    assert f"    {last_line}\n" in message, message
    assert f": {cause}\n" in message, message
    assert f"  next step: {next_step}" in message, message
