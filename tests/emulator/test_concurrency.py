"""Imports of one missing module at the same moment, across processes and threads.

The emulator holds apk's database lock for APK_EMULATOR_DELAY seconds before it
installs, so the installs overlap. Every import must succeed after exactly one
``apk add``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import emulator_support
from emulator_support import (
    YAML_PACKAGE,
    Alpine,
    add_argv,
    finish,
    import_report,
    stop,
)

# Fixtures that emulator_support defines, registered here under their names.
alpine = emulator_support.alpine

PROCESSES = 8

# Each process prints "ready", waits for the start file and then imports, so all
# of them request the module within a few milliseconds of each other.
WAIT_FOR_START = """\
import os, time
print("ready", flush=True)
while not os.path.exists({start!r}):
    time.sleep(0.002)
"""

# Two threads import apkfakeyaml at once. A third thread waits until the install
# runs (emulator.log has the "add"), then imports a present package and a missing
# submodule of it, and records whether the install was still running.
THREADS = """\
import json, os, sys, threading, time
sys.path.insert(0, {local!r})
results = {{}}
start = threading.Barrier(2)

def user_import(key):
    start.wait()
    try:
        import apkfakeyaml
    except Exception as error:
        results[key] = repr(error)
    else:
        results[key] = apkfakeyaml.VALUE

def unrelated_import():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists({log!r}) and '"add"' in open({log!r}).read():
            break
        time.sleep(0.005)
    began = time.monotonic()
    import apkfakelocal
    try:
        import apkfakelocal.missing
    except ModuleNotFoundError as error:
        kind = type(error)
        results["missing"] = f"{{kind.__module__}}.{{kind.__qualname__}}"
    results["local"] = apkfakelocal.VALUE
    results["seconds"] = time.monotonic() - began
    results["installing"] = [thread.is_alive() for thread in importers]

importers = [threading.Thread(target=user_import, args=(key,)) for key in "ab"]
third = threading.Thread(target=unrelated_import)
for thread in [*importers, third]:
    thread.start()
for thread in [*importers, third]:
    thread.join(120)
print(json.dumps(results))
"""


def test_processes_install_once_all_succeed(alpine: Alpine, tmp_path: Path) -> None:
    start = tmp_path / "start"
    code = WAIT_FOR_START.format(start=str(start)) + import_report("apkfakeyaml")
    processes: list[subprocess.Popen[str]] = []
    try:
        for _ in range(PROCESSES):
            processes.append(alpine.start(code, {"APK_EMULATOR_DELAY": "2"}))
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
        start.touch()
        outcomes = [finish(process) for process in processes]
    finally:
        for process in processes:
            stop(process)

    values = [outcome.results()[0].get("value") for outcome in outcomes]
    assert values == ["apkfakeyaml"] * PROCESSES, [o.stderr for o in outcomes]
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]
    runs = alpine.module_runs()
    assert len(runs) == PROCESSES
    assert len(set(runs)) == PROCESSES, "a module body ran twice in one process"
    notices = [notice for outcome in outcomes for notice in outcome.notices()]
    assert len(notices) == 2, notices


def test_threads_install_once_others_proceed(alpine: Alpine, tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "apkfakelocal").mkdir(parents=True)
    (local / "apkfakelocal" / "__init__.py").write_text("VALUE = 'local'\n")
    code = THREADS.format(local=str(local), log=str(alpine.root / "emulator.log"))

    outcome = alpine.run(code, {"APK_EMULATOR_DELAY": "3"})

    assert outcome.returncode == 0, outcome.stderr
    results = json.loads(outcome.stdout.splitlines()[-1])
    assert results["a"] == "apkfakeyaml"
    assert results["b"] == "apkfakeyaml"
    assert alpine.adds() == [add_argv(YAML_PACKAGE)]
    assert len(alpine.module_runs()) == 1
    assert results["local"] == "local"
    assert results["missing"] == "builtins.ModuleNotFoundError"
    assert results["installing"] == [True, True], "the install ended first"
    assert results["seconds"] < 1.0
