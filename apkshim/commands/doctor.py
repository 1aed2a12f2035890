"""``apkshim doctor``: would an import be served here, and if not, why not."""

from __future__ import annotations

import argparse
import os
import site
import sys
from typing import Any

from _apkshim_hook import parse_switch
from apkshim import autoinstall, distrometa, finder, runner
from apkshim.settings import PARSERS, environment_name

PTH_NAME = "apkshim.pth"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check whether a missing import would be installed here",
        description=(
            "Report whether the import hook is active in this interpreter and why "
            "not, the backend and how it was chosen, privileges, the interpreter "
            "check and every mapping file read. Exit status 0 when an import of a "
            "mapped name would be served."
        ),
    )
    parser.set_defaults(handler=run)


def hook_status() -> tuple[bool, str]:
    """Return whether the start-up hook is active in this interpreter, and why."""
    if finder.installed_finder() is not None:
        return True, "active: apkshim's finder is on sys.meta_path"
    if sys.flags.no_site:
        return False, "inactive: Python runs with -S, so site and .pth files never run"
    value = os.environ.get("APKSHIM")
    if value is None or parse_switch(value) is False:
        return False, "inactive: APKSHIM is not set; export APKSHIM=1 to enable it"
    if parse_switch(value) is None:
        return False, f"inactive: APKSHIM={value!r} is invalid; use 1, true, yes or on"

    pth_files = [
        os.path.join(directory, PTH_NAME)
        for directory in _site_directories()
        if os.path.exists(os.path.join(directory, PTH_NAME))
    ]
    shadowed = _shadowed_sitecustomize()
    if shadowed:
        return False, shadowed
    if not pth_files:
        return False, (
            f"inactive: no {PTH_NAME} in any site directory ({', '.join(_site_directories())}); "
            "reinstall apkshim with pip into this interpreter"
        )
    return False, f"inactive although {pth_files[0]} exists; run with APKSHIM_LOG=debug"


def _site_directories() -> list[str]:
    directories = [d for d in site.getsitepackages() if d in sys.path]
    if site.ENABLE_USER_SITE and site.getusersitepackages() in sys.path:
        directories.append(site.getusersitepackages())
    return directories


def _shadowed_sitecustomize() -> str:
    """Describe an apkshim sitecustomize.py that another sitecustomize hides."""
    loaded = sys.modules.get("sitecustomize")
    for entry in sys.path:
        candidate = os.path.join(entry or os.curdir, "sitecustomize.py")
        try:
            with open(candidate, encoding="utf-8") as handle:
                is_ours = "APKSHIM_SITECUSTOMIZE" in handle.read()
        except OSError:
            continue
        if is_ours and getattr(loaded, "__file__", None) != candidate:
            winner = getattr(loaded, "__file__", "another module")
            return (
                f"inactive: {candidate} is apkshim's sitecustomize, but Python imports "
                f"only the first one on sys.path, {winner}; install apkshim with pip, "
                f"whose {PTH_NAME} works beside any sitecustomize"
            )
    return ""


def run(arguments: argparse.Namespace) -> int:
    served = True
    active, reason = hook_status()
    print(f"hook: {reason}")
    served &= active
    print(f"python: {sys.executable} ({sys.version.split()[0]})")

    current = autoinstall.load_context(warn=False)
    settings = current.settings
    for field in PARSERS:
        source = settings.sources.get(field, "default")
        value = getattr(settings, field)
        if source != "default":
            print(f"setting: {field} = {value!r} (from {source})")
    # The hook uses the default in place of an invalid value, so this warns only.
    for problem in settings.problems:
        print(f"setting: warning: {problem}")
    print(f"metadata: {distrometa.describe_setting(settings)}")

    backend = current.backend
    if backend is None:
        print(f"backend: none: {current.backend_reason}")
        served = False
    else:
        print(f"backend: {backend.name} ({backend.executable}): {current.backend_reason}")
        prefix = runner.elevation(backend.executable)
        if runner.find_executable(backend.executable_name) is None:
            print(f"backend: missing: {backend.missing_advice()}")
            served = False
        elif prefix is None:
            print(f"privileges: missing: {backend.permission_advice()}")
            served = False
        elif prefix:
            print(f"privileges: runs {backend.executable_name} through {' '.join(prefix)}")
        else:
            print("privileges: root")
        verdict = current.verdict()
        print(f"interpreter: {verdict.status}: {verdict.reason}")
        served &= verdict.allowed

    mapped = 0
    for report in current.mapping.files:
        line = f"mapping: {report.path}: {report.status}"
        if report.status == "read":
            line += f", {report.entries} entries"
        print(line)
        for message in report.messages():
            print(f"  {message}")
    if backend is not None:
        mapped = len(current.mapping.import_names(backend.name))
        print(f"mapping: {mapped} import names map to {backend.name} packages")
    served &= mapped > 0

    if not os.access(settings.lock_dir, os.W_OK | os.X_OK):
        print(
            f"lock: {settings.lock_dir} is missing or not writable, so no install "
            "can take the install lock; set APKSHIM_LOCK_DIR to a writable directory"
        )
        served = False

    print(f"scope: {settings.scope} (set {environment_name('scope')}=all to widen)")
    print("result: a missing mapped import would be installed" if served
          else "result: a missing mapped import would NOT be installed")
    return 0 if served else 1
