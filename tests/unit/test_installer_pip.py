"""pip's command lines, PEP 668 detection, report parsing and failure causes.

These run no pip; tests/pip runs the real one.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from packaging.version import Version

from apkshim import pip, runner
from apkshim.settings import Settings


def test_install_argv_defaults() -> None:
    argv = pip.install_argv(["numpy>=1", "--weird"], Settings())
    assert argv[:4] == [sys.executable, "-m", "pip", "install"]
    assert "--no-input" in argv
    assert argv[argv.index("--only-binary") + 1] == ":all:"
    assert "--break-system-packages" not in argv
    assert argv[-3:] == ["--", "numpy>=1", "--weird"]


def test_install_argv_source_builds_allowed() -> None:
    argv = pip.install_argv(["numpy"], Settings(only_binary=False))
    assert "--only-binary" not in argv


def test_install_argv_break_system_packages_by_setting() -> None:
    argv = pip.install_argv(["numpy"], Settings(break_system_packages=True))
    assert "--break-system-packages" in argv


def test_install_argv_leaves_index_to_pip_config() -> None:
    argv = pip.install_argv(["numpy"], Settings())
    assert not [arg for arg in argv if "index" in arg or arg == "--isolated"]


def test_resolve_argv_is_dry_run_with_report() -> None:
    argv = pip.resolve_argv(["numpy"], Settings(), "/tmp/report.json")
    separator = argv.index("--")
    assert "--dry-run" in argv[:separator]
    assert argv[argv.index("--report") + 1] == "/tmp/report.json"
    assert argv[separator:] == ["--", "numpy"]


@pytest.fixture
def fake_stdlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pretend this Python is not in a venv and its stdlib is ``tmp_path``."""
    monkeypatch.setattr(sys, "prefix", "/usr")
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    monkeypatch.delattr(sys, "real_prefix", raising=False)
    real_get_path = sysconfig.get_path

    def get_path(name: str, *args: object, **kwargs: object) -> str:
        if name == "stdlib":
            return str(tmp_path)
        return real_get_path(name)

    monkeypatch.setattr(sysconfig, "get_path", get_path)
    monkeypatch.delenv("PIP_BREAK_SYSTEM_PACKAGES", raising=False)
    return tmp_path


def write_marker(directory: Path) -> Path:
    marker = directory / "EXTERNALLY-MANAGED"
    marker.write_text(
        "[externally-managed]\nError=To install Python packages system-wide, try\n"
        " apt install python3-xyz.\n"
    )
    return marker


def test_externally_managed_detected(fake_stdlib: Path) -> None:
    marker = write_marker(fake_stdlib)
    with pytest.raises(pip.ExternallyManagedError) as caught:
        pip.check_externally_managed(Settings())
    message = str(caught.value)
    assert str(marker) in message
    assert "PEP 668" in message
    assert "apt install python3-xyz." in message
    assert "APKSHIM_BREAK_SYSTEM_PACKAGES=1" in message
    assert "--system-site-packages" in message


def test_externally_managed_allowed_by_setting(fake_stdlib: Path) -> None:
    write_marker(fake_stdlib)
    pip.check_externally_managed(Settings(break_system_packages=True))


def test_externally_managed_allowed_by_pip_variable(
    fake_stdlib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_marker(fake_stdlib)
    monkeypatch.setenv("PIP_BREAK_SYSTEM_PACKAGES", "1")
    pip.check_externally_managed(Settings())


def test_externally_managed_absent_marker(fake_stdlib: Path) -> None:
    assert pip.externally_managed_marker() is None


def test_externally_managed_ignored_in_venv(
    fake_stdlib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_marker(fake_stdlib)
    monkeypatch.setattr(sys, "prefix", "/some/venv")
    assert pip.externally_managed_marker() is None


def test_externally_managed_unreadable_marker(fake_stdlib: Path) -> None:
    (fake_stdlib / "EXTERNALLY-MANAGED").write_bytes(b"\xff\xfe not ini")
    with pytest.raises(pip.ExternallyManagedError, match="PEP 668"):
        pip.check_externally_managed(Settings())


def test_parse_report_reads_items() -> None:
    report = {
        "version": "1",
        "install": [
            {
                "requested": True,
                "requested_extras": ["fast"],
                "metadata": {
                    "name": "Tiny_App",
                    "version": "1.0",
                    "requires_dist": ["tinyleaf>=1"],
                },
            },
            {"metadata": {"name": "tinyleaf", "version": "2.0"}},
        ],
    }
    first, second = pip.parse_report(report)
    assert first == pip.ReportItem("tiny-app", "1.0", True, ("tinyleaf>=1",), ("fast",))
    assert second == pip.ReportItem("tinyleaf", "2.0", False, (), ())


def test_parse_report_empty() -> None:
    assert pip.parse_report({"version": "1", "install": []}) == []


def completed(stderr: str, timed_out: bool = False) -> runner.Completed:
    returncode = None if timed_out else 1
    return runner.Completed(["pip"], returncode, "", stderr, 2.0, timed_out)


@pytest.mark.parametrize(
    ("stderr", "cause"),
    [
        ("ERROR: No matching distribution found for nope", "no such distribution"),
        (
            "error: externally-managed-environment",
            "the interpreter is externally managed (PEP 668)",
        ),
        ("ERROR: ResolutionImpossible: ...", "conflicting requirements"),
        ("Failed to establish a new connection: [Errno 111]", "network failure"),
        ("OSError: [Errno 13] Permission denied: '/usr/lib'", "permission denied"),
        ("/usr/bin/python3: No module named pip", "pip is not installed"),
        ("something else", "pip failed"),
    ],
)
def test_classify_pip_output(stderr: str, cause: str) -> None:
    assert pip.classify(completed(stderr))[0] == cause


def test_classify_timeout() -> None:
    assert pip.classify(completed("", timed_out=True))[0] == "timed out"


def test_describe_failure_mentions_only_binary() -> None:
    message = pip.describe_failure(
        completed("ERROR: No matching distribution found for x"), Settings()
    )
    assert message.startswith("pip could not install the requirements: no such")
    assert "exit status: 1" in message
    assert "APKSHIM_ONLY_BINARY=0" in message


def test_check_available_returns_version() -> None:
    pytest.importorskip("pip")
    assert pip.check_available() >= Version("9")
