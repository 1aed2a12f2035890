"""Serving one missed import: find the package, check, lock, install, find the spec.

``apkshim.finder.serve`` calls ``find_spec`` here for a miss made by user code
whose name the mapping (or the distro's metadata) may serve. Everything heavy (the
TOML parser, subprocess, logging) is imported from here, never at start-up.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from importlib.machinery import ModuleSpec
from types import FrameType
from typing import TYPE_CHECKING, Optional

import _apkshim_hook
from apkshim.finder import mapping_layers
from apkshim import backends, distrometa, importstate, interpreter, locking, settings
from apkshim.backends import Backend, Failure
from apkshim.errors import ImportInstallError, InstallError
from apkshim.mapping import Entry, Mapping

if TYPE_CHECKING:
    from collections.abc import Iterable

    from apkshim.finder import MappedFinder

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Context:
    """What one process decides once: settings, mapping, backend, interpreter verdict."""

    settings: settings.Settings
    mapping: Mapping
    backend: Optional[Backend]
    backend_reason: str
    _verdict: Optional[interpreter.Verdict] = None

    def verdict(self) -> interpreter.Verdict:
        assert self.backend is not None
        if self._verdict is None:
            rule = self.settings.other_python
            self._verdict = interpreter.check(self.backend, rule)
        return self._verdict


_context: Optional[Context] = None
# Errors of failed installs by (backend, package): a failed package is not tried
# again in the same process, so a loop of imports cannot run apk a hundred times.
_failed: dict[tuple[str, str], str] = {}


def load_context(
    environ: Optional[dict[str, str]] = None, warn: bool = True
) -> Context:
    """Resolve settings, read the mapping layers and choose the backend.

    With ``warn``, each problem of a mapping file is logged as a warning;
    ``apkshim doctor`` passes False and prints them itself.
    """
    environ = dict(os.environ) if environ is None else environ
    resolved = settings.resolve(environ)
    _configure_logging(environ)
    paths = mapping_layers(environ)
    mapping = Mapping.load(paths, required=resolved.mapping)
    for report in mapping.files if warn else ():
        for message in report.messages():
            log.warning("apkshim skips mapping file %s", message)
    backend, reason = backends.choose(resolved)
    return Context(resolved, mapping, backend, reason)


def context() -> Context:
    global _context
    if _context is None:
        _context = load_context()
    return _context


def reset() -> None:
    """Forget the loaded context and past failures (for tests and ``%apkshim``)."""
    global _context
    _context = None
    _failed.clear()
    distrometa.reset()


def _configure_logging(environ: dict[str, str]) -> None:
    # The library adds a handler only on request: APKSHIM_LOG=debug shows the
    # commands and their output on stderr.
    level = environ.get("APKSHIM_LOG", "").strip().upper()
    if not level or level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        return
    logger = logging.getLogger("apkshim")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("apkshim %(levelname)s: %(message)s"))
        logger.addHandler(handler)


def names_to_watch(mapping: Mapping, backend: Backend) -> set[str]:
    """Return the mapped import names and the parents of the dotted ones."""
    names = set(mapping.import_names(backend.name))
    for name in list(names):
        parts = name.split(".")
        names.update(".".join(parts[:end]) for end in range(1, len(parts)))
    return names


def requested_name(fullname: str) -> str:
    """Return the dotted name whose import led to this lookup of ``fullname``.

    ``import google.protobuf`` first imports ``google``; when ``google`` is
    missing too, only the import machinery's frames know the full name.
    NOTE: this reads a local of CPython's frozen importlib (``_find_and_load``).
    Elsewhere, or for ``from google import protobuf``, the parent is not found.
    """
    own_files = (os.path.join(os.path.dirname(__file__), ""), _apkshim_hook.__file__)
    frame: Optional[FrameType] = sys._getframe(1)
    found = fullname
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib._bootstrap"):
            if code.co_name == "_find_and_load":
                name = frame.f_locals.get("name")
                if isinstance(name, str) and name.startswith(fullname + "."):
                    found = name
        elif not code.co_filename.startswith(own_files):
            break
        frame = frame.f_back
    return found


def find_spec(
    finder: MappedFinder, fullname: str, path: Optional[Iterable[str]]
) -> Optional[ModuleSpec]:
    """Install the package that provides ``fullname`` and return its spec.

    Returns None when ``fullname`` is neither mapped for this backend nor found
    by the distro-metadata route. Raises ImportInstallError when it is found and
    cannot be served.
    """
    current = context()
    backend = current.backend
    if backend is None:
        finder.set_names(())
        log.debug("no package manager: %s", current.backend_reason)
        return None
    finder.set_names(names_to_watch(current.mapping, backend))

    found = current.mapping.find_import(requested_name(fullname), backend.name)
    if found is None and not current.mapping.mentions_import(fullname):
        # A name the mapping lists without a package for this backend (such as
        # "apt = false" in a user layer) stays unserved: the distro-metadata
        # route only serves names the mapping does not mention at all.
        found = distrometa.find_import(current, fullname)
    if found is None:
        return None
    key, entry = found
    if key != fullname and not key.startswith(fullname + "."):
        # A mapped parent is already imported, so this is a missing submodule.
        return None
    return serve(current, fullname, path, key, entry)


def serve(
    current: Context,
    fullname: str,
    path: Optional[Iterable[str]],
    key: str,
    entry: Entry,
) -> ModuleSpec:
    """Make ``fullname`` importable by installing ``entry``'s package."""
    backend = current.backend
    assert backend is not None
    package = entry.packages[backend.name]

    # The module may have arrived since start-up (another process, a shell),
    # also after an install of its package failed here.
    spec = _find_after_refresh(fullname, path)
    if spec is not None:
        return spec
    if (backend.name, package) in _failed:
        raise ImportInstallError(_failed[backend.name, package], name=fullname)

    version = _distribution_version(entry.project)
    if version is not None:
        raise _fail(
            backend,
            package,
            fullname,
            f"{entry.project} {version} is installed, as importlib.metadata shows, "
            f"but 'import {key}' still fails, so apkshim does not reinstall it. The "
            f"installation is broken or does not provide {key}: reinstall it "
            f"({_reinstall_hint(backend, package)}), or check the mapping with "
            f"'apkshim mapping show {key}'",
        )

    verdict = current.verdict()
    if not verdict.allowed:
        raise _fail(
            backend,
            package,
            fullname,
            f"apkshim will not install {package} ({backend.name}) for "
            f"'import {key}': {Failure.INTERPRETER.value}. {_sentence(verdict.reason)}",
        )

    extra = [verdict.site_directory] if verdict.site_directory else []
    pth_before = importstate.snapshot_pth_files()
    try:
        with locking.exclusive(
            current.settings.lock_dir,
            current.settings.timeout + current.settings.lock_wait,
        ):
            # Another process or thread may have installed it since the check
            # above, whether or not this one had to wait for the lock.
            importstate.refresh(pth_before, extra)
            spec = importstate.find(fullname, path)
            if spec is not None:
                log.info("%s arrived while waiting for the install lock", key)
                return spec
            pth_before = importstate.snapshot_pth_files()
            _run_install(backend, package, key)
    except InstallError as error:
        raise _fail(
            backend,
            package,
            fullname,
            f"apkshim could not install {package} ({backend.name}) for "
            f"'import {key}': {error}",
        ) from None

    importstate.refresh(pth_before, extra)
    spec = importstate.find(fullname, path)
    if spec is None:
        raise _fail(
            backend,
            package,
            fullname,
            f"{backend.name} installed {package}, but this Python still cannot find "
            f"'{key}'. sys.path does not contain the directory the package uses "
            f"({verdict.site_directory or _site_directory(backend)}), or the package "
            f"does not provide {key}; check with 'apkshim doctor'",
        )
    return spec


def _run_install(backend: Backend, package: str, key: str) -> None:
    backend.ensure_runnable()
    notice(f"installing {package} ({backend.name}) for 'import {key}'")
    started = time.monotonic()
    completed = backend.install([package])
    if not completed.ok:
        failure = backend.classify(completed)
        status = (
            f"none, killed after {completed.seconds:.0f} s"
            if completed.timed_out
            else str(completed.returncode)
        )
        output = "\n".join(f"    {line}" for line in completed.tail()) or "    (none)"
        raise InstallError(
            f"{failure.value}\n"
            f"  command: {completed.command}\n"
            f"  exit status: {status}\n"
            f"  output (last lines):\n{output}\n"
            f"  next step: {backend.next_step(failure, [package])}"
        )
    version = backend.installed_versions(completed).get(package)
    if version is None:
        version = backend.installed_version(package) or "(version unknown)"
    notice(f"installed {package} {version} in {time.monotonic() - started:.1f} s")


def _fail(backend: Backend, package: str, fullname: str, message: str) -> ImportInstallError:
    _failed[backend.name, package] = message
    return ImportInstallError(message, name=fullname)


def _site_directory(backend: Backend) -> str:
    return backend.site_directory.format(minor=sys.version_info[1])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def notice(text: str) -> None:
    """Print one line for the user; the only output apkshim makes without logging."""
    print(f"apkshim: {text}", file=sys.stderr, flush=True)


def _find_after_refresh(
    fullname: str, path: Optional[Iterable[str]]
) -> Optional[ModuleSpec]:
    importstate.refresh(importstate.snapshot_pth_files())
    return importstate.find(fullname, path)


def _distribution_version(project: str) -> Optional[str]:
    if sys.version_info >= (3, 10):
        from importlib import metadata
    else:
        try:  # the backport matches PyYAML to pyyaml; 3.9's own module does not
            import importlib_metadata as metadata
        except ImportError:
            from importlib import metadata
    try:
        return metadata.version(project)
    except metadata.PackageNotFoundError:
        return None


def _reinstall_hint(backend: Backend, package: str) -> str:
    if backend.name == "apk":
        return f"apk fix {package}"
    return f"apt-get install --reinstall {package}"
