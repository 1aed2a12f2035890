"""The installer: route each requirement to the distro, to pip or nowhere, then run.

Planning, per requirement:

1. Parse it (PEP 508). Skip it when its environment marker is false here, when it
   names a standard-library module, or when an installed distribution already
   satisfies it (``importlib.metadata``).
2. Send it to the distro when the mapping names a package for this backend and
   the distro's candidate version satisfies the specifier; otherwise to pip.
3. Resolve the dependency closure of the pip-bound requirements with
   ``pip install --dry-run --report``. Each dependency that the distro ships in
   a version satisfying every specifier on it in the closure moves to the distro
   run, so pip neither downloads nor builds it.

Running: one package-manager run for every distro package, then one pip run for
every pip-bound requirement, both under the install lock that the import hook
takes too. After each run the new modules are made importable in this process.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from typing import Callable, Optional, Union

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from apkshim import autoinstall, importstate, locking, pip, stdlib, versions
from apkshim.backends import Backend
from apkshim.errors import ApkshimError, InstallError
from apkshim.mapping import normalize_project
from apkshim.runner import Completed
from apkshim.settings import Settings

log = logging.getLogger(__name__)

Notify = Callable[[str], None]


class RequirementError(ApkshimError, ValueError):
    """Requirements or requirement files are invalid. ``problems`` lists each one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InstallFailed(InstallError):
    """A run failed. ``result`` contains the plan and the runs made until then."""

    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


@dataclasses.dataclass(frozen=True)
class Request:
    """One requirement string and where it was written, for messages."""

    text: str
    origin: Optional[str] = None
    """``FILE:LINE`` of a requirement file or a scanned import, or None."""


class Route(enum.Enum):
    """The destination of a requirement."""

    SKIPPED = "skipped"
    DISTRO = "distro"
    PIP = "pip"


@dataclasses.dataclass
class Decision:
    """The route of one requirement, or of one dependency that pip would pull in."""

    requirement: str
    project: str
    """The normalized project name (PEP 503)."""
    route: Route
    reason: str
    package: Optional[str] = None
    """The distro package, or for pip the project name."""
    version: Optional[str] = None
    """The installed version after a run; before it, the candidate or pip's pick."""
    origin: Optional[str] = None
    required_by: tuple[str, ...] = ()
    """For a dependency found in pip's resolution: the projects that require it."""
    seconds: Optional[float] = None
    """Wall time of the run that installed it."""


@dataclasses.dataclass
class Run:
    """One package-manager or pip run, planned or made."""

    tool: str
    """``apk``, ``apt`` or ``pip``."""
    argv: list[str]
    packages: list[str]
    seconds: Optional[float] = None
    """Wall time once it has run; None in a dry run."""

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


@dataclasses.dataclass
class Result:
    """The outcome of ``install``: a decision per requirement and the runs."""

    decisions: list[Decision]
    runs: list[Run]
    dry_run: bool
    backend: Optional[str]
    notes: list[str] = dataclasses.field(default_factory=list)
    """Facts that changed the routing, such as a Python the distro cannot serve."""
    blocked: Optional[str] = None
    """The reason pip would reject this interpreter (PEP 668); ``execute`` raises it."""

    def routed(self, route: Route) -> list[Decision]:
        """Return the decisions that took ``route``."""
        return [decision for decision in self.decisions if decision.route is route]


def parse_requests(requests: Iterable[Request]) -> list[tuple[Request, Requirement]]:
    """Parse every request; raise RequirementError listing every invalid one."""
    parsed: list[tuple[Request, Requirement]] = []
    problems: list[str] = []
    for request in requests:
        try:
            parsed.append((request, Requirement(request.text)))
        except InvalidRequirement as error:
            where = f"{request.origin}: " if request.origin else ""
            detail = str(error).splitlines()[0] if str(error) else "invalid syntax"
            problems.append(
                f"{where}invalid requirement {request.text!r}: {detail}. Write it as "
                "PEP 508 specifies, such as 'numpy>=1.24' or "
                "'pandas[excel]; python_version >= \"3.10\"'"
            )
    if problems:
        raise RequirementError(problems)
    return parsed


def read_requirement_file(path: str) -> list[Request]:
    """Read a requirements file: one PEP 508 requirement a line, ``#`` comments.

    Lines ending in a backslash continue on the next line, and ``-r FILE``
    includes another file, relative to this one. pip's other options (index URLs,
    ``-e``, hashes) are rejected: they belong in pip's own configuration. Every
    problem is collected, then raised as one RequirementError.
    """
    requests: list[Request] = []
    problems: list[str] = []
    _read_requirement_file(path, requests, problems, set())
    try:
        parse_requests(requests)
    except RequirementError as error:
        problems.extend(error.problems)
    if problems:
        raise RequirementError(problems)
    return requests


def _read_requirement_file(
    path: str, requests: list[Request], problems: list[str], seen: set[str]
) -> None:
    real = os.path.realpath(path)
    if real in seen:
        problems.append(f"{path}: included twice (an '-r' loop); remove one '-r' line")
        return
    seen.add(real)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        problems.append(
            f"requirement file {path} not found (relative paths start at "
            f"{os.getcwd()}); check the path"
        )
        return
    except UnicodeDecodeError as error:
        problems.append(f"{path}: not UTF-8 text ({error.reason}); save it as UTF-8")
        return
    except OSError as error:
        problems.append(
            f"requirement file {path} cannot be read: {error.strerror}; check "
            "that it is a readable file"
        )
        return

    for number, line in _logical_lines(text):
        origin = f"{path}:{number}"
        if line.startswith(("-r ", "--requirement ", "-r=", "--requirement=")):
            included = line.split(None, 1)[-1] if " " in line else line.split("=", 1)[1]
            included = included.strip()
            if not os.path.isabs(included):
                included = os.path.join(os.path.dirname(path), included)
            _read_requirement_file(included, requests, problems, seen)
        elif line.startswith("-"):
            option = line.split()[0]
            problems.append(
                f"{origin}: pip option {option!r} is not supported here; apkshim "
                "reads requirements only. Put index options in pip's configuration "
                "(pip.conf or PIP_* variables), or run pip for this line yourself"
            )
        else:
            requests.append(Request(line, origin))


# pip treats "#" as a comment at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s)#.*$")


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Yield (first line number, line) without comments, joining continuations."""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line.strip()).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


class _Planner:
    """Decides the route of each requirement for one install."""

    def __init__(self, context: autoinstall.Context, settings: Settings) -> None:
        self.context = context
        self.settings = settings
        self.notes: list[str] = []
        self.backend: Optional[Backend] = context.backend
        self._candidates: dict[str, Optional[str]] = {}
        if self.backend is None:
            self.notes.append(
                f"no package manager, so pip gets everything: {context.backend_reason}"
            )
            return
        verdict = context.verdict()
        if not verdict.allowed:
            self.notes.append(
                f"the distro's packages cannot serve this Python, so pip gets "
                f"everything: {verdict.reason}"
            )
            self.backend = None

    def candidate(self, package: str) -> Optional[str]:
        assert self.backend is not None
        if package not in self._candidates:
            self._candidates[package] = self.backend.candidate_version(package)
        return self._candidates[package]

    def distro_route(
        self, project: str, specifier: SpecifierSet
    ) -> tuple[Optional[str], Optional[str], str]:
        """Return (package, candidate version, reason); package is None for pip."""
        if self.backend is None:
            return None, None, "the distro is not used here"
        name = self.backend.name
        entry = self.context.mapping.find_project(project, name)
        if entry is None:
            return None, None, f"no {name} package in the mapping"
        package = entry.packages[name]
        candidate = self.candidate(package)
        expected = str(specifier) or "any version"
        if candidate is None:
            return None, None, f"{name} has no candidate for {package}"
        converted = versions.to_pep440(candidate, name)
        if versions.satisfies(specifier, converted):
            return (
                package,
                candidate,
                f"{name} {package} {candidate} satisfies {expected}",
            )
        if converted is None:
            return (
                None,
                candidate,
                (
                    f"{name} {package} {candidate} has no PEP 440 form, so it cannot "
                    f"satisfy {expected}"
                ),
            )
        return (
            None,
            candidate,
            f"{name} {package} {candidate} does not satisfy {expected}",
        )

    def decide(self, request: Request, requirement: Requirement) -> Decision:
        project = normalize_project(requirement.name)
        decision = Decision(
            request.text, project, Route.SKIPPED, "", origin=request.origin
        )
        if requirement.marker is not None and not _marker_holds(requirement.marker):
            decision.reason = f"environment marker is false here: {requirement.marker}"
            return decision
        if stdlib.is_stdlib(requirement.name.lower().replace("-", "_")):
            decision.reason = "standard-library module; nothing to install"
            return decision

        installed = versions.installed_version(project)
        if installed is not None and _is_satisfied(requirement, installed):
            decision.reason = f"already installed: {requirement.name} {installed}"
            decision.version = installed
            return decision

        decision.route = Route.PIP
        decision.package = requirement.name
        if installed is not None:
            decision.reason = (
                f"installed {installed} does not satisfy {requirement}; pip "
                "replaces it where it is"
            )
            return decision
        if requirement.url:
            decision.reason = "a direct URL, which only pip installs"
            return decision
        package, candidate, reason = self.distro_route(project, requirement.specifier)
        decision.reason = reason
        if package is not None:
            decision.route = Route.DISTRO
            decision.package = package
            decision.version = candidate
        return decision

    def intercept(
        self,
        items: Sequence[pip.ReportItem],
        pip_requirements: Sequence[Requirement],
        distro_projects: Iterable[str] = (),
    ) -> list[Decision]:
        """Decide the route of each dependency in pip's resolution.

        A dependency goes to the distro when the distro's candidate satisfies
        every specifier on it, counting only the requirements of projects that
        pip installs: a project that the distro installs brings its own
        dependencies through the package manager. Each dependency moved to the
        distro can thereby loosen the specifiers on others, so this repeats
        until nothing moves. ``distro_projects`` are already going to the distro.
        """
        moved = set(distro_projects)
        while True:
            specifiers, _ = _constraints(items, pip_requirements, moved)
            newly = {
                item.name
                for item in items
                if not item.requested
                and item.name not in moved
                and self.distro_route(
                    item.name, specifiers.get(item.name, SpecifierSet())
                )[0]
            }
            if not newly:
                break
            moved |= newly

        specifiers, required_by = _constraints(items, pip_requirements, moved)
        decisions: list[Decision] = []
        for item in items:
            if item.requested:
                continue
            specifier = specifiers.get(item.name, SpecifierSet())
            parents = tuple(sorted(set(required_by.get(item.name, []))))
            package, candidate, reason = self.distro_route(item.name, specifier)
            decision = Decision(
                f"{item.name}{specifier}",
                item.name,
                Route.PIP,
                f"required by {', '.join(parents) or 'the requirements'}; {reason}",
                package=item.name,
                version=item.version,
                required_by=parents,
            )
            if package is not None:
                decision.route = Route.DISTRO
                decision.package = package
                decision.version = candidate
            decisions.append(decision)
        return decisions


def _constraints(
    items: Sequence[pip.ReportItem],
    pip_requirements: Sequence[Requirement],
    excluded: set[str],
) -> tuple[dict[str, SpecifierSet], dict[str, list[str]]]:
    """Return the combined specifier and the dependents of each project.

    The requirements of the ``excluded`` projects do not count.
    """
    specifiers: dict[str, SpecifierSet] = {}
    required_by: dict[str, list[str]] = {}
    for requirement in pip_requirements:
        project = normalize_project(requirement.name)
        specifiers[project] = specifiers.get(project, SpecifierSet()) & (
            requirement.specifier
        )
    for item in items:
        for dependency in _active_dependencies(item):
            project = normalize_project(dependency.name)
            required_by.setdefault(project, []).append(item.name)
            if item.name in excluded:
                continue
            specifiers[project] = specifiers.get(project, SpecifierSet()) & (
                dependency.specifier
            )
    return specifiers, required_by


def _evaluate(marker: Marker, extra: str = "") -> bool:
    """Evaluate ``marker``; one that cannot be evaluated counts as true.

    packaging before 22 raises InvalidVersion when a version operator meets a
    value that is not a PEP 440 version, such as platform_release "6.1.0-13-amd64".
    """
    try:
        return bool(marker.evaluate({"extra": extra}))
    except InvalidVersion as error:
        log.debug("cannot evaluate marker %s (%s); taking it as true", marker, error)
        return True


def _marker_holds(marker: Marker) -> bool:
    return _evaluate(marker)


def _is_satisfied(requirement: Requirement, installed: str) -> bool:
    """Return whether the installed version and the requested extras meet it."""
    try:
        version = Version(installed)
    except InvalidVersion:
        version = None
    if not versions.satisfies(requirement.specifier, version):
        return False
    for line in (
        versions.installed_requires(requirement.name) if requirement.extras else []
    ):
        try:
            dependency = Requirement(line)
        except InvalidRequirement:
            continue
        marker = dependency.marker
        if marker is None or _evaluate(marker):
            continue  # a dependency of the base project, not of an extra
        if not any(_evaluate(marker, extra) for extra in requirement.extras):
            continue
        present = versions.installed_version(dependency.name)
        if present is None or not _is_satisfied(dependency, present):
            return False
    return True


def _active_dependencies(item: pip.ReportItem) -> Iterable[Requirement]:
    extras = ("", *item.requested_extras)
    for line in item.requires_dist:
        try:
            dependency = Requirement(line)
        except InvalidRequirement:
            log.debug("%s: ignoring invalid Requires-Dist %r", item.name, line)
            continue
        marker = dependency.marker
        if marker is None or any(_evaluate(marker, extra) for extra in extras):
            yield dependency


def plan(
    requests: Sequence[Request],
    context: Optional[autoinstall.Context] = None,
    settings: Optional[Settings] = None,
) -> Result:
    """Decide where each request goes and which runs would install them.

    Runs pip's resolution (``--dry-run``) when pip gets anything and the distro
    can serve this Python; installs nothing. Raises RequirementError for invalid
    requests and InstallError when pip cannot resolve the requirements.
    """
    context = context or autoinstall.context()
    settings = settings or context.settings
    parsed = parse_requests(requests)
    planner = _Planner(context, settings)
    decisions = [
        planner.decide(request, requirement) for request, requirement in parsed
    ]

    pip_requirements = [
        requirement
        for (_, requirement), decision in zip(parsed, decisions)
        if decision.route is Route.PIP
        or (decision.route is Route.DISTRO and requirement.extras)
    ]
    result = Result(
        decisions,
        [],
        True,
        planner.backend.name if planner.backend else None,
        planner.notes,
    )
    for (_, requirement), decision in zip(parsed, decisions):
        if decision.route is Route.DISTRO and requirement.extras:
            decision.reason += f"; pip adds the extras [{','.join(requirement.extras)}]"

    if pip_requirements:
        _plan_pip(result, planner, pip_requirements, settings)
    _plan_runs(result, planner, pip_requirements, settings)
    return result


def _plan_pip(
    result: Result,
    planner: _Planner,
    pip_requirements: Sequence[Requirement],
    settings: Settings,
) -> None:
    version = pip.check_available()
    try:
        pip.check_externally_managed(settings)
    except pip.ExternallyManagedError as error:
        result.blocked = str(error)
    if planner.backend is None:
        return
    if version < pip.REPORT_MIN_VERSION:
        result.notes.append(
            f"pip {version} is older than {pip.REPORT_MIN_VERSION}, which added "
            "'install --dry-run --report', so pip's dependencies are not checked "
            "against the distro; upgrade pip to get them from the distro"
        )
        return

    items = pip.resolve(
        [str(requirement) for requirement in pip_requirements], settings
    )
    chosen = {item.name: item.version for item in items}
    for decision in result.decisions:
        if decision.route is Route.PIP and decision.project in chosen:
            decision.version = chosen[decision.project]
    routed_projects = {
        decision.project
        for decision in result.decisions
        if decision.route is not Route.SKIPPED
    }
    distro_projects = {d.project for d in result.decisions if d.route is Route.DISTRO}
    for dependency in planner.intercept(items, pip_requirements, distro_projects):
        if dependency.project not in routed_projects:
            result.decisions.append(dependency)


def _plan_runs(
    result: Result,
    planner: _Planner,
    pip_requirements: Sequence[Requirement],
    settings: Settings,
) -> None:
    packages = _unique(d.package for d in result.routed(Route.DISTRO) if d.package)
    if packages and planner.backend is not None:
        result.runs.append(
            Run(planner.backend.name, planner.backend.install_argv(packages), packages)
        )
    if pip_requirements:
        texts = _unique(str(requirement) for requirement in pip_requirements)
        result.runs.append(Run("pip", pip.install_argv(texts, settings), texts))


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def execute(
    result: Result,
    context: Optional[autoinstall.Context] = None,
    notify: Optional[Notify] = None,
    settings: Optional[Settings] = None,
) -> Result:
    """Make the runs of a planned result: the distro run, then the pip run.

    Raises InstallFailed, carrying the result so far, when a run fails or pip
    would refuse the interpreter (PEP 668); nothing runs in that last case.
    """
    context = context or autoinstall.context()
    settings = settings or context.settings
    notify = notify or autoinstall.notice
    result.dry_run = False
    if result.blocked and any(run.tool == "pip" for run in result.runs):
        raise InstallFailed(result.blocked, result)

    # NOTE: with APKSHIM_OTHER_PYTHON=add-site-dir, the distro's directory is
    # added to this process only. The pip run does not see it, so pip installs
    # again the dependencies that the distro run has just installed.
    verdict_site = None
    if context.backend is not None and result.backend is not None:
        verdict_site = context.verdict().site_directory
    extra = [verdict_site] if verdict_site else []
    try:
        with locking.exclusive(
            settings.lock_dir, 2 * settings.timeout + settings.lock_wait
        ):
            for run in result.runs:
                pth_before = importstate.snapshot_pth_files()
                if run.tool == "pip":
                    _run_pip(run, result, settings, notify)
                else:
                    assert context.backend is not None
                    _run_distro(run, result, context.backend, notify)
                importstate.refresh(pth_before, extra)
    except InstallFailed:
        raise
    except InstallError as error:
        raise InstallFailed(str(error), result) from None
    return result


def _run_distro(run: Run, result: Result, backend: Backend, notify: Notify) -> None:
    decisions = result.routed(Route.DISTRO)
    requested = ", ".join(_unique(d.requirement for d in decisions))
    notify(f"installing {' '.join(run.packages)} ({backend.name}) for {requested}")
    completed = backend.install(run.packages)
    run.seconds = completed.seconds
    run.argv = completed.argv
    if not completed.ok:
        failure = backend.classify(completed)
        raise InstallFailed(
            _describe_run_failure(
                f"{backend.name} could not install {' '.join(run.packages)}: "
                f"{failure.value}",
                completed,
                backend.next_step(failure, run.packages),
            ),
            result,
        )
    reported = backend.installed_versions(completed)
    for decision in decisions:
        assert decision.package is not None
        version = reported.get(decision.package) or backend.installed_version(
            decision.package
        )
        decision.version = version or decision.version
        decision.seconds = completed.seconds
    notify(f"installed {_versions_text(decisions)} in {completed.seconds:.1f} s")


def _run_pip(run: Run, result: Result, settings: Settings, notify: Notify) -> None:
    notify(f"installing {' '.join(run.packages)} (pip)")
    completed = pip.install(run.packages, settings)
    run.seconds = completed.seconds
    if not completed.ok:
        raise InstallFailed(pip.describe_failure(completed, settings), result)
    decisions = result.routed(Route.PIP)
    for decision in decisions:
        decision.version = (
            versions.installed_version(decision.project) or decision.version
        )
        decision.seconds = completed.seconds
    requested = [d for d in decisions if not d.required_by]
    notify(f"installed {_versions_text(requested)} in {completed.seconds:.1f} s")


def _versions_text(decisions: Sequence[Decision]) -> str:
    entries = _unique(
        f"{d.package} {d.version or '(version unknown)'}" for d in decisions
    )
    return ", ".join(entries)


def _describe_run_failure(headline: str, completed: Completed, next_step: str) -> str:
    status = (
        f"none, killed after {completed.seconds:.0f} s"
        if completed.timed_out
        else str(completed.returncode)
    )
    output = "\n".join(f"    {line}" for line in completed.tail()) or "    (none)"
    return (
        f"{headline}\n"
        f"  command: {completed.command}\n"
        f"  exit status: {status}\n"
        f"  output (last lines):\n{output}\n"
        f"  next step: {next_step}"
    )


def install(
    *requirements: Union[str, Request],
    dry_run: bool = False,
    only_binary: Optional[bool] = None,
    break_system_packages: Optional[bool] = None,
    notify: Optional[Notify] = None,
) -> Result:
    """Install PEP 508 requirements from the distro where it can, else with pip.

    A requirement is skipped when it names a standard-library module, its
    marker is false or it is already satisfied. It goes to the distro when it
    is mapped and the distro's candidate version satisfies the specifier, and
    to pip otherwise. This module's docstring has the details. ``dry_run`` plans and
    installs nothing. ``only_binary`` and ``break_system_packages`` override the
    settings of the same names for this call. ``notify`` receives the one-line
    notices (default: printed to stderr).

    Raises RequirementError (a ValueError) naming each invalid requirement, and
    InstallFailed when a run fails.
    """
    requests = [
        requirement if isinstance(requirement, Request) else Request(requirement)
        for requirement in requirements
    ]
    parse_requests(requests)
    context = autoinstall.context()
    settings = context.settings
    if only_binary is not None:
        settings = dataclasses.replace(settings, only_binary=only_binary)
    if break_system_packages is not None:
        settings = dataclasses.replace(
            settings, break_system_packages=break_system_packages
        )
    result = plan(requests, context, settings)
    if dry_run:
        return result
    return execute(result, context, notify, settings)
