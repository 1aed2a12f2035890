"""Requirement strings and requirement files: parsing and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apkshim import installer
from apkshim.installer import Request


def read(path: Path) -> list[tuple[str, str]]:
    return [
        (request.text, request.origin or "")
        for request in installer.read_requirement_file(str(path))
    ]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(installer.RequirementError) as caught:
        installer.read_requirement_file(str(path))
    return caught.value.problems


def test_file_lines_comments_and_continuations(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# a comment\n"
        "\n"
        "numpy>=1.20  # trailing comment\n"
        "pandas[excel] \\\n"
        "  >=2; python_version >= '3.9'\n"
        "tiny @ https://example.invalid/tiny.whl#sha256=ab\n"
    )
    assert read(path) == [
        ("numpy>=1.20", f"{path}:3"),
        ("pandas[excel] >=2; python_version >= '3.9'", f"{path}:4"),
        ("tiny @ https://example.invalid/tiny.whl#sha256=ab", f"{path}:6"),
    ]


def test_file_includes_relative_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.txt").write_text("pyyaml\n")
    top = tmp_path / "requirements.txt"
    top.write_text("-r sub/base.txt\nnumpy\n")
    assert [text for text, _ in read(top)] == ["pyyaml", "numpy"]


def test_file_include_loop_is_reported(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    first.write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("--requirement=a.txt\n")
    (problem,) = problems_of(first)
    assert "included twice" in problem


def test_file_missing_names_path_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "absent.txt"
    (problem,) = problems_of(path)
    assert f"requirement file {path} not found" in problem
    assert os.getcwd() in problem
    assert "check the path" in problem


def test_file_directory_is_unreadable(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path)
    assert f"requirement file {tmp_path} cannot be read" in problem


def test_file_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: not UTF-8 text")


def test_file_malformed_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("numpy\nnumpy>=\n\npandas[excel\n")
    problems = problems_of(path)
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:2: invalid requirement 'numpy>='")
    assert problems[1].startswith(f"{path}:4: invalid requirement 'pandas[excel'")
    assert "PEP 508" in problems[0]


def test_file_pip_options_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("--index-url https://example.invalid/simple\n-e .\nnumpy\n")
    problems = problems_of(path)
    assert problems[0].startswith(f"{path}:1: pip option '--index-url'")
    assert problems[1].startswith(f"{path}:2: pip option '-e'")
    assert "pip's configuration" in problems[0]


def test_file_option_and_syntax_problems_together(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("--pre\nnumpy>=\n")
    problems = problems_of(path)
    assert len(problems) == 2


def test_file_missing_include_names_it(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("-r other.txt\n")
    (problem,) = problems_of(path)
    assert f"requirement file {tmp_path / 'other.txt'} not found" in problem


def test_parse_requests_collects_every_problem() -> None:
    with pytest.raises(installer.RequirementError) as caught:
        installer.parse_requests(
            [Request("ok"), Request("bad bad", "f.txt:3"), Request("")]
        )
    assert len(caught.value.problems) == 2
    assert caught.value.problems[0].startswith(
        "f.txt:3: invalid requirement 'bad bad':"
    )
    assert caught.value.problems[1].startswith("invalid requirement '':")


def test_install_rejects_invalid_string_before_anything() -> None:
    import apkshim

    with pytest.raises(ValueError, match="invalid requirement 'numpy=='"):
        apkshim.install("numpy==", dry_run=True)
