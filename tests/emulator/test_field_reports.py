"""Failures that users of import hooks and notebook installers reported, replayed.

Each test reduces a reported failure to an input and checks the behaviour
apkshim must show instead, against the apk emulator. Some cases are covered end
to end elsewhere and are left out here. tests/system/test_startup_hook.py starts
an interpreter whose apkshim package is gone and one with a broken mapping, and
test_doctor.py checks the doctor's list of mapping files. Two threads importing
at once are in test_concurrency.py, and the contents of failure messages are in
test_hook_apk.py.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import emulator_support
import pytest
from emulator_support import (
    APK_LAUNCHER,
    DEBIAN_PYTHON,
    ENABLE,
    INSTALL_ERROR,
    YAML_PACKAGE,
    Alpine,
    add_argv,
    finish,
    import_report,
    is_alive,
    module_source,
    process_start_time,
    pyenv_python,
    read_pid,
    repository,
    stop,
    wait_for,
)

# Fixtures that emulator_support defines, registered here under their names.
alpine = emulator_support.alpine
apkshim_tree = emulator_support.apkshim_tree

PLAIN_ERROR = "builtins.ModuleNotFoundError"


def minor_version(python: Path) -> str | None:
    """Return ``python``'s version as ``3.12``, or None if it does not run."""
    completed = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return completed.stdout.strip() if completed.returncode == 0 else None


def pyenv_interpreter(version: str) -> Path:
    """Return pyenv's Python ``version`` (not Debian's), or skip the test."""
    python = pyenv_python(version)
    if python is None or minor_version(python) != version:
        pytest.skip(f"pyenv's Python {version} is not installed or does not run")
    if os.path.realpath(python) == os.path.realpath(DEBIAN_PYTHON):
        pytest.skip(f"the only Python {version} here is Debian's {DEBIAN_PYTHON}")
    return python


# The first install creates the site directory that the import needs.

# Reports whether the user site directory was on sys.path before the import and
# after it. apkshim comes from PYTHONPATH and is enabled by a call.
USER_SITE_REPORT = (
    "import json, site, sys\n"
    "before = site.getusersitepackages() in sys.path\n"
    + ENABLE
    + "{report}"
    + "print(json.dumps([site.getusersitepackages(), before,"
    " site.getusersitepackages() in sys.path]))\n"
)


def user_site_environment(alpine: Alpine, tree: Path) -> dict[str, str | None]:
    """Make the emulator's site directory the user site of Debian's python3."""
    return {"PYTHONUSERBASE": str(alpine.root / "usr"), "PYTHONPATH": str(tree)}


def test_install_creating_user_site_is_imported(
    alpine: Alpine, apkshim_tree: Path
) -> None:
    code = USER_SITE_REPORT.format(report=import_report("apkfakeyaml"))

    outcome = alpine.run(
        code, user_site_environment(alpine, apkshim_tree), python=DEBIAN_PYTHON
    )

    (result,), (user_site, before, after) = outcome.json_lines()
    assert user_site == str(alpine.site)
    assert before is False
    assert result.get("value") == "apkfakeyaml", result
    assert after is True
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


def test_pth_file_added_by_install_is_processed(
    alpine: Alpine, apkshim_tree: Path
) -> None:
    # The user site exists at start-up; the install adds a .pth file to it.
    alpine.site.mkdir(parents=True)
    code = USER_SITE_REPORT.format(report=import_report("apkfakepth"))

    outcome = alpine.run(
        code, user_site_environment(alpine, apkshim_tree), python=DEBIAN_PYTHON
    )

    (result,), (_, before, _) = outcome.json_lines()
    assert before is True
    assert result.get("value") == "apkfakepth", result
    assert result["file"] == str(alpine.site / "apkfakepth-lib" / "apkfakepth.py")
    assert alpine.adds() == [add_argv("py3-apkfakepth")]


# Import caches that still describe the directory as it was before the install.


def test_path_entry_missing_at_start_is_searched(alpine: Alpine) -> None:
    # A probe makes the path finder cache "no finder" for the missing entry.
    code = (
        "import importlib.util, json, sys\n"
        "importlib.util.find_spec('apkfakeearlier')\n"
        f"print(json.dumps(sys.path_importer_cache.get({str(alpine.site)!r}, 0)))\n"
        + import_report("apkfakeyaml")
    )

    outcome = alpine.run(code)

    cached, (result,) = outcome.json_lines()
    assert cached is None
    assert result.get("value") == "apkfakeyaml", result
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


# Runs the emulator, then gives the site directory back the modification time it
# had before, as an install within the file system's timestamp resolution does.
KEEP_MTIME_APK = """\
#!/bin/sh
touch -r {site} {stamp}
{launcher} "$@"
status=$?
touch -r {stamp} {site}
exit $status
"""


def test_install_keeping_directory_mtime_is_found(alpine: Alpine) -> None:
    alpine.site.mkdir(parents=True)
    (alpine.site / "apkfakeearlier.py").write_text("VALUE = 'earlier'\n")
    alpine.replace_apk(
        KEEP_MTIME_APK.format(
            site=alpine.site,
            stamp=alpine.directory / "mtime-stamp",
            launcher=APK_LAUNCHER,
        )
    )
    mtime = alpine.site.stat().st_mtime_ns
    # The first import fills the path finder's cache of the directory's contents.
    code = "import apkfakeearlier\n" + import_report("apkfakeyaml")

    (result,) = alpine.run(code).results()

    assert alpine.adds() == [add_argv(YAML_PACKAGE)]
    assert alpine.site.stat().st_mtime_ns == mtime
    assert result.get("value") == "apkfakeyaml", result


# Libraries that probe for optional modules.

# A library that looks for mapped modules the ways real ones do: guarded
# imports, importlib.import_module and importlib.util.find_spec.
PROBING_LIBRARY = """\
import importlib
import importlib.util
import time

NAMES = ["apkfakeyaml", "apkfakens", "apkfakens.sub", "apkfakeabsent"]
ROUNDS = 50
FOUND = {}
started = time.perf_counter()
for _ in range(ROUNDS):
    try:
        import apkfakeyaml
    except ImportError:
        FOUND["import apkfakeyaml"] = False
    for name in NAMES:
        try:
            importlib.import_module(name)
        except ImportError:
            FOUND[f"import_module {name}"] = False
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:  # find_spec imports the parent of a dotted name
            spec = None
        FOUND[f"find_spec {name}"] = spec is not None
SECONDS = time.perf_counter() - started
PROBES = ROUNDS * (1 + 2 * len(NAMES))
"""
USE_LIBRARY = """\
import json, sys
import apkfakelib
print(json.dumps({
    "found": apkfakelib.FOUND,
    "seconds_per_probe": apkfakelib.SECONDS / apkfakelib.PROBES,
    "autoinstall_loaded": "apkshim.autoinstall" in sys.modules,
}))
"""


def test_library_probes_run_no_package_manager(alpine: Alpine) -> None:
    library = alpine.site / "apkfakelib"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text(PROBING_LIBRARY)

    outcome = alpine.run(USE_LIBRARY)

    (report,) = outcome.json_lines()
    assert report["found"]
    assert not any(report["found"].values()), report["found"]
    assert alpine.emulator_runs() == []
    assert outcome.stderr == ""
    assert report["autoinstall_loaded"] is False
    # Each probe is a set lookup and a walk of the caller's frames.
    assert report["seconds_per_probe"] < 0.005


# A hook left behind by a half-removed apkshim, and a broken configuration.


def test_half_removed_apkshim_declines_quietly(
    alpine: Alpine, apkshim_tree: Path
) -> None:
    # pip install --user left apkshim.pth and _apkshim_hook.py; the package is gone.
    user_site = (
        alpine.directory / "userbase" / f"lib/python3.{alpine.minor}/site-packages"
    )
    shutil.copytree(apkshim_tree, user_site)
    shutil.rmtree(user_site / "apkshim")
    code = (
        import_report("apkfakeyaml")
        + "import _apkshim_hook\n"
        + "print(json.dumps(_apkshim_hook.installed_finder().declined))\n"
    )
    env = {"PYTHONUSERBASE": str(alpine.directory / "userbase")}

    outcome = alpine.run(code, env, python=DEBIAN_PYTHON)

    (result,), declined = outcome.json_lines()
    assert result.get("error") == PLAIN_ERROR, result
    assert result["message"] == "No module named 'apkfakeyaml'"
    assert declined["apkfakeyaml"].startswith("apkshim cannot be imported")
    assert outcome.stderr == ""
    assert alpine.emulator_runs() == []


def test_invalid_settings_fall_back_and_install(alpine: Alpine) -> None:
    env = {"APKSHIM_TIMEOUT": "soon", "APKSHIM_LOCK_WAIT": "-3"}

    outcome = alpine.run(import_report("apkfakeyaml"), env)

    (result,) = outcome.results()
    assert result.get("value") == "apkfakeyaml", result
    assert "APKSHIM_TIMEOUT='soon' is invalid" in outcome.stderr
    assert "APKSHIM_LOCK_WAIT='-3' is invalid" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


# Interpreters that the distro's packages cannot serve.


def tree_environment(alpine: Alpine, tree: Path) -> dict[str, str | None]:
    return {"PYTHONPATH": f"{tree}{os.pathsep}{alpine.site}"}


def test_other_minor_version_runs_no_apk(alpine: Alpine, apkshim_tree: Path) -> None:
    if alpine.minor == 12:
        pytest.skip("Debian's python3 is 3.12 here, so 3.12 is no mismatch")
    python = pyenv_interpreter("3.12")

    outcome = alpine.run(
        ENABLE + import_report("apkfakeyaml"),
        tree_environment(alpine, apkshim_tree),
        python=python,
    )

    (result,) = outcome.results()
    message = result.get("message", "")
    assert result.get("error") == INSTALL_ERROR, result
    assert result["name"] == "apkfakeyaml"
    assert f"will not install {YAML_PACKAGE} (apk)" in message
    assert "interpreter mismatch" in message
    assert "This is Python 3.12" in message
    assert f"built for Python 3.{alpine.minor}" in message
    assert "--system-site-packages" in message
    assert alpine.emulator_runs() == []


def test_other_same_minor_python_is_refused(alpine: Alpine, apkshim_tree: Path) -> None:
    # Like the /usr/local Python of the python:3.x-alpine images.
    python = pyenv_interpreter(f"3.{alpine.minor}")

    outcome = alpine.run(
        ENABLE + import_report("apkfakeyaml"),
        tree_environment(alpine, apkshim_tree),
        python=python,
    )

    (result,) = outcome.results()
    message = result.get("message", "")
    assert result.get("error") == INSTALL_ERROR, result
    assert "interpreter mismatch" in message
    assert f"is not the distro's {DEBIAN_PYTHON}" in message
    assert "APKSHIM_OTHER_PYTHON=add-site-dir" in message
    assert alpine.emulator_runs() == []


def test_add_site_dir_rule_reports_invisible_install(
    alpine: Alpine, apkshim_tree: Path
) -> None:
    # The rule appends the distro's real site directory, which the emulator's
    # root is not, so the module stays out of reach: that must be an error.
    python = pyenv_interpreter(f"3.{alpine.minor}")
    env = {"PYTHONPATH": str(apkshim_tree), "APKSHIM_OTHER_PYTHON": "add-site-dir"}

    outcome = alpine.run(ENABLE + import_report("apkfakeyaml"), env, python=python)

    (result,) = outcome.results()
    message = result.get("message", "")
    assert result.get("error") == INSTALL_ERROR, result
    assert "this Python still cannot find 'apkfakeyaml'" in message
    assert f"/usr/lib/python3.{alpine.minor}/site-packages" in message
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


# A package manager that prompts for input, or never ends.

PROMPTING_APK = """\
#!/bin/sh
readlink /proc/self/fd/0 > {record}/stdin
echo "Configuring tzdata"
printf 'Geographic area: '
if read answer; then
    echo "answer $answer" > {record}/answer
    sleep 600
fi
echo "end of input" > {record}/answer
echo "ERROR: no answer to the configuration question" >&2
exit 1
"""


def test_prompt_gets_end_of_input(alpine: Alpine) -> None:
    record = alpine.directory / "record"
    record.mkdir()
    alpine.replace_apk(PROMPTING_APK.format(record=record))
    # stdin of the importing process is a pipe that never delivers a line.
    process = alpine.start(
        import_report("apkfakeyaml"), {"APKSHIM_TIMEOUT": "30"}, stdin=subprocess.PIPE
    )
    started = time.monotonic()
    try:
        outcome = finish(process, timeout=60)
    finally:
        stop(process)

    (result,) = outcome.results()
    assert (record / "stdin").read_text().strip() == "/dev/null"
    assert (record / "answer").read_text().strip() == "end of input"
    assert result.get("error") == INSTALL_ERROR, result
    assert "  exit status: 1\n" in result["message"]
    assert "ERROR: no answer to the configuration question" in result["message"]
    assert time.monotonic() - started < 30


# The apk stand-in and its children write their process ids, then wait forever.
# With "ignore", one child ignores SIGTERM, so only SIGKILL ends it.
HANGING_APK = """\
#!/bin/sh
echo $$ > {record}/apk.pid
sleep 600 &
echo $! > {record}/child.pid
({trap}exec sleep 600) &
echo $! > {record}/stubborn.pid
echo "Configuring tzdata"
wait
"""


@pytest.mark.parametrize("trap", ["", "trap '' TERM; "], ids=["children", "ignore"])
def test_hung_package_manager_killed_with_children(alpine: Alpine, trap: str) -> None:
    record = alpine.directory / "record"
    record.mkdir()
    alpine.replace_apk(HANGING_APK.format(record=record, trap=trap))
    process = alpine.start(import_report("apkfakeyaml"), {"APKSHIM_TIMEOUT": "2"})
    processes: dict[str, tuple[int, int]] = {}
    try:
        for name in ("apk", "child", "stubborn"):
            pid = wait_for(
                functools.partial(read_pid, record / f"{name}.pid"), 30, name
            )
            start_time = process_start_time(pid)
            assert start_time is not None, f"{name} exited before the timeout"
            processes[name] = (pid, start_time)
        outcome = finish(process, timeout=60)
    finally:
        for pid, start_time in processes.values():
            if is_alive(pid, start_time):
                os.kill(pid, signal.SIGKILL)
        stop(process)

    (result,) = outcome.results()
    message = result.get("message", "")
    assert result.get("error") == INSTALL_ERROR, result
    assert ": timed out\n" in message
    assert "  exit status: none, killed after 2 s\n" in message
    assert "    Configuring tzdata\n" in message
    for name, (pid, start_time) in processes.items():
        assert not is_alive(pid, start_time), f"{name} (pid {pid}) survived"


# The import name is not the package name.

SCIKIT_MAPPING = """\
[apkfake-scikit-learn]
imports = ["apkfakesk"]
apk = "py3-apkfake-scikit"
"""


def test_import_name_never_used_as_package(alpine: Alpine) -> None:
    placeholder = "raise ImportError('placeholder: install apkfake-scikit-learn')\n"
    alpine.build(
        extra=[
            alpine.package(
                "py3-apkfake-scikit",
                "1.4-r0",
                {"apkfakesk/__init__.py": module_source(alpine.counter, "apkfakesk")},
            ),
            alpine.package(
                "apkfakesk", "0.0.1-r0", {"apkfakesk/__init__.py": placeholder}
            ),
            # A package named like the unmapped import, shipping no module.
            repository.Package(
                "apkfakeplain", "1.0-r0", files={"usr/share/apkfakeplain/README": ""}
            ),
        ]
    )
    alpine.add_mapping_layer("scikit.toml", SCIKIT_MAPPING)

    (mapped,) = alpine.run(import_report("apkfakesk")).results()
    (unmapped,) = alpine.run(import_report("apkfakeplain")).results()

    assert mapped.get("value") == "apkfakesk", mapped
    assert "error" in unmapped, unmapped
    assert alpine.adds() == [add_argv("py3-apkfake-scikit")]


# Mapping layers that are invalid or missing are reported, never skipped silently.

INVALID_TOML = """\
[apkfake-other]
imports = ["apkfakeother"]
apk = "py3-apkfakeother
"""


def test_unusable_mapping_layers_are_reported(alpine: Alpine) -> None:
    invalid = alpine.add_mapping_layer("invalid.toml", INVALID_TOML)
    missing = alpine.directory / "missing.toml"
    alpine.mapping_layers.append(missing)

    outcome = alpine.run(import_report("apkfakeyaml"))

    (result,) = outcome.results()
    assert result.get("value") == "apkfakeyaml", result
    assert f"{invalid}:3: invalid TOML" in outcome.stderr
    assert f"{missing}: not found" in outcome.stderr
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]


# Duplicate entries, and the documented way to change an entry.

DUPLICATE_MAPPING = """\
[apkfake-dup]
imports = ["apkfakedup"]
apk = "py3-apkfakedup-one"

[apkfake-dup]
imports = ["apkfakedup"]
apk = "py3-apkfakedup-two"
"""


def test_duplicate_entry_skips_file_naming_lines(alpine: Alpine) -> None:
    duplicate = alpine.add_mapping_layer("duplicate.toml", DUPLICATE_MAPPING)

    outcome = alpine.run(import_report("apkfakedup"))

    (result,) = outcome.results()
    assert "error" in result, result
    warnings = [line for line in outcome.stderr.splitlines() if str(duplicate) in line]
    assert len(warnings) == 1, outcome.stderr
    assert f"{duplicate}:5: duplicate entry [apkfake-dup]" in warnings[0]
    assert "already at line 1" in warnings[0]
    assert alpine.adds() == []


def test_later_layer_overrides_package(alpine: Alpine) -> None:
    alpine.build(
        extra=[
            alpine.package(
                "py3-apkfakeyaml-next",
                "7.0-r0",
                {
                    "apkfakeyaml/__init__.py": module_source(
                        alpine.counter, "apkfakeyaml"
                    )
                },
            )
        ]
    )
    alpine.add_mapping_layer(
        "override.toml", '[apkfake-yaml]\napk = "py3-apkfakeyaml-next"\n'
    )

    outcome = alpine.run(import_report("apkfakeyaml"))

    (result,) = outcome.results()
    assert result.get("value") == "apkfakeyaml", result
    assert alpine.adds() == [add_argv("py3-apkfakeyaml-next")]
    assert outcome.notices()[0].startswith("apkshim: installing py3-apkfakeyaml-next")


# Mapping files name packages only, and count only when no other user can write them.


@pytest.mark.parametrize(
    ("package", "mode", "warning"),
    [
        ("py3-apkfakeunsafe", 0o666, "chmod go-w"),
        ("py3-apkfakeunsafe; touch {marker}", 0o644, "is not a valid apk package name"),
        ("--allow-untrusted", 0o644, "is not a valid apk package name"),
    ],
    ids=["world-writable", "command", "option"],
)
def test_unsafe_mapping_file_is_never_used(
    alpine: Alpine, package: str, mode: int, warning: str
) -> None:
    marker = alpine.directory / "command-ran"
    text = (
        '[apkfake-unsafe]\nimports = ["apkfakeunsafe"]\n'
        f'apk = "{package.format(marker=marker)}"\n'
    )
    unsafe = alpine.add_mapping_layer("unsafe.toml", text, mode)

    outcome = alpine.run(import_report("apkfakeunsafe"))

    (result,) = outcome.results()
    assert "error" in result, result
    warnings = [line for line in outcome.stderr.splitlines() if str(unsafe) in line]
    assert len(warnings) == 1, outcome.stderr
    assert warning in warnings[0]
    assert alpine.adds() == []
    assert not marker.exists()
