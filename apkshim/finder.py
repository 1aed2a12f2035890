"""The import finder's work beyond the fast path: names, scope, handing over.

``MappedFinder`` itself lives in the top-level module ``_apkshim_hook``, which
``apkshim.pth`` imports at start-up without importing this package. The finder
imports this module on its first miss after start-up to read the mapping's names.
It calls ``serve`` for a miss worth a look, and ``apkshim.autoinstall`` then does
the install.

Until the mapping is parsed, the finder decides from a cheap token scan of the
mapping files: a superset of the mapped names, enough to return None at once for
the usual miss (guarded imports, optional dependencies).
"""

from __future__ import annotations

import _imp
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.machinery import ModuleSpec
from types import FrameType
from typing import Optional

import _apkshim_hook
from apkshim.mapping import read_regular_file
from _apkshim_hook import (
    MappedFinder,
    install,
    installed_finder,
    parse_switch,
    uninstall,
)

__all__ = [
    "MappedFinder",
    "importer_scope",
    "install",
    "installed_finder",
    "mapping_layers",
    "uninstall",
]


def shipped_mapping() -> str:
    """Return the path of the mapping shipped with apkshim."""
    package = os.path.dirname(os.path.abspath(__file__))
    wheel_copy = os.path.join(package, "mapping.toml")
    if os.path.exists(wheel_copy):
        return wheel_copy
    # A source checkout keeps the file at the top level, beside pyproject.toml.
    return os.path.join(os.path.dirname(package), "mapping.toml")


def mapping_layers(environ: "Mapping[str, str]") -> "list[str]":
    """Return the mapping layers in the order they are applied, later ones winning."""
    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config"
    )
    extra = [path for path in environ.get("APKSHIM_MAPPING", "").split(os.pathsep) if path]
    return [
        shipped_mapping(),
        "/etc/apkshim/mapping.toml",
        os.path.join(config_home, "apkshim", "mapping.toml"),
        *extra,
    ]


_TOKEN_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
)


def _scan_tokens(paths: "Iterable[str]") -> "frozenset[str]":
    """Return every dotted word in the files, with its dotted prefixes."""
    table = {code: " " for code in range(128) if chr(code) not in _TOKEN_CHARACTERS}
    tokens = set()
    for path in paths:
        try:
            text = read_regular_file(path)[0].decode("utf-8", errors="replace")
        except OSError:
            continue
        for word in text.translate(table).split():
            while word:
                tokens.add(word)
                word = word.rpartition(".")[0]
    return frozenset(tokens)


_library_cache: "tuple[tuple[str, ...], tuple[str, ...]]" = ((), ())


def _library_directories() -> "tuple[str, ...]":
    """Return the standard-library and site directories, whose code is not user code.

    The result is cached until ``sys.path`` changes, because computing it takes
    about a third as long as a whole import miss, and unmapped misses need it too.
    """
    global _library_cache
    key = tuple(sys.path)
    if _library_cache[0] == key and key:
        return _library_cache[1]
    directories = {os.path.dirname(os.__file__)}
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            directories.add(entry)
    site = sys.modules.get("site")
    if site is not None:
        try:
            directories.update(site.getsitepackages())
            directories.add(site.getusersitepackages())
        except AttributeError:  # an old virtualenv's site module lacks them
            pass
    found = tuple(os.path.join(directory, "") for directory in directories)
    _library_cache = (key, found)
    return found


def distro_key(name: str) -> str:
    """Return ``name`` as the index of the distro's modules stores it.

    Debian names the package of module ``Foo_Bar`` ``python3-foo-bar``, so the
    index folds case and ``_``. The exact name is checked when a name is resolved.
    """
    return name.lower().replace("_", "-")


def _metadata_is_off(environ: "Mapping[str, str]") -> bool:
    """Return whether ``APKSHIM_METADATA`` turns the distro-metadata route off."""
    value = environ.get("APKSHIM_METADATA", "").strip()
    # Unset, empty and invalid values leave the default, on, as the settings do.
    return bool(value) and parse_switch(value) is False


def _load_distro_names() -> "frozenset[str]":
    """Build the index of the distro's modules; empty when apkshim is missing."""
    try:
        from apkshim import distrometa
    except ImportError:
        return frozenset()
    return distrometa.finder_names()


_HOOK_FILE = os.path.abspath(_apkshim_hook.__file__)
_PACKAGE_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")
_IMPORTLIB_DIRECTORY = os.path.join(os.path.dirname(os.__file__), "importlib", "")


def importer_scope(frame: "FrameType | None") -> "tuple[bool, str]":
    """Return ``(is_user_code, reason)`` for the import running below ``frame``.

    The importer is the first frame outside the import machinery and apkshim.
    User code is ``__main__`` (a script, ``python -c``, the REPL, an IPython cell
    or ``%run``) and any file outside the standard-library and site directories.
    ``importlib.util.find_spec`` and ``pkgutil`` calls are probes: they only ask
    whether a module exists, so they never install. An import made while another
    module loads, with no Python frame in between, comes from an extension
    module's initialization (a compiled library's probe), so it is library code.
    """
    loading: "str | None" = None
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if code.co_name == "_find_and_load" and filename.startswith(
            "<frozen importlib._bootstrap"
        ):
            # Going outwards, each import is the one that led to the inner one:
            # its parent package, or a module whose loading ran the import.
            name = frame.f_locals.get("name")
            if isinstance(name, str):
                if loading is not None and not name.startswith(loading + "."):
                    return False, f"imported while {name} loads (an extension module)"
                loading = name
        if code.co_name == "find_spec" and (
            # importlib.util is frozen from Python 3.11 on.
            filename == "<frozen importlib.util>"
            or (
                filename.startswith(_IMPORTLIB_DIRECTORY)
                and filename.endswith("util.py")
            )
        ):
            return False, "a probe (importlib.util.find_spec)"
        if filename.startswith(("<frozen", _IMPORTLIB_DIRECTORY)):
            frame = frame.f_back
            continue
        if filename.startswith(_PACKAGE_DIRECTORY) or filename == _HOOK_FILE:
            frame = frame.f_back
            continue
        break
    if frame is None:
        return False, "no importing frame"
    filename = frame.f_code.co_filename
    if frame.f_globals.get("__name__") == "__main__":
        return True, "imported by __main__"
    if filename.startswith("<"):
        return False, f"imported by generated code {filename}"
    if filename.endswith("pkgutil.py"):
        return False, "a probe (pkgutil)"
    if filename.startswith(_library_directories()):
        return False, f"imported by library code {filename}"
    return True, f"imported by user code {filename}"



def prepare(finder: MappedFinder) -> None:
    """Give a new finder the names worth a look: a token superset of the mapping's."""
    finder.set_names(_scan_tokens(mapping_layers(os.environ)))
    if _metadata_is_off(os.environ):
        finder.set_distro_names(())


def serve(
    finder: MappedFinder,
    fullname: str,
    path: Optional[Sequence[str]],
    frame: Optional[FrameType],
) -> Optional[ModuleSpec]:
    """Install what serves ``fullname`` if user code imports it; return its spec.

    ``frame`` is the caller of ``find_spec``. The finder's re-entry flag is set
    while this runs, so apkshim's own imports never come back here.
    """
    if os.environ.get("APKSHIM_SCOPE", "").strip().lower() != "all":
        is_user_code, reason = importer_scope(frame)
        if not is_user_code:
            finder.decline(fullname, reason)
            return None

    # importlib holds its global import lock while it calls finders, and any
    # import in another thread waits for it. An install can take minutes.
    released = _release_import_lock()
    try:
        if finder.distro_names is None and fullname not in (finder.names or ()):
            distro_names = _load_distro_names()
            finder.set_distro_names(distro_names)
            if distro_key(fullname) not in distro_names:
                return None
        try:
            from apkshim import autoinstall
        except ImportError as error:
            # A half-removed apkshim: this module is left, autoinstall is gone.
            finder.decline(fullname, f"apkshim cannot be imported: {error}")
            return None
        return autoinstall.find_spec(finder, fullname, path)
    finally:
        if released:
            _imp.acquire_lock()


def _release_import_lock() -> bool:
    """Release the import lock if this thread holds it, and return whether it did."""
    try:
        _imp.release_lock()
    except RuntimeError:  # not held, as when find_spec is called directly
        return False
    return True
