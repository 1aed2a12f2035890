"""The interface of package-manager backends, and the classification of failures."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Optional

from apkshim import runner
from apkshim.errors import InstallError
from apkshim.settings import Settings


class Failure(enum.Enum):
    """The cause of a failed package-manager run, from its exit status and messages."""

    NO_PACKAGE = "no such package"
    LOCKED = "package database locked"
    PERMISSION = "permission denied"
    NETWORK = "network failure"
    TIMEOUT = "timed out"
    INTERPRETER = "interpreter mismatch"
    NO_DATABASE = "no package database"
    OTHER = "package manager failed"


def first_match(text: str, patterns: Sequence[tuple[str, Failure]]) -> Optional[Failure]:
    """Return the failure of the first pattern found in ``text``."""
    for pattern, failure in patterns:
        if re.search(pattern, text):
            return failure
    return None


class Backend:
    """A distro package manager. Subclasses fill in the commands and messages."""

    name: str = ""
    executable_name: str = ""
    #: Where the distro's python3 packages put modules; ``{minor}`` is filled in.
    site_directory: str = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def executable(self) -> str:
        return runner.find_executable(self.executable_name) or self.executable_name

    def install_argv(self, packages: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {}

    def classify(self, completed: runner.Completed) -> Failure:
        raise NotImplementedError

    def installed_versions(self, completed: runner.Completed) -> dict[str, str]:
        """Return the versions that a successful run reports having installed."""
        raise NotImplementedError

    def installed_version(self, package: str) -> Optional[str]:
        raise NotImplementedError

    def candidate_version(self, package: str) -> Optional[str]:
        """Return the version an install of ``package`` would get, or None."""
        raise NotImplementedError

    def next_step(self, failure: Failure, packages: Sequence[str]) -> str:
        raise NotImplementedError

    def query(self, argv: Sequence[str]) -> runner.Completed:
        """Run a read-only query; it needs no root and gets a short timeout."""
        return runner.run(argv, timeout=min(self.settings.timeout, 120))

    def ensure_runnable(self) -> list[str]:
        """Return the elevation prefix; raise InstallError if no install can run."""
        if runner.find_executable(self.executable_name) is None:
            raise InstallError(self.missing_advice())
        prefix = runner.elevation(self.executable)
        if prefix is None:
            raise InstallError(self.permission_advice())
        return prefix

    def run_install(self, packages: Sequence[str]) -> runner.Completed:
        """Run one install of ``packages``, elevated when needed. Never prompts."""
        argv = self.ensure_runnable() + self.install_argv(packages)
        return runner.run(argv, self.settings.timeout, self.environment())

    def install(self, packages: Sequence[str]) -> runner.Completed:
        return self.run_install(packages)

    def missing_advice(self) -> str:
        return (
            f"{self.executable_name} is not on PATH or in /usr/sbin, /usr/bin, /sbin, "
            f"/bin; is this system's package manager {self.name}? Check "
            "APKSHIM_BACKEND, or unset it to choose from /etc/os-release"
        )

    def permission_advice(self) -> str:
        import getpass

        user = getpass.getuser()
        exe = self.executable
        return (
            f"{self.executable_name} needs root, this process runs as {user!r}, and "
            f"neither 'sudo -n' nor 'doas -n' may run {exe} without a password. "
            "Run as root, or allow it: a file /etc/sudoers.d/apkshim containing "
            f"'{user} ALL=(root) NOPASSWD: {exe}', or in /etc/doas.conf "
            f"'permit nopass {user} as root cmd {exe}'"
        )

    def common_next_step(self, failure: Failure) -> Optional[str]:
        if failure is Failure.TIMEOUT:
            return (
                f"the run was killed after {self.settings.timeout:g} s; raise "
                "APKSHIM_TIMEOUT or install the package ahead of time"
            )
        if failure is Failure.LOCKED:
            return (
                "another package manager held the database lock for "
                f"{self.settings.lock_wait} s; let it finish, then import again in a "
                "new process (in a notebook, restart the kernel), or "
                "raise APKSHIM_LOCK_WAIT"
            )
        if failure is Failure.PERMISSION:
            if runner.elevation(self.executable) is None:
                return self.permission_advice()
            # The package manager ran as root (directly, or through sudo -n or
            # doas -n), so advice to gain root would be wrong.
            return (
                f"{self.executable_name} was denied permission although apkshim "
                "runs it as root, so more privileges will not help: check that the "
                "system's package database and files are writable here (a read-only "
                "root file system or container refuses writes)"
            )
        return None


def version_from_text(text: str) -> Optional[tuple[int, int]]:
    """Return (major, minor) from a version string such as ``3.11.2-1+b1``."""
    match = re.match(r"^(?:\d+:)?(\d+)\.(\d+)", text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))
