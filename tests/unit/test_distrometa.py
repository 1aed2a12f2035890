"""The distro-metadata route, with fake apk, apt-get, apt-cache, dpkg and dpkg-deb.

The fakes print what the real tools print for a repository with a few made-up
Python packages, and record every run, so each test can count the queries. The
emulator tests and the system tests run the same route against the apk emulator
and the real apt.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import apkshim
from _apkshim_hook import MappedFinder
from apkshim import autoinstall, cli, distrometa, finder, interpreter, settings
from apkshim.backends import Apk, Apt
from apkshim.errors import ImportInstallError
from unit_support import FakeBin, FakeTool, emit

APK_LIST = """\
<py3.11:fakemod> py3-fakemod-1.0-r0 x86_64 {py3-fakemod} (MIT)
<py3.11:Fake_Caps> py3-fake-caps-2.1.3-r4 x86_64 {fake-caps} (MIT) [installed]
<py3.11:shared> py3-first-1.0-r0 x86_64 {py3-first} (MIT)
<py3.11:shared> py3-second-1.0-r0 x86_64 {py3-second} (MIT)
<py3.10:oldmod> py3-oldmod-1.0-r0 x86_64 {py3-oldmod} (MIT)
"""

NO_SUCH_PACKAGE = (
    "ERROR: unable to select packages:\n"
    "  py3-fakemod (no such package):\n"
    "    required by: world[py3-fakemod]\n"
)

# The fake apk prints APK_LIST for 'list' and fails every 'add' as an unknown package.
APK_BODY = f"""\
case "$1" in
  list) printf '%s' '{APK_LIST}' ;;
  add) printf '%s' '{NO_SUCH_PACKAGE}' >&2; exit 1 ;;
esac
"""

APT_NAMES = "python3-fakemod\npython3-fake-caps\npython3-nomod\npython3-ruamel.yaml\n"

# What 'dpkg-deb -c' prints for each fake package: tar's long listing.
DEB_LISTINGS = {
    "python3-fakemod": [
        "./usr/lib/python3/dist-packages/",
        "./usr/lib/python3/dist-packages/fakemod/",
        "./usr/lib/python3/dist-packages/fakemod/__init__.py",
    ],
    "python3-fake-caps": [
        "./usr/lib/python3/dist-packages/Fake_Caps.cpython-311-x86_64-linux-gnu.so",
    ],
    "python3-nomod": [
        "./usr/lib/python3/dist-packages/othermod.py",
        "./usr/share/doc/python3-nomod/copyright",
    ],
}


def deb_listing(paths: list[str]) -> str:
    return "".join(
        f"-rw-r--r-- root/root      1056 2023-01-01 12:00 {path}\n" for path in paths
    )


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[settings.Settings]:
    """Clear apkshim's variables and caches; the distro's python3 is 3.11."""
    for name in list(os.environ):
        if name.startswith("APKSHIM"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(interpreter, "distro_version", lambda *args: (3, 11))
    autoinstall.reset()
    yield settings.resolve({})
    autoinstall.reset()


@pytest.fixture
def apk(fake_bin: FakeBin, configured: settings.Settings) -> FakeTool:
    return fake_bin.add("apk", APK_BODY)


class AptTools:
    """The fake apt-cache, apt-get, dpkg-query, dpkg and dpkg-deb."""

    def __init__(self, fake_bin: FakeBin, installed: str = "") -> None:
        self.apt_cache = fake_bin.add("apt-cache", emit(stdout=APT_NAMES))
        # apt-get download writes NAME_VERSION_all.deb into its working directory.
        self.apt_get = fake_bin.add(
            "apt-get",
            'case "$1" in\n'
            '  download) [ "$3" = python3-broken ] && exit 100\n'
            '    echo deb > "$3_1.0-1_all.deb" ;;\n'
            "esac\n",
        )
        cases = "".join(
            f"  *{package}_*) printf '%s' '{deb_listing(paths)}' ;;\n"
            for package, paths in DEB_LISTINGS.items()
        )
        self.dpkg_deb = fake_bin.add("dpkg-deb", f'case "$2" in\n{cases}esac\n')
        status = f'[ "$4" = "{installed}" ] && printf "ii " && exit 0\nexit 1\n'
        self.dpkg_query = fake_bin.add("dpkg-query", status)
        listing = "/usr/lib/python3/dist-packages/fakemod/__init__.py\n"
        self.dpkg = fake_bin.add("dpkg", emit(stdout=listing))

    def downloads(self) -> list[list[str]]:
        return [call for call in self.apt_get.calls() if call[:1] == ["download"]]


@pytest.fixture
def apt(fake_bin: FakeBin, configured: settings.Settings) -> AptTools:
    return AptTools(fake_bin)


# apk


def test_apk_index_lists_modules_of_distro_python(
    apk: FakeTool, configured: settings.Settings
) -> None:
    listing = distrometa.index(configured, Apk(configured))
    assert listing.modules == {
        "fakemod": {"py3-fakemod"},
        "Fake_Caps": {"py3-fake-caps"},
        "shared": {"py3-first", "py3-second"},
    }
    assert apk.calls() == [["list", "--providers", "py3.11:*"]]


def test_apk_index_is_built_once(apk: FakeTool, configured: settings.Settings) -> None:
    backend = Apk(configured)
    distrometa.index(configured, backend)
    distrometa.resolve(configured, backend, "fakemod")
    distrometa.resolve(configured, backend, "nosuchmod")
    assert len(apk.calls()) == 1


def test_apk_resolve_single_provider(
    apk: FakeTool, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apk(configured), "fakemod")
    assert resolution.package == "py3-fakemod"
    assert "py3-fakemod as the one provider of fakemod" in resolution.reason


def test_apk_resolve_keeps_case(apk: FakeTool, configured: settings.Settings) -> None:
    backend = Apk(configured)
    assert distrometa.resolve(configured, backend, "Fake_Caps").package == (
        "py3-fake-caps"
    )
    assert distrometa.resolve(configured, backend, "fake_caps").package is None


def test_apk_resolve_two_providers_chooses_none(
    apk: FakeTool, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apk(configured), "shared")
    assert resolution.package is None
    assert "2 packages provide shared (py3-first, py3-second)" in resolution.reason


def test_apk_resolve_other_python_is_ignored(
    apk: FakeTool, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apk(configured), "oldmod")
    assert resolution.package is None
    assert "no package provides oldmod" in resolution.reason


def test_apk_failed_listing_gives_empty_index(
    fake_bin: FakeBin, configured: settings.Settings
) -> None:
    fake_bin.add("apk", emit(stderr="ERROR: broken\n", status=99))
    listing = distrometa.index(configured, Apk(configured))
    assert listing.modules == {}
    assert "failed" in listing.source


# apt


def test_apt_index_folds_package_names(
    apt: AptTools, configured: settings.Settings
) -> None:
    listing = distrometa.index(configured, Apt(configured))
    assert sorted(listing.modules) == ["fake-caps", "fakemod", "nomod"]
    assert apt.apt_cache.calls() == [["pkgnames", "python3-"]]


def test_apt_resolve_verifies_downloaded_deb(
    apt: AptTools, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apt(configured), "fakemod")
    assert resolution.package == "python3-fakemod"
    assert "python3-fakemod_1.0-1_all.deb" in resolution.reason
    assert "dist-packages/fakemod/__init__.py" in resolution.reason
    assert apt.downloads() == [["download", "--", "python3-fakemod"]]


def test_apt_download_runs_in_a_removed_directory(
    apt: AptTools, configured: settings.Settings
) -> None:
    distrometa.resolve(configured, Apt(configured), "fakemod")
    (call,) = apt.dpkg_deb.calls()
    assert call[0] == "-c"
    assert not os.path.exists(call[1]), "the downloaded .deb is removed"


def test_apt_resolve_folds_case_and_underscore(
    apt: AptTools, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apt(configured), "Fake_Caps")
    assert resolution.package == "python3-fake-caps"


def test_apt_package_without_module_is_rejected(
    apt: AptTools, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apt(configured), "nomod")
    assert resolution.package is None
    assert "python3-nomod exists but ships no module nomod" in resolution.reason


def test_apt_unknown_candidate_runs_no_download(
    apt: AptTools, configured: settings.Settings
) -> None:
    resolution = distrometa.resolve(configured, Apt(configured), "nosuchmod")
    assert resolution.package is None
    assert "python3-nosuchmod is not in apt-cache pkgnames python3-" in (
        resolution.reason
    )
    assert apt.downloads() == []


def test_apt_answers_are_kept(apt: AptTools, configured: settings.Settings) -> None:
    backend = Apt(configured)
    for _ in range(3):
        distrometa.resolve(configured, backend, "nomod")
        distrometa.resolve(configured, backend, "fakemod")
    assert len(apt.downloads()) == 2
    assert len(apt.apt_cache.calls()) == 1


def test_apt_failed_download_is_no_package(
    fake_bin: FakeBin, configured: settings.Settings
) -> None:
    tools = AptTools(fake_bin)
    fake_bin.add("apt-cache", emit(stdout="python3-broken\n"))
    resolution = distrometa.resolve(configured, Apt(configured), "broken")
    assert resolution.package is None
    assert "could not download python3-broken" in resolution.reason
    assert "exited with 100" in resolution.reason
    assert tools.dpkg_deb.calls() == []


def test_apt_installed_package_is_listed_by_dpkg(
    fake_bin: FakeBin, configured: settings.Settings
) -> None:
    tools = AptTools(fake_bin, installed="python3-fakemod")
    resolution = distrometa.resolve(configured, Apt(configured), "fakemod")
    assert resolution.package == "python3-fakemod"
    assert "'dpkg -L python3-fakemod'" in resolution.reason
    assert tools.downloads() == []


@pytest.mark.parametrize(
    ("path", "shipped"),
    [
        ("./usr/lib/python3/dist-packages/mod/__init__.py", True),
        ("/usr/lib/python3/dist-packages/mod/sub/x.py", True),
        ("./usr/lib/python3/dist-packages/mod.py", True),
        ("./usr/lib/python3/dist-packages/mod.cpython-311-x86_64-linux-gnu.so", True),
        ("./usr/lib/python3/dist-packages/mod.abi3.so", True),
        ("./usr/lib/python3.11/dist-packages/mod.py", True),
        ("./usr/lib/python3/dist-packages/mod/", False),
        ("/usr/lib/python3/dist-packages/mod", False),
        ("./usr/lib/python3/dist-packages/module.py", False),
        ("./usr/lib/python3/dist-packages/Mod.py", False),
        ("./usr/lib/python3/dist-packages/mod-1.0.dist-info/METADATA", False),
        ("./usr/share/mod/mod.py", False),
        ("./usr/lib/python3/site-packages/mod.py", False),
    ],
)
def test_debian_ships_module_paths(path: str, shipped: bool) -> None:
    assert (distrometa.debian_ships_module([path], "mod") is not None) is shipped


# The hook: which misses reach the route, and how often it queries


class Hook:
    """A finder on sys.meta_path with an empty mapping layer and the fake apk."""

    def __init__(self, mapped: MappedFinder, apk: FakeTool, directory: Path) -> None:
        self.finder = mapped
        self.apk = apk
        self.directory = directory

    def lists(self) -> list[list[str]]:
        return [call for call in self.apk.calls() if call[:1] == ["list"]]

    def adds(self) -> list[list[str]]:
        return [call for call in self.apk.calls() if call[:1] == ["add"]]


def served(backend: Any, rule: str = "refuse") -> interpreter.Verdict:
    return interpreter.Verdict(interpreter.SERVED, True, "a test says so", None)


@pytest.fixture
def hook(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    apk: FakeTool,
    import_state: None,
) -> Iterator[Hook]:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[apkshim-fake]\nimports = ["apkshim_fake_mod"]\n')
    mapping.chmod(0o644)
    monkeypatch.setenv("APKSHIM_MAPPING", str(mapping))
    monkeypatch.setenv("APKSHIM_BACKEND", "apk")
    monkeypatch.setenv("APKSHIM_LOCK_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(interpreter, "check", served)
    finder.uninstall()
    mapped = MappedFinder()
    sys.meta_path.append(mapped)
    yield Hook(mapped, apk, tmp_path)


def run_code(code: str, filename: str, module_name: str = "analysis") -> None:
    exec(compile(code, filename, "exec"), {"__name__": module_name})


def library_file() -> str:
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            return os.path.join(entry, "somelib", "__init__.py")
    pytest.skip("no site directory on sys.path")


def test_hook_installs_provider_for_user_import(hook: Hook) -> None:
    with pytest.raises(ImportInstallError) as raised:
        run_code("import fakemod\n", str(hook.directory / "analysis.py"))
    assert raised.value.name == "fakemod"
    assert "py3-fakemod (apk)" in str(raised.value)
    assert hook.adds() == [
        ["add", "--no-interactive", "--wait", "300", "--", "py3-fakemod"]
    ]


def test_hook_queries_once_for_many_misses(hook: Hook) -> None:
    for index in range(20):
        with pytest.raises(ModuleNotFoundError) as raised:
            run_code(f"import apkshim_absent_{index}\n", "<stdin>", "__main__")
        assert not isinstance(raised.value, ImportInstallError)
    assert len(hook.lists()) == 1
    assert hook.adds() == []
    assert hook.finder.distro_names == frozenset({"fakemod", "fake-caps", "shared"})


def test_hook_library_miss_builds_no_index(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError):
        run_code("import fakemod\n", library_file(), "somelib")
    assert hook.apk.calls() == []
    assert hook.finder.distro_names is None
    assert hook.finder.declined["fakemod"].startswith("imported by library code")


def test_hook_library_miss_after_index_installs_nothing(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError):
        run_code("import apkshim_absent\n", "<stdin>", "__main__")
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import fakemod\n", library_file(), "somelib")
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.adds() == []


def test_hook_ambiguous_name_installs_nothing(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import shared\n", "<stdin>", "__main__")
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.adds() == []


def test_hook_metadata_off_queries_nothing(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APKSHIM_METADATA", "0")
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import fakemod\n", "<stdin>", "__main__")
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.apk.calls() == []
    assert hook.finder.distro_names == frozenset()


def test_hook_submodule_miss_queries_nothing(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError):
        run_code("import json.apkshim_absent\n", "<stdin>", "__main__")
    assert hook.apk.calls() == []


def test_hook_without_distrometa_gives_empty_index(
    monkeypatch: pytest.MonkeyPatch, import_state: None
) -> None:
    # A half-removed apkshim: the hook module is left, the package module is not.
    monkeypatch.delattr(apkshim, "distrometa")
    monkeypatch.setitem(sys.modules, "apkshim.distrometa", None)
    assert finder._load_distro_names() == frozenset()


@pytest.mark.parametrize(
    ("value", "off"),
    [("0", True), ("off", True), ("No", True), ("1", False), ("", False), ("x", False)],
)
def test_hook_reads_metadata_switch(value: str, off: bool) -> None:
    assert finder._metadata_is_off({"APKSHIM_METADATA": value}) is off


def test_distro_key_folds_case_and_underscore() -> None:
    assert finder.distro_key("Fake_Caps") == "fake-caps"


# What users read


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Remove the handlers that cli.main adds to the root logger."""
    handlers = list(logging.getLogger().handlers)
    yield
    logging.getLogger().handlers[:] = handlers


@pytest.mark.usefixtures("root_handlers")
def test_doctor_says_metadata_is_on(
    apk: FakeTool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("APKSHIM_BACKEND", "apk")
    monkeypatch.setattr(interpreter, "check", served)
    cli.main(["doctor"])
    assert "metadata: on (default): " in capsys.readouterr().out


@pytest.mark.usefixtures("root_handlers")
def test_doctor_says_metadata_is_off(
    apk: FakeTool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("APKSHIM_BACKEND", "apk")
    monkeypatch.setenv("APKSHIM_METADATA", "off")
    monkeypatch.setattr(interpreter, "check", served)
    cli.main(["doctor"])
    assert "metadata: off (APKSHIM_METADATA): " in capsys.readouterr().out


def test_hook_removed_backend_skips_metadata(hook: Hook) -> None:
    # A user layer that removes the apk package keeps the name unserved.
    layer = hook.directory / "config" / "apkshim" / "mapping.toml"
    layer.parent.mkdir(parents=True)
    layer.write_text('[fakemod]\nimports = ["fakemod"]\napk = false\napt = "python3-fakemod"\n')
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import fakemod\n", str(hook.directory / "analysis.py"))
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.adds() == []


def test_hook_unverified_candidate_is_reported(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="apkshim"):
        with pytest.raises(ModuleNotFoundError):
            run_code("import shared\n", "<stdin>", "__main__")
    (record,) = [r for r in caplog.records if "import shared" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "will not try again" in record.getMessage()
