"""Build and read apk repositories and roots in the formats apk-tools uses.

``build_repository`` writes a directory that apk can use as a repository: one
``NAME-VERSION.apk`` per package and an ``APKINDEX.tar.gz`` that lists them.
``init_root`` lays out an empty system root for ``apk --root``. ``read_apkindex``
and ``parse_records`` read the index and the installed database back.

A v2 ``.apk`` file is two gzip streams written one after the other: a tar that
contains only ``.PKGINFO`` and lacks the end-of-archive blocks, then a tar of the
package's files. Read as one gzip stream, the file is a single tar with
``.PKGINFO`` first. apk identifies a package by the SHA-1 of the first stream's
compressed bytes, which the index stores as ``C:Q1<base64>``. Real packages also
start with a signature stream. These have none, so real apk-tools would need
``--allow-untrusted`` for them. The emulator checks no signatures.

Only the standard library is used, so the emulator can import this module from any
Python 3.9 or later.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Union

ARCH = "x86_64"
INDEX_FILE_NAME = "APKINDEX.tar.gz"
DEFAULT_DESCRIPTION = "apk emulator test repository"

# Fixed metadata so that building the same packages twice gives the same bytes.
_BUILD_TIME = 1700000000
_SITE_PACKAGES = re.compile(r"^usr/lib/(python3\.\d+)/site-packages/([^/]+)$")
_PACKAGE_INIT = re.compile(
    r"^usr/lib/(python3\.\d+)/site-packages/([^/]+)/__init__\.py$"
)
_EXECUTABLE_DIRECTORIES = ("bin/", "sbin/", "usr/bin/", "usr/sbin/")

FileContent = Union[bytes, str]


@dataclass(frozen=True)
class Package:
    """A package to build: its metadata and the files it installs.

    ``files`` maps paths relative to the root (``usr/lib/...``) to their content.
    ``depends`` and ``provides`` use apk's dependency syntax (``python3~3.11``,
    ``so:libc.musl-x86_64.so.1``, ``cmd:foo=1.0-r0``). The automatic Python provides
    are added on top of ``provides`` when the package is built.
    """

    name: str
    version: str
    files: Mapping[str, FileContent] = field(default_factory=dict)
    depends: Sequence[str] = ()
    provides: Sequence[str] = ()
    description: str = ""
    arch: str = ARCH
    license: str = "MIT"
    origin: str | None = None

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("version", self.version)):
            if not value or any(character.isspace() for character in value):
                raise ValueError(f"package {label} {value!r} is empty or has spaces")
        for path in self.files:
            _validate_member_path(path)

    @property
    def file_name(self) -> str:
        return package_file_name(self.name, self.version)


@dataclass(frozen=True)
class IndexRecord:
    """One package stanza of an APKINDEX or of ``lib/apk/db/installed``.

    ``lines`` keeps every ``(key, value)`` line in file order, including keys this
    module has no property for, so a record can be written back unchanged.
    """

    lines: tuple[tuple[str, str], ...]

    def value(self, key: str, default: str = "") -> str:
        """Return the value of the first ``key:`` line, or ``default``."""
        for line_key, line_value in self.lines:
            if line_key == key:
                return line_value
        return default

    def values(self, key: str) -> list[str]:
        return [line_value for line_key, line_value in self.lines if line_key == key]

    @property
    def name(self) -> str:
        return self.value("P")

    @property
    def version(self) -> str:
        return self.value("V")

    @property
    def arch(self) -> str:
        return self.value("A")

    @property
    def checksum(self) -> str:
        return self.value("C")

    @property
    def description(self) -> str:
        return self.value("T")

    @property
    def origin(self) -> str:
        return self.value("o")

    @property
    def license(self) -> str:
        return self.value("L")

    @property
    def size(self) -> int:
        """Size of the .apk file in bytes (``S:``)."""
        return int(self.value("S", "0"))

    @property
    def installed_size(self) -> int:
        """Size of the installed files in bytes (``I:``)."""
        return int(self.value("I", "0"))

    @property
    def depends(self) -> list[str]:
        return self.value("D").split()

    @property
    def provides(self) -> list[str]:
        return self.value("p").split()

    @property
    def files(self) -> list[str]:
        """Paths of the installed files, from the installed database's F:/R: lines."""
        paths: list[str] = []
        directory = ""
        for key, value in self.lines:
            if key == "F":
                directory = value
            elif key == "R":
                paths.append(f"{directory}/{value}" if directory else value)
        return paths


def package_file_name(name: str, version: str) -> str:
    return f"{name}-{version}.apk"


def apk_checksum(data: bytes) -> str:
    """Return apk's ``Q1`` form of the SHA-1 of ``data``, as used by C: and Z: lines."""
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def python_provides(files: Iterable[str], version: str) -> list[str]:
    """Return the ``py3.X:<module>=<version>`` provides that abuild adds for ``files``.

    abuild adds one for each top-level package directory under
    ``usr/lib/python3.X/site-packages`` that contains ``__init__.py`` and, since abuild
    3.16.0, one for each top-level ``*.py`` module. Top-level ``.so`` extension
    modules and namespace packages (directories without ``__init__.py``) get none.
    """
    found: list[str] = []
    for path in sorted(files):
        package_match = _PACKAGE_INIT.match(path)
        module_match = _SITE_PACKAGES.match(path)
        if package_match:
            python, module = package_match.group(1), package_match.group(2)
        elif module_match and module_match.group(2).endswith(".py"):
            python, module = module_match.group(1), module_match.group(2)[:-3]
        else:
            continue
        provide = f"py{python[len('python') :]}:{module}={version}"
        if provide not in found:
            found.append(provide)
    return found


def build_repository(
    directory: str | Path,
    packages: Iterable[Package],
    description: str = DEFAULT_DESCRIPTION,
) -> Path:
    """Write each package's .apk and the APKINDEX.tar.gz into ``directory``.

    The directory is created if needed, and the same directory is what a line of
    ``etc/apk/repositories`` names. Returns the path of the index.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    records: list[IndexRecord] = []
    for package in packages:
        apk_bytes, control_stream, installed_size = build_package(package)
        (directory / package.file_name).write_bytes(apk_bytes)
        records.append(
            _index_record(package, control_stream, len(apk_bytes), installed_size)
        )

    index_path = directory / INDEX_FILE_NAME
    index_path.write_bytes(_index_archive(records, description))
    return index_path


def build_package(package: Package) -> tuple[bytes, bytes, int]:
    """Return the .apk bytes, its control stream and the installed size in bytes."""
    contents = {path: _as_bytes(data) for path, data in package.files.items()}
    installed_size = sum(len(data) for data in contents.values())
    data_stream = gzip.compress(_data_tar(contents), mtime=0)
    pkginfo = _pkginfo(package, installed_size, hashlib.sha256(data_stream).hexdigest())
    control_stream = gzip.compress(_control_tar(pkginfo), mtime=0)
    return control_stream + data_stream, control_stream, installed_size


def all_provides(package: Package) -> list[str]:
    """Return the package's own provides followed by the automatic Python ones."""
    provides = list(package.provides)
    declared_names = {_dependency_name(provide) for provide in provides}
    for provide in python_provides(package.files, package.version):
        if _dependency_name(provide) not in declared_names:
            provides.append(provide)
    return provides


def init_root(root: str | Path, repositories: Iterable[str | Path] = ()) -> Path:
    """Create an empty apk system root and return its path.

    Writes ``etc/apk/repositories`` (one repository per line: a directory that
    contains APKINDEX.tar.gz, or a URL), an empty ``etc/apk/world``,
    ``etc/apk/arch``, an empty ``lib/apk/db/installed`` and ``var/log``, where
    apk-tools 3 opens its log. The lock file
    ``lib/apk/db/lock`` is created by the first ``apk add``, as apk-tools does.
    """
    root = Path(root)
    (root / "etc" / "apk").mkdir(parents=True, exist_ok=True)
    (root / "lib" / "apk" / "db").mkdir(parents=True, exist_ok=True)
    (root / "var" / "log").mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{repository}\n" for repository in repositories)
    (root / "etc" / "apk" / "repositories").write_text(lines)
    (root / "etc" / "apk" / "arch").write_text(f"{ARCH}\n")
    (root / "etc" / "apk" / "world").write_text("")
    (root / "lib" / "apk" / "db" / "installed").write_text("")
    return root


def parse_records(text: str) -> list[IndexRecord]:
    """Parse APKINDEX or installed-database text into records.

    Records are separated by blank lines, and each line is ``K:value`` with a
    one-character key. Lines without that shape are skipped, as apk-tools skips them.
    """
    records: list[IndexRecord] = []
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(IndexRecord(tuple(current)))
                current = []
            continue
        if len(line) >= 2 and line[1] == ":":
            current.append((line[0], line[2:]))
    if current:
        records.append(IndexRecord(tuple(current)))
    return records


def format_records(records: Iterable[IndexRecord]) -> str:
    """Write records in the index format: ``K:value`` lines, a blank line after each."""
    return "".join(
        "".join(f"{key}:{value}\n" for key, value in record.lines) + "\n"
        for record in records
    )


def read_apkindex(path: str | Path) -> list[IndexRecord]:
    """Parse an APKINDEX.tar.gz into its records, in index order."""
    return parse_records(_read_index_member(path, "APKINDEX"))


def read_apkindex_description(path: str | Path) -> str:
    """Return the DESCRIPTION member of an APKINDEX.tar.gz, or "" when it has none."""
    try:
        return _read_index_member(path, "DESCRIPTION").strip()
    except KeyError:
        return ""


def _read_index_member(path: str | Path, member: str) -> str:
    with tarfile.open(str(path), mode="r:gz") as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise KeyError(f"{path}: {member} is not a regular file")
        return extracted.read().decode("utf-8")


def _validate_member_path(path: str) -> None:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or path.endswith("/"):
        raise ValueError(
            f"invalid package file path {path!r}: use a relative file path such as "
            "'usr/lib/python3.11/site-packages/foo/__init__.py'"
        )


def _as_bytes(data: FileContent) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _dependency_name(dependency: str) -> str:
    return re.split(r"[<>=~]", dependency, maxsplit=1)[0]


def _pkginfo(package: Package, installed_size: int, data_hash: str) -> str:
    lines = [
        "# Generated by the apkshim test repository builder",
        f"pkgname = {package.name}",
        f"pkgver = {package.version}",
        f"pkgdesc = {package.description}",
        f"builddate = {_BUILD_TIME}",
        f"size = {installed_size}",
        f"arch = {package.arch}",
        f"origin = {package.origin or package.name}",
        f"license = {package.license}",
    ]
    lines += [f"depend = {dependency}" for dependency in package.depends]
    lines += [f"provides = {provide}" for provide in all_provides(package)]
    lines.append(f"datahash = {data_hash}")
    return "\n".join(lines) + "\n"


def _tar_info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = _BUILD_TIME
    info.uname = info.gname = "root"
    return info


def _control_tar(pkginfo: str) -> bytes:
    """Return a tar of ``.PKGINFO`` without the end-of-archive blocks.

    abuild cuts those blocks so that the data tar that follows continues the same
    archive when the .apk is read as one stream.
    """
    data = pkginfo.encode("utf-8")
    info = _tar_info(".PKGINFO", tarfile.REGTYPE, 0o644, len(data))
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    padding = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return header + data + padding


def _data_tar(contents: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        written_directories: set[str] = set()
        for path in sorted(contents):
            for parent in reversed(list(PurePosixPath(path).parents)[:-1]):
                directory = str(parent)
                if directory not in written_directories:
                    written_directories.add(directory)
                    archive.addfile(_tar_info(directory, tarfile.DIRTYPE, 0o755))
            data = contents[path]
            mode = 0o755 if path.startswith(_EXECUTABLE_DIRECTORIES) else 0o644
            info = _tar_info(path, tarfile.REGTYPE, mode, len(data))
            # abuild-tar records each file's SHA-1 in a PAX header of this name.
            info.pax_headers = {
                "APK-TOOLS.checksum.SHA1": hashlib.sha1(data).hexdigest()
            }
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _index_record(
    package: Package, control_stream: bytes, apk_size: int, installed_size: int
) -> IndexRecord:
    lines: list[tuple[str, str]] = [
        ("C", apk_checksum(control_stream)),
        ("P", package.name),
        ("V", package.version),
        ("A", package.arch),
        ("S", str(apk_size)),
        ("I", str(installed_size)),
        ("T", package.description),
        ("L", package.license),
        ("o", package.origin or package.name),
        ("t", str(_BUILD_TIME)),
    ]
    if package.depends:
        lines.append(("D", " ".join(package.depends)))
    provides = all_provides(package)
    if provides:
        lines.append(("p", " ".join(provides)))
    return IndexRecord(tuple(lines))


def _index_archive(records: Sequence[IndexRecord], description: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, text in (
            ("DESCRIPTION", description + "\n"),
            ("APKINDEX", format_records(records)),
        ):
            data = text.encode("utf-8")
            info = _tar_info(name, tarfile.REGTYPE, 0o644, len(data))
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)
