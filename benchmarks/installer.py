"""Benchmark the installer: apkshim's own overhead, and apkshim beside ipydeps.

Part 1 times ``apkshim.install`` of five mapped requirements against a fake
``apk`` that answers at once, so nearly all the time is apkshim's own: five
candidate queries and one ``apk add`` run, plus planning, the install lock and
the refresh of the import state. The fake's own run time is measured apart and
subtracted.

Part 2 installs the same five unmapped requirements through pip from one local
wheelhouse of tiny wheels, once with apkshim and once with ipydeps (installed
from PyPI into its own venv), and prints the ratio of the median wall times.
Both venvs are made over the same interpreter with system site packages, and
the five distributions are uninstalled between rounds. pip reads only the
wheelhouse (``PIP_CONFIG_FILE`` is os.devnull). With a distro that can serve the
interpreter, apkshim runs pip twice (the ``--dry-run --report`` resolution, then
the install); with none, once. Both cases are timed.

Run from the repository root, as root or any user:

    python benchmarks/installer.py [--rounds N]

It needs network access once, for ``pip install ipydeps`` into a scratch venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROJECTS = [f"benchreq{index}" for index in range(1, 6)]
FAKE_APK = """\
#!/bin/sh
# An apk that returns at once: policy offers 1.0-r0, add installs nothing.
case "$1" in
policy) printf '%s policy:\\n  1.0-r0:\\n    /fake/repository\\n' "$3" ;;
add)
    shift
    while [ "$1" != "--" ]; do shift; done
    shift
    for package in "$@"; do echo "(1/1) Installing $package (1.0-r0)"; done
    echo "OK: 0 MiB in 0 packages"
    ;;
esac
"""
IPYDEPS_CALL = "import ipydeps, sys; ipydeps.pip(sys.argv[1:])"
APKSHIM_CALL = (
    "import apkshim, sys; apkshim.install(*sys.argv[1:], notify=lambda text: None)"
)


def load_wheelhouse() -> ModuleType:
    path = ROOT / "tests" / "pip" / "wheelhouse.py"
    spec = importlib.util.spec_from_file_location("apkshim_bench_wheelhouse", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def quartiles(values: list[float]) -> str:
    first, median, third = statistics.quantiles(values, n=4, method="inclusive")
    spread = f"quartiles {first * 1000:.1f}-{third * 1000:.1f}"
    return f"median {median * 1000:.1f} ms ({spread})"


def run(argv: list[str], environment: dict[str, str]) -> float:
    """Run ``argv`` to completion; return its wall time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run(
        argv,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{completed.stderr[-2000:]}")
    return seconds


def base_environment(scratch: Path, wheels: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APKSHIM", "PIP_", "PYTHON"))
    }
    environment.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheels),
            "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "APKSHIM_LOCK_DIR": str(scratch),
            "HOME": str(scratch / "home"),
        }
    )
    return environment


def overhead(scratch: Path, rounds: int) -> None:
    """Part 1: apkshim.install of five mapped requirements with an instant apk."""
    from apkshim import autoinstall, installer

    fake_directory = scratch / "fake-bin"
    fake_directory.mkdir()
    fake_apk = fake_directory / "apk"
    fake_apk.write_text(FAKE_APK)
    fake_apk.chmod(0o755)
    mapping = scratch / "bench-mapping.toml"
    mapping.write_text(
        "".join(
            f'[{name}]\nimports = ["{name}"]\napk = "py3-{name}"\n\n'
            for name in PROJECTS
        )
    )
    environment = {
        "PATH": f"{fake_directory}{os.pathsep}{os.environ.get('PATH', '')}",
        "APKSHIM_BACKEND": "apk",
        "APKSHIM_MAPPING": str(mapping),
        "APKSHIM_LOCK_DIR": str(scratch),
        "APKSHIM_OTHER_PYTHON": "add-site-dir",
    }
    os.environ.update(environment)
    autoinstall.reset()

    # Time every package-manager run apkshim makes, to subtract them.
    from apkshim import runner

    real_run = runner.run
    fake_seconds: list[float] = []

    def timed_run(*args: Any, **kwargs: Any) -> runner.Completed:
        started = time.perf_counter()
        completed = real_run(*args, **kwargs)
        fake_seconds.append(time.perf_counter() - started)
        return completed

    runner.run = timed_run
    try:
        first = time.perf_counter()
        result = installer.install(*PROJECTS, notify=lambda text: None)
        cold = time.perf_counter() - first
        routes = {decision.route.value for decision in result.decisions}
        if routes != {"distro"}:
            raise SystemExit(
                f"expected every requirement to go to the distro: {routes}"
            )
        calls = len(fake_seconds)
        warm = []
        own = []
        for _ in range(rounds):
            fake_seconds.clear()
            started = time.perf_counter()
            installer.install(*PROJECTS, notify=lambda text: None)
            warm.append(time.perf_counter() - started)
            own.append(warm[-1] - sum(fake_seconds))
    finally:
        runner.run = real_run

    command_line = [sys.executable, "-m", "apkshim", "install", "-q", *PROJECTS]
    process_environment = {**os.environ}
    whole = [run(command_line, process_environment) for _ in range(rounds)]
    bare = [
        run([sys.executable, "-c", "pass"], process_environment) for _ in range(rounds)
    ]

    print("part 1: apkshim.install of 5 mapped requirements, instant fake apk")
    print(f"  first call (reads settings and mapping): {cold * 1000:.1f} ms")
    print(f"  later calls, in process: {quartiles(warm)}")
    print(f"    package-manager runs per call: {calls} (5 'apk policy', 1 'apk add')")
    print(f"    apkshim's own, without those runs: {quartiles(own)}")
    print(f"  'python -m apkshim install' process: {quartiles(whole)}")
    print(f"  'python -c pass' process: {quartiles(bare)}")
    for name in environment:
        os.environ.pop(name, None)
    autoinstall.reset()


def make_venv(directory: Path, environment: dict[str, str], *packages: str) -> Path:
    base = Path("/usr/bin/python3")
    base = base if base.exists() else Path(sys.executable)
    subprocess.run(
        [str(base), "-m", "venv", "--system-site-packages", str(directory)],
        check=True,
        timeout=300,
    )
    python = directory / "bin" / "python"
    if packages:
        quiet([str(python), "-m", "pip", "install", "-q", *packages], environment)
    return python


def quiet(argv: list[str], environment: dict[str, str]) -> None:
    """Run a set-up command; show its output only when it fails."""
    completed = subprocess.run(
        argv,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed:\n{completed.stdout}{completed.stderr}"
        )


def side_by_side(scratch: Path, rounds: int) -> None:
    """Part 2: the same five requirements through pip, apkshim beside ipydeps."""
    wheelhouse = load_wheelhouse()
    wheels = wheelhouse.build_all(
        [wheelhouse.Wheel(name, "1.0") for name in PROJECTS], scratch / "wheelhouse"
    )
    (scratch / "home").mkdir()
    environment = base_environment(scratch, wheels)
    network = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTHON")
    }

    print("part 2: 5 requirements through pip from one local wheelhouse")
    ipydeps_python = make_venv(scratch / "ipydeps-venv", network, "ipydeps")
    version = subprocess.run(
        [str(ipydeps_python), "-m", "pip", "show", "ipydeps"],
        capture_output=True,
        text=True,
        check=True,
        env=network,
    ).stdout
    print(
        "  ipydeps "
        + next(
            line.split(":", 1)[1].strip()
            for line in version.splitlines()
            if line.startswith("Version:")
        )
    )
    apkshim_python = make_venv(scratch / "apkshim-venv", network)
    built = scratch / "apkshim-wheel"
    quiet(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(built),
            str(ROOT),
        ],
        network,
    )
    (wheel,) = built.glob("apkshim-*.whl")
    quiet(
        [
            str(apkshim_python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        network,
    )

    # The distro cannot serve a venv without system site packages, so apkshim
    # skips the resolution there and runs pip once.
    plain_python = scratch / "apkshim-plain-venv" / "bin" / "python"
    base = Path("/usr/bin/python3")
    base = base if base.exists() else Path(sys.executable)
    quiet([str(base), "-m", "venv", str(plain_python.parent.parent)], network)
    dependencies = scratch / "dependencies"
    dependencies.mkdir()
    wheelhouse.repack_installed("packaging", dependencies)
    quiet(
        [
            str(plain_python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(dependencies),
            "packaging",
            str(wheel),
        ],
        network,
    )

    fake_directory = scratch / "fake-bin"
    with_distro = {
        **environment,
        "PATH": f"{fake_directory}{os.pathsep}{environment.get('PATH', '')}",
        "APKSHIM_BACKEND": "apk",
        "APKSHIM_OTHER_PYTHON": "add-site-dir",
    }
    without_distro = {**with_distro, "APKSHIM_OTHER_PYTHON": "refuse"}

    cases = {
        "ipydeps.pip": (
            [str(ipydeps_python), "-c", IPYDEPS_CALL, *PROJECTS],
            ipydeps_python,
            environment,
        ),
        "apkshim.install, distro usable (resolve + install)": (
            [str(apkshim_python), "-c", APKSHIM_CALL, *PROJECTS],
            apkshim_python,
            with_distro,
        ),
        "apkshim.install, no distro (install only)": (
            [str(plain_python), "-c", APKSHIM_CALL, *PROJECTS],
            plain_python,
            without_distro,
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (argv, python, case_environment) in cases.items():
            times[name].append(run(argv, case_environment))
            check = [str(python), "-c", f"import {', '.join(PROJECTS)}"]
            run(check, environment)
            run(
                [str(python), "-m", "pip", "uninstall", "-y", "-q", *PROJECTS],
                environment,
            )
    for name, values in times.items():
        print(f"  {name}: {quartiles(values)}")
    ipydeps_median = statistics.median(times["ipydeps.pip"])
    for name in list(cases)[1:]:
        ratio = statistics.median(times[name]) / ipydeps_median
        print(f"  ratio {name} / ipydeps.pip: {ratio:.2f}")
    print("  note: ipydeps sleeps 2 s after its pip run (in invalidate_cache)")
    for name in list(cases)[1:]:
        ratio = statistics.median(times[name]) / (ipydeps_median - 2.0)
        print(f"  ratio {name} / (ipydeps.pip - 2 s): {ratio:.2f}")
    overrides_work(scratch, ipydeps_python, environment)


def overrides_work(scratch: Path, python: Path, environment: dict[str, str]) -> None:
    """Check whether ipydeps runs an override command from its configuration."""
    marker = scratch / "override-ran"
    dependencies = scratch / "dependencies.json"
    dependencies.write_text(
        json.dumps(
            {f"python-{sys.version_info[0]}": {PROJECTS[0]: [["touch", str(marker)]]}}
        )
    )
    config = scratch / "home" / ".config" / "ipydeps"
    config.mkdir(parents=True, exist_ok=True)
    (config / "ipydeps.conf").write_text(
        f"[ipydeps]\ndependencies_link = file://{dependencies}\n"
    )
    run([str(python), "-c", IPYDEPS_CALL, PROJECTS[0]], environment)
    run([str(python), "-m", "pip", "uninstall", "-y", "-q", PROJECTS[0]], environment)
    if marker.exists():
        print("  ipydeps overrides: the override command ran")
    else:
        print(
            "  ipydeps overrides: the override command did not run; ipydeps passes "
            "its configuration folder, not a file in it, to ConfigParser.read, so "
            "dependencies_link is never read"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds per measurement (default: 5)"
    )
    arguments = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="apkshim-bench-") as directory:
        scratch = Path(directory)
        overhead(scratch, max(arguments.rounds * 4, 8))
        side_by_side(scratch, arguments.rounds)


if __name__ == "__main__":
    main()
