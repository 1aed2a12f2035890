"""Tiny wheels written by hand, for pip to install offline with --find-links.

A wheel is a zip archive with the package's files and a ``NAME-VERSION.dist-info``
folder containing METADATA, WHEEL and RECORD (the wheel format, PEP 427). RECORD lists
every file with its SHA-256 digest (urlsafe base64, no padding) and size.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Wheel:
    """A pure-Python distribution with one top-level module of the same name."""

    name: str
    version: str
    requires: Sequence[str] = ()

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def file_name(self) -> str:
        return f"{self.module}-{self.version}-py3-none-any.whl"


def _digest(data: bytes) -> str:
    encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "sha256=" + encoded.rstrip(b"=").decode("ascii")


def build(wheel: Wheel, directory: Path) -> Path:
    """Write ``wheel`` into ``directory`` and return its path."""
    dist_info = f"{wheel.module}-{wheel.version}.dist-info"
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {wheel.name}\n"
        f"Version: {wheel.version}\n"
        + "".join(f"Requires-Dist: {requirement}\n" for requirement in wheel.requires)
    )
    files = {
        f"{wheel.module}/__init__.py": f'__version__ = "{wheel.version}"\n',
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: apkshim-tests\n"
            "Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record_lines = []
    path = directory / wheel.file_name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            data = text.encode("utf-8")
            archive.writestr(name, data)
            record_lines.append(f"{name},{_digest(data)},{len(data)}")
        record_lines.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record_lines) + "\n")
    return path


def build_all(wheels: Sequence[Wheel], directory: Path) -> Path:
    """Write every wheel into ``directory``, created if needed; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        build(wheel, directory)
    return directory


_NOT_REPACKED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def repack_installed(name: str, directory: Path) -> Path:
    """Write a wheel of the installed pure-Python distribution ``name``.

    The tests' venvs need ``packaging``, and copying the installed files keeps
    their set-up offline. Files listed in the distribution's RECORD are taken as
    they are, except installer bookkeeping and compiled bytecode.
    """
    from importlib import metadata

    distribution = metadata.distribution(name)
    version = distribution.version
    module = name.replace("-", "_")
    path = directory / f"{module}-{version}-py3-none-any.whl"
    dist_info = f"{module}-{version}.dist-info"
    record_lines = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in distribution.files or []:
            relative = file.as_posix()
            if relative.startswith(("..", "/")) or "__pycache__" in relative:
                continue
            if (
                relative.endswith(".dist-info/" + file.name)
                and file.name in _NOT_REPACKED
            ):
                continue
            if relative.endswith(".dist-info/WHEEL"):
                continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(relative, data)
            record_lines.append(f"{relative},{_digest(data)},{len(data)}")
        wheel = (
            "Wheel-Version: 1.0\nGenerator: apkshim-tests\n"
            "Root-Is-Purelib: true\nTag: py3-none-any\n"
        ).encode()
        archive.writestr(f"{dist_info}/WHEEL", wheel)
        record_lines.append(f"{dist_info}/WHEEL,{_digest(wheel)},{len(wheel)}")
        record_lines.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record_lines) + "\n")
    return path
