"""Whether the distro's Python packages can serve the running interpreter.

Distro packages are built for the distro's own ``python3``: its minor version
(compiled modules are tagged ``cpython-311``) and its site directory. The rules:

* The distro's python3, or a venv made from it with ``--system-site-packages``:
  served.
* Another interpreter of the same minor version (the ``/usr/local`` Python of the
  official ``python:3.x-alpine`` images, pyenv, a venv without system site
  packages): refused by default, because the package would land in a directory
  this interpreter does not search. ``APKSHIM_OTHER_PYTHON=add-site-dir`` installs
  anyway and appends the distro's site directory to ``sys.path``, after the
  interpreter's own directories.
* A different minor version: always refused; its packages cannot be loaded.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Optional

from apkshim.backends.base import Backend, version_from_text

DISTRO_PYTHON = "/usr/bin/python3"

SERVED = "served"
OTHER = "other"
MISMATCH = "mismatch"


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: str
    """``served``, ``other`` (same minor version, another interpreter) or ``mismatch``."""
    allowed: bool
    reason: str
    site_directory: Optional[str]
    """The distro's site directory to append to sys.path after an install, if any."""


def distro_version(backend: Backend, distro_python: str) -> Optional[tuple[int, int]]:
    """Return the distro python3's (major, minor), from its file name or the candidate."""
    if os.path.exists(distro_python):
        name = os.path.basename(os.path.realpath(distro_python))
        match = re.fullmatch(r"python(\d+)\.(\d+)", name)
        if match:
            return int(match.group(1)), int(match.group(2))
    # No python3 installed yet: the package would pull in the candidate version.
    candidate = backend.candidate_version("python3")
    return version_from_text(candidate) if candidate else None


def _venv_sees_system_site() -> bool:
    config = os.path.join(sys.prefix, "pyvenv.cfg")
    try:
        with open(config, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition("=")
                if key.strip() == "include-system-site-packages":
                    return value.strip().lower() == "true"
    except OSError:
        pass
    return False


def check(
    backend: Backend,
    rule: str = "refuse",
    distro_python: str = DISTRO_PYTHON,
) -> Verdict:
    """Decide whether ``backend`` may install modules for this interpreter."""
    running = sys.version_info[:2]
    running_text = f"{running[0]}.{running[1]}"
    version = distro_version(backend, distro_python)
    site_directory = None
    if version is not None:
        site_directory = backend.site_directory.format(minor=version[1])

    if version is None:
        return Verdict(
            MISMATCH,
            False,
            f"the version of the distro's python3 is unknown ({distro_python} is "
            "missing and no python3 package candidate was found), so its packages "
            "may not suit this Python. Install python3 with the package manager, "
            "or use pip",
            None,
        )
    version_text = f"{version[0]}.{version[1]}"
    if version != running:
        return Verdict(
            MISMATCH,
            False,
            f"this is Python {running_text} ({sys.executable}) but the distro's "
            f"packages are built for Python {version_text} ({distro_python}), so "
            "their modules cannot be loaded here. Run the code with "
            f"{distro_python}, or in a venv made with '{distro_python} -m venv "
            "--system-site-packages', or install the project with pip",
            None,
        )

    base = os.path.join(sys.base_prefix, "bin", f"python{running_text}")
    is_distro = os.path.realpath(base) == os.path.realpath(distro_python)
    in_venv = sys.prefix != sys.base_prefix
    if is_distro and (not in_venv or _venv_sees_system_site()):
        return Verdict(SERVED, True, f"this is the distro's Python {version_text}", None)

    if is_distro:
        what = f"this venv ({sys.prefix}) was made without --system-site-packages"
    else:
        what = f"this Python ({sys.executable}) is not the distro's {distro_python}"
    if rule == "add-site-dir":
        return Verdict(
            OTHER,
            True,
            f"{what}; APKSHIM_OTHER_PYTHON=add-site-dir appends {site_directory} "
            "to sys.path after an install",
            site_directory,
        )
    return Verdict(
        OTHER,
        False,
        f"{what}, so it does not search {site_directory}, where the package would "
        f"go. Use {distro_python}, or a venv made with '{distro_python} -m venv "
        "--system-site-packages', set "
        "APKSHIM_OTHER_PYTHON=add-site-dir to append that directory to sys.path "
        "after an install, or install the project with pip",
        None,
    )
