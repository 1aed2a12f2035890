"""Routing of requirements: skipped, distro or pip, with a fake package manager.

The fake backend stands in for apk: its candidate versions come from a dict and
its install records the packages. pip's resolution is given as report items, so
these tests run no pip; tests/pip runs the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pytest

from apkshim import autoinstall, installer, interpreter, runner, settings
from apkshim.backends import Backend, Failure
from apkshim.installer import Request, Route
from apkshim.mapping import Mapping
from apkshim.pip import ReportItem

MAPPING = """\
[tinyyaml]
imports = ["tinyyaml"]
apk = "py3-tinyyaml"

[tinynum]
imports = ["tinynum"]
apk = "py3-tinynum"

[tinyold]
imports = ["tinyold"]
apk = "py3-tinyold"

[tinyodd]
imports = ["tinyodd"]
apk = "py3-tinyodd"

[tinygone]
imports = ["tinygone"]
apk = "py3-tinygone"

[tinyapt]
imports = ["tinyapt"]
apt = "python3-tinyapt"
"""

CANDIDATES = {
    "py3-tinyyaml": "6.0.2-r0",
    "py3-tinynum": "1.26.4-r0",
    "py3-tinyold": "0.9-r3",
    "py3-tinyodd": "1.2.3a-r0",
}


class FakeApk(Backend):
    """An apk whose every run succeeds at once."""

    name = "apk"
    executable_name = "apk"

    def __init__(self, candidates: dict[str, str], fail: bool = False) -> None:
        super().__init__(settings.Settings())
        self.candidates = candidates
        self.fail = fail
        self.runs: list[list[str]] = []
        self.queries: list[str] = []

    def install_argv(self, packages: Sequence[str]) -> list[str]:
        return ["apk", "add", "--", *packages]

    def install(self, packages: Sequence[str]) -> runner.Completed:
        self.runs.append(list(packages))
        if self.fail:
            return runner.Completed(
                self.install_argv(packages),
                1,
                "",
                "ERROR: unable to select packages:\n  py3-x (no such package)",
                0.01,
            )
        stdout = "".join(
            f"(1/1) Installing {p} ({self.candidates[p]})\n" for p in packages
        )
        return runner.Completed(self.install_argv(packages), 0, stdout, "", 0.01)

    def candidate_version(self, package: str) -> Optional[str]:
        self.queries.append(package)
        return self.candidates.get(package)

    def installed_version(self, package: str) -> Optional[str]:
        return None

    def installed_versions(self, completed: runner.Completed) -> dict[str, str]:
        return {p: self.candidates[p] for p in completed.argv[3:]}

    def classify(self, completed: runner.Completed) -> Failure:
        return Failure.NO_PACKAGE

    def next_step(self, failure: Failure, packages: Sequence[str]) -> str:
        return "check the name"


SERVED = interpreter.Verdict("served", True, "the distro's Python (test)", None)


def make_context(
    tmp_path: Path,
    backend: Optional[Backend],
    verdict: interpreter.Verdict = SERVED,
) -> autoinstall.Context:
    mapping_file = tmp_path / "mapping.toml"
    mapping_file.write_text(MAPPING)
    mapping = Mapping.load([str(mapping_file)])
    config = settings.Settings(lock_dir=str(tmp_path))
    return autoinstall.Context(config, mapping, backend, "test backend", verdict)


@pytest.fixture
def apk() -> FakeApk:
    return FakeApk(dict(CANDIDATES))


def plan(context: autoinstall.Context, *texts: str) -> installer.Result:
    return installer.plan([Request(text) for text in texts], context)


def only(result: installer.Result) -> installer.Decision:
    (decision,) = result.decisions
    return decision


def test_route_mapped_satisfied_goes_to_distro(tmp_path: Path, apk: FakeApk) -> None:
    decision = only(plan(make_context(tmp_path, apk), "tinyyaml>=6"))
    assert decision.route is Route.DISTRO
    assert decision.package == "py3-tinyyaml"
    assert decision.version == "6.0.2-r0"


def test_route_unpinned_mapped_goes_to_distro(tmp_path: Path, apk: FakeApk) -> None:
    decision = only(plan(make_context(tmp_path, apk), "tinyold"))
    assert decision.route is Route.DISTRO


def test_route_candidate_too_old_goes_to_pip(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    decision = only(plan(make_context(tmp_path, apk), "tinyold>=1"))
    assert decision.route is Route.PIP
    assert "0.9-r3 does not satisfy >=1" in decision.reason


def test_route_unconvertible_version_goes_to_pip_when_pinned(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    decision = only(plan(make_context(tmp_path, apk), "tinyodd>=1"))
    assert decision.route is Route.PIP
    assert "no PEP 440 form" in decision.reason


def test_route_unconvertible_version_goes_to_distro_unpinned(
    tmp_path: Path, apk: FakeApk
) -> None:
    decision = only(plan(make_context(tmp_path, apk), "tinyodd"))
    assert decision.route is Route.DISTRO


def test_route_no_candidate_goes_to_pip(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    decision = only(plan(make_context(tmp_path, apk), "tinygone"))
    assert decision.route is Route.PIP
    assert "no candidate" in decision.reason


def test_route_other_backend_only_goes_to_pip(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    decision = only(plan(make_context(tmp_path, apk), "tinyapt"))
    assert decision.route is Route.PIP
    assert decision.reason == "no apk package in the mapping"


def test_route_stdlib_is_skipped(tmp_path: Path, apk: FakeApk) -> None:
    decision = only(plan(make_context(tmp_path, apk), "json"))
    assert decision.route is Route.SKIPPED
    assert "standard-library" in decision.reason


def test_route_false_marker_is_skipped(tmp_path: Path, apk: FakeApk) -> None:
    decision = only(plan(make_context(tmp_path, apk), 'tinyyaml; python_version < "3"'))
    assert decision.route is Route.SKIPPED
    assert "marker" in decision.reason


def test_route_true_marker_is_routed(tmp_path: Path, apk: FakeApk) -> None:
    decision = only(
        plan(make_context(tmp_path, apk), 'tinyyaml; python_version >= "3"')
    )
    assert decision.route is Route.DISTRO


def test_route_satisfied_requirement_is_skipped(tmp_path: Path, apk: FakeApk) -> None:
    decision = only(plan(make_context(tmp_path, apk), "packaging>=20"))
    assert decision.route is Route.SKIPPED
    assert decision.reason.startswith("already installed: packaging")


def test_route_unsatisfied_installed_goes_to_pip(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    decision = only(plan(make_context(tmp_path, apk), "packaging>=999"))
    assert decision.route is Route.PIP
    assert "does not satisfy" in decision.reason


def test_route_without_backend_goes_to_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    result = plan(make_context(tmp_path, None), "tinyyaml")
    assert only(result).route is Route.PIP
    assert "no package manager" in result.notes[0]


def test_route_refused_interpreter_goes_to_pip(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    refused = interpreter.Verdict("mismatch", False, "Python 3.12 is not 3.11", None)
    result = plan(make_context(tmp_path, apk, refused), "tinyyaml")
    assert only(result).route is Route.PIP
    assert "Python 3.12 is not 3.11" in result.notes[0]
    assert apk.queries == []


def test_route_extras_go_to_distro_and_pip(
    tmp_path: Path, apk: FakeApk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer, "_plan_pip", lambda *args: None)
    result = plan(make_context(tmp_path, apk), "tinynum[fast]")
    assert only(result).route is Route.DISTRO
    assert [run.tool for run in result.runs] == ["apk", "pip"]
    assert result.runs[1].packages == ["tinynum[fast]"]


def test_plan_makes_one_distro_run(tmp_path: Path, apk: FakeApk) -> None:
    result = plan(make_context(tmp_path, apk), "tinyyaml", "tinynum>=1.20", "json")
    assert len(result.runs) == 1
    assert result.runs[0].packages == ["py3-tinyyaml", "py3-tinynum"]


def test_plan_asks_each_candidate_once(tmp_path: Path, apk: FakeApk) -> None:
    plan(make_context(tmp_path, apk), "tinyyaml", "tinyyaml>=6")
    assert apk.queries == ["py3-tinyyaml"]


def test_plan_invalid_requirement_names_string(tmp_path: Path, apk: FakeApk) -> None:
    with pytest.raises(installer.RequirementError) as caught:
        plan(make_context(tmp_path, apk), "tinyyaml", "numpy>=", "pandas[excel")
    assert len(caught.value.problems) == 2
    assert "'numpy>='" in caught.value.problems[0]
    assert "'pandas[excel'" in caught.value.problems[1]


def test_plan_invalid_requirement_is_value_error(tmp_path: Path, apk: FakeApk) -> None:
    with pytest.raises(ValueError, match="invalid requirement 'foo bar'"):
        plan(make_context(tmp_path, apk), "foo bar")


def test_execute_installs_in_one_run(tmp_path: Path, apk: FakeApk) -> None:
    context = make_context(tmp_path, apk)
    result = installer.plan([Request("tinyyaml"), Request("tinynum")], context)
    notices: list[str] = []
    installer.execute(result, context, notices.append)
    assert apk.runs == [["py3-tinyyaml", "py3-tinynum"]]
    assert [d.version for d in result.decisions] == ["6.0.2-r0", "1.26.4-r0"]
    assert result.runs[0].seconds is not None
    assert result.decisions[0].seconds == result.runs[0].seconds
    assert (
        notices[0] == "installing py3-tinyyaml py3-tinynum (apk) for tinyyaml, tinynum"
    )
    assert notices[1].startswith(
        "installed py3-tinyyaml 6.0.2-r0, py3-tinynum 1.26.4-r0 in "
    )


def test_execute_nothing_to_do_runs_nothing(tmp_path: Path, apk: FakeApk) -> None:
    context = make_context(tmp_path, apk)
    result = installer.plan([Request("json")], context)
    installer.execute(result, context, lambda text: None)
    assert apk.runs == []
    assert result.runs == []


def test_execute_failure_carries_result(tmp_path: Path) -> None:
    failing = FakeApk(dict(CANDIDATES), fail=True)
    context = make_context(tmp_path, failing)
    result = installer.plan([Request("tinyyaml")], context)
    with pytest.raises(installer.InstallFailed) as caught:
        installer.execute(result, context, lambda text: None)
    message = str(caught.value)
    assert "apk could not install py3-tinyyaml: no such package" in message
    assert "command: apk add -- py3-tinyyaml" in message
    assert "exit status: 1" in message
    assert "next step: check the name" in message
    assert caught.value.result is result


def test_execute_blocked_pip_runs_nothing(tmp_path: Path, apk: FakeApk) -> None:
    context = make_context(tmp_path, apk)
    result = installer.plan([Request("tinyyaml")], context)
    result.runs.append(installer.Run("pip", ["pip", "install", "x"], ["x"]))
    result.blocked = "externally managed"
    with pytest.raises(installer.InstallFailed, match="externally managed"):
        installer.execute(result, context, lambda text: None)
    assert apk.runs == []


def test_execute_lock_failure_is_install_failed(tmp_path: Path, apk: FakeApk) -> None:
    context = make_context(tmp_path, apk)
    result = installer.plan([Request("tinyyaml")], context)
    context.settings = settings.Settings(lock_dir=str(tmp_path / "missing"))
    with pytest.raises(installer.InstallFailed, match="APKSHIM_LOCK_DIR"):
        installer.execute(result, context, lambda text: None)
    assert apk.runs == []


def item(
    name: str,
    requires: Sequence[str] = (),
    requested: bool = False,
    extras: Sequence[str] = (),
) -> ReportItem:
    return ReportItem(name, "9.9", requested, tuple(requires), tuple(extras))


def intercept(
    context: autoinstall.Context,
    items: Sequence[ReportItem],
    requirements: Sequence[str],
    distro: Sequence[str] = (),
) -> dict[str, installer.Decision]:
    from packaging.requirements import Requirement

    planner = installer._Planner(context, context.settings)
    parsed = [Requirement(text) for text in requirements]
    return {d.project: d for d in planner.intercept(items, parsed, distro)}


def test_intercept_satisfied_dependency_goes_to_distro(
    tmp_path: Path, apk: FakeApk
) -> None:
    items = [
        item("tinyapp", ["tinynum>=1.20", "tinyleaf"], requested=True),
        item("tinynum"),
        item("tinyleaf"),
    ]
    decisions = intercept(make_context(tmp_path, apk), items, ["tinyapp"])
    assert decisions["tinynum"].route is Route.DISTRO
    assert decisions["tinynum"].required_by == ("tinyapp",)
    assert decisions["tinyleaf"].route is Route.PIP
    assert "tinyapp" not in decisions


def test_intercept_unsatisfied_dependency_stays_with_pip(
    tmp_path: Path, apk: FakeApk
) -> None:
    items = [item("tinyapp", ["tinynum>=2"], requested=True), item("tinynum")]
    decisions = intercept(make_context(tmp_path, apk), items, ["tinyapp"])
    assert decisions["tinynum"].route is Route.PIP
    assert "does not satisfy >=2" in decisions["tinynum"].reason


def test_intercept_combines_every_specifier(tmp_path: Path, apk: FakeApk) -> None:
    items = [
        item("tinyapp", ["tinynum>=1.20", "tinyleaf"], requested=True),
        item("tinyleaf", ["tinynum<1.26"]),
        item("tinynum"),
    ]
    decisions = intercept(make_context(tmp_path, apk), items, ["tinyapp"])
    assert decisions["tinynum"].route is Route.PIP


def test_intercept_ignores_requirements_of_distro_projects(
    tmp_path: Path, apk: FakeApk
) -> None:
    items = [
        item("tinyapp", ["tinyyaml", "tinynum"], requested=True),
        item("tinyyaml", ["tinynum>=2"]),
        item("tinynum"),
    ]
    decisions = intercept(make_context(tmp_path, apk), items, ["tinyapp"])
    assert decisions["tinyyaml"].route is Route.DISTRO
    assert decisions["tinynum"].route is Route.DISTRO


def test_intercept_evaluates_markers_and_extras(tmp_path: Path, apk: FakeApk) -> None:
    items = [
        item(
            "tinyapp",
            ['tinynum>=2; extra == "fast"', 'tinyyaml>=99; python_version < "3"'],
            requested=True,
        ),
        item("tinynum"),
        item("tinyyaml"),
    ]
    decisions = intercept(make_context(tmp_path, apk), items, ["tinyapp"])
    assert decisions["tinynum"].route is Route.DISTRO
    assert decisions["tinyyaml"].route is Route.DISTRO


def test_intercept_requested_extra_counts(tmp_path: Path, apk: FakeApk) -> None:
    items = [
        item(
            "tinyapp", ['tinynum>=2; extra == "fast"'], requested=True, extras=["fast"]
        ),
        item("tinynum"),
    ]
    decisions = intercept(make_context(tmp_path, apk), items, ["tinyapp[fast]"])
    assert decisions["tinynum"].route is Route.PIP


def test_intercept_skips_requested_items(tmp_path: Path, apk: FakeApk) -> None:
    items = [item("tinynum", requested=True)]
    assert intercept(make_context(tmp_path, apk), items, ["tinynum>=2"]) == {}
