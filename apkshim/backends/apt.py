"""The apt backend, for Debian and Ubuntu."""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from collections.abc import Sequence
from typing import Optional

from apkshim import runner
from apkshim.backends.base import Backend, Failure, first_match

log = logging.getLogger(__name__)

LISTS_DIRECTORY = "/var/lib/apt/lists"
# Package lists older than this are refreshed before an unknown name is reported.
LISTS_MAX_AGE = 24 * 3600.0

_FAILURES = [
    (
        r"Temporary failure resolving|Could not resolve|Could not connect|"
        r"Connection refused|Connection timed out|Network is unreachable|"
        r"Unable to fetch some archives|Failed to fetch",
        Failure.NETWORK,
    ),
    # Only the "E:" line counts: the "Waiting for cache lock: Could not get lock"
    # progress lines (ended by \r) also appear when the wait succeeded.
    (
        r"(?m)(?:^|\r)E: Could not get lock|is another process using it\?",
        Failure.LOCKED,
    ),
    (r"Permission denied|are you root\?", Failure.PERMISSION),
    (
        r"Unable to locate package|has no installation candidate|"
        r"Couldn't find any package by",
        Failure.NO_PACKAGE,
    ),
]


class Apt(Backend):
    name = "apt"
    executable_name = "apt-get"
    site_directory = "/usr/lib/python3/dist-packages"

    def environment(self) -> dict[str, str]:
        return {"DEBIAN_FRONTEND": "noninteractive"}

    def _lock_option(self) -> list[str]:
        return ["-o", f"DPkg::Lock::Timeout={self.settings.lock_wait}"]

    def install_argv(self, packages: Sequence[str]) -> list[str]:
        return [
            self.executable,
            "install",
            "-y",
            "--no-install-recommends",
            *self._lock_option(),
            "--",
            *packages,
        ]

    def update_argv(self) -> list[str]:
        return [self.executable, "update", *self._lock_option()]

    def install(self, packages: Sequence[str]) -> runner.Completed:
        """Install, refreshing the package lists once if a name is unknown.

        A fresh container image has empty package lists, so every name is
        unknown until ``apt-get update`` has run.
        """
        completed = self.run_install(packages)
        if completed.ok or self.classify(completed) is not Failure.NO_PACKAGE:
            return completed
        if not self.lists_are_stale():
            return completed
        log.info("package lists are missing or older than a day; updating them")
        prefix = runner.elevation(self.executable) or []
        update = runner.run(prefix + self.update_argv(), self.settings.timeout)
        retry = self.run_install(packages)
        if not update.ok or update.stderr.strip():
            retry.stderr += "\n" + "\n".join(
                f"(apt-get update) {line}" for line in update.tail(4)
            )
        return retry

    def lists_are_stale(self, now: Optional[float] = None) -> bool:
        """Return whether the package lists are missing or older than a day."""
        lists = glob.glob(os.path.join(LISTS_DIRECTORY, "*_Packages*"))
        if not lists:
            return True
        newest = max(os.path.getmtime(path) for path in lists)
        return (now or time.time()) - newest > LISTS_MAX_AGE

    def classify(self, completed: runner.Completed) -> Failure:
        if completed.timed_out:
            return Failure.TIMEOUT
        found = first_match(completed.stdout + "\n" + completed.stderr, _FAILURES)
        return found or Failure.OTHER

    def installed_versions(self, completed: runner.Completed) -> dict[str, str]:
        found = re.findall(r"Setting up ([^\s:]+)(?::\S+)? \(([^)]+)\)", completed.stdout)
        return dict(found)

    def installed_version(self, package: str) -> Optional[str]:
        completed = self.query(
            ["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", "--", package]
        )
        status, _, version = completed.stdout.partition(" ")
        if completed.ok and status.startswith("ii") and version:
            return version.strip()
        return None

    def candidate_version(self, package: str) -> Optional[str]:
        completed = self.query(["apt-cache", "policy", "--", package])
        match = re.search(r"^\s*Candidate:\s*(\S+)", completed.stdout, re.MULTILINE)
        if match is None or match.group(1) == "(none)":
            return None
        return match.group(1)

    def next_step(self, failure: Failure, packages: Sequence[str]) -> str:
        names = " ".join(packages)
        common = self.common_next_step(failure)
        if common:
            return common
        if failure is Failure.NO_PACKAGE:
            return (
                f"check the name with 'apt-cache policy {names}'; the package may "
                "not exist in this release or in the enabled components, or the "
                "mapping is wrong: see 'apkshim mapping show'"
            )
        if failure is Failure.NETWORK:
            return (
                "check the network, the proxy and the sources in /etc/apt/, then "
                "import again in a new process"
            )
        return "read the package manager's output above"
