"""Making a freshly installed module visible in the same process.

Field report 1: the install creates a site directory that did not exist at
start-up. Field report 2: stale import caches, both a sys.path entry cached as
missing and a directory whose mtime hides the new file. And a .pth file that the
install adds is processed exactly once.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder
from pathlib import Path

import pytest

from apkshim import importstate


def write_module(directory: Path, name: str, body: str = "VALUE = 1\n") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(body)


def test_path_entry_missing_at_first_lookup_is_found_after_refresh(
    tmp_path: Path, import_state: None
) -> None:
    directory = tmp_path / "created-later"
    sys.path.append(str(directory))
    assert PathFinder.find_spec("apkshim_state_a") is None
    assert sys.path_importer_cache[str(directory)] is None

    write_module(directory, "apkshim_state_a")
    importstate.refresh(importstate.snapshot_pth_files())
    spec = importstate.find("apkshim_state_a", None)
    assert spec is not None and spec.origin == str(directory / "apkshim_state_a.py")


def test_new_file_behind_an_unchanged_mtime_is_found(
    tmp_path: Path, import_state: None
) -> None:
    directory = tmp_path / "existing"
    directory.mkdir()
    sys.path.append(str(directory))
    assert PathFinder.find_spec("apkshim_state_b") is None

    before = os.stat(directory)
    write_module(directory, "apkshim_state_b")
    os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
    # The cache of the directory's listing still says the file is not there.
    assert PathFinder.find_spec("apkshim_state_b") is None

    spec = importstate.find("apkshim_state_b", None)
    assert spec is not None and spec.origin == str(directory / "apkshim_state_b.py")


def test_submodule_search_path_is_passed_through(
    tmp_path: Path, import_state: None
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    assert importstate.find("apkshim_state_c", [str(package)]) is None
    before = os.stat(package)
    write_module(package, "apkshim_state_c")
    os.utime(package, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert importstate.find("apkshim_state_c", [str(package)]) is not None


def test_site_directory_created_by_the_install_is_added(
    tmp_path: Path, import_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_directory = tmp_path / "lib" / "site-packages"
    monkeypatch.setattr(importstate, "site_directories", lambda: [str(site_directory)])
    before = importstate.snapshot_pth_files()
    assert before == {}

    # The "install": a new site directory with a module and a .pth path line.
    write_module(site_directory, "apkshim_state_d")
    extra = tmp_path / "extra"
    write_module(extra, "apkshim_state_e")
    (site_directory / "extra.pth").write_text(f"{extra}\n")

    importstate.refresh(before)
    assert str(site_directory) in sys.path
    assert str(extra) in sys.path
    assert importstate.find("apkshim_state_d", None) is not None
    assert importstate.find("apkshim_state_e", None) is not None


def test_extra_directory_is_added_when_it_exists(
    tmp_path: Path, import_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importstate, "site_directories", lambda: [])
    missing = tmp_path / "not-yet"
    importstate.refresh({}, [str(missing)])
    assert str(missing) not in sys.path
    write_module(missing, "apkshim_state_f")
    importstate.refresh({}, [str(missing)])
    assert sys.path.count(str(missing)) == 1
    assert importstate.find("apkshim_state_f", None) is not None


COUNTING_PTH = (
    "import os; os.environ['APKSHIM_TEST_PTH_RUNS'] = "
    "os.environ.get('APKSHIM_TEST_PTH_RUNS', '') + 'x'\n"
)


def test_new_pth_file_is_processed_once(
    tmp_path: Path, import_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APKSHIM_TEST_PTH_RUNS", raising=False)
    site_directory = tmp_path / "site-packages"
    site_directory.mkdir()
    (site_directory / "old.pth").write_text(COUNTING_PTH)
    sys.path.append(str(site_directory))
    monkeypatch.setattr(importstate, "site_directories", lambda: [str(site_directory)])

    before = importstate.snapshot_pth_files()
    assert before == {str(site_directory): {"old.pth"}}
    extra = tmp_path / "extra"
    write_module(extra, "apkshim_state_g")
    (site_directory / "new.pth").write_text(COUNTING_PTH + f"{extra}\n")

    importstate.refresh(before)
    # Only the new file ran; the old one was processed at start-up.
    assert os.environ["APKSHIM_TEST_PTH_RUNS"] == "x"
    assert sys.path.count(str(extra)) == 1
    assert importstate.find("apkshim_state_g", None) is not None

    # The next refresh starts from a snapshot that includes it: nothing runs again.
    importstate.refresh(importstate.snapshot_pth_files())
    assert os.environ["APKSHIM_TEST_PTH_RUNS"] == "x"
    assert sys.path.count(str(extra)) == 1


def test_invalidate_drops_cached_misses_only(
    tmp_path: Path, import_state: None
) -> None:
    missing = str(tmp_path / "missing")
    sys.path_importer_cache[missing] = None
    present = str(tmp_path)
    PathFinder.find_spec("apkshim_state_none", [present])
    assert sys.path_importer_cache[present] is not None
    importstate.invalidate()
    assert missing not in sys.path_importer_cache
    assert present in sys.path_importer_cache


def test_site_directories_are_this_interpreters() -> None:
    import site

    directories = importstate.site_directories()
    assert directories[: len(site.getsitepackages())] == site.getsitepackages()
