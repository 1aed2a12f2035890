"""Versions of distro packages and installed distributions, for specifiers to judge.

A distro version wraps the upstream version in packaging details: apk appends a
package release (``1.26.4-r0``), Debian adds an epoch of its own and a revision
(``1:1.24.2-1+deb12u1``). Both drop to the upstream part, which is then parsed as
PEP 440. Versions whose upstream part has no faithful PEP 440 form (VCS snapshots,
letter suffixes such as ``1.2.3a`` in apk) convert to None, and None satisfies
only an empty specifier.
"""

from __future__ import annotations

import re
import sys
from types import ModuleType
from typing import Optional

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

# apk-tools: digits and dots, an optional letter, suffixes, an optional ~hash, -rN.
_APK = re.compile(
    r"^(?P<release>\d+(?:\.\d+)*)(?P<letter>[a-z])?"
    r"(?P<suffixes>(?:_[a-z]+\d*)*)(?P<hash>~[0-9a-f]+)?(?:-r\d+)?$"
)
_APK_SUFFIX = re.compile(r"_([a-z]+)(\d*)")
# apk's pre-release suffixes, spelt as PEP 440 spells them, and its patch level.
_APK_PRE = {"alpha": "a", "beta": "b", "pre": "rc", "rc": "rc"}
_APK_POST = {"p": ".post"}

# Debian repacks of the upstream tarball: 1.2+dfsg, 1.2+ds1, 1.2~dfsg, 1.2+repack.
_DEBIAN_REPACK = re.compile(r"[+~.](?:dfsg|ds|repack)\d*$")
# A tilde sorts before the release in Debian, so 1.0~rc1 is a pre-release.
_DEBIAN_PRE = re.compile(r"~(?=(?:a|alpha|b|beta|c|rc|pre|preview|dev)\d*(?:$|\.))")


def from_apk(version: str) -> Optional[Version]:
    """Convert an apk version such as ``1.26.4-r0`` or ``2.0_rc1-r2``.

    The package release ``-rN`` is dropped. ``_alpha``, ``_beta``, ``_pre`` and
    ``_rc`` become PEP 440 pre-releases and ``_p`` a post-release. A letter
    suffix, a VCS snapshot (``_git``, ``_svn``, ``_hg``, ``_cvs``), a commit hash
    or more than one suffix returns None.
    """
    match = _APK.match(version.strip())
    if match is None or match.group("letter") or match.group("hash"):
        return None
    text = match.group("release")
    suffixes = _APK_SUFFIX.findall(match.group("suffixes"))
    if len(suffixes) > 1:
        return None
    for name, number in suffixes:
        if name in _APK_PRE:
            text += _APK_PRE[name] + (number or "0")
        elif name in _APK_POST:
            text += _APK_POST[name] + (number or "0")
        else:
            return None
    return _parse(text)


def from_debian(version: str) -> Optional[Version]:
    """Convert a Debian version such as ``1:1.24.2-1+deb12u1`` or ``1.0~rc1-2``.

    The epoch is Debian's own ordering fix, not the upstream epoch, so it is
    dropped along with the Debian revision. Repack marks (``+dfsg``, ``+ds``)
    are dropped, ``A+reallyB`` means ``B``, and ``~rc1`` is a pre-release. Any
    other ``+`` or ``~`` part (snapshots such as ``+git20240101``) returns None.
    """
    text = version.strip()
    if ":" in text:
        epoch, _, text = text.partition(":")
        if not epoch.isdigit():
            return None
    if "-" in text:
        text = text.rpartition("-")[0]
    if "+really" in text:
        text = text.rpartition("+really")[2]
    text = _DEBIAN_REPACK.sub("", text)
    text = _DEBIAN_PRE.sub("", text)
    if "+" in text or "~" in text:
        return None
    return _parse(text)


_CONVERTERS = {"apk": from_apk, "apt": from_debian}


def to_pep440(version: str, backend: str) -> Optional[Version]:
    """Convert ``version`` as the package manager ``backend`` (apk, apt) writes it."""
    return _CONVERTERS[backend](version)


def _parse(text: str) -> Optional[Version]:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def satisfies(specifier: SpecifierSet, version: Optional[Version]) -> bool:
    """Return whether ``version`` meets ``specifier``.

    An empty specifier accepts any version, even an unknown one. Otherwise an
    unknown version (None) never satisfies it. Pre-releases count as matches,
    because the distro offers one version and pip's preference for final
    releases does not apply to it.
    """
    if not str(specifier):
        return True
    if version is None:
        return False
    return specifier.contains(version, prereleases=True)


def _metadata() -> ModuleType:
    if sys.version_info >= (3, 10):
        from importlib import metadata
    else:
        try:  # the backport matches PyYAML to pyyaml; 3.9's own module does not
            import importlib_metadata as metadata
        except ImportError:
            from importlib import metadata
    return metadata


def installed_version(project: str) -> Optional[str]:
    """Return the version of the installed distribution ``project``, if any."""
    metadata = _metadata()
    try:
        version: Optional[str] = metadata.version(project)
    except metadata.PackageNotFoundError:
        return None
    return version


def installed_requires(project: str) -> list[str]:
    """Return the ``Requires-Dist`` entries of the installed ``project``."""
    metadata = _metadata()
    try:
        requires: Optional[list[str]] = metadata.requires(project)
    except metadata.PackageNotFoundError:
        return []
    return list(requires or [])
