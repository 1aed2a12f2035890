"""Scope: whose import is it? Real frames, built by compiling code with chosen names."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import site
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import pytest

import _apkshim_hook
from apkshim.finder import importer_scope

STDLIB = os.path.dirname(os.__file__)
IMPORTLIB = os.path.dirname(importlib.__file__)
PACKAGE = os.path.join(os.path.dirname(_apkshim_hook.__file__), "apkshim")


def site_packages() -> str:
    """Return a site directory of this interpreter that is on sys.path."""
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            return entry
    for entry in site.getsitepackages():
        return entry
    pytest.skip("this interpreter has no site directory")


def scope_of_frame(filename: str, module_name: str) -> tuple[bool, str]:
    """Run ``importer_scope`` on a frame of code compiled as ``filename``."""
    namespace: dict[str, Any] = {
        "__name__": module_name,
        "_scope": importer_scope,
        "_getframe": sys._getframe,
    }
    exec(compile("result = _scope(_getframe())\n", filename, "exec"), namespace)
    result: tuple[bool, str] = namespace["result"]
    return result


def scope_through(layers: Sequence[tuple[str, str, str]]) -> tuple[bool, str]:
    """Call through functions compiled as ``(filename, module, function)``.

    The first layer is the outermost caller; the last one calls importer_scope
    on its own frame, as the finder does on the import machinery's frame.
    """
    inner: Optional[Any] = None
    for filename, module_name, function in reversed(layers):
        body = "return _scope(_getframe())" if inner is None else "return _inner()"
        namespace: dict[str, Any] = {
            "__name__": module_name,
            "_scope": importer_scope,
            "_getframe": sys._getframe,
            "_inner": inner,
        }
        exec(compile(f"def {function}():\n    {body}\n", filename, "exec"), namespace)
        inner = namespace[function]
    assert inner is not None
    result: tuple[bool, str] = inner()
    return result


# One frame decides


def test_main_is_user_code() -> None:
    assert scope_of_frame("<stdin>", "__main__") == (True, "imported by __main__")


def test_main_script_is_user_code(tmp_path: Path) -> None:
    assert scope_of_frame(str(tmp_path / "script.py"), "__main__")[0] is True


def test_ipython_cell_is_user_code() -> None:
    assert scope_of_frame("/tmp/ipykernel_4242/1234567.py", "__main__")[0] is True
    assert scope_of_frame("<ipython-input-3-abcdef>", "__main__")[0] is True


def test_main_wins_even_inside_site_packages() -> None:
    # "python -m tool" of an installed tool runs it as __main__.
    filename = os.path.join(site_packages(), "sometool", "__main__.py")
    assert scope_of_frame(filename, "__main__")[0] is True


def test_file_in_a_temporary_directory_is_user_code(tmp_path: Path) -> None:
    filename = str(tmp_path / "project" / "helpers.py")
    assert scope_of_frame(filename, "helpers") == (
        True,
        f"imported by user code {filename}",
    )


def test_file_in_site_packages_is_library_code() -> None:
    filename = os.path.join(site_packages(), "somelib", "__init__.py")
    assert scope_of_frame(filename, "somelib") == (
        False,
        f"imported by library code {filename}",
    )


def test_every_site_directory_is_library_code() -> None:
    for directory in site.getsitepackages():
        filename = os.path.join(directory, "lib", "x.py")
        assert scope_of_frame(filename, "lib.x")[0] is False, directory


def test_site_directory_on_sys_path_is_library_code(
    tmp_path: Path, import_state: None
) -> None:
    directory = tmp_path / "venv" / "lib" / "site-packages"
    sys.path.append(str(directory))
    filename = str(directory / "probing" / "__init__.py")
    assert scope_of_frame(filename, "probing")[0] is False


def test_stdlib_is_library_code() -> None:
    filename = os.path.join(STDLIB, "json", "decoder.py")
    assert scope_of_frame(filename, "json.decoder")[0] is False


def test_directory_named_like_the_stdlib_is_not_the_stdlib() -> None:
    filename = STDLIB.rstrip(os.sep) + "-notes" + os.sep + "analysis.py"
    assert scope_of_frame(filename, "analysis")[0] is True


@pytest.mark.parametrize("filename", ["<string>", "<console>", "<doctest x[0]>"])
def test_generated_code_outside_main_is_not_user_code(filename: str) -> None:
    assert scope_of_frame(filename, "somelib.generated") == (
        False,
        f"imported by generated code {filename}",
    )


def test_no_frame() -> None:
    assert importer_scope(None) == (False, "no importing frame")


# Frames that are skipped on the way to the importer


def test_frozen_and_apkshim_frames_are_skipped(tmp_path: Path) -> None:
    user = str(tmp_path / "analysis.py")
    result = scope_through(
        [
            (user, "analysis", "main"),
            ("<frozen importlib._bootstrap>", "importlib._bootstrap", "_find_and_load"),
            (_apkshim_hook.__file__, "_apkshim_hook", "find_spec"),
            (os.path.join(PACKAGE, "autoinstall.py"), "apkshim.autoinstall", "serve"),
        ]
    )
    assert result == (True, f"imported by user code {user}")


def test_importlib_frames_are_skipped(tmp_path: Path) -> None:
    library = os.path.join(site_packages(), "plugins", "loader.py")
    result = scope_through(
        [
            (library, "plugins.loader", "load"),
            (os.path.join(IMPORTLIB, "__init__.py"), "importlib", "import_module"),
            ("<frozen importlib._bootstrap>", "importlib._bootstrap", "_gcd_import"),
        ]
    )
    assert result[0] is False
    assert "library code" in result[1]


@pytest.mark.parametrize(
    "util",
    # importlib.util is frozen from Python 3.11 on.
    ["<frozen importlib.util>", os.path.join(IMPORTLIB, "util.py")],
)
def test_find_spec_in_importlib_util_is_a_probe(tmp_path: Path, util: str) -> None:
    result = scope_through(
        [
            (str(tmp_path / "user.py"), "user", "main"),
            (util, "importlib.util", "find_spec"),
            ("<frozen importlib._bootstrap>", "importlib._bootstrap", "_find_spec"),
        ]
    )
    assert result == (False, "a probe (importlib.util.find_spec)")


def test_only_importlib_frames_means_no_importer() -> None:
    # The test function's own frame is reached: it is user code (this file).
    result = scope_through(
        [("<frozen importlib._bootstrap>", "importlib._bootstrap", "_find_and_load")]
    )
    assert result == (True, f"imported by user code {__file__}")


# Real imports, seen by a finder placed where apkshim's goes


class ScopeRecorder:
    """A meta-path finder that records importer_scope for one name; it finds nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.scopes: list[tuple[bool, str]] = []

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]] = None,
        target: Optional[ModuleType] = None,
    ) -> None:
        if fullname == self.name:
            self.scopes.append(importer_scope(sys._getframe(1)))
        return None


@pytest.fixture
def recorder(import_state: None) -> Iterator[ScopeRecorder]:
    finder = ScopeRecorder("apkshim_scope_test_missing")
    sys.meta_path.append(finder)
    yield finder


def run_code(code: str, filename: str, module_name: str) -> None:
    namespace: dict[str, Any] = {"__name__": module_name}
    exec(compile(code, filename, "exec"), namespace)


def only_scope(recorder: ScopeRecorder) -> tuple[bool, str]:
    assert len(recorder.scopes) == 1, recorder.scopes
    return recorder.scopes[0]


PROBE = (
    "import importlib.util\nimportlib.util.find_spec('apkshim_scope_test_missing')\n"
)

GUARDED_IMPORT = """\
try:
    import apkshim_scope_test_missing
except ImportError:
    pass
"""


def test_import_statement_in_user_code(recorder: ScopeRecorder, tmp_path: Path) -> None:
    filename = str(tmp_path / "analysis.py")
    run_code(GUARDED_IMPORT, filename, "analysis")
    assert only_scope(recorder) == (True, f"imported by user code {filename}")


def test_import_statement_in_main(recorder: ScopeRecorder) -> None:
    run_code(GUARDED_IMPORT, "<stdin>", "__main__")
    assert only_scope(recorder) == (True, "imported by __main__")


def test_guarded_import_in_a_library(recorder: ScopeRecorder) -> None:
    filename = os.path.join(site_packages(), "somelib", "compat.py")
    run_code(GUARDED_IMPORT, filename, "somelib.compat")
    assert only_scope(recorder)[0] is False


def test_guarded_import_in_generated_library_code(recorder: ScopeRecorder) -> None:
    run_code(GUARDED_IMPORT, "<string>", "somelib._generated")
    assert only_scope(recorder) == (False, "imported by generated code <string>")


def test_find_spec_probe_from_user_code(
    recorder: ScopeRecorder, tmp_path: Path
) -> None:
    code = PROBE
    run_code(code, str(tmp_path / "analysis.py"), "analysis")
    assert only_scope(recorder) == (False, "a probe (importlib.util.find_spec)")


def test_find_spec_probe_from_main(recorder: ScopeRecorder) -> None:
    code = PROBE
    run_code(code, "<stdin>", "__main__")
    assert only_scope(recorder) == (False, "a probe (importlib.util.find_spec)")


def test_find_spec_probe_of_a_submodule(
    recorder: ScopeRecorder, tmp_path: Path
) -> None:
    code = (
        "import importlib.util\n"
        "try:\n"
        "    importlib.util.find_spec('apkshim_scope_test_missing.sub')\n"
        "except ImportError:\n"
        "    pass\n"
    )
    run_code(code, str(tmp_path / "analysis.py"), "analysis")
    assert only_scope(recorder)[0] is False


def test_import_module_from_user_code(recorder: ScopeRecorder, tmp_path: Path) -> None:
    filename = str(tmp_path / "analysis.py")
    code = (
        "import importlib\n"
        "try:\n"
        "    importlib.import_module('apkshim_scope_test_missing')\n"
        "except ImportError:\n"
        "    pass\n"
    )
    run_code(code, filename, "analysis")
    assert only_scope(recorder) == (True, f"imported by user code {filename}")


def test_import_module_from_library_code(recorder: ScopeRecorder) -> None:
    code = (
        "import importlib\n"
        "try:\n"
        "    importlib.import_module('apkshim_scope_test_missing')\n"
        "except ImportError:\n"
        "    pass\n"
    )
    run_code(code, os.path.join(site_packages(), "plugins.py"), "plugins")
    assert only_scope(recorder)[0] is False


def test_dunder_import_from_user_code(recorder: ScopeRecorder, tmp_path: Path) -> None:
    code = GUARDED_IMPORT.replace(
        "import apkshim_scope_test_missing", "__import__('apkshim_scope_test_missing')"
    )
    run_code(code, str(tmp_path / "analysis.py"), "analysis")
    assert only_scope(recorder)[0] is True


def test_pkgutil_resolve_name_is_a_probe(
    recorder: ScopeRecorder, tmp_path: Path
) -> None:
    with pytest.raises(ImportError):
        pkgutil.resolve_name("apkshim_scope_test_missing")
    assert only_scope(recorder)[0] is False


def test_import_in_a_thread_of_user_code(
    recorder: ScopeRecorder, tmp_path: Path
) -> None:
    filename = str(tmp_path / "worker.py")
    code = (
        "def work():\n"
        "    try:\n"
        "        import apkshim_scope_test_missing\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    namespace: dict[str, Any] = {"__name__": "worker"}
    exec(compile(code, filename, "exec"), namespace)
    thread = threading.Thread(target=namespace["work"])
    thread.start()
    thread.join()
    assert only_scope(recorder) == (True, f"imported by user code {filename}")
