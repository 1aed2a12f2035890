"""The mapping: parsing, every kind of bad input, layers, and lookups."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from apkshim import finder as apkshim_finder
from apkshim import autoinstall, mapping
from apkshim.backends import BACKEND_CLASSES, Apk
from apkshim.errors import MappingError
from apkshim.mapping import Mapping
from apkshim.settings import resolve

SHIPPED_MODULES = [
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "sklearn",
    "yaml",
    "PIL",
    "cv2",
    "bs4",
    "lxml",
    "dateutil",
    "requests",
    "sympy",
    "networkx",
]

PYYAML = """\
[pyyaml]
imports = ["yaml"]
apk = "py3-yaml"
apt = "python3-yaml"
"""


def problems(text: str) -> list[str]:
    """Return the problems that parsing ``text`` reports."""
    with pytest.raises(MappingError) as raised:
        mapping.parse(text, "layer.toml")
    assert raised.value.path == "layer.toml"
    return raised.value.problems


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def write(directory: Path, name: str, text: str, mode: int = 0o644) -> str:
    path = directory / name
    path.write_text(text)
    path.chmod(mode)
    return str(path)


# Valid files


def test_parse_reads_tables_with_key_lines() -> None:
    text = "# comment\n\n" + PYYAML
    (table,) = mapping.parse(text, "layer.toml")
    assert table.project == "pyyaml"
    assert table.line == 3
    assert table.fields == {
        "imports": ["yaml"],
        "apk": "py3-yaml",
        "apt": "python3-yaml",
    }
    assert table.key_lines == {"imports": 4, "apk": 5, "apt": 6}


def test_parse_normalizes_project_names() -> None:
    (table,) = mapping.parse('[Ruamel_YAML]\nimports = ["ruamel.yaml"]\n', "m")
    assert table.project == "ruamel-yaml"


def test_parse_accepts_a_quoted_dotted_project() -> None:
    (table,) = mapping.parse('["ruamel.yaml"]\nimports = ["ruamel.yaml"]\n', "m")
    assert table.project == "ruamel-yaml"
    assert table.key_lines == {"imports": 2}


def test_parse_accepts_an_empty_file() -> None:
    assert mapping.parse("# nothing mapped\n", "m") == []


# Invalid TOML and duplicates


def test_invalid_toml_names_its_line() -> None:
    text = '[numpy]\nimports = ["numpy"]\napk = "py3-numpy\n'
    problem = only_problem(text)
    assert problem.startswith("3: invalid TOML:"), problem


def test_invalid_toml_duplicate_key_names_its_line() -> None:
    problem = only_problem('[numpy]\napk = "py3-numpy"\napk = "py3-numpy2"\n')
    assert problem.startswith("3: invalid TOML:"), problem


def test_invalid_toml_message_carries_the_path() -> None:
    with pytest.raises(MappingError) as raised:
        mapping.parse("[numpy\n", "/etc/apkshim/mapping.toml")
    assert str(raised.value).startswith("/etc/apkshim/mapping.toml:1: invalid TOML")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("[pyyaml]", "[PyYAML]"),
        ("[pyyaml]", "[pyyaml]"),
        ("[python-dateutil]", "[python_dateutil]"),
        ("[python-dateutil]", '["Python.Dateutil"]'),
    ],
)
def test_duplicate_tables_name_both_lines(first: str, second: str) -> None:
    text = (
        f'{first}\nimports = ["a"]\n\n'
        '[numpy]\nimports = ["numpy"]\n\n'
        f'{second}\napk = "x"\n'
    )
    problem = only_problem(text)
    assert problem.startswith("7: duplicate entry"), problem
    assert "line 1" in problem
    assert first in problem
    assert second.replace('"', "") in problem


def test_import_name_in_two_tables_names_both_lines() -> None:
    text = (
        "[pyyaml]\n"
        'imports = ["yaml"]\n'
        'apk = "py3-yaml"\n'
        "\n"
        "[yaml-fork]\n"
        'apk = "py3-yamlfork"\n'
        'imports = ["yaml"]\n'
    )
    problem = only_problem(text)
    assert problem.startswith("7: import name 'yaml'"), problem
    assert "[yaml-fork]" in problem
    assert "[pyyaml] at line 2" in problem


def test_import_name_twice_in_one_table() -> None:
    problem = only_problem('[pyyaml]\nimports = ["yaml", "yaml"]\n')
    assert problem.startswith("2: [pyyaml] lists import name 'yaml' twice"), problem


def test_every_problem_is_listed() -> None:
    text = (
        "[one]\n"
        'imports = ["1bad"]\n'
        'apk = "-x"\n'
        "[two]\n"
        'dnf = "python3-two"\n'
        "remove = false\n"
    )
    found = problems(text)
    assert [problem.split(":")[0] for problem in found] == ["2", "3", "5", "6"]


# Package names


@pytest.mark.parametrize(
    "name",
    [
        "py3-yaml",
        "py3-scikit-learn",
        "py3-ruamel.yaml",
        "py3-foo+bar",
        "py3_x",
        "Py3-Qt5",
        "a",
    ],
)
def test_valid_apk_names(name: str) -> None:
    assert mapping.is_package_name("apk", name)


@pytest.mark.parametrize(
    "name",
    ["python3-yaml", "python3-sklearn", "python3-ruamel.yaml", "libc++1", "g++", "0ad"],
)
def test_valid_apt_names(name: str) -> None:
    assert mapping.is_package_name("apt", name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-py3-yaml",
        "--allow-untrusted",
        ".py3-yaml",
        "py3 yaml",
        "py3-yaml;rm",
        "py3-yaml\n",
        "py3.12:numpy",
        "py3-yaml>=6",
        "py3/yaml",
    ],
)
def test_invalid_apk_names(name: str) -> None:
    assert not mapping.is_package_name("apk", name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "p",
        "-python3-yaml",
        "--reinstall",
        "+python3",
        ".python3",
        "Python3-yaml",
        "python3_yaml",
        "python3-yaml:amd64",
        "python3-yaml=6.0",
        "python3-yaml\n",
        "python3 yaml",
    ],
)
def test_invalid_apt_names(name: str) -> None:
    assert not mapping.is_package_name("apt", name)


@pytest.mark.parametrize(
    ("backend", "value"),
    [
        ("apk", '"-py3-yaml"'),
        ("apt", '"-python3-yaml"'),
        ("apt", '"python3_yaml"'),
        ("apt", '"Python3-Yaml"'),
        ("apk", '"py3-yaml\\n"'),
        ("apk", '""'),
        ("apk", "true"),
        ("apt", "3"),
        ("apk", '["py3-yaml"]'),
        ("apt", '"python3-yaml python3-lxml"'),
    ],
)
def test_invalid_package_value_is_reported(backend: str, value: str) -> None:
    problem = only_problem(f'[pyyaml]\nimports = ["yaml"]\n{backend} = {value}\n')
    assert problem.startswith(f"3: [pyyaml] {backend} = "), problem
    assert f"not a valid {backend} package name" in problem


# Module names


@pytest.mark.parametrize(
    "name", ["yaml", "google.protobuf", "_x.y_2", "PIL", "mpl_toolkits.mplot3d"]
)
def test_valid_module_names(name: str) -> None:
    assert mapping.is_module_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1yaml",
        "py-yaml",
        "google..protobuf",
        ".yaml",
        "yaml.",
        "class",
        "a.def",
        "yaml\n",
        "a b",
    ],
)
def test_invalid_module_names(name: str) -> None:
    assert not mapping.is_module_name(name)


@pytest.mark.parametrize(
    "value", ['["py-yaml"]', '["yaml."]', '["import"]', "[3]", '["ok", ""]']
)
def test_invalid_import_value_is_reported(value: str) -> None:
    problem = only_problem(f'[pyyaml]\napk = "py3-yaml"\nimports = {value}\n')
    assert problem.startswith("3: [pyyaml] import name"), problem
    assert "is not a dotted Python identifier" in problem


def test_imports_must_be_a_list() -> None:
    problem = only_problem('[pyyaml]\nimports = "yaml"\n')
    assert problem == "2: [pyyaml] imports must be a list of module names"


# Keys, tables, project names


@pytest.mark.parametrize("key", ["dnf", "pip", "apt-get", "import", "Apk"])
def test_unknown_keys_and_backends(key: str) -> None:
    problem = only_problem(f'[pyyaml]\nimports = ["yaml"]\n{key} = "python3-yaml"\n')
    assert problem.startswith(f"3: [pyyaml] has unknown key '{key}'"), problem


def test_top_level_key_names_its_line() -> None:
    problem = only_problem('apk = "x"\n' + PYYAML)
    assert problem.startswith("1: top-level key 'apk' is not a table"), problem


def test_array_of_tables_names_its_line() -> None:
    problem = only_problem(PYYAML + '\n[[numpy]]\nimports = ["numpy"]\n')
    assert problem.startswith("6: top-level key 'numpy' is not a table"), problem


def test_bare_dotted_header_is_explained() -> None:
    problem = only_problem(
        '[numpy]\nimports = ["numpy"]\n[ruamel.yaml]\nimports = ["ruamel.yaml"]\n'
    )
    assert problem.startswith("3: [ruamel.yaml] is a nested table"), problem
    assert "[ruamel-yaml]" in problem


@pytest.mark.parametrize(
    "header", ['["-yaml"]', '["yaml-"]', '["py yaml"]', "['py/yaml']"]
)
def test_invalid_project_names(header: str) -> None:
    problem = only_problem(f'{header}\nimports = ["yaml"]\n')
    assert problem.startswith("1: ["), problem
    assert "is not a valid PyPI project name" in problem


def test_project_name_ending_in_a_newline_is_invalid() -> None:
    problem = only_problem('["pyyaml\\n"]\nimports = ["yaml"]\n')
    assert "is not a valid PyPI project name" in problem


# remove = true


def test_remove_true_alone_is_valid() -> None:
    (table,) = mapping.parse("[pyyaml]\nremove = true\n", "m")
    assert table.fields == {"remove": True}


@pytest.mark.parametrize("value", ["false", '"yes"', "1"])
def test_remove_must_be_true(value: str) -> None:
    problem = only_problem(f"[pyyaml]\nremove = {value}\n")
    assert problem.startswith("2: [pyyaml] remove must be true"), problem


def test_remove_with_other_keys() -> None:
    problem = only_problem('[pyyaml]\nremove = true\napk = "py3-yaml"\n')
    assert problem == "2: [pyyaml] has remove = true and other keys"


# Layers


@pytest.fixture
def base(tmp_path: Path) -> str:
    return write(
        tmp_path,
        "base.toml",
        PYYAML
        + '\n[pillow]\nimports = ["PIL"]\napk = "py3-pillow"\napt = "python3-pil"\n',
    )


def test_later_layer_overrides_field_by_field(tmp_path: Path, base: str) -> None:
    layer = write(tmp_path, "layer.toml", '# mine\n[PyYAML]\napk = "py3-yaml-mine"\n')
    merged = Mapping.load([base, layer])
    entry = merged.entries["pyyaml"]
    assert entry.packages == {"apk": "py3-yaml-mine", "apt": "python3-yaml"}
    assert entry.imports == ("yaml",)
    assert str(entry.locations["apk"]) == f"{layer}:3"
    assert str(entry.locations["apt"]) == f"{base}:4"
    assert [report.entries for report in merged.files] == [2, 1]


def test_later_layer_replaces_the_import_list(tmp_path: Path, base: str) -> None:
    layer = write(tmp_path, "layer.toml", '[pyyaml]\nimports = ["yaml", "_yaml"]\n')
    merged = Mapping.load([base, layer])
    assert merged.entries["pyyaml"].imports == ("yaml", "_yaml")
    found = merged.find_import("_yaml", "apt")
    assert found is not None and found[0] == "_yaml"


def test_backend_false_removes_one_backend(tmp_path: Path, base: str) -> None:
    layer = write(tmp_path, "layer.toml", "[pyyaml]\napt = false\n")
    merged = Mapping.load([base, layer])
    assert merged.entries["pyyaml"].packages == {"apk": "py3-yaml"}
    assert merged.find_import("yaml", "apt") is None
    assert merged.find_import("yaml", "apk") is not None
    assert merged.find_project("PyYAML", "apt") is None
    assert merged.find_project("PyYAML", "apk") is not None


def test_remove_true_removes_the_project(tmp_path: Path, base: str) -> None:
    layer = write(tmp_path, "layer.toml", "[PyYAML]\nremove = true\n")
    merged = Mapping.load([base, layer])
    assert "pyyaml" not in merged.entries
    assert merged.find_import("yaml", "apk") is None
    assert merged.find_import("PIL", "apk") is not None


def test_remove_then_add_again(tmp_path: Path, base: str) -> None:
    gone = write(tmp_path, "gone.toml", "[pyyaml]\nremove = true\n")
    back = write(
        tmp_path, "back.toml", '[pyyaml]\nimports = ["yaml"]\napk = "py3-yaml2"\n'
    )
    merged = Mapping.load([base, gone, back])
    assert merged.entries["pyyaml"].packages == {"apk": "py3-yaml2"}


def test_later_layer_takes_an_import_name(tmp_path: Path, base: str) -> None:
    layer = write(
        tmp_path,
        "layer.toml",
        '[yaml-fork]\nimports = ["yaml"]\napk = "py3-yamlfork"\n',
    )
    merged = Mapping.load([base, layer])
    key, entry = merged.find_import("yaml", "apk") or ("", None)
    assert key == "yaml"
    assert entry is not None
    assert entry.project == "yaml-fork"
    assert merged.entries["pyyaml"].imports == ()
    # The name now belongs to yaml-fork, which has no apt package.
    assert merged.find_import("yaml", "apt") is None


def test_invalid_layer_is_skipped_whole(tmp_path: Path, base: str) -> None:
    layer = write(
        tmp_path, "layer.toml", '[pyyaml]\napk = "py3-yaml-mine"\n[bad]\napk = "-rf"\n'
    )
    merged = Mapping.load([base, layer])
    assert merged.entries["pyyaml"].packages["apk"] == "py3-yaml"
    report = merged.files[1]
    assert report.status == "invalid"
    assert report.entries == 0
    assert report.problems[0].startswith("4: [bad] apk = '-rf'")


def test_non_utf8_layer_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"[caf\xe9]\n")
    report = Mapping().add_file(str(path))
    assert report.status == "invalid"
    assert report.problems[0].startswith("1: not UTF-8 text")


# Unsafe permissions


def test_world_writable_layer_is_ignored(tmp_path: Path, base: str) -> None:
    layer = write(tmp_path, "layer.toml", '[pyyaml]\napk = "evil"\n', mode=0o666)
    merged = Mapping.load([base, layer])
    assert merged.entries["pyyaml"].packages["apk"] == "py3-yaml"
    report = merged.files[1]
    assert report.status == "ignored"
    assert "users other than this user and root can write it" in report.problems[0]
    assert f"chmod go-w {layer}" in report.problems[0]


@pytest.mark.skipif(
    os.geteuid() != 0, reason="changing a file's group to another needs root"
)
def test_group_writable_layer_of_another_group_is_ignored(tmp_path: Path) -> None:
    layer = write(tmp_path, "layer.toml", PYYAML, mode=0o664)
    os.chown(layer, -1, 4242)
    report = Mapping().add_file(layer)
    assert report.status == "ignored"


def test_group_writable_layer_of_group_root_is_read(tmp_path: Path) -> None:
    layer = write(tmp_path, "layer.toml", PYYAML, mode=0o664)
    if os.stat(layer).st_gid != 0:
        pytest.skip("the file's group is not root here")
    assert Mapping().add_file(layer).status == "read"


@pytest.mark.parametrize(
    ("mode", "gid", "unsafe"),
    [
        (0o644, 0, False),
        (0o600, 1000, False),
        (0o664, 0, False),
        (0o664, 1000, True),
        (0o646, 0, True),
        (0o642, 0, True),
    ],
)
def test_unsafe_permissions(mode: int, gid: int, unsafe: bool) -> None:
    status = os.stat_result((0o100000 | mode, 0, 0, 1, os.geteuid(), gid, 0, 0, 0, 0))
    assert mapping.unsafe_permissions(status) is unsafe


def test_unsafe_layer_is_logged_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layer = write(tmp_path, "layer.toml", PYYAML, mode=0o666)
    environ = {
        "APKSHIM_MAPPING": layer,
        "APKSHIM_BACKEND": "apt",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    with caplog.at_level(logging.WARNING, logger="apkshim"):
        autoinstall.load_context(environ)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(layer in message and "ignored" in message for message in messages), (
        messages
    )


def test_missing_apkshim_mapping_file_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "nowhere.toml")
    environ = {
        "APKSHIM_MAPPING": missing,
        "APKSHIM_BACKEND": "apt",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    with caplog.at_level(logging.WARNING, logger="apkshim"):
        context = autoinstall.load_context(environ)
    (report,) = [report for report in context.mapping.files if report.path == missing]
    assert report.status == "missing"
    assert report.problems == ["not found"]
    assert any(missing in r.getMessage() for r in caplog.records)
    # The standard layers may be absent without a word.
    user_layer = str(tmp_path / "config" / "apkshim" / "mapping.toml")
    (user_report,) = [r for r in context.mapping.files if r.path == user_layer]
    assert user_report.status == "missing"
    assert user_report.problems == []


def test_apkshim_mapping_layers_come_last_in_order(tmp_path: Path) -> None:
    environ = {
        "APKSHIM_MAPPING": os.pathsep.join(
            [f"{tmp_path}/a.toml", "", f"{tmp_path}/b.toml"]
        ),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    assert apkshim_finder.mapping_layers(environ) == [
        apkshim_finder.shipped_mapping(),
        "/etc/apkshim/mapping.toml",
        str(tmp_path / "config" / "apkshim" / "mapping.toml"),
        f"{tmp_path}/a.toml",
        f"{tmp_path}/b.toml",
    ]


def test_config_home_defaults_to_dot_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    layers = apkshim_finder.mapping_layers({})
    assert layers[2] == "/home/someone/.config/apkshim/mapping.toml"


# Lookups


DOTTED = """\
[protobuf]
imports = ["google.protobuf"]
apk = "py3-protobuf"
apt = "python3-protobuf"

[google-cloud-storage]
imports = ["google.cloud.storage"]
apt = "python3-google-cloud-storage"

[ruamel-yaml]
imports = ["ruamel.yaml"]
apk = "py3-ruamel.yaml"
apt = "python3-ruamel.yaml"

[matplotlib]
imports = ["matplotlib", "mpl_toolkits.mplot3d", "pylab"]
apk = "py3-matplotlib"
apt = "python3-matplotlib"
"""


@pytest.fixture
def dotted(tmp_path: Path) -> Mapping:
    return Mapping.load([write(tmp_path, "dotted.toml", DOTTED)])


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("google.protobuf", "google.protobuf"),
        ("google.protobuf.json_format", "google.protobuf"),
        ("google.protobuf.internal.decoder", "google.protobuf"),
        ("google.cloud.storage.blob", "google.cloud.storage"),
        ("ruamel.yaml", "ruamel.yaml"),
        ("ruamel.yaml.comments", "ruamel.yaml"),
        ("mpl_toolkits.mplot3d", "mpl_toolkits.mplot3d"),
        ("mpl_toolkits.mplot3d.axes3d", "mpl_toolkits.mplot3d"),
        ("matplotlib.pyplot", "matplotlib"),
        ("pylab", "pylab"),
        ("google", None),
        ("google.cloud", None),
        ("google.protobufx", None),
        ("ruamel", None),
        ("mpl_toolkits", None),
        ("mpl_toolkits.basemap", None),
        ("matplotlibx", None),
    ],
)
def test_longest_mapped_prefix_decides(
    dotted: Mapping, name: str, key: str | None
) -> None:
    found = dotted.find_import(name, "apt")
    assert (found[0] if found else None) == key


def test_longest_prefix_wins_over_a_shorter_one(tmp_path: Path) -> None:
    text = (
        '[google-api]\nimports = ["google"]\napt = "python3-google"\n'
        '[protobuf]\nimports = ["google.protobuf"]\napt = "python3-protobuf"\n'
    )
    merged = Mapping.load([write(tmp_path, "m.toml", text)])
    assert merged.find_import("google.protobuf.message", "apt")[1].project == "protobuf"  # type: ignore[index]
    assert merged.find_import("google.auth", "apt")[1].project == "google-api"  # type: ignore[index]


def test_lookup_is_per_backend(dotted: Mapping) -> None:
    assert dotted.find_import("google.cloud.storage", "apt") is not None
    assert dotted.find_import("google.cloud.storage", "apk") is None


def test_names_to_watch_include_parents(dotted: Mapping) -> None:
    backend = Apk(resolve({}))
    names = autoinstall.names_to_watch(dotted, backend)
    assert {
        "google",
        "google.protobuf",
        "ruamel",
        "ruamel.yaml",
        "mpl_toolkits",
    } <= names
    assert "google.cloud" not in names  # google.cloud.storage has no apk package


def test_token_scan_covers_every_mapped_name(tmp_path: Path) -> None:
    """The finder's cheap pre-check must never miss a name the mapping maps."""
    paths = [apkshim_finder.shipped_mapping(), write(tmp_path, "dotted.toml", DOTTED)]
    tokens = apkshim_finder._scan_tokens(paths)
    merged = Mapping.load(paths)
    for backend_class in BACKEND_CLASSES.values():
        names = autoinstall.names_to_watch(merged, backend_class(resolve({})))
        assert names <= tokens, names - tokens


# The shipped file


def test_shipped_mapping_parses_without_problems() -> None:
    shipped = apkshim_finder.shipped_mapping()
    assert os.path.exists(shipped)
    merged = Mapping.load([shipped], required=[shipped])
    (report,) = merged.files
    assert report.status == "read", report.problems
    assert report.problems == []
    assert report.entries == len(merged.entries) >= len(SHIPPED_MODULES)


@pytest.mark.parametrize("backend", ["apk", "apt"])
@pytest.mark.parametrize("module", SHIPPED_MODULES)
def test_shipped_mapping_covers(module: str, backend: str) -> None:
    merged = Mapping.load([apkshim_finder.shipped_mapping()])
    found = merged.find_import(module, backend)
    assert found is not None, f"{module} has no {backend} package"
    key, entry = found
    assert key == module
    assert mapping.is_package_name(backend, entry.packages[backend])


@pytest.mark.parametrize(
    ("module", "apk", "apt"),
    [
        ("sklearn", "py3-scikit-learn", "python3-sklearn"),
        ("yaml", "py3-yaml", "python3-yaml"),
        ("PIL", "py3-pillow", "python3-pil"),
        ("cv2", "py3-opencv", "python3-opencv"),
        ("bs4", "py3-beautifulsoup4", "python3-bs4"),
        ("dateutil", "py3-dateutil", "python3-dateutil"),
    ],
)
def test_shipped_names_match_the_distributions(module: str, apk: str, apt: str) -> None:
    merged = Mapping.load([apkshim_finder.shipped_mapping()])
    assert merged.find_import(module, "apk")[1].packages == {"apk": apk, "apt": apt}  # type: ignore[index]


def test_mapping_fifo_is_reported_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    merged = Mapping.load([str(fifo)])
    (report,) = merged.files
    assert report.status == "invalid"
    assert "not a regular file" in report.problems[0]


def test_token_scan_skips_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    assert apkshim_finder._scan_tokens([str(fifo)]) == frozenset()


def test_layer_claim_index_follows_removal(tmp_path: Path) -> None:
    first = write(tmp_path, "first.toml", '[one]\nimports = ["shared"]\napt = "python3-one"\n')
    second = write(tmp_path, "second.toml", "[one]\nremove = true\n")
    third = write(tmp_path, "third.toml", '[two]\nimports = ["shared"]\napt = "python3-two"\n')
    merged = Mapping.load([first, second, third])
    assert merged.mentions_import("shared")
    found = merged.find_import("shared", "apt")
    assert found is not None
    assert found[1].project == "two"
    assert "one" not in merged.entries


def test_file_of_another_user_is_ignored(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    path = write(tmp_path, "other.toml", '[one]\nimports = ["one"]\napt = "python3-one"\n')
    os.chown(path, 65534, 65534)
    merged = Mapping.load([path])
    (report,) = merged.files
    assert report.status == "ignored"
    assert merged.entries == {}
