"""The distro-metadata route: import names that no mapping layer lists.

When user code imports a missing top-level module NAME that the mapping lacks,
apkshim queries the distro's own package metadata for the package that ships NAME.
It installs that package only when the metadata names exactly one package and, on
apt, the package's file list confirms the module. It never installs a guessed name
and never asks PyPI. ``APKSHIM_METADATA=0`` turns the route off.

apk
    abuild gives every package a provide ``py3.X:MODULE=VERSION`` for each
    top-level package directory with ``__init__.py`` (and, from abuild 3.16.0 on,
    each top-level ``*.py`` module) that it installs for Python 3.X. One run of
    ``apk list --providers 'py3.X:*'`` lists every such provide with the packages
    behind it. A module that exactly one package provides is served by that
    package, installed by its own name.
apt
    Debian names the package of module ``foo_bar`` ``python3-foo-bar``: lower case,
    and ``-`` for ``_``, which package names cannot contain. One run of
    ``apt-cache pkgnames python3-`` lists the candidates. Before a candidate is
    installed, its ``.deb`` is downloaded into a temporary directory with
    ``apt-get download`` and listed with ``dpkg-deb -c`` (``dpkg -L`` when it is
    installed already). It must ship ``dist-packages/NAME/``, ``NAME.py`` or an
    extension module ``NAME.*.so``.

Each process builds its index once, on the first unmapped top-level miss made by
user code, and keeps every resolution, negative ones included, so a name costs one
verification per process at most. The finder gets the index as a set of folded
names (``distro_key``) and turns every other unmapped miss away with one set
lookup. That is the trade-off: one listing per process (``apt-cache pkgnames``
took about 0.5 s on a Debian 12 container without apt's binary cache) instead of
one query per miss. Until the index exists, an unmapped top-level miss costs a
scope check, so that imports made by libraries never build it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
from typing import TYPE_CHECKING, Optional

from apkshim.finder import distro_key
from apkshim import interpreter, runner
from apkshim.backends import Backend
from apkshim.mapping import Entry, is_module_name

if TYPE_CHECKING:
    from apkshim.autoinstall import Context
    from apkshim.settings import Settings

log = logging.getLogger(__name__)

# "<py3.12:numpy> py3-numpy-1.26.4-r0 x86_64 {py3-numpy} (BSD-3-Clause)", as
# 'apk list --providers' prints it in apk-tools 2.14 and 3.0.
# NOTE: read from apk-tools' app_list.c (a glob matches provided names with
# fnmatch), and run only against the emulator in tests/, never against real apk.
_APK_PROVIDER_LINE = re.compile(r"^<py3\.(\d+):([^>]+)> (\S+)")
# An apk package label is NAME-VERSION, and every version ends in -rN.
_APK_LABEL = re.compile(r"^(.+)-(\d[^-]*-r\d+)$")
_DEBIAN_PREFIX = "python3-"
_SITE_DIRECTORY = re.compile(r"^\.?/?usr/lib/python3(?:\.\d+)?/dist-packages/")
# Seconds a query may take before its process group is killed.
_QUERY_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Resolution:
    """The result of looking up one import name in the distro's metadata."""

    name: str
    backend: str
    package: Optional[str]
    """The package that ships the module, or None when there is none for certain."""
    reason: str
    """The evidence for ``package``, or the reason no package was chosen."""

    def entry(self) -> Entry:
        """Return a mapping entry that serves this name with ``package``."""
        assert self.package is not None
        return Entry(self.name, (self.name,), {self.backend: self.package}, {})


@dataclasses.dataclass
class Index:
    """One listing of the distro's Python modules, built once per process."""

    backend: str
    modules: dict[str, set[str]]
    """apk: module name -> packages that provide it. apt: folded name -> package."""
    source: str
    """The command that produced the listing, or why there is none."""

    def keys(self) -> frozenset[str]:
        """Return the folded names the finder lets through to apkshim."""
        return frozenset(distro_key(name) for name in self.modules)


_index: Optional[Index] = None
_resolutions: dict[tuple[str, str], Resolution] = {}


def reset() -> None:
    """Clear the index and every kept resolution (for tests and ``%apkshim``)."""
    global _index
    _index = None
    _resolutions.clear()


def describe_setting(settings: Settings) -> str:
    """Return one line on whether the route is on and where that was set."""
    source = settings.sources.get("metadata", "default")
    if settings.metadata:
        return (
            f"on ({source}): a missing top-level import that no mapping lists is "
            "installed when the distro's package metadata names its package; "
            "APKSHIM_METADATA=0 turns this off"
        )
    return f"off ({source}): only imports that a mapping lists are installed"


def finder_names() -> frozenset[str]:
    """Return the folded names of the modules the distro's metadata lists.

    The finder calls this once, on the first unmapped top-level miss from user
    code. It is empty when the route is off or there is no backend.
    """
    from apkshim import autoinstall

    current = autoinstall.context()
    if not current.settings.metadata or current.backend is None:
        return frozenset()
    return index(current.settings, current.backend).keys()


def find_import(current: Context, fullname: str) -> Optional[tuple[str, Entry]]:
    """Return ``(fullname, entry)`` when the distro's metadata serves ``fullname``.

    Only top-level names take this route, and only with ``metadata`` on.
    """
    backend = current.backend
    if not current.settings.metadata or backend is None or "." in fullname:
        return None
    resolution = resolve(current.settings, backend, fullname)
    if resolution.package is None:
        if distro_key(fullname) in index(current.settings, backend).modules:
            # A candidate exists but could not be verified (a failed download,
            # for one). Log it, because the import now fails for that reason.
            log.warning(
                "apkshim: not installing a package for 'import %s': %s; this "
                "process will not try again",
                fullname,
                resolution.reason,
            )
        else:
            log.info("distro metadata: no package for %r: %s", fullname, resolution.reason)
        return None
    log.info(
        "distro metadata: %s ships %r: %s",
        resolution.package,
        fullname,
        resolution.reason,
    )
    return fullname, resolution.entry()


def index(settings: Settings, backend: Backend) -> Index:
    """Return this process's index of the distro's modules, building it once."""
    global _index
    if _index is None or _index.backend != backend.name:
        if backend.name == "apk":
            _index = _apk_index(settings, backend)
        else:
            _index = _apt_index(settings)
        log.info(
            "distro metadata: %d names from %s", len(_index.modules), _index.source
        )
    return _index


def resolve(settings: Settings, backend: Backend, name: str) -> Resolution:
    """Return which package ships top-level module ``name``, verified, or why none."""
    key = (backend.name, name)
    if key not in _resolutions:
        _resolutions[key] = _resolve(settings, backend, name)
    return _resolutions[key]


def _resolve(settings: Settings, backend: Backend, name: str) -> Resolution:
    if not is_module_name(name) or "." in name:
        return Resolution(name, backend.name, None, "not a top-level module name")
    listing = index(settings, backend)
    if backend.name == "apk":
        return _resolve_apk(listing, name)
    return _resolve_apt(settings, listing, name)


# apk


def _apk_index(settings: Settings, backend: Backend) -> Index:
    version = interpreter.distro_version(backend, interpreter.DISTRO_PYTHON)
    if version is None:
        return Index("apk", {}, "nothing: the distro's python3 version is unknown")
    pattern = f"py3.{version[1]}:*"
    completed = _query(settings, [backend.executable, "list", "--providers", pattern])
    if not completed.ok:
        return Index("apk", {}, f"nothing: {completed.command} failed")
    modules: dict[str, set[str]] = {}
    for line in completed.stdout.splitlines():
        match = _APK_PROVIDER_LINE.match(line)
        if match is None or match.group(1) != str(version[1]):
            continue
        label = _APK_LABEL.match(match.group(3))
        package = label.group(1) if label else match.group(3)
        modules.setdefault(match.group(2), set()).add(package)
    return Index("apk", modules, completed.command)


def _resolve_apk(listing: Index, name: str) -> Resolution:
    packages = sorted(listing.modules.get(name, ()))
    if not packages:
        return Resolution(
            name, "apk", None, f"no package provides {name} in {listing.source}"
        )
    if len(packages) > 1:
        return Resolution(
            name,
            "apk",
            None,
            f"{len(packages)} packages provide {name} ({', '.join(packages)}), so "
            "apkshim does not choose; add a mapping entry for the right one",
        )
    return Resolution(
        name,
        "apk",
        packages[0],
        f"apk lists {packages[0]} as the one provider of {name}",
    )


# apt


def _apt_index(settings: Settings) -> Index:
    # NOTE: with empty package lists (a fresh container before 'apt-get update')
    # the listing is empty, and the route finds nothing; it never updates them.
    argv = ["apt-cache", "pkgnames", _DEBIAN_PREFIX]
    completed = _query(settings, argv)
    if not completed.ok:
        return Index("apt", {}, f"nothing: {completed.command} failed")
    modules: dict[str, set[str]] = {}
    for package in completed.stdout.split():
        suffix = package[len(_DEBIAN_PREFIX) :]
        if package.startswith(_DEBIAN_PREFIX) and re.fullmatch(r"[a-z0-9-]+", suffix):
            modules[suffix] = {package}
    return Index("apt", modules, completed.command)


def _resolve_apt(settings: Settings, listing: Index, name: str) -> Resolution:
    packages = listing.modules.get(distro_key(name))
    if not packages:
        candidate = _DEBIAN_PREFIX + distro_key(name)
        return Resolution(name, "apt", None, f"{candidate} is not in {listing.source}")
    (package,) = packages
    files, evidence = _debian_file_list(settings, package)
    if files is None:
        return Resolution(name, "apt", None, evidence)
    shipped = debian_ships_module(files, name)
    if shipped is None:
        return Resolution(
            name,
            "apt",
            None,
            f"{package} exists but ships no module {name} under dist-packages "
            f"({evidence})",
        )
    return Resolution(name, "apt", package, f"{evidence} lists {shipped}")


def _debian_file_list(
    settings: Settings, package: str
) -> tuple[Optional[list[str]], str]:
    """Return the paths ``package`` installs and their source, or None and why not."""
    status = _query(
        settings, ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "--", package]
    )
    if status.ok and status.stdout.startswith("ii"):
        listed = _query(settings, ["dpkg", "-L", "--", package])
        if listed.ok:
            return listed.stdout.splitlines(), f"'dpkg -L {package}'"

    with tempfile.TemporaryDirectory(prefix="apkshim-deb-") as directory:
        download = runner.run(
            ["apt-get", "download", "--", package],
            timeout=min(settings.timeout, 600.0),
            environment={"DEBIAN_FRONTEND": "noninteractive"},
            cwd=directory,
        )
        debs = [name for name in os.listdir(directory) if name.endswith(".deb")]
        if not download.ok or len(debs) != 1:
            tail = " / ".join(download.tail(2)) or "no output"
            return None, (
                f"could not download {package} to check its files "
                f"({download.command} exited with {download.returncode}: {tail})"
            )
        contents = _query(
            settings, ["dpkg-deb", "-c", os.path.join(directory, debs[0])]
        )
    if not contents.ok:
        return None, f"could not list {debs[0]}: {' / '.join(contents.tail(2))}"
    # dpkg-deb -c prints tar's long listing; the path is the sixth field.
    paths = [line.split(None, 5)[-1] for line in contents.stdout.splitlines()]
    return [path.split(" -> ")[0] for path in paths], f"'dpkg-deb -c' of {debs[0]}"


def debian_ships_module(paths: list[str], name: str) -> Optional[str]:
    """Return the path that makes ``name`` importable, if ``paths`` contains one.

    That is a directory ``dist-packages/NAME/`` with files in it, ``NAME.py`` or an
    extension module ``NAME.so`` / ``NAME.<tag>.so`` right under dist-packages.
    """
    for path in paths:
        match = _SITE_DIRECTORY.match(path)
        if match is None:
            continue
        relative = path[match.end() :]
        first, _, rest = relative.partition("/")
        if rest and first == name:
            return path
        if not rest and (
            first == f"{name}.py"
            or (first.startswith(f"{name}.") and first.endswith(".so"))
        ):
            return path
    return None


def _query(settings: Settings, argv: list[str]) -> runner.Completed:
    return runner.run(argv, timeout=min(settings.timeout, _QUERY_TIMEOUT))
