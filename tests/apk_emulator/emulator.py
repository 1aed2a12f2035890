"""An emulator of apk-tools 2.14 and 3.0 for tests on machines that cannot run apk.

The ``apk`` launcher beside this file runs ``main``. The emulator reads and writes
only under its root, which comes from ``--root`` or ``APK_EMULATOR_ROOT`` and is
never ``/``. It opens no network connection: every ``http://`` or ``https://``
repository is reported as unreachable.

The messages, exit statuses and output streams follow apk-tools 2.14.10 and 3.0.6.
``APK_EMULATOR_VERSION`` (2 or 3, default 3) selects which one.

Environment variables:

- ``APK_EMULATOR_ROOT``: the root when ``--root`` is not given.
- ``APK_EMULATOR_VERSION``: ``2`` or ``3``.
- ``APK_EMULATOR_AS_USER=1``: fail on the log file and the lock as a user who is not
  root would.
- ``APK_EMULATOR_DELAY=SECONDS``: hold the database lock this long before ``add``
  or ``update`` does its work.

Each run appends its arguments as one JSON array line to ``<root>/emulator.log``.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import gzip
import json
import os
import re
import sys
import tarfile
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, NoReturn, TextIO

import repository
from repository import IndexRecord

ARCH = repository.ARCH
VERSION_LINES = {
    2: "apk-tools 2.14.10, compiled for x86_64.",
    3: "apk-tools 3.0.6, compiled for x86_64.",
}
MAX_EXIT_STATUS = 99
# apk exits 99 when it cannot open its database. The emulator uses the same status
# for its own errors, such as a missing root.
DATABASE_ERROR_STATUS = 99
INSTALLED_DATABASE = "lib/apk/db/installed"
LOCK_FILE = "lib/apk/db/lock"
WORLD_FILE = "etc/apk/world"
REPOSITORIES_FILE = "etc/apk/repositories"
EMULATOR_LOG = "emulator.log"
LOCK_POLL_SECONDS = 0.05
# apk wraps solver reports at the terminal width, or at 50 columns when standard
# output is not a terminal.
DEFAULT_SCREEN_WIDTH = 50
REMOTE_SCHEMES = ("http://", "https://", "ftp://")
DEPENDENCY_FORMAT = "name(@tag)([<>~=]version)"


class ApkExit(Exception):
    """Raised to end the run with ``status`` after the messages have been printed."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# --- Settings from the environment ---------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The emulator's own settings, read from ``APK_EMULATOR_*`` variables."""

    version: int = 3
    root: str | None = None
    as_user: bool = False
    delay: float = 0.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings, printing an error and exiting 99 on an invalid value."""
        version_text = environ.get("APK_EMULATOR_VERSION", "3").strip() or "3"
        if version_text not in ("2", "3"):
            emulator_error(
                f"APK_EMULATOR_VERSION={version_text!r} is invalid: set it to 2 or 3"
            )
        delay_text = environ.get("APK_EMULATOR_DELAY", "0").strip() or "0"
        try:
            delay = float(delay_text)
        except ValueError:
            delay = -1.0
        if delay < 0:
            emulator_error(
                f"APK_EMULATOR_DELAY={delay_text!r} is invalid: "
                "set it to a number of seconds"
            )
        return cls(
            version=int(version_text),
            root=environ.get("APK_EMULATOR_ROOT") or None,
            as_user=environ.get("APK_EMULATOR_AS_USER", "") not in ("", "0"),
            delay=delay,
        )


def emulator_error(message: str) -> NoReturn:
    """Print an error that comes from the emulator, not from apk, and exit 99."""
    print(f"ERROR: apk emulator: {message}", file=sys.stderr, flush=True)
    raise ApkExit(DATABASE_ERROR_STATUS)


# --- Output ----------------------------------------------------------------------


class Console:
    """apk's output channels, with the stream and verbosity rules of each version.

    Both versions print ``ERROR:`` lines to standard error and ordinary messages to
    standard output. Version 2 hides warnings and messages at ``-q``. Version 3
    hides messages at ``-q`` but still prints warnings.
    """

    def __init__(self, version: int, verbosity: int) -> None:
        self.version = version
        self.verbosity = verbosity

    def out(self, text: str) -> None:
        """Print ``text`` to standard output whatever the verbosity."""
        print(text, flush=True)

    def message(self, text: str) -> None:
        if self.verbosity >= 1:
            print(text, flush=True)

    def warning(self, text: str) -> None:
        if self.version == 3 or self.verbosity >= 1:
            print(f"WARNING: {text}", file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        print(f"ERROR: {text}", file=sys.stderr, flush=True)

    def lock_wait_notice(self) -> None:
        """Print "Waiting for repository lock": stdout in version 2, stderr in 3."""
        if self.version == 2:
            self.message("Waiting for repository lock")
        else:
            print("Waiting for repository lock", file=sys.stderr, flush=True)

    def screen_width(self) -> int:
        minimum = 50 if self.version == 2 else 25
        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            return DEFAULT_SCREEN_WIDTH
        return columns if columns > minimum else DEFAULT_SCREEN_WIDTH


class IndentedWriter:
    """Word-wrapped ``label: word word ...`` lines like apk's solver report.

    The first word after a label always stays on the label's line. A later word
    that would reach the screen width starts a new line, indented to the column
    after the label.
    """

    def __init__(self, stream: TextIO, width: int) -> None:
        self.stream = stream
        self.width = width
        self.column = 0
        self.indent = 0

    def line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.column = self.indent = 0

    def start_group(self, label: str) -> None:
        text = f"    {label}"
        self.stream.write(text)
        self.column = len(text)
        self.indent = self.column + 1

    def word(self, word: str) -> None:
        if self.column <= self.indent:
            self.stream.write(" " * (self.indent - self.column) + word)
            self.column = self.indent + len(word)
        elif self.column + len(word) + 1 >= self.width:
            self.stream.write("\n" + " " * self.indent + word)
            self.column = self.indent + len(word)
        else:
            self.stream.write(" " + word)
            self.column += 1 + len(word)

    def words(self, text: str) -> None:
        for word in text.split(" "):
            self.word(word)

    def end_group(self) -> None:
        if self.column:
            self.stream.write("\n")
            self.column = self.indent = 0


def error_text(version: int, code: int) -> str:
    """Return apk's text for an errno value.

    apk-tools 2 replaces a few C library texts with its own. apk-tools 3.0.6 prints
    the C library text for the errors the emulator reports.
    """
    if version == 2:
        replaced = {
            errno.EAGAIN: "temporary error (try again later)",
            errno.ECONNREFUSED: "could not connect to server (check repositories file)",
            errno.EBADMSG: "BAD archive",
        }
        if code in replaced:
            return replaced[code]
    return os.strerror(code)


def human_size(size: int) -> str:
    """Format a byte count as apk does: ``32 B``, ``12 KiB``, ``150 MiB``."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    unit = 0
    while size >= 10000 and unit < len(units) - 1:
        size //= 1024
        unit += 1
    return f"{size} {units[unit]}"


# --- Command line ------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """One option of apk's command line.

    ``negates`` names the boolean option that this ``--no-...`` option turns off.
    ``boolean`` options of apk-tools 3 also take ``--NAME=yes`` and ``--NAME=no``.
    Options with ``emulated=False`` are recognized, but using one makes the emulator
    exit with an error that names the option.
    """

    name: str
    short: str = ""
    argument: bool = False
    boolean: bool = False
    negates: str = ""
    emulated: bool = True

    @property
    def key(self) -> str:
        return self.negates or self.name


def boolean_option(name: str, short: str = "") -> list[OptionSpec]:
    """Return the v3 option ``--NAME[=yes|no]`` and its alias ``--no-NAME``."""
    return [
        OptionSpec(name, short, boolean=True),
        OptionSpec(f"no-{name}", negates=name),
    ]


def global_options(version: int) -> list[OptionSpec]:
    options = [
        OptionSpec("allow-untrusted"),
        OptionSpec("arch", argument=True),
        OptionSpec("cache-dir", argument=True),
        OptionSpec("cache-max-age", argument=True),
        OptionSpec("force", "f"),
        OptionSpec("force-binary-stdout"),
        OptionSpec("force-broken-world"),
        OptionSpec("force-no-chroot"),
        OptionSpec("force-non-repository"),
        OptionSpec("force-old-apk"),
        OptionSpec("force-overwrite"),
        OptionSpec("force-refresh"),
        OptionSpec("help", "h"),
        OptionSpec("keys-dir", argument=True),
        OptionSpec("print-arch"),
        OptionSpec("progress-fd", argument=True),
        OptionSpec("purge"),
        OptionSpec("quiet", "q"),
        OptionSpec("repositories-file", argument=True),
        OptionSpec("repository", "X", argument=True),
        OptionSpec("root", "p", argument=True),
        OptionSpec("timeout", argument=True),
        OptionSpec("update-cache", "U"),
        OptionSpec("verbose", "v"),
        OptionSpec("version", "V"),
        OptionSpec("wait", argument=True),
    ]
    if version == 2:
        options += [
            OptionSpec("interactive", "i"),
            OptionSpec("no-interactive", negates="interactive"),
            OptionSpec("progress"),
            OptionSpec("no-progress", negates="progress"),
            OptionSpec("no-cache", negates="cache"),
            OptionSpec("no-network", negates="network"),
            OptionSpec("no-check-certificate", negates="check-certificate"),
        ]
    else:
        options += boolean_option("interactive", "i")
        options += boolean_option("progress")
        options += boolean_option("cache")
        options += boolean_option("network")
        options += boolean_option("check-certificate")
        options += boolean_option("logfile")
        options += [
            OptionSpec("cache-predownload"),
            OptionSpec("force-missing-repositories"),
            OptionSpec("preserve-env"),
            OptionSpec("uvol-manager", argument=True),
        ]
    return options


def commit_options(version: int) -> list[OptionSpec]:
    """Return the options of applets that change the system, such as ``add``."""
    options = [
        OptionSpec("simulate", "s"),
        OptionSpec("clean-protected"),
        OptionSpec("overlay-from-stdin", emulated=False),
        OptionSpec("initramfs-diskless-boot", emulated=False),
    ]
    if version == 2:
        options += [
            OptionSpec("no-scripts", negates="scripts"),
            OptionSpec("no-commit-hooks", negates="commit-hooks"),
        ]
    else:
        options += boolean_option("scripts") + boolean_option("commit-hooks")
    return options


def add_options(version: int) -> list[OptionSpec]:
    options = [
        OptionSpec("initdb"),
        OptionSpec("latest", "l"),
        OptionSpec("upgrade", "u", emulated=False),
        OptionSpec("virtual", "t", argument=True, emulated=False),
    ]
    if version == 2:
        options.append(OptionSpec("no-chown"))
    else:
        options.append(OptionSpec("usermode"))
    return options


def info_options(version: int) -> list[OptionSpec]:
    options = [OptionSpec("exists", "e"), OptionSpec("installed")]
    not_emulated = [
        ("all", "a"),
        ("contents", "L"),
        ("depends", "R"),
        ("description", "d"),
        ("install-if", ""),
        ("license", ""),
        ("provides", "P"),
        ("rdepends", "r"),
        ("replaces", ""),
        ("rinstall-if", ""),
        ("size", "s"),
        ("triggers", "t"),
        ("webpage", "w"),
        ("who-owns", "W"),
    ]
    options += [OptionSpec(name, short, emulated=False) for name, short in not_emulated]
    return options


def search_options(version: int) -> list[OptionSpec]:
    return [
        OptionSpec("all", "a"),
        OptionSpec("description", "d", emulated=False),
        OptionSpec("exact", "ex"),
        OptionSpec("has-origin", emulated=False),
        OptionSpec("origin", "o", emulated=False),
        OptionSpec("rdepends", "r", emulated=False),
    ]


def list_options(version: int) -> list[OptionSpec]:
    return [
        OptionSpec("available", "a"),
        OptionSpec("depends", "d", emulated=False),
        OptionSpec("installed", "I"),
        OptionSpec("orphaned", "O", emulated=False),
        OptionSpec("origin", "o", emulated=False),
        OptionSpec("providers", "P"),
        OptionSpec("upgradable", "u", emulated=False),
        OptionSpec("upgradeable", emulated=False),
    ]


def no_options(version: int) -> list[OptionSpec]:
    return []


class UsageError(Exception):
    """An option error, printed as musl's getopt prints it, before the usage text."""


@dataclass
class CommandLine:
    """The result of parsing apk's arguments as musl's ``getopt_long`` does.

    ``permuted`` is the argument list after getopt moved the operands behind the
    options. apk names its first item when no applet matches.
    """

    program: str
    applet: str | None = None
    options: dict[str, str | bool] = field(default_factory=dict)
    used_options: list[OptionSpec] = field(default_factory=list)
    verbosity: int = 1
    repositories: list[str] = field(default_factory=list)
    operands: list[str] = field(default_factory=list)
    permuted: list[str] = field(default_factory=list)
    stop: str | None = None
    usage_error: str = ""

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.options.get(name, default)
        return value is True or value == "yes"

    def text(self, name: str) -> str | None:
        value = self.options.get(name)
        return value if isinstance(value, str) else None


def parse_command_line(argv: Sequence[str], version: int) -> CommandLine:
    """Parse ``argv`` with apk's option tables.

    Parsing stops at ``--version``, ``--help``, ``--print-arch`` or the first invalid
    option, as getopt does, and ``stop`` records which. Operands after ``--`` are never
    read as options, so a package name that starts with ``-`` stays a name.
    """
    arguments = list(argv[1:])
    command = CommandLine(program=argv[0] if argv else "apk")
    command.applet = deduce_applet(arguments)
    specs = global_options(version)
    if command.applet in APPLETS:
        applet = APPLETS[command.applet]
        if applet.commit:
            specs += commit_options(version)
        specs += applet.options(version)

    option_tokens: list[str] = []
    index = 0
    try:
        while index < len(arguments) and command.stop is None:
            argument = arguments[index]
            index += 1
            if argument == "--":
                option_tokens.append(argument)
                command.operands += arguments[index:]
                break
            if argument.startswith("--"):
                option_tokens.append(argument)
                index = parse_long_option(
                    command, specs, version, argument, arguments, index, option_tokens
                )
            elif argument.startswith("-") and argument != "-":
                option_tokens.append(argument)
                index = parse_short_options(
                    command, specs, version, argument, arguments, index, option_tokens
                )
            else:
                command.operands.append(argument)
    except UsageError as error:
        command.stop = "usage"
        command.usage_error = f"{command.program}: {error}"

    command.permuted = option_tokens + command.operands
    if command.operands and command.operands[0] == command.applet:
        command.operands = command.operands[1:]
    return command


def deduce_applet(arguments: Sequence[str]) -> str | None:
    """Return the first argument that names an applet, as apk looks for it."""
    for argument in arguments:
        if argument.startswith("-"):
            continue
        if argument in APPLETS or argument in NOT_EMULATED_APPLETS:
            return argument
    return None


def find_long_option(specs: Sequence[OptionSpec], text: str) -> OptionSpec:
    """Return the option that ``text`` (``name[=value]``) names exactly or by prefix.

    Like musl's getopt_long, a unique prefix of an option name is accepted, and the
    errors quote everything after the dashes, ``=value`` included.
    """
    name = text.partition("=")[0]
    for spec in specs:
        if spec.name == name:
            return spec
    matches = [spec for spec in specs if spec.name.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"option is ambiguous: {text}")
    raise UsageError(f"unrecognized option: {text}")


def parse_long_option(
    command: CommandLine,
    specs: Sequence[OptionSpec],
    version: int,
    argument: str,
    arguments: Sequence[str],
    index: int,
    option_tokens: list[str],
) -> int:
    """Apply one ``--name[=value]`` option and return the index of the next argument."""
    _, has_value, value = argument[2:].partition("=")
    spec = find_long_option(specs, argument[2:])
    if spec.argument:
        if not has_value:
            if index >= len(arguments):
                raise UsageError(f"option requires an argument: {spec.name}")
            value = arguments[index]
            option_tokens.append(value)
            index += 1
        apply_option(command, spec, value)
    elif has_value and spec.boolean and version == 3:
        if value not in ("yes", "no"):
            # apk-tools 3 rejects other values too. This message is the emulator's
            # own because the real one was not recorded.
            raise UsageError(
                f"invalid value for --{spec.name}: {value} (use yes or no)"
            )
        apply_option(command, spec, value == "yes")
    elif has_value:
        raise UsageError(f"option does not take an argument: {spec.name}")
    else:
        apply_option(command, spec, True)
    return index


def parse_short_options(
    command: CommandLine,
    specs: Sequence[OptionSpec],
    version: int,
    argument: str,
    arguments: Sequence[str],
    index: int,
    option_tokens: list[str],
) -> int:
    """Apply a group of short options such as ``-qU`` or ``-p/root``."""
    position = 1
    while position < len(argument) and command.stop is None:
        letter = argument[position]
        position += 1
        spec = next((spec for spec in specs if letter in spec.short), None)
        if spec is None:
            raise UsageError(f"unrecognized option: {letter}")
        if not spec.argument:
            apply_option(command, spec, True)
            continue
        if position < len(argument):
            value = argument[position:]
        elif index < len(arguments):
            value = arguments[index]
            option_tokens.append(value)
            index += 1
        else:
            raise UsageError(f"option requires an argument: {letter}")
        apply_option(command, spec, value)
        break
    return index


def apply_option(command: CommandLine, spec: OptionSpec, value: str | bool) -> None:
    command.used_options.append(spec)
    if spec.name == "quiet":
        command.verbosity = max(command.verbosity - 1, 0)
    elif spec.name == "verbose":
        command.verbosity += 1
    elif spec.name == "repository":
        command.repositories.append(str(value))
    elif spec.name in ("version", "help", "print-arch"):
        command.stop = spec.name
    elif spec.negates:
        command.options[spec.negates] = False
    else:
        command.options[spec.key] = value


USAGE_LINE = "usage: apk [<OPTIONS>...] COMMAND [<ARGUMENTS>...]"


def usage_text(version: int) -> str:
    # apk prints a full option list after these lines. The emulator leaves it out.
    return f"{VERSION_LINES[version]}\n\n{USAGE_LINE}"


# --- Versions and dependencies -------------------------------------------------------


_VERSION_PATTERN = re.compile(
    r"^(?P<numbers>\d+(?:\.\d+)*)(?P<letter>[a-z]?)"
    r"(?P<suffixes>(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)"
    r"(?:~(?P<hash>[0-9a-f]+))?(?:-r(?P<release>\d+))?$"
)
_SUFFIX_PATTERN = re.compile(r"_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)")
# Suffixes before 0 sort below the plain release (1.0_rc1 < 1.0), the others above.
_SUFFIX_RANKS = {
    "alpha": -4,
    "beta": -3,
    "pre": -2,
    "rc": -1,
    "cvs": 1,
    "svn": 2,
    "git": 3,
    "hg": 4,
    "p": 5,
}
_DEPENDENCY_PATTERN = re.compile(
    r"^(?P<conflict>!)?(?P<name>[^!<>=~@\s]+)(?:@(?P<tag>[^<>=~\s]+))?"
    r"(?:(?P<operator><=|>=|><|=~|<~|>~|<|>|=|~)(?P<version>\S+))?$"
)

VersionKey = tuple[
    int, tuple[int, ...], str, tuple[tuple[int, int], ...], str, int, str
]


def version_key(version: str) -> VersionKey:
    """Return a sort key that orders apk version strings as apk does.

    The order is: the dotted numbers, an optional letter, ``_alpha`` to ``_p``
    suffixes, an optional ``~hash`` and the ``-rN`` release. A string that is not a
    valid apk version sorts below every valid one.
    """
    match = _VERSION_PATTERN.match(version)
    if match is None:
        return (0, (), "", ((0, 0),), "", 0, version)
    numbers = tuple(int(part) for part in match.group("numbers").split("."))
    suffixes = tuple(
        (_SUFFIX_RANKS[name], int(number or "0"))
        for name, number in _SUFFIX_PATTERN.findall(match.group("suffixes"))
    )
    return (
        1,
        numbers,
        match.group("letter"),
        suffixes + ((0, 0),),
        match.group("hash") or "",
        int(match.group("release") or "0"),
        "",
    )


def compare_versions(left: str, right: str) -> int:
    """Return -1, 0 or 1 as ``left`` is older than, equal to or newer than ``right``."""
    left_key, right_key = version_key(left), version_key(right)
    return (left_key > right_key) - (left_key < right_key)


@dataclass(frozen=True)
class Dependency:
    """A parsed dependency such as ``python3~3.11``, ``py3.11:yaml`` or ``!foo``."""

    text: str
    name: str
    operator: str = ""
    version: str = ""
    conflict: bool = False


def parse_dependency(text: str) -> Dependency | None:
    """Parse apk's ``name(@tag)([<>~=]version)`` syntax, or return None if invalid."""
    match = _DEPENDENCY_PATTERN.match(text)
    if match is None:
        return None
    operator = match.group("operator") or ""
    operator = {"=~": "~", "<~": "<=", ">~": ">="}.get(operator, operator)
    return Dependency(
        text=text,
        name=match.group("name"),
        operator=operator,
        version=match.group("version") or "",
        conflict=bool(match.group("conflict")),
    )


def version_matches(version: str, dependency: Dependency, checksum: str = "") -> bool:
    """Return whether ``version`` meets the dependency's version constraint."""
    operator = dependency.operator
    if not operator:
        return True
    if operator == "><":
        return checksum == dependency.version
    if operator == "~":
        prefix = dependency.version
        if version == prefix:
            return True
        return version.startswith(prefix) and not version[len(prefix)].isdigit()
    order = compare_versions(version, dependency.version)
    return {
        "=": order == 0,
        "<": order < 0,
        ">": order > 0,
        "<=": order <= 0,
        ">=": order >= 0,
    }[operator]


# --- The database: root, lock, installed packages, repositories ----------------------


@dataclass(frozen=True)
class Repository:
    """A line of ``etc/apk/repositories`` and the directory its index was read from.

    ``directory`` is None for a repository that could not be read.
    """

    url: str
    directory: Path | None
    description: str = ""


@dataclass
class PackageEntry:
    """One package version: its index record and where it is installed or offered."""

    record: IndexRecord
    repositories: list[Repository] = field(default_factory=list)
    installed_record: IndexRecord | None = None

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> str:
        return self.record.version

    @property
    def installed(self) -> bool:
        return self.installed_record is not None

    @property
    def label(self) -> str:
        """``name-version``, as apk names a package in its messages."""
        return f"{self.name}-{self.version}"

    def provided_version(self, name: str) -> tuple[bool, str | None]:
        """Return whether the package provides ``name``, and at which version.

        The version is None for a provide without ``=version``.
        """
        for provide in self.record.provides:
            dependency = parse_dependency(provide)
            if dependency is None or dependency.name != name:
                continue
            if dependency.operator == "=":
                return True, dependency.version
            return True, None
        return False, None

    def satisfies_name(self, name: str) -> bool:
        """Return whether the package is called ``name`` or provides it."""
        return self.name == name or self.provided_version(name)[0]

    def satisfies(self, dependency: Dependency) -> bool:
        """Return whether the package meets ``dependency`` by name or by a provide."""
        if self.name == dependency.name:
            return version_matches(self.version, dependency, self.record.checksum)
        provided, version = self.provided_version(dependency.name)
        if not provided:
            return False
        if not dependency.operator:
            return True
        return version is not None and version_matches(version, dependency)


@dataclass
class Context:
    """Everything an applet needs: settings, command line, output and root."""

    settings: Settings
    command: CommandLine
    console: Console
    root: Path

    @property
    def version(self) -> int:
        return self.settings.version


class Database:
    """The state apk opens: installed packages, world and repository indexes."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.root = context.root
        self.lock_fd: int | None = None
        self.installed: list[IndexRecord] = []
        self.world: list[str] = []
        self.repositories: list[Repository] = []
        self.unavailable_repositories = 0
        self.entries: dict[tuple[str, str], PackageEntry] = {}

    # Reading

    def read_installed(self) -> None:
        path = self.root / INSTALLED_DATABASE
        if path.is_file():
            self.installed = repository.parse_records(path.read_text(encoding="utf-8"))
        for record in self.installed:
            entry = self._entry(record)
            entry.installed_record = record
        world_path = self.root / WORLD_FILE
        if world_path.is_file():
            self.world = world_path.read_text(encoding="utf-8").split()

    def read_repositories(self) -> None:
        for url in self._repository_lines():
            self.repositories.append(self._open_repository(url))

    def _repository_lines(self) -> list[str]:
        command = self.context.command
        repositories_file = command.text("repositories-file")
        path = (
            Path(repositories_file)
            if repositories_file
            else self.root / REPOSITORIES_FILE
        )
        lines: list[str] = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("@"):
                    # NOTE: tagged repositories ("@edge URL") are read as if
                    # untagged, so their packages need no "name@tag" to be chosen.
                    line = line.partition(" ")[2].strip()
                if line:
                    lines.append(line)
        return lines + command.repositories

    def _open_repository(self, url: str) -> Repository:
        console = self.context.console
        version = self.context.version
        if url.startswith(REMOTE_SCHEMES):
            self.unavailable_repositories += 1
            self._warn_unreachable(url)
            return Repository(url, None)

        directory = Path(url.removeprefix("file://"))
        index = find_index(directory)
        printable = url if version == 2 else index_url(url)
        if index is None:
            console.warning(f"opening {printable}: {error_text(version, errno.ENOENT)}")
            return Repository(url, None)
        try:
            records = repository.read_apkindex(index)
            description = repository.read_apkindex_description(index)
        except (OSError, KeyError, tarfile.TarError, UnicodeDecodeError, ValueError):
            console.warning(
                f"opening {printable}: {error_text(version, errno.EBADMSG)}"
            )
            return Repository(url, None)

        opened = Repository(url, index.parent, description)
        for record in records:
            self._entry(record).repositories.append(opened)
        return opened

    def _warn_unreachable(self, url: str) -> None:
        """Print what apk prints when it cannot connect to a repository's server."""
        command = self.context.command
        console = self.context.console
        version = self.context.version
        if not command.flag("network", default=True):
            # NOTE: this follows the apk-tools source and was not observed. Without
            # the network, apk only looks for the index in its cache, empty here.
            printable = url if version == 2 else index_url(url)
            console.warning(
                f"opening from cache {printable}: {error_text(version, errno.ENOENT)}"
            )
            return
        use_cache = command.flag("cache", default=True)
        action = "updating and opening" if use_cache else "fetching"
        if version == 2:
            console.message(f"fetch {index_url(url)}")
            console.warning(f"{action} {url}: {error_text(2, errno.ECONNREFUSED)}")
        else:
            console.warning(
                f"{action} {index_url(url)}: {error_text(3, errno.ECONNREFUSED)}"
            )

    def _entry(self, record: IndexRecord) -> PackageEntry:
        key = (record.name, record.version)
        if key not in self.entries:
            self.entries[key] = PackageEntry(record)
        return self.entries[key]

    # Queries

    def named(self, name: str) -> list[PackageEntry]:
        """Return the versions of the package called ``name``, oldest first."""
        found = [entry for entry in self.entries.values() if entry.name == name]
        return sorted(found, key=lambda entry: version_key(entry.version))

    def providers(self, name: str) -> list[PackageEntry]:
        """Return the packages that provide ``name`` without being called so."""
        found = [
            entry
            for entry in self.entries.values()
            if entry.name != name and entry.provided_version(name)[0]
        ]
        return sorted(found, key=lambda entry: (entry.name, version_key(entry.version)))

    def matching(self, name: str) -> list[PackageEntry]:
        """Return the packages called ``name`` followed by those that provide it."""
        return self.named(name) + self.providers(name)

    def installed_entries(self) -> list[PackageEntry]:
        return [entry for entry in self.entries.values() if entry.installed]

    # Writing

    def write_installed(self, records: Sequence[IndexRecord]) -> None:
        write_atomically(
            self.root / INSTALLED_DATABASE, repository.format_records(records)
        )
        self.installed = list(records)

    def write_world(self, world: Sequence[str]) -> None:
        ordered = sorted(set(world), key=lambda text: (dependency_name(text), text))
        write_atomically(
            self.root / WORLD_FILE, "".join(f"{line}\n" for line in ordered)
        )
        self.world = ordered


def dependency_name(text: str) -> str:
    parsed = parse_dependency(text)
    return parsed.name if parsed else text


def find_index(directory: Path) -> Path | None:
    """Return the index in ``directory``, or in ``directory/x86_64`` where apk looks."""
    for candidate in (
        directory / repository.INDEX_FILE_NAME,
        directory / ARCH / repository.INDEX_FILE_NAME,
    ):
        if candidate.is_file():
            return candidate
    return None


def index_url(url: str) -> str:
    """Return the URL apk fetches a repository's index from."""
    return f"{url.rstrip('/')}/{ARCH}/{repository.INDEX_FILE_NAME}"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def database_failure(context: Context, message: str, code: int) -> NoReturn:
    """Print apk's two-line database error for ``code`` and exit 99."""
    text = error_text(context.version, code)
    context.console.error(f"{message}: {text}")
    context.console.error(f"Failed to open apk database: {text}")
    raise ApkExit(DATABASE_ERROR_STATUS)


def open_database(
    context: Context,
    write: bool,
    read_repositories: bool = True,
    create: bool = False,
) -> Database:
    """Open the database as apk does, printing apk's errors and exiting on failure.

    The steps run in apk's order: the root, then (for a write) the log file of
    apk-tools 3 and the lock, then the installed database and world, then the
    repositories. Simulated runs (``-s``) open read-only, so they take no lock.
    """
    if not context.root.is_dir():
        if not create:
            text = error_text(context.version, errno.ENOENT)
            if context.version == 3:
                context.console.error(f"Unable to open root: {text}")
                raise ApkExit(DATABASE_ERROR_STATUS)
            database_failure(context, "Unable to open root", errno.ENOENT)
        context.root.mkdir(parents=True)

    database = Database(context)
    if write:
        if create:
            for directory in ("lib/apk/db", "etc/apk"):
                (context.root / directory).mkdir(parents=True, exist_ok=True)
        check_log_file(context)
        database.lock_fd = lock_database(context)
        if context.settings.delay:
            time.sleep(context.settings.delay)
    database.read_installed()
    if read_repositories:
        database.read_repositories()
    return database


def check_log_file(context: Context) -> None:
    """Fail as apk-tools 3 does when a user who is not root cannot open its log."""
    if context.version != 3 or not context.settings.as_user:
        return
    if not context.command.flag("logfile", default=True):
        return
    context.console.error(f"Unable to open log: {os.strerror(errno.EACCES)}")
    raise ApkExit(DATABASE_ERROR_STATUS)


def lock_database(context: Context) -> int:
    """Take ``lib/apk/db/lock`` with flock as apk does and return its descriptor.

    Without ``--wait`` a busy lock fails at once. With ``--wait N`` apk prints
    "Waiting for repository lock" and waits up to N seconds, then fails with
    "Interrupted system call" because its alarm signal ends the blocking flock.
    The emulator polls the lock instead of blocking with an alarm.
    """
    console = context.console
    wait = atoi(context.command.text("wait") or "0")
    path = context.root / LOCK_FILE
    try:
        if context.settings.as_user and path.parent.is_dir():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        descriptor = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as error:
        # NOTE: the apk-tools 2 source (apk_db_open in database.c) suggests that
        # with --wait apk 2 goes on to flock descriptor -1 here and reports "Bad
        # file descriptor". The emulator prints the open error, as observed runs
        # of 2.14.10 did, but those runs may not have passed --wait.
        database_failure(context, "Unable to lock database", error.errno or errno.EIO)

    if try_flock(descriptor):
        return descriptor
    if wait <= 0:
        database_failure(context, "Unable to lock database", errno.EAGAIN)
    console.lock_wait_notice()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(min(LOCK_POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        if try_flock(descriptor):
            return descriptor
    database_failure(context, "Unable to lock database", errno.EINTR)


def try_flock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def atoi(text: str) -> int:
    """Convert like C's atoi: leading digits count, anything else gives 0."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


# --- The solver ---------------------------------------------------------------------


@dataclass
class Problem:
    """A dependency the solver could not meet, reported as one block of the error.

    ``kind`` is ``missing`` (no package has the name), ``virtual`` (only packages
    that provide it without a version, which apk never picks on its own) or
    ``version`` (the package exists but no version meets the constraint).
    """

    name: str
    kind: str
    providers: list[str] = field(default_factory=list)
    package: PackageEntry | None = None
    required_by: list[str] = field(default_factory=list)


@dataclass
class Resolution:
    """Packages to install, dependencies first, and the problems that block them."""

    install: list[PackageEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    replacements: list[tuple[PackageEntry, PackageEntry]] = field(default_factory=list)


def resolve(database: Database, requests: Sequence[Dependency]) -> Resolution:
    """Choose packages for ``requests`` and, recursively, for their dependencies.

    Installed packages are kept. A name is met first by a package of that name, else
    by a package that provides it with a version, preferring the newest provided
    version. Packages that provide it only without a version are never chosen.
    """
    resolution = Resolution()
    chosen: dict[str, PackageEntry] = {
        entry.name: entry for entry in database.installed_entries()
    }
    problems: dict[str, Problem] = {}

    def require(dependency: Dependency, required_by: str) -> None:
        if dependency.conflict:
            # NOTE: conflicts ("!name") are ignored, not checked.
            return
        choice = choose_package(database, chosen, dependency)
        if isinstance(choice, Problem):
            problem = problems.setdefault(choice.name, choice)
            if required_by not in problem.required_by:
                problem.required_by.append(required_by)
            return
        current = chosen.get(choice.name)
        if current is choice:
            return
        if current is not None:
            resolution.replacements.append((current, choice))
            return
        chosen[choice.name] = choice
        for text in choice.record.depends:
            parsed = parse_dependency(text)
            if parsed is not None:
                require(parsed, f"{choice.label}[{text}]")
        resolution.install.append(choice)

    for request in requests:
        require(request, f"world[{request.text}]")
    resolution.problems = list(problems.values())
    return resolution


def choose_package(
    database: Database, chosen: Mapping[str, PackageEntry], dependency: Dependency
) -> PackageEntry | Problem:
    """Return the package that meets ``dependency``, or the problem that blocks it."""
    named = database.named(dependency.name)
    if named:
        matching = [entry for entry in named if entry.satisfies(dependency)]
        current = chosen.get(dependency.name)
        if current is not None and current in matching:
            return current
        if matching:
            return matching[-1]
        return Problem(dependency.name, "version", package=current or named[-1])

    providers = database.providers(dependency.name)
    if not providers:
        return Problem(dependency.name, "missing")
    meeting = [entry for entry in providers if entry.satisfies(dependency)]
    for entry in meeting:
        if chosen.get(entry.name) is entry:
            return entry
    versioned = [
        entry
        for entry in meeting
        if entry.provided_version(dependency.name)[1] is not None
    ]
    if versioned:
        # max() keeps the first of equal keys, so ties go to the first name.
        by_name = sorted(versioned, key=lambda entry: entry.name)
        return max(by_name, key=lambda entry: provide_rank(entry, dependency.name))
    provider_names = sorted({entry.name for entry in providers})
    return Problem(dependency.name, "virtual", providers=provider_names)


def provide_rank(entry: PackageEntry, name: str) -> tuple[VersionKey, VersionKey]:
    """Sort key for providers: the provided version, then the package version."""
    provided = entry.provided_version(name)[1] or ""
    return (version_key(provided), version_key(entry.version))


def print_problems(console: Console, problems: Sequence[Problem]) -> None:
    """Print apk's ``unable to select packages`` report for ``problems``."""
    console.error("unable to select packages:")
    writer = IndentedWriter(sys.stderr, console.screen_width())
    for problem in problems:
        if problem.kind == "version" and problem.package is not None:
            # NOTE: this form follows the apk-tools source and was not observed.
            writer.line(f"  {problem.package.label}:")
            writer.start_group("breaks:")
        else:
            label = "virtual" if problem.kind == "virtual" else "no such package"
            writer.line(f"  {problem.name} ({label}):")
            if problem.kind == "virtual":
                writer.start_group("note:")
                writer.words(
                    "please select one of the 'provided by' packages explicitly"
                )
                writer.end_group()
                writer.start_group("provided by:")
                for provider in problem.providers:
                    writer.word(provider)
                writer.end_group()
            writer.start_group("required by:")
        for requirer in problem.required_by:
            writer.word(requirer)
        writer.end_group()
    sys.stderr.flush()


# --- Installing ----------------------------------------------------------------------


class InstallError(Exception):
    """A package could not be installed. The message is apk's error text."""


def install_package(database: Database, entry: PackageEntry) -> IndexRecord:
    """Extract the package's files under the root and return its installed record."""
    source = next((repo for repo in entry.repositories if repo.directory), None)
    if source is None or source.directory is None:
        raise InstallError(os.strerror(errno.ENOENT))
    path = source.directory / repository.package_file_name(entry.name, entry.version)
    try:
        with tarfile.open(str(path), mode="r:gz") as archive:
            directories, files = extract_members(database.root, archive)
    except FileNotFoundError:
        raise InstallError(os.strerror(errno.ENOENT)) from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile):
        version = database.context.version
        raise InstallError(error_text(version, errno.EBADMSG)) from None
    except OSError as error:
        raise InstallError(error.strerror or str(error)) from None
    return installed_record(entry.record, directories, files)


def extract_members(
    root: Path, archive: tarfile.TarFile
) -> tuple[set[str], dict[str, str]]:
    """Extract a package's directories, files and symlinks under ``root``.

    Members named ``.*`` at the top level (``.PKGINFO``, scripts) are control
    files and are skipped. Returns the directories and a map from each file path
    to its ``Q1`` checksum ("" for symlinks).
    """
    directories: set[str] = set()
    files: dict[str, str] = {}
    for member in archive:
        name = member.name.rstrip("/")
        if "/" not in name and name.startswith("."):
            continue
        target = safe_target(root, name)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            directories.add(name)
        elif member.isfile():
            extracted = archive.extractfile(member)
            data = extracted.read() if extracted else b""
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                target.unlink()
            target.write_bytes(data)
            target.chmod(member.mode & 0o7777)
            files[name] = repository.apk_checksum(data)
        elif member.issym():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(member.linkname, target)
            files[name] = ""
    return directories, files


def safe_target(root: Path, name: str) -> Path:
    """Return where a package member goes, rejecting paths that leave the root.

    Besides absolute paths and ``..``, this rejects a path whose directory is a
    symlink to somewhere outside the root, so no package can write there.
    """
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise InstallError(f"invalid path in package: {name}")
    target = root.joinpath(*pure.parts)
    real_parent = os.path.realpath(target.parent)
    if os.path.commonpath([real_parent, str(root)]) != str(root):
        raise InstallError(f"path in package leaves the root: {name}")
    return target


def installed_record(
    record: IndexRecord, directories: Iterable[str], files: Mapping[str, str]
) -> IndexRecord:
    """Return the index record plus the F:/R:/Z: lines that list its files.

    Each directory gets an ``F:`` line, including the parents that only contain
    other directories, and each file an ``R:`` line after its directory's ``F:``
    and a ``Z:`` line with its checksum.
    """
    all_directories = set(directories)
    for path in files:
        all_directories.update(
            str(parent) for parent in list(PurePosixPath(path).parents)[:-1]
        )
    by_directory: dict[str, list[str]] = {}
    for path in sorted(files):
        parent = str(PurePosixPath(path).parent)
        by_directory.setdefault("" if parent == "." else parent, []).append(path)

    lines = list(record.lines)
    for directory in [""] + sorted(all_directories):
        if directory:
            lines.append(("F", directory))
        for path in by_directory.get(directory, []):
            lines.append(("R", PurePosixPath(path).name))
            if files[path]:
                lines.append(("Z", files[path]))
    return IndexRecord(tuple(lines))


# --- Applets -------------------------------------------------------------------------


def run_add(context: Context) -> int:
    """Run ``apk add``: install the named packages and their dependencies."""
    console = context.console
    command = context.command
    simulate = command.flag("simulate")

    requests: list[Dependency] = []
    for text in command.operands:
        parsed = parse_dependency(text)
        if parsed is None:
            # NOTE: the wording follows the apk-tools source and was not observed.
            # apk returns -1 here, which both versions report as an exit status
            # above 99.
            kind = "dependency" if context.version == 2 else "world dependency"
            console.error(
                f"'{text}' is not a valid {kind}, format is {DEPENDENCY_FORMAT}"
            )
            return MAX_EXIT_STATUS
        requests.append(parsed)

    database = open_database(context, write=not simulate, create=command.flag("initdb"))
    resolution = resolve(database, requests)
    if resolution.problems:
        print_problems(console, resolution.problems)
        return len(resolution.problems)
    for current, wanted in resolution.replacements:
        unsupported(console, f"replacing {current.label} with {wanted.label}")

    total = len(resolution.install)
    width = len(str(total))
    records = list(database.installed)
    errors = 0
    for number, entry in enumerate(resolution.install, start=1):
        console.message(
            f"({number:>{width}}/{total}) Installing {entry.name} ({entry.version})"
        )
        if simulate:
            continue
        try:
            records.append(install_package(database, entry))
        except InstallError as error:
            # NOTE: apk reports a failed package as "ERROR: name-version: reason".
            # Its reasons for a missing or broken .apk were not recorded.
            console.error(f"{entry.label}: {error}")
            errors += 1

    if not simulate:
        world = list(database.world)
        for request in requests:
            world = [line for line in world if dependency_name(line) != request.name]
            world.append(request.text)
        database.write_installed(records)
        database.write_world(world)

    installed = database.installed
    size = human_size(sum(record.installed_size for record in installed))
    summary = f"{size} in {len(installed)} packages"
    if errors:
        console.message(f"{errors} error{'s' if errors > 1 else ''}; {summary}")
        return errors
    console.message(f"OK: {summary}")
    return 0


def run_info(context: Context) -> int:
    """Run ``apk info``: test names with ``-e``, or list the installed packages."""
    command = context.command
    console = context.console
    database = open_database(context, write=False, read_repositories=False)
    if not (command.flag("exists") or command.flag("installed")):
        if command.operands:
            unsupported(console, "'apk info NAME' without -e")
        for entry in sorted(database.installed_entries(), key=lambda item: item.name):
            print_package_line(console, entry)
        return 0

    missing = 0
    for text in command.operands:
        dependency = parse_dependency(text)
        if dependency is None:
            continue
        found = next(
            (
                entry
                for entry in database.matching(dependency.name)
                if entry.installed and entry.satisfies(dependency)
            ),
            None,
        )
        if found is None:
            missing += 1
        else:
            print_package_line(console, found)
    return missing


def print_package_line(console: Console, entry: PackageEntry) -> None:
    """Print ``name`` (``-q`` prints nothing), or ``name-version`` at ``-v``."""
    if console.verbosity >= 2:
        console.out(entry.label)
    elif console.verbosity == 1:
        console.out(entry.name)


def run_policy(context: Context) -> int:
    """Run ``apk policy``: list each version of a package and where it comes from."""
    database = open_database(context, write=False)
    for name in context.command.operands:
        entries = database.named(name)
        if not entries:
            continue
        context.console.out(f"{name} policy:")
        for entry in entries:
            context.console.out(f"  {entry.version}:")
            if entry.installed:
                context.console.out(f"    {INSTALLED_DATABASE}")
            for repo in database.repositories:
                if repo in entry.repositories:
                    context.console.out(f"    {repo.url}")
    return 0


def run_search(context: Context) -> int:
    """Run ``apk search``: find packages by name pattern, or by exact name with -x."""
    command = context.command
    console = context.console
    database = open_database(context, write=False)
    available = [entry for entry in database.entries.values() if entry.repositories]
    unmatched = 0
    for pattern in command.operands:
        if command.flag("exact"):
            found = [entry for entry in available if entry.satisfies_name(pattern)]
        else:
            glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
            found = [
                entry for entry in available if fnmatch.fnmatchcase(entry.name, glob)
            ]
        if not command.flag("all"):
            found = newest_of_each_name(found)
        if not found:
            unmatched += 1
        for entry in sorted(
            found, key=lambda item: (item.name, version_key(item.version))
        ):
            if console.verbosity >= 2:
                console.out(f"{entry.label} - {entry.record.description}")
            elif console.verbosity == 1:
                console.out(entry.label)
            else:
                console.out(entry.name)
    # apk-tools 2 always exits 0 here, but apk-tools 3 counts the names not found.
    return unmatched if context.version == 3 else 0


def newest_of_each_name(entries: Iterable[PackageEntry]) -> list[PackageEntry]:
    newest: dict[str, PackageEntry] = {}
    for entry in entries:
        current = newest.get(entry.name)
        if current is None or compare_versions(entry.version, current.version) > 0:
            newest[entry.name] = entry
    return list(newest.values())


def run_list(context: Context) -> int:
    """Run ``apk list``: one line per package, matching provides with --providers."""
    command = context.command
    database = open_database(context, write=False)
    entries = list(database.entries.values())
    if command.flag("installed"):
        entries = [entry for entry in entries if entry.installed]
    if command.flag("available"):
        entries = [entry for entry in entries if entry.repositories]

    lines: list[str] = []
    patterns = command.operands or ["*"]
    if command.flag("providers"):
        # apk matches each pattern against every name, provided names included,
        # with fnmatch and FNM_CASEFOLD, and prints each provider of each matching
        # name after "<name> ".
        matches: list[tuple[str, PackageEntry]] = []
        for entry in entries:
            names = [entry.name, *(dependency_name(p) for p in entry.record.provides)]
            for name in dict.fromkeys(names):
                if any(
                    fnmatch.fnmatchcase(name.lower(), pattern.lower())
                    for pattern in patterns
                ):
                    matches.append((name, entry))
        matches.sort(
            key=lambda item: (item[0], item[1].name, version_key(item[1].version))
        )
    else:
        matches = [
            ("", entry)
            for pattern in patterns
            for entry in sorted(
                entries, key=lambda item: (item.name, version_key(item.version))
            )
            if fnmatch.fnmatchcase(entry.name, pattern)
        ]
    for name, entry in matches:
        prefix = f"<{name}> " if command.flag("providers") else ""
        record = entry.record
        line = (
            f"{prefix}{entry.label} {record.arch} "
            f"{{{record.origin or entry.name}}} ({record.license})"
        )
        lines.append(line + (" [installed]" if entry.installed else ""))
    for line in lines:
        context.console.out(line)
    return 0


def run_update(context: Context) -> int:
    """Run ``apk update``: read every repository and count the available packages."""
    console = context.console
    database = open_database(context, write=True)
    for repo in database.repositories:
        if repo.description:
            console.message(f"{repo.description} [{repo.url}]")
    count = len(database.entries)
    unavailable = database.unavailable_repositories
    prefix = f"{unavailable} unavailable, 0 stale;" if unavailable else "OK:"
    console.message(f"{prefix} {count} distinct packages available")
    return unavailable


def unsupported(console: Console, feature: str) -> NoReturn:
    """Exit 1 with an error that names a feature the emulator does not provide."""
    console.error(f"apk emulator: {feature} is not emulated")
    raise ApkExit(1)


@dataclass(frozen=True)
class Applet:
    """An applet the emulator runs, with its option table."""

    run: Callable[[Context], int]
    options: Callable[[int], list[OptionSpec]] = no_options
    commit: bool = False


APPLETS: dict[str, Applet] = {
    "add": Applet(run_add, add_options, commit=True),
    "info": Applet(run_info, info_options),
    "list": Applet(run_list, list_options),
    "policy": Applet(run_policy),
    "search": Applet(run_search, search_options),
    "update": Applet(run_update),
}
# Real apk applets that the emulator recognizes but does not run.
NOT_EMULATED_APPLETS = frozenset(
    [
        "adbdump",
        "adbgen",
        "adbsign",
        "audit",
        "cache",
        "convdb",
        "convndx",
        "del",
        "dot",
        "extract",
        "fetch",
        "fix",
        "index",
        "manifest",
        "mkndx",
        "mkpkg",
        "query",
        "stats",
        "upgrade",
        "verify",
        "version",
    ]
)


# --- Entry point ---------------------------------------------------------------------


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """Run one apk command and return its exit status, at most 99 as apk reports it."""
    try:
        status = run(argv, os.environ if environ is None else environ)
    except ApkExit as stop:
        status = stop.status
    return min(status, MAX_EXIT_STATUS)


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    settings = Settings.from_environment(environ)
    command = parse_command_line(argv, settings.version)
    root = resolve_root(command, settings)
    append_log(root, argv[1:])
    console = Console(settings.version, command.verbosity)

    if command.stop == "usage":
        print(command.usage_error, file=sys.stderr, flush=True)
        console.out(usage_text(settings.version))
        return 1
    if command.stop == "help":
        console.out(usage_text(settings.version))
        return 1
    if command.stop == "version":
        console.out(VERSION_LINES[settings.version])
        return 0
    if command.stop == "print-arch":
        console.out(ARCH)
        return 0

    if command.applet is None:
        if command.permuted:
            console.error(
                f"'{command.permuted[0]}' is not an apk command. See 'apk --help'."
            )
            return 1
        console.out(usage_text(settings.version))
        return 1
    if command.applet in NOT_EMULATED_APPLETS:
        unsupported(console, f"the '{command.applet}' applet")
    for spec in command.used_options:
        if not spec.emulated:
            unsupported(console, f"option --{spec.name} of '{command.applet}'")

    context = Context(settings, command, console, root)
    return APPLETS[command.applet].run(context)


def resolve_root(command: CommandLine, settings: Settings) -> Path:
    """Return the root from ``--root`` or ``APK_EMULATOR_ROOT``, exiting 99 without one.

    The emulator never works on ``/``, so it rejects a root that resolves there.
    """
    root_text = command.text("root") or settings.root
    if not root_text:
        emulator_error(
            "no root: pass --root DIR or set APK_EMULATOR_ROOT, "
            "because the emulator never works on /"
        )
    root = Path(os.path.realpath(str(root_text)))
    if root == Path(root.anchor):
        emulator_error(f"root {root_text!r} is /: use a directory made for the test")
    return root


def append_log(root: Path, arguments: Sequence[str]) -> None:
    """Append the arguments as one JSON line to ``<root>/emulator.log``.

    The line is written with one ``write`` call in append mode, so concurrent runs
    do not interleave. Nothing is written while the root does not exist.
    """
    if not root.is_dir():
        return
    line = (json.dumps(list(arguments)) + "\n").encode("utf-8")
    descriptor = os.open(
        root / EMULATOR_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)
