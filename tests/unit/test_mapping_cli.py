"""``apkshim mapping check``, ``show`` and ``generate`` on the command line.

``show`` runs with APKSHIM_BACKEND=apk and a fake apk first on PATH that prints
what apk-tools prints for ``list --providers`` and ``policy``. The interpreter
check is stubbed to "served", so the same tests run on every Python.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apk_emulator.repository import Package, build_repository

from apkshim import autoinstall, cli, interpreter
from unit_support import FakeBin, FakeTool

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
[apkshim-fake]
imports = ["apkshim_fake_mod", "apkshim_fake_ns.sub"]
apk = "py3-apkshim-fake"
apt = "python3-apkshim-fake"

[apkshim-aptonly]
imports = ["apkshim_aptonly"]
apt = "python3-apkshim-aptonly"
"""

FAKE_APK = """\
case "$1" in
  list) echo '<py3.11:apkshim_meta> py3-apkshim-meta-2.0-r1 x86_64 {m} (MIT)' ;;
  policy) [ "$3" = py3-apkshim-fake ] || exit 0
    printf 'py3-apkshim-fake policy:\\n  1.0-r0:\\n    /srv/repository\\n' ;;
esac
"""


@pytest.fixture(autouse=True)
def clean_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear apkshim's variables, caches and the handlers cli.main adds."""
    for name in list(os.environ):
        if name.startswith("APKSHIM"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    handlers = list(logging.getLogger().handlers)
    autoinstall.reset()
    yield
    autoinstall.reset()
    logging.getLogger().handlers[:] = handlers


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


# check


def test_check_valid_file_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "mapping.toml", VALID)
    assert run_cli("mapping", "check", str(path)) == 0
    assert capsys.readouterr().out == f"{path}: ok, 2 entries\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[a]\nimports = ["a"\napk = "py3-a"\n', ":3: invalid TOML"),
        (
            '[a]\nimports = ["a"]\n\n[A]\nimports = ["b"]\n',
            ":4: duplicate entry [A]; [a] is already at line 1",
        ),
        (
            '[a]\nimports = ["x"]\n[b]\nimports = ["x"]\n',
            ":4: import name 'x' is mapped by [b] and by [a] at line 2",
        ),
        (
            '[a]\nimports = ["a"]\nzypper = "python-a"\n',
            ":3: [a] has unknown key 'zypper'; expected imports, remove or a backend",
        ),
        (
            '[a]\nimports = ["a"]\napk = "-rf"\n',
            ":3: [a] apk = '-rf' is not a valid apk",
        ),
        ('[a]\nimports = ["1a"]\n', ":2: [a] import name '1a' is not a dotted"),
        ('[ruamel.yaml]\nimports = ["ruamel.yaml"]\n', ":1: [ruamel.yaml] is a nested"),
        ('["no such"]\nimports = ["a"]\n', ":1: [no such] is not a valid PyPI project"),
    ],
)
def test_check_reports_fault_with_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = write(tmp_path / "bad.toml", text)
    assert run_cli("mapping", "check", str(path)) == 1
    captured = capsys.readouterr()
    assert f"{path}{message}" in captured.out
    assert "problems found" in captured.err


def test_check_lists_every_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[a]\nimports = ["1a"]\napk = "-a"\n[b]\nimports = ["b"]\nnix = "b"\n'
    path = write(tmp_path / "bad.toml", text)
    assert run_cli("mapping", "check", str(path)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1] for line in lines] == ["2", "3", "6"]


def test_check_writable_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "mapping.toml", VALID)
    path.chmod(0o666)
    assert run_cli("mapping", "check", str(path)) == 1
    assert f"chmod go-w {path}" in capsys.readouterr().out


def test_check_missing_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.toml"
    assert run_cli("mapping", "check", str(path)) == 1
    assert f"{path}: not found" in capsys.readouterr().out


def test_check_good_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.toml", VALID)
    bad = write(tmp_path / "bad.toml", "[a]\nimports = 1\n")
    assert run_cli("mapping", "check", str(good), str(bad)) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok, 2 entries" in out
    assert f"{bad}:2: [a] imports must be a list" in out


def test_check_without_files_reads_layers(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("mapping", "check") == 0
    out = capsys.readouterr().out
    assert f"{ROOT / 'mapping.toml'}: ok, " in out


def test_check_without_files_requires_apkshim_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.toml"
    monkeypatch.setenv("APKSHIM_MAPPING", str(path))
    assert run_cli("mapping", "check") == 1
    assert f"{path}: not found" in capsys.readouterr().out


def test_shipped_mapping_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("mapping", "check", str(ROOT / "mapping.toml")) == 0


# show


def served(backend: Any, rule: str = "refuse") -> interpreter.Verdict:
    return interpreter.Verdict(interpreter.SERVED, True, "a test says so", None)


@pytest.fixture
def apk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_bin: FakeBin) -> FakeTool:
    """A fake apk backend and a mapping layer of made-up modules."""
    layer = write(tmp_path / "layer.toml", VALID)
    monkeypatch.setenv("APKSHIM_MAPPING", str(layer))
    monkeypatch.setenv("APKSHIM_BACKEND", "apk")
    monkeypatch.setattr(interpreter, "check", served)
    monkeypatch.setattr(interpreter, "distro_version", lambda *args: (3, 11))
    return fake_bin.add("apk", FAKE_APK)


def show(name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = run_cli("mapping", "show", name)
    return status, capsys.readouterr().out.splitlines()


def test_show_mapped_name_gives_entry_and_package(
    apk: FakeTool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("apkshim_fake_mod", capsys)
    layer = tmp_path / "layer.toml"
    assert status == 0
    assert lines[0] == "import apkshim_fake_mod"
    assert "backend: apk: set by APKSHIM_BACKEND" in lines
    assert (
        f"mapping: [apkshim-fake] maps 'apkshim_fake_mod', imports at {layer}:2"
        in lines
    )
    assert f"mapping: apk = 'py3-apkshim-fake' at {layer}:3" in lines
    assert (
        "package: py3-apkshim-fake: not installed; apk would install version 1.0-r0"
        in lines
    )
    assert lines[-1] == (
        "result: with the hook on, 'import apkshim_fake_mod' in user code would "
        "install py3-apkshim-fake with apk"
    )


def test_show_submodule_uses_dotted_key(
    apk: FakeTool, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("apkshim_fake_ns.sub.deeper", capsys)
    assert status == 0
    assert any("maps 'apkshim_fake_ns.sub'" in line for line in lines)


def test_show_other_backend_only(
    apk: FakeTool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APKSHIM_METADATA", "0")
    status, lines = show("apkshim_aptonly", capsys)
    assert status == 1
    assert (
        "mapping: [apkshim-aptonly] maps 'apkshim_aptonly' for apt only "
        "(python3-apkshim-aptonly), not for apk"
    ) in lines
    assert "metadata route: off (APKSHIM_METADATA): " in "\n".join(lines)
    assert lines[-1].startswith("result: nothing would be installed")


def test_show_other_backend_only_skips_metadata(
    apk: FakeTool, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("apkshim_aptonly", capsys)
    assert status == 1
    assert (
        "metadata: not consulted, because the mapping lists 'apkshim_aptonly' "
        "without a package for apk"
    ) in lines
    assert apk.calls() == []


def test_show_unmapped_name_from_metadata(
    apk: FakeTool, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("apkshim_meta", capsys)
    assert status == 0
    assert "mapping: no layer maps 'apkshim_meta'" in lines
    assert (
        "metadata: py3-apkshim-meta ships apkshim_meta: apk lists py3-apkshim-meta "
        "as the one provider of apkshim_meta"
    ) in lines
    assert "metadata route: on (default): " in "\n".join(lines)
    assert lines[-1].endswith("would install py3-apkshim-meta with apk")


def test_show_unknown_name_fails(
    apk: FakeTool, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("apkshim_nowhere", capsys)
    assert status == 1
    assert any(line.startswith("metadata: no package: ") for line in lines)
    assert lines[-1] == (
        "result: nothing would be installed; the import fails with ModuleNotFoundError"
    )


def test_show_refused_interpreter_fails(
    apk: FakeTool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def mismatch(backend: Any, rule: str = "refuse") -> interpreter.Verdict:
        return interpreter.Verdict(interpreter.MISMATCH, False, "wrong Python", None)

    monkeypatch.setattr(interpreter, "check", mismatch)
    status, lines = show("apkshim_fake_mod", capsys)
    assert status == 1
    assert "interpreter: mismatch: wrong Python" in lines
    assert lines[-1] == "result: nothing would be installed: wrong Python"


def test_show_broken_distribution_fails(
    apk: FakeTool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(autoinstall, "_distribution_version", lambda project: "1.0")
    status, lines = show("apkshim_fake_mod", capsys)
    assert status == 1
    assert lines[-1].startswith("result: apkshim-fake 1.0 is installed but does not")


def test_show_standard_library(
    apk: FakeTool, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("json.decoder", capsys)
    assert status == 0
    assert (
        lines[-1] == "result: json is in the standard library; apkshim is not involved"
    )


def test_show_installed_module(
    apk: FakeTool, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = show("pytest", capsys)
    assert status == 0
    assert lines[-1] == "result: the import succeeds without apkshim"
    assert apk.calls() == []


def test_show_invalid_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("mapping", "show", "not-a-module") == 2
    assert "'not-a-module' is not a module name" in capsys.readouterr().err


def test_show_reports_skipped_layer(
    apk: FakeTool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = write(tmp_path / "bad.toml", "[a\n")
    monkeypatch.setenv("APKSHIM_MAPPING", str(bad))
    status, lines = show("apkshim_fake_mod", capsys)
    assert any(line.startswith(f"mapping file skipped: {bad}:1: ") for line in lines)


# generate


@pytest.fixture
def apkindex(tmp_path: Path) -> Path:
    site = "usr/lib/python3.11/site-packages"
    packages = [
        Package("py3-fakeyaml", "6.0.1-r0", files={f"{site}/yaml/__init__.py": ""}),
        Package("py3-six", "1.16.0-r9", files={f"{site}/six.py": ""}),
    ]
    return build_repository(tmp_path / "repository", packages)


def test_generate_prints_mapping(
    apkindex: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("mapping", "generate", "--apkindex", str(apkindex)) == 0
    captured = capsys.readouterr()
    assert '[fakeyaml]\nimports = ["yaml"]\napk = "py3-fakeyaml"\n' in captured.out
    assert '[six]\nimports = ["six"]\napk = "py3-six"\n' in captured.out
    assert "apkshim: 2 entries (apk 2, apt 0)" in captured.err


def test_generate_output_passes_check(
    apkindex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "generated.toml"
    base = str(ROOT / "mapping.toml")
    argv = ["--apkindex", str(apkindex), "--base", base, "-o", str(output)]
    assert run_cli("mapping", "generate", *argv) == 0
    assert "[pyyaml]" in output.read_text()
    assert run_cli("mapping", "check", str(output)) == 0


def test_generate_without_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("mapping", "generate") == 2
    assert "give --apkindex FILE" in capsys.readouterr().err


def test_generate_invalid_python_exits_2(
    apkindex: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        run_cli("mapping", "generate", "--apkindex", str(apkindex), "--python", "3")
    assert raised.value.code == 2
    assert "'3' is not a version such as 3.12" in capsys.readouterr().err


def test_generate_unreadable_index_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "APKINDEX.tar.gz"
    assert run_cli("mapping", "generate", "--apkindex", str(path)) == 1
    assert f"apkshim: error: {path}: cannot be read" in capsys.readouterr().err


def test_generate_invalid_base_exits_1(
    apkindex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "base.toml", "[a\n")
    argv = ["--apkindex", str(apkindex), "--base", str(base)]
    assert run_cli("mapping", "generate", *argv) == 1
    assert f"{base}:1: invalid TOML" in capsys.readouterr().err
