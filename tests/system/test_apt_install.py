"""The import hook end to end with the real apt-get and real Debian packages.

Each test runs a fresh interpreter of a venv over Debian's /usr/bin/python3 with
system site packages and apkshim's wheel installed (the ``debian_venv`` fixture).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from system_support import (  # noqa: F401 - fixtures are found by name
    NO_SUCH_PACKAGE,
    YAML_PACKAGE,
    apt_root,
    debian_tools,
    dpkg_state,
    is_installed,
    python3_yaml_removed,
    run_python,
    running_lines,
    write_mapping,
)

pytestmark = pytest.mark.system

IMPORT_YAML = "import yaml; print(yaml.safe_load('a: 1'))"
INSTALLING = re.compile(
    r"^apkshim: installing python3-yaml \(apt\) for 'import yaml'$", re.MULTILINE
)
INSTALLED = re.compile(
    r"^apkshim: installed python3-yaml (\S+) in (\d+\.\d) s$", re.MULTILINE
)


@pytest.mark.usefixtures("python3_yaml_removed")
def test_import_yaml_installs_python3_yaml_and_succeeds(debian_venv: Path) -> None:
    off = run_python(debian_venv, IMPORT_YAML)
    assert off.returncode != 0
    assert "ModuleNotFoundError: No module named 'yaml'" in off.stderr
    assert not is_installed(YAML_PACKAGE), "without APKSHIM=1 nothing is installed"

    first = run_python(debian_venv, IMPORT_YAML, env={"APKSHIM": "1"})

    assert first.returncode == 0, first.stderr
    assert first.stdout == "{'a': 1}\n"
    lines = first.stderr.splitlines()
    assert len(lines) == 2, first.stderr
    assert INSTALLING.fullmatch(lines[0]), first.stderr
    installed = INSTALLED.fullmatch(lines[1])
    assert installed, first.stderr
    state = dpkg_state(YAML_PACKAGE)
    assert state is not None and state[0] == "ii", state
    assert installed.group(1) == state[1], "the notice gives the installed version"

    second = run_python(debian_venv, IMPORT_YAML, env={"APKSHIM": "1"})

    assert second.returncode == 0, second.stderr
    assert second.stdout == "{'a': 1}\n"
    assert second.stderr == "", "nothing to install: no notice"


NO_SUCH_MAPPING = f"""\
[apkshim-no-such-project]
imports = ["apkshimnosuchmod"]
apt = "{NO_SUCH_PACKAGE}"
"""

IMPORT_TWICE = """\
import json, sys
from apkshim.errors import ImportInstallError
errors = []
for attempt in (1, 2):
    print(f"--- attempt {attempt}", file=sys.stderr, flush=True)
    try:
        import apkshimnosuchmod
    except ImportInstallError as error:
        errors.append({
            "name": error.name,
            "message": str(error),
            "is_module_not_found": isinstance(error, ModuleNotFoundError),
        })
print(json.dumps(errors))
"""


@pytest.mark.usefixtures("apt_root")
def test_mapped_package_that_does_not_exist_fails_once_with_apts_reason(
    debian_venv: Path, tmp_path: Path
) -> None:
    mapping = write_mapping(tmp_path / "mapping.toml", NO_SUCH_MAPPING)
    before = dpkg_state(NO_SUCH_PACKAGE)

    result = run_python(
        debian_venv,
        IMPORT_TWICE,
        env={"APKSHIM": "1", "APKSHIM_MAPPING": str(mapping), "APKSHIM_LOG": "debug"},
    )

    assert result.returncode == 0, result.stderr
    first, second = json.loads(result.stdout)
    assert first["name"] == "apkshimnosuchmod"
    assert first["is_module_not_found"]
    message = first["message"]
    assert "'import apkshimnosuchmod'" in message
    assert re.search(
        r"command: \S*apt-get install -y --no-install-recommends "
        rf"-o DPkg::Lock::Timeout=\d+ -- {NO_SUCH_PACKAGE}\n",
        message,
    ), message
    assert "exit status: 100\n" in message
    assert f"E: Unable to locate package {NO_SUCH_PACKAGE}" in message
    assert "no such package" in message
    assert f"next step: check the name with 'apt-cache policy {NO_SUCH_PACKAGE}'" in (
        message
    )
    assert second == first, "the second import gives the same error"

    # The failed package is not tried again in the same process.
    before_second, marker, after_second = result.stderr.partition("--- attempt 2\n")
    assert marker, result.stderr
    installs = [
        line for line in running_lines(before_second) if "apt-get install" in line
    ]
    assert installs, f"apt-get install never ran:\n{result.stderr}"
    assert running_lines(after_second) == [], after_second
    assert after_second.count("apkshim: installing") == 0
    assert before_second.count(f"apkshim: installing {NO_SUCH_PACKAGE} (apt)") == 1
    assert dpkg_state(NO_SUCH_PACKAGE) == before
