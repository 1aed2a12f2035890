"""The shipped mapping.toml against tests/data/mapping.tsv and this machine's apt.

mapping.tsv lists, for about 200 widely used PyPI projects, the import names and
the Alpine and Debian 12 packages that ship them, with the evidence for each. The
shipped mapping must hold exactly the verified facts of that table: one entry per
row that some distro packages, one backend field per distro that has the package.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apkshim.mapping import Mapping, normalize_project

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "mapping.toml"
FACTS = ROOT / "tests" / "data" / "mapping.tsv"

# Import names of a row that the shipped mapping leaves out, because one imports
# list serves both backends and the named package does not provide them.
LEFT_OUT = {
    # Debian 12's python3-fitz (PyMuPDF 1.21) ships only fitz.
    "pymupdf": {"pymupdf"},
    # gridfs is in python3-gridfs, which python3-pymongo only recommends.
    "pymongo": {"gridfs"},
}


def read_facts() -> list[dict[str, str]]:
    with FACTS.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


FACT_ROWS = read_facts()
ROWS = {row["pypi_name"]: row for row in FACT_ROWS}


def verified_package(row: dict[str, str], backend: str) -> str:
    """Return the row's package for ``backend`` when the table marks it verified."""
    distro = "alpine" if backend == "apk" else "debian"
    if row[f"{distro}_verified"] != "yes":
        return ""
    return row[f"{distro}_package"]


@pytest.fixture(scope="module")
def shipped() -> Mapping:
    return Mapping.load([str(SHIPPED)])


def test_facts_have_one_row_per_project() -> None:
    assert len(ROWS) == len(FACT_ROWS)


def test_facts_names_are_normalized() -> None:
    for name in ROWS:
        assert normalize_project(name) == name, name


def test_shipped_mapping_reads_without_problems(shipped: Mapping) -> None:
    (report,) = shipped.files
    assert report.status == "read"
    assert report.problems == []


def test_shipped_projects_all_in_facts(shipped: Mapping) -> None:
    assert sorted(set(shipped.entries) - set(ROWS)) == []


@pytest.mark.parametrize("project", sorted(ROWS))
def test_shipped_entry_matches_facts(shipped: Mapping, project: str) -> None:
    row = ROWS[project]
    expected_packages = {
        backend: verified_package(row, backend)
        for backend in ("apk", "apt")
        if verified_package(row, backend)
    }
    entry = shipped.entries.get(project)
    if not expected_packages:
        assert entry is None, f"{project}: no distro has it, so no entry"
        return
    assert entry is not None, f"{project}: a distro has it, so it needs an entry"
    assert entry.packages == expected_packages
    expected_imports = [
        name
        for name in row["import_names"].split(",")
        if name not in LEFT_OUT.get(project, set())
    ]
    assert list(entry.imports) == expected_imports


def test_left_out_imports_are_in_the_facts() -> None:
    for project, names in LEFT_OUT.items():
        assert names <= set(ROWS[project]["import_names"].split(",")), project


def test_apk_names_in_verified_alpine_data(shipped: Mapping) -> None:
    verified = {
        row["alpine_package"] for row in FACT_ROWS if row["alpine_verified"] == "yes"
    }
    for entry in shipped.entries.values():
        if "apk" in entry.packages:
            assert entry.packages["apk"] in verified, entry.project


def test_shipped_entries_per_backend(shipped: Mapping) -> None:
    def rows_with(backend: str) -> int:
        return sum(bool(verified_package(row, backend)) for row in FACT_ROWS)

    def entries_with(backend: str) -> int:
        return sum(backend in entry.packages for entry in shipped.entries.values())

    assert entries_with("apk") == rows_with("apk")
    assert entries_with("apt") == rows_with("apt")


def test_dotted_names_map_namespace_packages(shipped: Mapping) -> None:
    for name, project in [
        ("google.protobuf", "protobuf"),
        ("ruamel.yaml", "ruamel-yaml"),
        ("mpl_toolkits.mplot3d", "matplotlib"),
        ("azure.storage.blob", "azure-storage-blob"),
    ]:
        found = shipped.find_import(f"{name}.sub", "apt")
        assert found is not None, name
        assert found[0] == name
        assert found[1].project == project


# This machine's apt


def apt_packages(shipped: Mapping) -> list[str]:
    entries = shipped.entries.values()
    return sorted(
        {entry.packages["apt"] for entry in entries if "apt" in entry.packages}
    )


@pytest.fixture(scope="module")
def apt_records(shipped: Mapping) -> Iterator[dict[str, str]]:
    """Run one 'apt-cache show' for every apt name; return package -> its stanza."""
    if shutil.which("apt-cache") is None:
        pytest.skip(
            "apt-cache is not on PATH: this machine has no apt to check against"
        )
    completed = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", "--", *apt_packages(shipped)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if "Package:" not in completed.stdout:
        pytest.skip(
            "apt-cache show found no package at all; the package lists are empty "
            f"(run apt-get update): {completed.stderr.strip()[-300:]}"
        )
    records: dict[str, str] = {}
    for stanza in completed.stdout.split("\n\n"):
        for line in stanza.splitlines():
            if line.startswith("Package: "):
                records[line.split(": ", 1)[1].strip()] = stanza
    yield records


def test_apt_names_exist_in_local_apt(
    shipped: Mapping, apt_records: dict[str, str]
) -> None:
    missing = [name for name in apt_packages(shipped) if name not in apt_records]
    assert missing == [], "apt-cache show finds no real package of these names"
