"""Making freshly installed modules visible to the running process."""

from __future__ import annotations

import importlib
import os
import site
import sys
from collections.abc import Iterable
from importlib.machinery import ModuleSpec, PathFinder
from typing import Optional


def site_directories() -> list[str]:
    """Return the site directories ``site`` would add for this interpreter."""
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    return directories


def snapshot_pth_files() -> dict[str, set[str]]:
    """Return the ``.pth`` files of every site directory on sys.path, by directory."""
    snapshot: dict[str, set[str]] = {}
    for directory in site_directories():
        if directory in sys.path:
            snapshot[directory] = _pth_files(directory)
    return snapshot


def _pth_files(directory: str) -> set[str]:
    try:
        return {name for name in os.listdir(directory) if name.endswith(".pth")}
    except OSError:
        return set()


def invalidate() -> None:
    """Drop every cached "not found" answer of the path-based import system.

    ``sys.path_importer_cache`` stores None for a path entry that did not exist
    at its first lookup; Python 3.9 keeps those entries through
    ``importlib.invalidate_caches()``, so they are removed here as well.
    """
    for entry, finder in list(sys.path_importer_cache.items()):
        if finder is None:
            del sys.path_importer_cache[entry]
    importlib.invalidate_caches()


def refresh(before: dict[str, set[str]], extra_directories: Iterable[str] = ()) -> None:
    """Add new site directories and process new ``.pth`` files after an install.

    A site directory that the install created was not on sys.path at start-up;
    ``site.addsitedir`` adds it and processes its ``.pth`` files. In directories
    that were already there, only the ``.pth`` files the install added are run.
    """
    invalidate()
    for directory in [*site_directories(), *extra_directories]:
        if directory not in sys.path:
            if os.path.isdir(directory):
                site.addsitedir(directory)
            continue
        for name in sorted(_pth_files(directory) - before.get(directory, set())):
            site.addpackage(directory, name, None)
    invalidate()


def find(fullname: str, path: Optional[Iterable[str]]) -> Optional[ModuleSpec]:
    """Return the spec the standard path finder finds now, after invalidation."""
    invalidate()
    return PathFinder.find_spec(fullname, None if path is None else list(path))
