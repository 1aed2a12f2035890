"""The mapping generator, on a real-format APKINDEX.tar.gz and real Debian packages.

The Alpine input is an index that tests/apk_emulator/repository.py builds as
abuild and apk-tools do, automatic ``py3.X:`` provides included. The Debian input
is a Contents file written from ``dpkg -L`` of packages installed on this machine.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from apk_emulator.repository import Package, build_repository, read_apkindex

from apkshim import generate
from apkshim.errors import MappingError
from apkshim.mapping import Mapping, parse

ROOT = Path(__file__).resolve().parents[2]
SITE = "usr/lib/python3.11/site-packages"

ALPINE_PACKAGES = [
    # Two top-level packages in one distro package.
    Package(
        "py3-fakeyaml",
        "6.0.1-r0",
        files={f"{SITE}/yaml/__init__.py": "", f"{SITE}/_yaml/__init__.py": ""},
    ),
    # A single-file module: abuild 3.16.0 and later add a provide for it.
    Package("py3-six", "1.16.0-r9", files={f"{SITE}/six.py": ""}),
    # A top-level extension module and a namespace package get no provide.
    Package(
        "py3-fakeext",
        "1.0-r0",
        files={f"{SITE}/fakeext.cpython-311-x86_64-linux-musl.so": ""},
    ),
    Package("py3-fakens", "1.0-r0", files={f"{SITE}/fakens/sub/__init__.py": ""}),
    # Two packages that ship the same module: the mapping cannot choose.
    Package("py3-first", "1.0-r0", files={f"{SITE}/shared/__init__.py": ""}),
    Package("py3-second", "2.0-r0", files={f"{SITE}/shared/__init__.py": ""}),
    # Built for the previous Python.
    Package(
        "py3-old", "1.0-r0", files={"usr/lib/python3.10/site-packages/oldmod.py": ""}
    ),
    Package(
        "py3-older",
        "1.0-r0",
        files={"usr/lib/python3.10/site-packages/oldmod2/__init__.py": ""},
    ),
    # A package without the py3- prefix, and one that ships a stray tests package.
    Package("jupyter-fakebook", "1.0-r0", files={f"{SITE}/fakebook/__init__.py": ""}),
    Package(
        "py3-leak",
        "1.0-r0",
        files={f"{SITE}/leak/__init__.py": "", f"{SITE}/tests/__init__.py": ""},
    ),
]

# Installed Debian packages of different shapes: single-file module, regular
# package, a name mismatch, a compiled package and a namespace package.
DEBIAN_PACKAGES = [
    "python3-six",
    "python3-dateutil",
    "python3-bs4",
    "python3-jwt",
    "python3-zmq",
    "python3-lazr.uri",
]


@pytest.fixture(scope="module")
def apkindex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("repository")
    return build_repository(directory, ALPINE_PACKAGES)


@pytest.fixture(scope="module")
def debian_contents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write a Contents file of DEBIAN_PACKAGES from their 'dpkg -L' file lists."""
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not on PATH: the Debian input comes from dpkg -L")
    lines = []
    for package in DEBIAN_PACKAGES:
        listed = subprocess.run(
            ["dpkg", "-L", "--", package],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if listed.returncode != 0:
            pytest.skip(f"{package} is not installed here: {listed.stderr.strip()}")
        lines += [
            f"{path.lstrip('/')}    python/{package}"
            for path in listed.stdout.splitlines()
            if "/dist-packages/" in path
        ]
    path = tmp_path_factory.mktemp("debian") / "Contents-amd64"
    path.write_text("\n".join(lines) + "\n")
    return path


def generated_tables(
    apkindex: Path | None = None,
    contents: Path | None = None,
    python: str | None = None,
) -> dict[str, generate.Table]:
    packages: list[generate.Package] = []
    if apkindex is not None:
        packages += generate.apk_packages(
            generate.read_apkindex(str(apkindex)), python
        )[0]
    if contents is not None:
        packages += generate.debian_packages(generate.read_contents(str(contents)))
    return {table.project: table for table in generate.build_tables(packages)}


# Alpine


def test_apkindex_reads_every_stanza(apkindex: Path) -> None:
    names = [stanza["P"][0] for stanza in generate.read_apkindex(str(apkindex))]
    assert names == [record.name for record in read_apkindex(apkindex)]


def test_apkindex_entries_from_provides(apkindex: Path) -> None:
    tables = generated_tables(apkindex)
    assert sorted(tables) == ["fakeyaml", "jupyter-fakebook", "leak", "six"]
    assert tables["fakeyaml"].imports == ("_yaml", "yaml")
    assert tables["fakeyaml"].packages == {"apk": "py3-fakeyaml"}
    assert tables["six"].imports == ("six",)
    assert tables["jupyter-fakebook"].packages == {"apk": "jupyter-fakebook"}
    assert tables["leak"].imports == ("leak",)


def test_apkindex_skips_modules_without_provides(apkindex: Path) -> None:
    imports = {
        name for table in generated_tables(apkindex).values() for name in table.imports
    }
    assert "fakeext" not in imports
    assert "fakens" not in imports
    assert "fakens.sub" not in imports


def test_apkindex_skips_shared_module(
    apkindex: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="apkshim.generate"):
        tables = generated_tables(apkindex)
    assert not any("shared" in table.imports for table in tables.values())
    assert "apk packages py3-first, py3-second all ship it" in caplog.text


def test_apkindex_skips_stray_tests_package(apkindex: Path) -> None:
    assert not any(
        "tests" in table.imports for table in generated_tables(apkindex).values()
    )


def test_apkindex_uses_most_common_python(apkindex: Path) -> None:
    packages, python = generate.apk_packages(generate.read_apkindex(str(apkindex)))
    assert python == "3.11"
    assert "py3-old" not in {package.name for package in packages}


def test_apkindex_python_option_selects_provides(apkindex: Path) -> None:
    tables = generated_tables(apkindex, python="3.10")
    assert sorted(tables) == ["old", "older"]
    assert tables["older"].imports == ("oldmod2",)


def test_apkindex_base_names_projects(apkindex: Path) -> None:
    base = Mapping.load([str(ROOT / "mapping.toml")])
    packages, _ = generate.apk_packages(generate.read_apkindex(str(apkindex)))
    tables = {table.project: table for table in generate.build_tables(packages, base)}
    assert tables["pyyaml"].packages == {"apk": "py3-fakeyaml"}
    assert "fakeyaml" not in tables


def test_apkindex_not_an_index_raises(tmp_path: Path) -> None:
    path = tmp_path / "APKINDEX.tar.gz"
    path.write_bytes(b"not a tar file")
    with pytest.raises(generate.GenerateError, match="cannot be read as an APKINDEX"):
        generate.read_apkindex(str(path))


# Debian


def test_debian_entries_match_shipped_mapping(debian_contents: Path) -> None:
    shipped = Mapping.load([str(ROOT / "mapping.toml")])
    tables = generated_tables(contents=debian_contents)
    for project in ("six", "python-dateutil", "beautifulsoup4", "pyjwt", "pyzmq"):
        entry = shipped.entries[project]
        assert tables[project].packages == {"apt": entry.packages["apt"]}
        assert tables[project].imports == entry.imports


def test_debian_namespace_package_is_dotted(debian_contents: Path) -> None:
    tables = generated_tables(contents=debian_contents)
    assert tables["lazr-uri"].imports == ("lazr.uri",)
    assert tables["lazr-uri"].packages == {"apt": "python3-lazr.uri"}


def test_debian_contents_gzip_reads_alike(
    debian_contents: Path, tmp_path: Path
) -> None:
    compressed = tmp_path / "Contents-amd64.gz"
    compressed.write_bytes(gzip.compress(debian_contents.read_bytes()))
    assert generate.read_contents(str(compressed)) == generate.read_contents(
        str(debian_contents)
    )


def test_debian_contents_invalid_line_raises(tmp_path: Path) -> None:
    path = tmp_path / "Contents"
    path.write_text("usr/lib/python3/dist-packages/a.py python/python3-a\nnospace\n")
    with pytest.raises(generate.GenerateError, match=r"Contents:2: expected 'PATH"):
        generate.read_contents(str(path))


@pytest.mark.parametrize(
    ("paths", "imports"),
    [
        (["mod.py"], {"mod"}),
        (["mod.cpython-311-x86_64-linux-gnu.so"], {"mod"}),
        (["pkg/__init__.py", "pkg/sub/x.py"], {"pkg"}),
        (["ns/pkg/__init__.py", "ns/pkg/x.py"], {"ns.pkg"}),
        (["ns/mod.py"], {"ns.mod"}),
        (["pkg/__pycache__/x.cpython-311.pyc", "pkg/__init__.py"], {"pkg"}),
        (["Foo-1.0.dist-info/METADATA", "foo.py"], {"foo"}),
        (["not-a-module.py", "tests/__init__.py"], set()),
    ],
)
def test_debian_import_names_from_paths(paths: list[str], imports: set[str]) -> None:
    contents = {
        "python3-x": [f"usr/lib/python3/dist-packages/{path}" for path in paths]
    }
    packages = generate.debian_packages(contents)
    assert {name for package in packages for name in package.imports} == imports


def test_debian_project_from_metadata_directory() -> None:
    contents = {
        "python3-x": [
            "usr/lib/python3/dist-packages/Some_Project-1.2.egg-info/PKG-INFO",
            "usr/lib/python3/dist-packages/some/__init__.py",
        ]
    }
    (package,) = generate.debian_packages(contents)
    assert package.projects == ("some-project",)


# Both distros, and the output


def test_both_distros_share_one_table(apkindex: Path, debian_contents: Path) -> None:
    tables = generated_tables(apkindex, debian_contents)
    assert tables["six"].packages == {"apk": "py3-six", "apt": "python3-six"}
    assert tables["six"].imports == ("six",)


def test_rendered_output_is_valid_sorted_mapping(
    apkindex: Path, debian_contents: Path
) -> None:
    tables = list(generated_tables(apkindex, debian_contents).values())
    text = generate.render(tables, ["test input"])
    try:
        parsed = parse(text, "<generated>")
    except MappingError as error:
        pytest.fail(f"the generated mapping is invalid:\n{error}")
    projects = [table.project for table in parsed]
    assert projects == sorted(projects)
    assert len(projects) == len(set(projects))
    imports = [name for table in parsed for name in table.fields["imports"]]
    assert len(imports) == len(set(imports))


def test_conflicting_group_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    packages = [
        generate.Package("apk", "py3-ab", frozenset({"a", "b"})),
        generate.Package("apt", "python3-a", frozenset({"a"})),
        generate.Package("apt", "python3-b", frozenset({"b"})),
    ]
    with caplog.at_level(logging.WARNING, logger="apkshim.generate"):
        assert generate.build_tables(packages) == []
    assert "skipped py3-ab, python3-a, python3-b" in caplog.text


def test_taken_project_name_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    packages = [
        generate.Package("apt", "python3-foo", frozenset({"foo"}), ("foo",)),
        generate.Package("apt", "python3-foo-legacy", frozenset({"oldfoo"}), ("foo",)),
    ]
    tables = generate.build_tables(packages)
    assert [table.project for table in tables] == ["foo", "foo-legacy"]
