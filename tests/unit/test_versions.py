"""Distro versions converted to PEP 440, and specifiers judging them."""

from __future__ import annotations

from typing import Optional

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from apkshim import versions


@pytest.mark.parametrize(
    ("apk", "expected"),
    [
        ("1.26.4-r0", "1.26.4"),
        ("6.0.2-r1", "6.0.2"),
        ("2.2", "2.2"),
        ("2.0_rc1-r2", "2.0rc1"),
        ("2.0_alpha3-r0", "2.0a3"),
        ("2.0_beta-r0", "2.0b0"),
        ("2.0_pre2-r0", "2.0rc2"),
        ("1.4_p1-r0", "1.4.post1"),
        ("1.2.3a-r0", None),
        ("0.9_git20240101-r0", None),
        ("1.0_svn123-r0", None),
        ("1.0~abc123-r0", None),
        ("1.0_rc1_p2-r0", None),
        ("latest", None),
        ("", None),
    ],
)
def test_from_apk_converts_or_rejects(apk: str, expected: Optional[str]) -> None:
    converted = versions.from_apk(apk)
    assert (str(converted) if converted else None) == expected


@pytest.mark.parametrize(
    ("debian", "expected"),
    [
        ("1:1.24.2-1+deb12u1", "1.24.2"),
        ("6.0-3+b2", "6.0"),
        ("1.5.3+dfsg-2", "1.5.3"),
        ("9.4.0-1.1+deb12u1", "9.4.0"),
        ("2.28.1-1ubuntu1", "2.28.1"),
        ("0.10.2", "0.10.2"),
        ("1.0~rc1-2", "1.0rc1"),
        ("3.0~b2-1", "3.0b2"),
        ("2.0+really1.5-1", "1.5"),
        ("1.2+ds1-1", "1.2"),
        ("1.2~dfsg-1", "1.2"),
        ("1.2+git20240101.abcdef-1", None),
        ("1.2~git20240101-1", None),
        ("x:1.0-1", None),
        ("none-1", None),
    ],
)
def test_from_debian_converts_or_rejects(debian: str, expected: Optional[str]) -> None:
    converted = versions.from_debian(debian)
    assert (str(converted) if converted else None) == expected


def test_debian_epoch_is_not_pep440_epoch() -> None:
    converted = versions.to_pep440("1:1.24.2-1", "apt")
    assert converted is not None
    assert not SpecifierSet(">=2").contains(converted)


def test_to_pep440_picks_backend_syntax() -> None:
    assert versions.to_pep440("1.26.4-r0", "apk") == Version("1.26.4")
    assert versions.to_pep440("1:1.26.4-1", "apt") == Version("1.26.4")


@pytest.mark.parametrize(
    ("specifier", "version", "expected"),
    [
        ("", None, True),
        ("", "1.0", True),
        (">=1.0", None, False),
        (">=1.0", "1.26.4", True),
        ("<1.0", "1.26.4", False),
        (">=2.0", "2.0rc1", False),
        (">=2.0rc1", "2.0rc1", True),
        ("<3", "2.0rc1", True),
        ("==1.26.*", "1.26.4", True),
        ("!=1.26.4", "1.26.4", False),
    ],
)
def test_satisfies(specifier: str, version: Optional[str], expected: bool) -> None:
    parsed = Version(version) if version else None
    assert versions.satisfies(SpecifierSet(specifier), parsed) is expected


def test_installed_version_of_missing_project_is_none() -> None:
    assert versions.installed_version("apkshim-no-such-project") is None


def test_installed_version_of_packaging() -> None:
    import packaging

    assert versions.installed_version("packaging") == packaging.__version__


def test_installed_requires_of_missing_project_is_empty() -> None:
    assert versions.installed_requires("apkshim-no-such-project") == []
