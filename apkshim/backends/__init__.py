"""Package-manager backends, and the choice between them."""

from __future__ import annotations

from typing import Optional

from apkshim import runner
from apkshim.backends.apk import Apk
from apkshim.backends.apt import Apt
from apkshim.backends.base import Backend, Failure
from apkshim.settings import Settings

__all__ = ["Apk", "Apt", "Backend", "Failure", "choose", "BACKEND_CLASSES"]

BACKEND_CLASSES: dict[str, type[Backend]] = {"apk": Apk, "apt": Apt}
OS_RELEASE = "/etc/os-release"


def read_os_release(path: str = OS_RELEASE) -> dict[str, str]:
    """Return the fields of an os-release file, unquoted; empty if it is missing."""
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return fields
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def choose(settings: Settings, os_release: str = OS_RELEASE) -> tuple[Optional[Backend], str]:
    """Pick the backend and return it with the reason, for ``apkshim doctor``.

    ``APKSHIM_BACKEND`` wins. Otherwise the distribution's ``ID`` and ``ID_LIKE``
    decide when their package manager is on PATH, and then whichever of apk and
    apt-get is present.
    """
    if settings.backend != "auto":
        chosen = BACKEND_CLASSES[settings.backend](settings)
        return chosen, f"set by {settings.sources.get('backend', 'APKSHIM_BACKEND')}"

    fields = read_os_release(os_release)
    families = [fields.get("ID", ""), *fields.get("ID_LIKE", "").split()]
    by_family = {"alpine": "apk", "debian": "apt", "ubuntu": "apt"}
    for family in families:
        name = by_family.get(family)
        if name and runner.find_executable(BACKEND_CLASSES[name].executable_name):
            reason = f"{os_release} has ID/ID_LIKE {family!r} and {name} is installed"
            return BACKEND_CLASSES[name](settings), reason

    for backend_class in BACKEND_CLASSES.values():
        if runner.find_executable(backend_class.executable_name):
            return backend_class(settings), f"{backend_class.executable_name} is on PATH"
    return None, f"no apk or apt-get on PATH, and {os_release} names no known family"
