"""The finder as a whole: a throwaway mapping and a fake apk that installs nothing real.

Each test appends a fresh MappedFinder to sys.meta_path (the import state is
restored afterwards), points APKSHIM_MAPPING at a mapping of made-up modules,
sets APKSHIM_BACKEND=apk and puts a fake ``apk`` first on PATH. The interpreter
check is stubbed to "served" so the same tests run on every Python; the check
itself has its own tests.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import _apkshim_hook
import apkshim
from _apkshim_hook import MappedFinder
from apkshim import autoinstall, finder, importstate, interpreter
from apkshim.errors import ImportInstallError

from unit_support import FakeBin, FakeTool, emit

MAPPING = """\
[apkshim-fake]
imports = ["apkshim_fake_mod", "apkshim_fake_ns.sub"]
apk = "py3-apkshim-fake"
apt = "python3-apkshim-fake"
"""

NO_SUCH_PACKAGE = (
    "ERROR: unable to select packages:\n"
    "  py3-apkshim-fake (no such package):\n"
    "    required by: world[py3-apkshim-fake]\n"
)

EXPECTED_ADD = ["add", "--no-interactive", "--wait", "300", "--", "py3-apkshim-fake"]


class Hook:
    """The finder under test and what it runs."""

    def __init__(self, finder: MappedFinder, apk: FakeTool, directory: Path) -> None:
        self.finder = finder
        self.apk = apk
        self.directory = directory

    def adds(self) -> list[list[str]]:
        return [call for call in self.apk.calls() if call[:1] == ["add"]]


def served(backend: Any, rule: str = "refuse") -> interpreter.Verdict:
    return interpreter.Verdict(interpreter.SERVED, True, "a test says so", None)


@pytest.fixture
def hook(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_bin: FakeBin,
    import_state: None,
) -> Iterator[Hook]:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    mapping.chmod(0o644)
    for name in list(os.environ):
        if name.startswith("APKSHIM"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("APKSHIM_MAPPING", str(mapping))
    monkeypatch.setenv("APKSHIM_BACKEND", "apk")
    monkeypatch.setenv("APKSHIM_LOCK_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # These tests cover the mapping; tests/unit/test_distrometa.py covers the
    # route that asks the distro about unmapped names.
    monkeypatch.setenv("APKSHIM_METADATA", "0")
    monkeypatch.setattr(interpreter, "check", served)
    apk = fake_bin.add("apk", emit(stderr=NO_SUCH_PACKAGE, status=1))
    autoinstall.reset()
    finder.uninstall()
    mapped = MappedFinder()
    sys.meta_path.append(mapped)
    try:
        yield Hook(mapped, apk, tmp_path)
    finally:
        autoinstall.reset()


def run_code(code: str, filename: str, module_name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": module_name}
    exec(compile(code, filename, "exec"), namespace)
    return namespace


def site_packages_file() -> str:
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            return os.path.join(entry, "somelib", "__init__.py")
    pytest.skip("no site directory on sys.path")


def user_file(hook: Hook) -> str:
    return str(hook.directory / "analysis.py")


# Names the finder does not map


def test_unmapped_name_returns_none_without_loading_apkshim(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("autoinstall ran for an unmapped name")

    monkeypatch.setattr(autoinstall, "find_spec", fail)
    assert hook.finder.find_spec("apkshim_unmapped_xyz") is None
    assert hook.finder.declined == {}
    # The names are read once; later misses are a set lookup with no I/O.
    monkeypatch.setattr(finder, "_scan_tokens", fail)
    assert hook.finder.find_spec("apkshim_unmapped_abc") is None
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import apkshim_unmapped_xyz\n", user_file(hook), "analysis")
    assert type(raised.value) is ModuleNotFoundError
    assert hook.apk.calls() == []


def test_unmapped_name_is_never_handed_to_apk(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import apkshim_fake_other\n", user_file(hook), "analysis")
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.apk.calls() == []


def test_nothing_is_read_while_site_runs(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = ModuleType("site")
    site.__spec__ = importlib.machinery.ModuleSpec("site", None)
    site.__spec__._initializing = True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "site", site)
    assert hook.finder.find_spec("apkshim_fake_mod") is None
    assert hook.finder.names is None


# Imports that must install nothing


def test_library_import_of_a_mapped_name_installs_nothing(hook: Hook) -> None:
    library = site_packages_file()
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import apkshim_fake_mod\n", library, "somelib")
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.apk.calls() == []
    assert (
        hook.finder.declined["apkshim_fake_mod"]
        == f"imported by library code {library}"
    )


PROBING_EXTENSION = """
#include <Python.h>
static struct PyModuleDef definition = {PyModuleDef_HEAD_INIT, "apkshim_cprobe", NULL, -1};
PyMODINIT_FUNC PyInit_apkshim_cprobe(void) {
    PyObject *probed = PyImport_ImportModule("apkshim_fake_mod");
    if (probed == NULL) PyErr_Clear(); else Py_DECREF(probed);
    return PyModule_Create(&definition);
}
"""


def build_probing_extension(directory: Path) -> None:
    """Compile an extension module whose initialization probes a mapped name."""
    include = sysconfig.get_paths()["include"]
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip("no C compiler or Python.h to build the probing extension")
    source = directory / "apkshim_cprobe.c"
    source.write_text(PROBING_EXTENSION)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    target = directory / f"apkshim_cprobe{suffix}"
    command = [compiler, "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target)]
    subprocess.run(command, check=True, timeout=120)


def test_extension_module_probe_installs_nothing(hook: Hook) -> None:
    build_probing_extension(hook.directory)
    sys.path.insert(0, str(hook.directory))
    run_code("import apkshim_cprobe\n", "<stdin>", "__main__")
    assert hook.apk.calls() == []
    assert hook.finder.declined["apkshim_fake_mod"] == (
        "imported while apkshim_cprobe loads (an extension module)"
    )


def test_guarded_library_import_stays_quiet(
    hook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "try:\n    import apkshim_fake_mod\nexcept ImportError:\n    found = False\n"
    assert run_code(code, site_packages_file(), "somelib")["found"] is False
    assert hook.apk.calls() == []
    assert capsys.readouterr().err == ""


def test_find_spec_probe_of_a_mapped_name_installs_nothing(hook: Hook) -> None:
    code = (
        "import importlib.util\nspec = importlib.util.find_spec('apkshim_fake_mod')\n"
    )
    assert run_code(code, "<stdin>", "__main__")["spec"] is None
    assert hook.apk.calls() == []
    assert (
        hook.finder.declined["apkshim_fake_mod"] == "a probe (importlib.util.find_spec)"
    )


def test_generated_library_code_installs_nothing(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError):
        run_code("import apkshim_fake_mod\n", "<string>", "somelib.generated")
    assert hook.apk.calls() == []


def test_reentry_is_refused(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("autoinstall re-entered")

    monkeypatch.setattr(autoinstall, "find_spec", fail)
    hook.finder._local.busy = True
    assert hook.finder.find_spec("apkshim_fake_mod") is None


# Imports by user code


def test_user_import_runs_apk_once_and_reports_everything(
    hook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ImportInstallError) as raised:
        run_code("import apkshim_fake_mod\n", user_file(hook), "analysis")
    error = raised.value
    assert isinstance(error, ModuleNotFoundError)
    assert error.name == "apkshim_fake_mod"
    message = str(error)
    assert "py3-apkshim-fake (apk)" in message
    assert "'import apkshim_fake_mod'" in message
    assert "no such package" in message
    assert (
        f"command: {hook.apk.path} add --no-interactive --wait 300 -- py3-apkshim-fake"
        in message
    )
    assert "exit status: 1" in message
    assert "required by: world[py3-apkshim-fake]" in message
    assert "apk search -x py3-apkshim-fake" in message
    assert hook.adds() == [EXPECTED_ADD]
    (details,) = hook.apk.details()
    assert (details["stdin"], details["tty"]) == ("/dev/null", "no")
    assert capsys.readouterr().err.splitlines() == [
        "apkshim: installing py3-apkshim-fake (apk) for 'import apkshim_fake_mod'"
    ]

    # A failed package is not tried again in this process.
    with pytest.raises(ImportInstallError) as again:
        run_code("import apkshim_fake_mod\n", "<stdin>", "__main__")
    assert str(again.value) == message
    assert hook.adds() == [EXPECTED_ADD]


def test_import_module_from_user_code_installs(hook: Hook) -> None:
    code = "import importlib\nimportlib.import_module('apkshim_fake_mod')\n"
    with pytest.raises(ImportInstallError):
        run_code(code, user_file(hook), "analysis")
    assert hook.adds() == [EXPECTED_ADD]


def test_scope_all_installs_for_libraries(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APKSHIM_SCOPE", "all")
    with pytest.raises(ImportInstallError):
        run_code("import apkshim_fake_mod\n", site_packages_file(), "somelib")
    assert hook.adds() == [EXPECTED_ADD]


def test_dotted_key_installs_for_its_missing_parent(hook: Hook) -> None:
    with pytest.raises(ImportInstallError) as raised:
        run_code("import apkshim_fake_ns.sub\n", "<stdin>", "__main__")
    assert raised.value.name == "apkshim_fake_ns"
    assert "'import apkshim_fake_ns.sub'" in str(raised.value)
    assert hook.adds() == [EXPECTED_ADD]


def test_unmapped_sibling_of_a_dotted_key_installs_nothing(hook: Hook) -> None:
    with pytest.raises(ModuleNotFoundError) as raised:
        run_code("import apkshim_fake_ns.other\n", "<stdin>", "__main__")
    assert not isinstance(raised.value, ImportInstallError)
    assert hook.apk.calls() == []


def test_refused_interpreter_runs_no_apk(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mismatch(backend: Any, rule: str = "refuse") -> interpreter.Verdict:
        return interpreter.Verdict(
            interpreter.MISMATCH,
            False,
            "this is Python 3.99 but the distro has 3.1",
            None,
        )

    monkeypatch.setattr(interpreter, "check", mismatch)
    with pytest.raises(ImportInstallError) as raised:
        run_code("import apkshim_fake_mod\n", "<stdin>", "__main__")
    assert "interpreter mismatch" in str(raised.value)
    assert "This is Python 3.99" in str(raised.value)
    assert hook.apk.calls() == []


def test_installed_but_broken_distribution_is_not_reinstalled(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(autoinstall, "_distribution_version", lambda project: "1.0")
    with pytest.raises(ImportInstallError) as raised:
        run_code("import apkshim_fake_mod\n", "<stdin>", "__main__")
    assert "apkshim-fake 1.0 is installed" in str(raised.value)
    assert "does not reinstall" in str(raised.value)
    assert hook.apk.calls() == []


# Successful installs: the fake apk writes the module into a temporary directory.


def installing_apk(fake_bin: FakeBin, target: Path, runs: Path) -> FakeTool:
    module = (
        f"with open({str(runs)!r}, 'a') as runs:\n"
        "    runs.write('body ran\\n')\n"
        "VALUE = 42\n"
    )
    body = (
        f"mkdir -p {target}\n"
        f"cat > {target}/apkshim_fake_mod.py <<'EOF'\n{module}EOF\n"
        "echo '(1/1) Installing py3-apkshim-fake (1.0-r0)'\n"
        "echo 'OK: 12 KiB in 1 packages'\n"
    )
    return fake_bin.add("apk", body)


def test_install_into_a_path_entry_missing_at_first_lookup(
    hook: Hook,
    fake_bin: FakeBin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = hook.directory / "later"
    runs = hook.directory / "runs.txt"
    sys.path.append(str(target))
    apk = installing_apk(fake_bin, target, runs)
    namespace = run_code(
        "import apkshim_fake_mod\nvalue = apkshim_fake_mod.VALUE\n",
        "<stdin>",
        "__main__",
    )
    assert namespace["value"] == 42
    assert runs.read_text() == "body ran\n"
    assert [call[0] for call in apk.calls()] == ["add"]
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0]
        == "apkshim: installing py3-apkshim-fake (apk) for 'import apkshim_fake_mod'"
    )
    assert err[1].startswith("apkshim: installed py3-apkshim-fake 1.0-r0 in ")
    assert len(err) == 2


def test_install_that_creates_a_site_directory(
    hook: Hook,
    fake_bin: FakeBin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site_directory = hook.directory / "new-site-packages"
    runs = hook.directory / "runs.txt"
    monkeypatch.setattr(importstate, "site_directories", lambda: [str(site_directory)])
    installing_apk(fake_bin, site_directory, runs)
    namespace = run_code(
        "import apkshim_fake_mod\nvalue = apkshim_fake_mod.VALUE\n",
        "<stdin>",
        "__main__",
    )
    assert namespace["value"] == 42
    assert str(site_directory) in sys.path


def arrive_unseen(directory: Path) -> None:
    """Write the module into ``directory`` keeping its mtime, so caches miss it."""
    stat = os.stat(directory)
    (directory / "apkshim_fake_mod.py").write_text("VALUE = 7\n")
    os.utime(directory, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert importlib.machinery.PathFinder.find_spec("apkshim_fake_mod") is None


def test_module_that_arrived_meanwhile_needs_no_install(hook: Hook) -> None:
    directory = hook.directory / "present"
    directory.mkdir()
    sys.path.append(str(directory))
    assert importlib.machinery.PathFinder.find_spec("apkshim_fake_mod") is None
    arrive_unseen(directory)
    namespace = run_code(
        "import apkshim_fake_mod\nvalue = apkshim_fake_mod.VALUE\n",
        "<stdin>",
        "__main__",
    )
    assert namespace["value"] == 7
    assert hook.apk.calls() == []


def test_module_that_arrived_after_a_failed_install_is_found(hook: Hook) -> None:
    directory = hook.directory / "present"
    directory.mkdir()
    sys.path.append(str(directory))
    with pytest.raises(ImportInstallError):
        run_code("import apkshim_fake_mod\n", "<stdin>", "__main__")
    # The user installs the package by hand, then imports again.
    arrive_unseen(directory)
    namespace = run_code(
        "import apkshim_fake_mod\nvalue = apkshim_fake_mod.VALUE\n",
        "<stdin>",
        "__main__",
    )
    assert namespace["value"] == 7
    assert hook.adds() == [EXPECTED_ADD]


def test_two_threads_install_once(
    hook: Hook,
    fake_bin: FakeBin,
) -> None:
    target = hook.directory / "later"
    runs = hook.directory / "runs.txt"
    sys.path.append(str(target))
    apk = installing_apk(fake_bin, target, runs)
    results: list[object] = []

    def user_import() -> None:
        try:
            results.append(
                run_code(
                    "import apkshim_fake_mod as m\nv = m.VALUE\n", "<stdin>", "__main__"
                )["v"]
            )
        except Exception as error:  # noqa: BLE001 - reported below
            results.append(error)

    threads = [threading.Thread(target=user_import) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [42, 42]
    assert [call[0] for call in apk.calls()] == ["add"]
    assert runs.read_text() == "body ran\n"


# Installing the finder


def test_install_is_idempotent(import_state: None) -> None:
    finder.uninstall()
    first = finder.install()
    assert finder.install() is first
    assert finder.install() is first
    assert [f for f in sys.meta_path if getattr(f, "_apkshim_finder", False)] == [first]
    assert sys.meta_path[-1] is first
    assert finder.installed_finder() is first


def test_install_keeps_a_finder_of_another_copy_of_the_module(
    import_state: None,
) -> None:
    # A reloaded or second copy of _apkshim_hook defines another MappedFinder class;
    # the finder is still recognized by its marker attribute.
    finder.uninstall()

    class OtherCopy:
        _apkshim_finder = True

        def find_spec(self, *args: object) -> None:
            return None

    other = OtherCopy()
    sys.meta_path.append(other)
    installed: object = finder.install()
    assert installed is other
    assert sum(getattr(f, "_apkshim_finder", False) for f in sys.meta_path) == 1


def test_enable_and_disable(import_state: None) -> None:
    apkshim.disable()
    assert finder.installed_finder() is None
    apkshim.enable()
    apkshim.enable()
    installed = [f for f in sys.meta_path if getattr(f, "_apkshim_finder", False)]
    assert len(installed) == 1
    apkshim.disable()
    apkshim.disable()
    assert finder.installed_finder() is None


def test_finder_module_is_the_hook() -> None:
    assert finder.MappedFinder is _apkshim_hook.MappedFinder
    assert callable(finder.importer_scope)
