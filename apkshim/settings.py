"""Settings: one typed object and the one resolver that fills it.

Every setting has the same name everywhere: ``timeout`` is ``APKSHIM_TIMEOUT`` in
the environment and ``--timeout`` on the command line. The command line wins over
the environment, which wins over the default, and ``Settings.sources`` records
where each value came from so that ``apkshim doctor`` can show it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Mapping
from typing import Any, Callable, Optional

from _apkshim_hook import parse_switch

log = logging.getLogger(__name__)

SCOPES = ("user", "all")
BACKENDS = ("auto", "apk", "apt")
OTHER_PYTHON_RULES = ("refuse", "add-site-dir")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclasses.dataclass(frozen=True)
class Settings:
    """apkshim's settings. Field docs double as the configuration reference."""

    scope: str = "user"
    """The imports that may install: ``user`` (user code only) or ``all``."""
    backend: str = "auto"
    """Package manager: ``auto`` (from /etc/os-release and PATH), ``apk`` or ``apt``."""
    timeout: float = 1200.0
    """Seconds one package-manager run may take before its process group is killed."""
    lock_wait: int = 300
    """Seconds to wait for the package manager's database lock."""
    mapping: tuple[str, ...] = ()
    """Extra mapping files, read after the standard layers (os.pathsep-separated)."""
    log: str = "warning"
    """Level of the ``apkshim`` logger when apkshim configures it itself."""
    other_python: str = "refuse"
    """Rule for a Python of the distro's minor version that cannot see its packages."""
    metadata: bool = True
    """Resolve names the mapping lacks from the distro's own package metadata."""
    lock_dir: str = dataclasses.field(default_factory=tempfile.gettempdir)
    """Directory of the lock file that serializes installs across processes."""
    only_binary: bool = True
    """Let pip install wheels only, never build a distribution from source."""
    break_system_packages: bool = False
    """Pass ``--break-system-packages`` to pip for an externally managed Python."""
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    """The source of each value: ``default``, ``APKSHIM_...`` or ``--...``."""
    problems: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    """Invalid values that were replaced by the default, as messages."""


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        folded = value.strip().lower()
        if folded not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return folded

    return parse


# subprocess cannot wait longer than about 24 days (a C int of milliseconds).
_MAX_SECONDS = 7 * 24 * 3600.0


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= _MAX_SECONDS:
        raise ValueError(
            f"expected a positive number of seconds, at most {_MAX_SECONDS:g}"
        )
    return number


def _whole_seconds(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("expected a whole number of seconds, 0 or more")
    return number


def _paths(value: str) -> tuple[str, ...]:
    return tuple(path for path in value.split(os.pathsep) if path)


def _boolean(value: str) -> bool:
    parsed = parse_switch(value)
    if parsed is None:
        raise ValueError("expected 1, true, yes, on or 0, false, no, off")
    return parsed


def _directory(value: str) -> str:
    if not value:
        raise ValueError("expected a directory")
    return value


PARSERS: dict[str, Callable[[str], Any]] = {
    "scope": _choice(SCOPES),
    "backend": _choice(BACKENDS),
    "timeout": _seconds,
    "lock_wait": _whole_seconds,
    "mapping": _paths,
    "log": _choice(LOG_LEVELS),
    "other_python": _choice(OTHER_PYTHON_RULES),
    "metadata": _boolean,
    "lock_dir": _directory,
    "only_binary": _boolean,
    "break_system_packages": _boolean,
}


def environment_name(field: str) -> str:
    """Return the environment variable of a setting, e.g. ``APKSHIM_LOCK_WAIT``."""
    return "APKSHIM_" + field.upper()


def option_name(field: str) -> str:
    """Return the command-line option of a setting, e.g. ``--lock-wait``."""
    return "--" + field.replace("_", "-")


def resolve(
    environ: Optional[Mapping[str, str]] = None,
    command_line: Optional[Mapping[str, str]] = None,
) -> Settings:
    """Build the settings from the environment and command-line values.

    Both take raw strings keyed by field name (command line) or variable name
    (environment). An invalid value is logged, kept out of the result and listed
    in ``Settings.problems``; it never raises, because the import hook must work
    with whatever configuration it finds.
    """
    environ = os.environ if environ is None else environ
    command_line = command_line or {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []

    for field, parse in PARSERS.items():
        candidates = [
            (option_name(field), command_line.get(field)),
            (environment_name(field), environ.get(environment_name(field))),
        ]
        sources[field] = "default"
        for origin, raw in candidates:
            if raw is None or (raw == "" and field != "mapping"):
                continue
            try:
                values[field] = parse(raw)
            except ValueError as error:
                message = f"{origin}={raw!r} is invalid ({error}); using the default"
                log.warning("%s", message)
                problems.append(message)
                continue
            sources[field] = origin
            break

    return Settings(**values, sources=sources, problems=tuple(problems))
