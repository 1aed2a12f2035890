"""The apk backend, for Alpine Linux (apk-tools 2 and 3)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from apkshim import runner
from apkshim.backends.base import Backend, Failure, first_match

# Checked in order against stdout and stderr together. A network failure comes
# first because apk-tools 2 follows it with a misleading "no such package".
_FAILURES = [
    (r"could not connect to server|updating and opening .*: (?!OK)", Failure.NETWORK),
    (r"Unable to open log: Permission denied", Failure.PERMISSION),
    (r"Unable to lock database: Permission denied", Failure.PERMISSION),
    # NOTE: read from apk-tools 2 source, not seen in a run: with --wait, a lock
    # file it cannot open (not root, mostly) is reported as a bad descriptor.
    (r"Unable to lock database: Bad file descriptor", Failure.PERMISSION),
    (r"Unable to lock database: No such file or directory", Failure.NO_DATABASE),
    (
        r"Unable to lock database: (Resource temporarily unavailable|"
        r"Interrupted system call)|temporary error \(try again later\)",
        Failure.LOCKED,
    ),
    (r"\(no such package\)", Failure.NO_PACKAGE),
    # apk wraps this note at 50 columns, so "packages explicitly" may be on the
    # next line.
    (r"please select one of the 'provided by'", Failure.NO_PACKAGE),
    (r"Permission denied", Failure.PERMISSION),
]


class Apk(Backend):
    name = "apk"
    executable_name = "apk"
    site_directory = "/usr/lib/python3.{minor}/site-packages"

    def install_argv(self, packages: Sequence[str]) -> list[str]:
        wait = str(self.settings.lock_wait)
        return [self.executable, "add", "--no-interactive", "--wait", wait, "--", *packages]

    def classify(self, completed: runner.Completed) -> Failure:
        if completed.timed_out:
            return Failure.TIMEOUT
        found = first_match(completed.stdout + "\n" + completed.stderr, _FAILURES)
        return found or Failure.OTHER

    def installed_versions(self, completed: runner.Completed) -> dict[str, str]:
        found = re.findall(r"Installing (\S+) \((\S+)\)", completed.stdout)
        return dict(found)

    def installed_version(self, package: str) -> Optional[str]:
        return self._policy(package, installed=True)

    def candidate_version(self, package: str) -> Optional[str]:
        return self._policy(package, installed=False)

    def _policy(self, package: str, installed: bool) -> Optional[str]:
        # "apk policy" lists each version with the places it comes from, the
        # installed database first when that version is installed. Versions
        # are listed oldest first, so the candidate is the last untagged one.
        completed = self.query([self.executable, "policy", "--", package])
        versions: list[tuple[str, list[str]]] = []
        for line in completed.stdout.splitlines():
            heading = re.match(r"^  (\S+):$", line)
            if heading:
                versions.append((heading.group(1), []))
            elif line.startswith("    ") and versions:
                versions[-1][1].append(line.strip())
        if installed:
            for version, origins in versions:
                if any(origin.endswith("lib/apk/db/installed") for origin in origins):
                    return version
            return None
        # A version only in tagged repositories ("@edge https://...") is not what a
        # plain "apk add NAME" selects.
        untagged = [
            version
            for version, origins in versions
            if any(not origin.startswith("@") for origin in origins)
        ]
        return untagged[-1] if untagged else None

    def next_step(self, failure: Failure, packages: Sequence[str]) -> str:
        names = " ".join(packages)
        common = self.common_next_step(failure)
        if common:
            return common
        if failure is Failure.NO_PACKAGE:
            return (
                f"check the name with 'apk search -x {names}'; it may be in a "
                "repository that /etc/apk/repositories does not enable (community, "
                "testing), or the mapping is wrong: see 'apkshim mapping show'"
            )
        if failure is Failure.NETWORK:
            return (
                "check the network and the repositories in /etc/apk/repositories, "
                "then import again in a new process"
            )
        if failure is Failure.NO_DATABASE:
            return "this system has no apk database; is it Alpine Linux?"
        return "read the package manager's output above"
