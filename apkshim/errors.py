"""apkshim's exceptions: one root class, and import failures as ModuleNotFoundError."""

from __future__ import annotations


class ApkshimError(Exception):
    """Root of every error apkshim raises on purpose."""


class MappingError(ApkshimError):
    """A mapping file is invalid. ``problems`` lists every fault with its line."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}:{problem}" for problem in problems))


class InstallError(ApkshimError):
    """A package-manager or pip run failed, or could not be started."""


class ImportInstallError(ApkshimError, ModuleNotFoundError):
    """An ``import`` that apkshim tried to serve and could not.

    ``name`` is the module, as on every ModuleNotFoundError, so code that catches
    ModuleNotFoundError and inspects ``name`` keeps working.
    """
