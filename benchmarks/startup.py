"""Compare interpreter start-up without apkshim, with apkshim off and with it on.

The script builds apkshim's wheel from the working tree, creates two virtual
environments over one interpreter with ``--system-site-packages`` (one without
apkshim, one with the wheel installed) and times ``python -c pass`` in three
setups, interleaved run by run:

- baseline: the environment without apkshim;
- off: the environment with apkshim, ``APKSHIM`` unset;
- on: the environment with apkshim, ``APKSHIM=1``.

It prints the median wall time and CPU time (user + system, from ``wait4``) of
each setup, the interquartile range, and the ratio of each median to the
baseline's with a bootstrap 95% interval over the paired rounds. Then it lists
the modules that ``-X importtime`` shows in the off and on setups beyond the
baseline, and, where ``perf stat`` or valgrind works, the instructions each
start-up executes, a second measure that timing noise does not affect.

Run it from anywhere::

    python3 benchmarks/startup.py --rounds 400
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchstats import print_header, quartiles, ratio_interval, target_verdict

PROJECT = Path(__file__).resolve().parent.parent

# apkshim's start-up targets: the maximum ratio of a setup's median to the baseline's.
TARGETS = {"off": 1.01, "on": 1.03}

# Modules that the on setup must not import at start-up.
HEAVY_MODULES = (
    "tomllib",
    "tomli",
    "packaging",
    "subprocess",
    "logging",
    "dataclasses",
    "re",
)

_IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| +(\S+)$")


@dataclass(frozen=True)
class Setup:
    """One way of starting the interpreter: a name, an executable and an environment."""

    name: str
    description: str
    python: str
    env: dict[str, str]


@dataclass
class Samples:
    """Wall and CPU times of one setup's runs, in milliseconds, in run order."""

    wall: list[float]
    cpu: list[float]


def run_checked(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with stdin closed, and exit with its output if it fails."""
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=cwd,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"command failed with exit status {result.returncode}: {' '.join(argv)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


def clean_environment() -> dict[str, str]:
    """Return this process's environment without any ``APKSHIM*`` variable."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith("APKSHIM")
    }


def build_setups(
    project: Path, workdir: Path, builder: str, base_python: str
) -> list[Setup]:
    """Build apkshim's wheel and the two environments; return the three setups."""
    wheels = workdir / "wheels"
    for path in (wheels, workdir / "baseline", workdir / "apkshim"):
        shutil.rmtree(path, ignore_errors=True)

    print(f"building the wheel of {project} with {builder}", flush=True)
    run_checked(
        [
            builder,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(wheels),
            str(project),
        ]
    )
    wheel = next(wheels.glob("apkshim-*.whl"))

    environments = {}
    for name in ("baseline", "apkshim"):
        venv = workdir / name
        print(f"creating {venv} over {base_python}", flush=True)
        run_checked([base_python, "-m", "venv", "--system-site-packages", str(venv)])
        environments[name] = str(venv / "bin" / "python")
    run_checked(
        [
            environments["apkshim"],
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            str(wheel),
        ]
    )

    env = clean_environment()
    return [
        Setup("baseline", "apkshim not installed", environments["baseline"], env),
        Setup("off", "installed, APKSHIM unset", environments["apkshim"], env),
        Setup(
            "on",
            "installed, APKSHIM=1",
            environments["apkshim"],
            {**env, "APKSHIM": "1"},
        ),
    ]


_PROBE = """\
import importlib.util, sys
finders = [type(f).__name__ for f in sys.meta_path]
print(importlib.util.find_spec('_apkshim_hook') is not None, 'MappedFinder' in finders)
"""


def check_setups(setups: list[Setup]) -> None:
    """Exit unless each setup has apkshim and its finder as its name says."""
    expected = {"baseline": "False False", "off": "True False", "on": "True True"}
    for setup in setups:
        quiet = run_checked([setup.python, "-c", "pass"], env=setup.env)
        if quiet.stdout or quiet.stderr:
            raise SystemExit(
                f"{setup.name}: 'python -c pass' printed output, so start-up is not "
                f"the plain case:\n{quiet.stdout}{quiet.stderr}"
            )
        probe = run_checked([setup.python, "-c", _PROBE], env=setup.env)
        if probe.stdout.strip() != expected[setup.name]:
            raise SystemExit(
                f"{setup.name}: expected (hook importable, finder installed) = "
                f"{expected[setup.name]}, found {probe.stdout.strip()}"
            )


def time_one_start(setup: Setup) -> tuple[float, float]:
    """Start ``python -c pass`` once, and return its wall and CPU time in ms."""
    argv = [setup.python, "-c", "pass"]
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    try:
        start = time.perf_counter_ns()
        pid = os.posix_spawn(setup.python, argv, setup.env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter_ns() - start
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{setup.name}: 'python -c pass' failed with status {status}")
    return wall / 1e6, (usage.ru_utime + usage.ru_stime) * 1e3


def run_interleaved(
    setups: list[Setup], rounds: int, warmup: int
) -> dict[str, Samples]:
    """Time every setup once per round, rotating the order from round to round."""
    samples = {setup.name: Samples([], []) for setup in setups}
    for round_index in range(warmup + rounds):
        shift = round_index % len(setups)
        for setup in setups[shift:] + setups[:shift]:
            wall, cpu = time_one_start(setup)
            if round_index >= warmup:
                samples[setup.name].wall.append(wall)
                samples[setup.name].cpu.append(cpu)
    return samples


def print_timings(samples: dict[str, Samples], resamples: int) -> None:
    """Print median, interquartile range and ratio to the baseline for each measure."""
    baseline = samples["baseline"]
    for measure in ("wall", "cpu"):
        print(f"\n{measure} time of 'python -c pass', ms")
        print(
            f"  {'setup':<9} {'median':>7} {'q1':>7} {'q3':>7} {'IQR':>6}"
            f"  {'ratio':>6}  {'95% interval':<15} target"
        )
        for name, runs in samples.items():
            values = getattr(runs, measure)
            first, median, third = quartiles(values)
            spread = third - first
            line = f"  {name:<9} {median:7.3f} {first:7.3f} {third:7.3f} {spread:6.3f}"
            if name != "baseline":
                reference = getattr(baseline, measure)
                ratio = median / statistics.median(reference)
                low, high = ratio_interval(values, reference, resamples)
                target = TARGETS[name]
                verdict = target_verdict(low, high, target)
                line += f"  {ratio:6.4f}  {low:.4f}-{high:.4f}   <= {target} {verdict}"
            print(line)


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """Return ``(module, self_us, cumulative_us)`` for each line of the report."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORTTIME_LINE.match(line)
        if match:
            own, cumulative, module = match.groups()
            rows.append((module, int(own), int(cumulative)))
    return rows


def importtime_runs(setup: Setup, runs: int) -> list[list[tuple[str, int, int]]]:
    """Run ``python -X importtime -c pass`` ``runs`` times and parse each report."""
    reports = []
    for _ in range(runs):
        result = run_checked(
            [setup.python, "-X", "importtime", "-c", "pass"], env=setup.env
        )
        reports.append(parse_importtime(result.stderr))
    return reports


def extra_imports(
    reports: list[list[tuple[str, int, int]]],
    baseline_reports: list[list[tuple[str, int, int]]],
) -> dict[str, tuple[float, float]]:
    """Return the modules imported beyond the baseline, with their times in us.

    A module counts as extra when a run imports it more often than every baseline
    run does. The self and cumulative times are medians over the runs of that
    module's extra lines.
    """
    baseline_counts: collections.Counter[str] = collections.Counter()
    for report in baseline_reports:
        baseline_counts |= collections.Counter(name for name, _, _ in report)
    own_times: dict[str, list[int]] = collections.defaultdict(list)
    cumulative_times: dict[str, list[int]] = collections.defaultdict(list)
    for report in reports:
        seen: collections.Counter[str] = collections.Counter()
        for name, own, cumulative in report:
            seen[name] += 1
            if seen[name] > baseline_counts[name]:
                own_times[name].append(own)
                cumulative_times[name].append(cumulative)
    return {
        name: (
            statistics.median(own_times[name]),
            statistics.median(cumulative_times[name]),
        )
        for name in own_times
    }


def print_importtime(setups: list[Setup], runs: int) -> None:
    """Print the modules that the off and on setups import beyond the baseline."""
    reports = {setup.name: importtime_runs(setup, runs) for setup in setups}
    print(f"\n-X importtime: modules beyond the baseline (median of {runs} runs, us)")
    for name in ("off", "on"):
        extra = extra_imports(reports[name], reports["baseline"])
        if not extra:
            print(f"  {name:<9} none")
            continue
        for module, (own, cumulative) in extra.items():
            times = f"self {own:6.0f}  cumulative {cumulative:6.0f}"
            print(f"  {name:<9} {module:<24} {times}")
        heavy = [module for module in extra if module.split(".")[0] in HEAVY_MODULES]
        listed = ", ".join(heavy) if heavy else "none"
        print(f"  {name:<9} heavy modules among them: {listed}")
    for setup in setups:
        site = [
            cumulative
            for report in reports[setup.name]
            for module, _, cumulative in report
            if module == "site"
        ]
        print(
            f"  {setup.name:<9} site cumulative: median {statistics.median(site):7.0f}"
        )


def instruction_counter() -> str | None:
    """Return "perf" or "callgrind", whichever counts instructions here, or None."""
    if shutil.which("perf"):
        result = subprocess.run(
            ["perf", "stat", "-x,", "-e", "instructions", "--", "true"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        first = result.stderr.strip().splitlines()[-1:] or [""]
        if result.returncode == 0 and first[0].split(",")[0].isdigit():
            return "perf"
    if shutil.which("valgrind"):
        return "callgrind"
    return None


def count_instructions(setup: Setup, counter: str) -> int:
    """Return the instructions one ``python -c pass`` start-up executes."""
    # A fixed hash seed makes the set and dict layouts, and so the count, repeatable.
    env = {**setup.env, "PYTHONHASHSEED": "0"}
    if counter == "perf":
        argv = ["perf", "stat", "-x,", "-e", "instructions", "--"]
        result = run_checked([*argv, setup.python, "-c", "pass"], env=env)
        return int(result.stderr.strip().splitlines()[-1].split(",")[0])
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    result = run_checked([*argv, setup.python, "-c", "pass"], env=env)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(match.group(1))


def print_instructions(setups: list[Setup], runs: int) -> None:
    """Print each setup's median instruction count and its ratio to the baseline."""
    counter = instruction_counter()
    if counter is None:
        print(
            "\ninstructions: neither perf stat -e instructions nor valgrind works here"
        )
        return
    counts: dict[str, list[int]] = {setup.name: [] for setup in setups}
    for _ in range(runs):
        for setup in setups:
            counts[setup.name].append(count_instructions(setup, counter))
    print(
        f"\ninstructions of 'python -c pass' ({counter}, PYTHONHASHSEED=0, {runs} runs)"
    )
    reference = statistics.median(counts["baseline"])
    for name, values in counts.items():
        median = statistics.median(values)
        line = f"  {name:<9} median {median:13,.0f}  min {min(values):13,}"
        line += f"  max {max(values):13,}"
        if name != "baseline":
            line += f"  ratio {median / reference:.4f}  (+{median - reference:,.0f})"
        print(line)


def parse_arguments() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=300,
        help="number of timed rounds, each starting every setup once (default 300)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="number of untimed rounds before the timed ones (default 10)",
    )
    parser.add_argument(
        "--importtime-runs",
        type=int,
        default=15,
        help="number of -X importtime runs per setup (default 15)",
    )
    parser.add_argument(
        "--instruction-runs",
        type=int,
        default=3,
        help="number of instruction-count runs per setup, or 0 to skip (default 3)",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=2000,
        help="number of bootstrap resamples for the ratio intervals (default 2000)",
    )
    parser.add_argument(
        "--python",
        default="/usr/bin/python3",
        help="interpreter to create both environments over (default /usr/bin/python3)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=PROJECT,
        help="apkshim source tree to build the wheel from (default: this checkout)",
    )
    parser.add_argument(
        "--builder",
        default=str(PROJECT / ".venv-ci" / "bin" / "python"),
        help="interpreter with pip and hatchling that builds the wheel "
        "(default: the project's .venv-ci, which .ci/run creates)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder for the wheel and environments, kept afterwards "
        "(default: a temporary folder, removed afterwards)",
    )
    return parser.parse_args()


def main() -> None:
    """Build the setups, check them, and print every measure."""
    options = parse_arguments()
    if not os.access(options.builder, os.X_OK):
        raise SystemExit(
            f"{options.builder} not found: run .ci/run once to create .venv-ci, or "
            "pass --builder with an interpreter that has pip and hatchling"
        )
    version = run_checked([options.python, "--version"]).stdout.strip()
    print_header(f"{options.python} ({version})")

    temporary = options.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="apkshim-startup-"))
        if temporary
        else options.workdir
    )
    workdir.mkdir(parents=True, exist_ok=True)
    previous = os.getcwd()
    try:
        setups = build_setups(options.project, workdir, options.builder, options.python)
        # Every run starts in the work folder, because '' on sys.path makes the
        # working directory the first place each import looks.
        os.chdir(workdir)
        check_setups(setups)
        for setup in setups:
            print(f"  {setup.name:<9} {setup.description}")
        print(
            f"timing {options.rounds} rounds after {options.warmup} warm-up rounds",
            flush=True,
        )
        samples = run_interleaved(setups, options.rounds, options.warmup)
        print_timings(samples, options.resamples)
        print_importtime(setups, options.importtime_runs)
        if options.instruction_runs > 0:
            print_instructions(setups, options.instruction_runs)
    finally:
        os.chdir(previous)
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
