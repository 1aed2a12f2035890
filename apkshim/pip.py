"""Running pip for the running interpreter: resolve without installing, install.

pip always runs as ``sys.executable -m pip`` with ``--no-input``, so it installs
into this interpreter and never prompts. No option overrides pip's own
configuration (pip.conf, ``PIP_*`` variables): the index URL and ``find-links``
come from there.
"""

from __future__ import annotations

import configparser
import dataclasses
import importlib.util
import json
import logging
import os
import re
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from typing import Any, Optional

from packaging.version import InvalidVersion, Version

from apkshim import runner
from apkshim.errors import InstallError
from apkshim.mapping import normalize_project
from apkshim.settings import Settings
from apkshim.versions import installed_version

log = logging.getLogger(__name__)

# pip 22.2 added "install --dry-run --report".
REPORT_MIN_VERSION = Version("22.2")
MARKER_NAME = "EXTERNALLY-MANAGED"


class ExternallyManagedError(InstallError):
    """pip would refuse to install, because the interpreter is externally managed."""


@dataclasses.dataclass(frozen=True)
class ReportItem:
    """One distribution that ``pip install --dry-run --report`` would install."""

    name: str
    """The normalized project name (PEP 503)."""
    version: str
    requested: bool
    """Whether it was named on the command line, rather than pulled in."""
    requires_dist: tuple[str, ...]
    requested_extras: tuple[str, ...]


def base_argv() -> list[str]:
    return [sys.executable, "-m", "pip"]


def install_argv(requirements: Sequence[str], settings: Settings) -> list[str]:
    """Return the command line of the one pip run that installs ``requirements``."""
    argv = [
        *base_argv(),
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
    ]
    if settings.only_binary:
        argv += ["--only-binary", ":all:"]
    if settings.break_system_packages:
        argv.append("--break-system-packages")
    # pip reads "--" as the end of its options, so no requirement becomes one.
    return [*argv, "--", *requirements]


def resolve_argv(
    requirements: Sequence[str], settings: Settings, report_path: str
) -> list[str]:
    """Return the command line that resolves ``requirements`` and installs nothing."""
    argv = install_argv(requirements, settings)
    separator = argv.index("--")
    extra = ["--dry-run", "--quiet", "--report", report_path]
    return argv[:separator] + extra + argv[separator:]


def pip_version() -> Optional[Version]:
    """Return the version of the pip that ``sys.executable -m pip`` runs, if any."""
    if importlib.util.find_spec("pip") is None:
        return None
    text = installed_version("pip")
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def check_available() -> Version:
    """Return pip's version; raise InstallError when this interpreter has no pip."""
    version = pip_version()
    if version is None:
        raise InstallError(
            f"pip is not installed for {sys.executable}, so the requirements that "
            "the distro cannot serve cannot be installed. Install it with the "
            "package manager (apk add py3-pip, apt-get install python3-pip) or "
            f"'{sys.executable} -m ensurepip'"
        )
    return version


def externally_managed_marker() -> Optional[str]:
    """Return the PEP 668 marker file that makes pip refuse to install, if any.

    pip ignores the marker inside a virtual environment, and so does this check.
    """
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix) or hasattr(
        sys, "real_prefix"
    ):
        return None
    marker = os.path.join(sysconfig.get_path("stdlib"), MARKER_NAME)
    return marker if os.path.isfile(marker) else None


def check_externally_managed(settings: Settings) -> None:
    """Raise ExternallyManagedError if pip would refuse to install here.

    The check mirrors pip's own, so it runs before anything is installed. It
    passes when apkshim's ``break_system_packages`` setting is on, or when
    ``PIP_BREAK_SYSTEM_PACKAGES`` sets pip's own option of that name.
    NOTE: ``break-system-packages`` set in a pip.conf file is not read here, so
    such a configuration still gets this error; set the variable instead.
    """
    marker = externally_managed_marker()
    if marker is None or settings.break_system_packages:
        return
    from _apkshim_hook import parse_switch

    if parse_switch(os.environ.get("PIP_BREAK_SYSTEM_PACKAGES", "")):
        return
    advice = _marker_message(marker)
    raise ExternallyManagedError(
        f"pip would refuse to install into {sys.executable}, because {marker} "
        "marks this Python as externally managed (PEP 668): its packages belong "
        "to the distro's package manager."
        + (f" The distro says: {advice}" if advice else "")
        + " Next step: run in a venv made with "
        f"'{sys.executable} -m venv --system-site-packages DIR', which still sees "
        "the distro's packages, or set APKSHIM_BREAK_SYSTEM_PACKAGES=1 to pass "
        "--break-system-packages to pip"
    )


def _marker_message(marker: str) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(marker, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return ""
    text = parser.get("externally-managed", "Error", fallback="")
    return " ".join(text.split())


def resolve(requirements: Sequence[str], settings: Settings) -> list[ReportItem]:
    """Return what pip would install for ``requirements``, installing nothing.

    This is ``pip install --dry-run --report``: pip downloads metadata (and,
    with ``only_binary`` off, may build source distributions to get it), but
    changes nothing. Distributions already installed in a satisfying version
    are not in the result.
    """
    with tempfile.TemporaryDirectory(prefix="apkshim-") as directory:
        report_path = os.path.join(directory, "report.json")
        completed = runner.run(
            resolve_argv(requirements, settings, report_path), settings.timeout
        )
        if not completed.ok:
            raise InstallError(describe_failure(completed, settings, resolving=True))
        try:
            with open(report_path, encoding="utf-8") as handle:
                report = json.load(handle)
        except (OSError, ValueError) as error:
            raise InstallError(
                f"pip wrote no readable report to {report_path} ({error}); "
                f"command: {completed.command}. Upgrade pip with "
                f"'{sys.executable} -m pip install -U pip'"
            ) from None
    return parse_report(report)


def parse_report(report: dict[str, Any]) -> list[ReportItem]:
    """Return the items of a pip installation report (format version 0 or 1)."""
    items: list[ReportItem] = []
    for entry in report.get("install", []):
        metadata = entry.get("metadata", {})
        items.append(
            ReportItem(
                name=normalize_project(str(metadata.get("name", ""))),
                version=str(metadata.get("version", "")),
                requested=bool(entry.get("requested", False)),
                requires_dist=tuple(metadata.get("requires_dist") or ()),
                requested_extras=tuple(entry.get("requested_extras") or ()),
            )
        )
    return items


def install(requirements: Sequence[str], settings: Settings) -> runner.Completed:
    """Run the one pip install of ``requirements``; return the completed run."""
    return runner.run(install_argv(requirements, settings), settings.timeout)


# Causes of a failed pip run, checked in order against its output, each with
# the next step to take.
_FAILURES: list[tuple[str, str, str]] = [
    (
        r"externally-managed-environment",
        "the interpreter is externally managed (PEP 668)",
        "use a venv made with --system-site-packages, or set "
        "APKSHIM_BREAK_SYSTEM_PACKAGES=1",
    ),
    (
        r"Failed to establish a new connection|Temporary failure in name "
        r"resolution|Could not fetch URL|Max retries exceeded|Read timed out|"
        r"ConnectTimeoutError|Network is unreachable",
        "network failure",
        "check the network and the index in pip's configuration "
        "('python -m pip config list'), then try again",
    ),
    (
        r"ResolutionImpossible|conflicting dependencies",
        "conflicting requirements",
        "relax the version specifiers that pip names above",
    ),
    (
        r"No matching distribution found|Could not find a version that satisfies",
        "no such distribution",
        "check the name and version on the index that pip uses ('python -m pip "
        "config list' shows it)",
    ),
    (
        r"Permission denied|\[Errno 13\]",
        "permission denied",
        "run as the owner of the site-packages directory, or in a venv",
    ),
    (
        r"No module named pip",
        "pip is not installed",
        "install pip for this interpreter (python -m ensurepip)",
    ),
]


def classify(completed: runner.Completed) -> tuple[str, str]:
    """Return the cause of a failed pip run and the next step."""
    if completed.timed_out:
        return "timed out", "raise APKSHIM_TIMEOUT, or prefetch the wheels"
    text = completed.stdout + "\n" + completed.stderr
    for pattern, cause, next_step in _FAILURES:
        if re.search(pattern, text):
            return cause, next_step
    return "pip failed", "read pip's output above"


def describe_failure(
    completed: runner.Completed, settings: Settings, resolving: bool = False
) -> str:
    """Return the message of a failed pip run: cause, command, output, next step."""
    cause, next_step = classify(completed)
    if cause == "no such distribution" and settings.only_binary:
        next_step += (
            "; APKSHIM_ONLY_BINARY is on, so pip takes wheels only, and a project "
            "that publishes only a source distribution needs APKSHIM_ONLY_BINARY=0"
        )
    status = (
        f"none, killed after {completed.seconds:.0f} s"
        if completed.timed_out
        else str(completed.returncode)
    )
    output = "\n".join(f"    {line}" for line in completed.tail()) or "    (none)"
    action = "resolve the requirements" if resolving else "install the requirements"
    return (
        f"pip could not {action}: {cause}\n"
        f"  command: {completed.command}\n"
        f"  exit status: {status}\n"
        f"  output (last lines):\n{output}\n"
        f"  next step: {next_step}"
    )
