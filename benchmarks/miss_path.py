"""Compare imports that miss with and without apkshim's finder, in one process.

Each block runs 1,000 ``import apkshim_missing_N`` statements (N = 0 to 999),
compiled in advance and run as ``__main__`` code, each raising
ModuleNotFoundError. Each round runs three blocks: one with no extra finder on
``sys.meta_path``, one with a finder that returns None at once, and one with
apkshim's finder. The second shows what any appended finder costs at least. The
order of the blocks rotates from round to round. The script prints the median
wall and CPU time per miss of each, the interquartile range, and the ratio to
the first with a bootstrap 95% interval over the paired rounds.

The finder reads the mapping files on its first call, to build the set of names
worth a closer look. That first miss is measured apart, with a new finder each
time, and reported as its own figure.

A third figure has no target: misses of names that the mapping lists, imported
by code inside the standard-library directory. The finder checks who imports
these and declines them, which is the path a library's guarded import of an
optional mapped dependency takes.

Where valgrind works, the script also counts the instructions of one miss
without and with the finder, a measure that other load on the machine does not
change.

Run it with the interpreter to measure, from anywhere::

    /usr/bin/python3 benchmarks/miss_path.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchstats import print_header, quartiles, ratio_interval, target_verdict

PROJECT = Path(__file__).resolve().parent.parent
TARGET = 1.05
IMPORTS_PER_BLOCK = 1000
APKSHIM_LABEL = "apkshim's finder"


@dataclass
class Series:
    """Wall and CPU time per import of a run of blocks, in microseconds."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def load_hook() -> types.ModuleType:
    """Import ``_apkshim_hook`` from this checkout, without adding it to sys.path.

    Loading the hook module does not install the finder here, because the script
    clears every ``APKSHIM*`` variable first.
    """
    path = PROJECT / "_apkshim_hook.py"
    spec = importlib.util.spec_from_file_location("_apkshim_hook", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_apkshim_hook"] = module
    spec.loader.exec_module(module)
    return module


def guard_installer() -> types.ModuleType:
    """Load apkshim from this checkout with an installer that always raises.

    A mapped miss from user code would run the package manager. The benchmark
    only makes misses that the finder must decline, so an ``apkshim.autoinstall``
    that raises turns a wrong decision into an error. Returns ``apkshim.finder``,
    which the hook module imports on its first miss.
    """

    def fail_install(*args: object) -> None:
        raise RuntimeError("the benchmark reached apkshim's installer")

    location = PROJECT / "apkshim"
    spec = importlib.util.spec_from_file_location(
        "apkshim", location / "__init__.py", submodule_search_locations=[str(location)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {location}")
    package = importlib.util.module_from_spec(spec)
    sys.modules["apkshim"] = package
    spec.loader.exec_module(package)
    installer = types.ModuleType("apkshim.autoinstall")
    installer.find_spec = fail_install  # type: ignore[attr-defined]
    package.autoinstall = installer  # type: ignore[attr-defined]
    sys.modules["apkshim.autoinstall"] = installer
    return importlib.import_module("apkshim.finder")


def compile_imports(names: list[str], filename: str) -> list[types.CodeType]:
    """Compile one ``import NAME`` statement per name, as if written in ``filename``."""
    return [compile(f"import {name}", filename, "exec") for name in names]


def unmapped_names(prefix: str, count: int, finder: Any) -> list[str]:
    """Build the finder's name set and return ``count`` names outside it."""
    names = [f"{prefix}{index}" for index in range(count)]
    finder.find_spec("apkshim_warm_up")
    mapped = [name for name in names if name in finder.names]
    if mapped:
        raise SystemExit(f"the mapping lists benchmark names: {mapped[:5]}")
    return names


def run_block(
    codes: list[types.CodeType], namespace: dict[str, Any]
) -> tuple[float, float]:
    """Run every import statement once, and return wall and CPU us per import."""
    wall_start = time.perf_counter_ns()
    cpu_start = time.thread_time_ns()
    for code in codes:
        try:
            # The statement runs in ``namespace``, as in the module that wrote it.
            exec(code, namespace)  # noqa: S102
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit(
                f"module {code.co_names[0]} exists, so it cannot stand for a missing"
                " module: remove it from sys.path"
            )
    cpu = time.thread_time_ns() - cpu_start
    wall = time.perf_counter_ns() - wall_start
    return wall / len(codes) / 1e3, cpu / len(codes) / 1e3


class NoOpFinder:
    """A meta-path finder that returns None at once, the cost floor of any finder."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> None:
        return None


def run_interleaved(
    codes: list[types.CodeType],
    namespace: dict[str, Any],
    finders: dict[str, Any],
    rounds: int,
    warmup: int,
) -> dict[str, Series]:
    """Time one block per entry of ``finders`` in each round, and return the series.

    Each entry names the finder appended to ``sys.meta_path`` for its block, or
    None for none. The order rotates from round to round.
    """
    results = {label: Series() for label in finders}
    labels = list(finders)
    for round_index in range(warmup + rounds):
        shift = round_index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            finder = finders[label]
            if finder is not None:
                sys.meta_path.append(finder)
            gc.collect()
            gc.disable()
            try:
                wall, cpu = run_block(codes, namespace)
            finally:
                gc.enable()
                if finder is not None:
                    sys.meta_path.remove(finder)
            if round_index >= warmup:
                results[label].wall.append(wall)
                results[label].cpu.append(cpu)
    return results


def time_first_misses(
    hook: types.ModuleType, namespace: dict[str, Any], count: int
) -> tuple[list[float], list[float]]:
    """Return the wall us of the first and the second miss of ``count`` new finders.

    Both are single imports timed alike, so their difference is the cost of the
    first call's work: reading the mapping files and building the name set.
    """
    firsts = []
    seconds = []
    for index in range(count):
        finder = hook.MappedFinder()
        first = compile(f"import apkshim_first_missing_{index}", "<first>", "exec")
        second = compile(f"import apkshim_second_missing_{index}", "<first>", "exec")
        sys.meta_path.append(finder)
        try:
            firsts.append(run_block([first], namespace)[0])
            seconds.append(run_block([second], namespace)[0])
        finally:
            sys.meta_path.remove(finder)
        if finder.names is None:
            raise SystemExit("the first miss did not build the finder's name set")
    return firsts, seconds


def write_mapping(directory: str, names: list[str]) -> str:
    """Write a mapping file that maps every name in ``names``, and return its path."""
    path = os.path.join(directory, "mapping.toml")
    with open(path, "w", encoding="utf-8") as handle:
        for name in names:
            project = name.replace("_", "-")
            handle.write(
                f'[{project}]\nimports = ["{name}"]\n'
                f'apk = "py3-{project}"\napt = "python3-{project}"\n\n'
            )
    return path


def library_frame(filename: str) -> types.FrameType:
    """Return a frame of code compiled as if written in ``filename``."""
    namespace: dict[str, Any] = {"__name__": "apkshim_benchmark", "sys": sys}
    code = compile("frame = sys._getframe()", filename, "exec")
    exec(code, namespace)  # noqa: S102
    frame: types.FrameType = namespace["frame"]
    return frame


def print_series(label: str, values: list[float]) -> None:
    """Print the median and quartiles of a series of times per miss."""
    first, median, third = quartiles(values)
    print(
        f"  {label:<16} median {median:8.3f}  q1 {first:8.3f}  q3 {third:8.3f}"
        f"  IQR {third - first:6.3f}"
    )


def print_comparison(
    title: str,
    results: dict[str, Series],
    resamples: int,
    target: float | None,
) -> None:
    """Print each series and its ratio to the first, with the target's verdict.

    The target applies to the series of apkshim's finder.
    """
    reference_label = next(iter(results))
    for measure in ("wall", "cpu"):
        print(f"\n{title}, {measure} time, us per import")
        reference = getattr(results[reference_label], measure)
        for label, series in results.items():
            values = getattr(series, measure)
            print_series(label, values)
            if label == reference_label:
                continue
            ratio = statistics.median(values) / statistics.median(reference)
            low, high = ratio_interval(values, reference, resamples)
            added = statistics.median(values) - statistics.median(reference)
            line = f"    ratio {ratio:.4f}  95% interval {low:.4f}-{high:.4f}"
            line += f"  added {added * 1e3:+.0f} ns per import"
            if target is not None and label == APKSHIM_LABEL:
                line += f"  target <= {target} {target_verdict(low, high, target)}"
            print(line)


def measure_unmapped(hook: types.ModuleType, options: argparse.Namespace) -> None:
    """Print the comparison for unmapped names, the case with a target."""
    finder = hook.MappedFinder()
    names = unmapped_names("apkshim_missing_", IMPORTS_PER_BLOCK, finder)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    results = run_interleaved(
        compile_imports(names, "<benchmark>"),
        namespace,
        {"no finder": None, "no-op finder": NoOpFinder(), APKSHIM_LABEL: finder},
        options.rounds,
        options.warmup,
    )
    title = (
        f"unmapped missing names ({IMPORTS_PER_BLOCK} names a block,"
        f" {options.rounds} rounds)"
    )
    print_comparison(title, results, options.resamples, TARGET)


def measure_first_miss(hook: types.ModuleType, count: int) -> None:
    """Print what the first miss of a new finder costs beyond a later miss."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    firsts, seconds = time_first_misses(hook, namespace, count)
    extra = [first - second for first, second in zip(firsts, seconds)]
    print(f"\nfirst miss of a new finder ({count} finders), wall time, us")
    print_series("first miss", firsts)
    print_series("second miss", seconds)
    print_series("difference", extra)


def measure_declined(hook: types.ModuleType, options: argparse.Namespace) -> None:
    """Print the comparison for mapped names that library code imports."""
    mapped_names = [f"apkshim_mapped_missing_{index}" for index in range(1000)]
    with tempfile.TemporaryDirectory(prefix="apkshim-miss-") as directory:
        os.environ["APKSHIM_MAPPING"] = write_mapping(directory, mapped_names)
        try:
            finder = hook.MappedFinder()
            finder.find_spec("apkshim_warm_up")
        finally:
            del os.environ["APKSHIM_MAPPING"]

    library_file = os.path.join(os.path.dirname(os.__file__), "apkshim_benchmark.py")
    finder_module = sys.modules["apkshim.finder"]
    is_user_code, reason = finder_module.importer_scope(library_frame(library_file))
    if is_user_code:
        raise SystemExit(f"the simulated library import counts as user code: {reason}")
    namespace: dict[str, Any] = {
        "__name__": "apkshim_benchmark",
        "__builtins__": __builtins__,
    }
    results = run_interleaved(
        compile_imports(mapped_names, library_file),
        namespace,
        {"no finder": None, APKSHIM_LABEL: finder},
        options.rounds,
        options.warmup,
    )
    title = "mapped missing names imported by library code (declined, no target)"
    print_comparison(title, results, options.resamples, None)


def run_count_child(finder_on: bool, misses: int, idle: bool) -> None:
    """Compile ``misses`` import statements and, unless ``idle``, run them.

    The parent runs this under callgrind. An idle child does all the same set-up,
    so the difference between a busy and an idle child's count is the misses.
    """
    hook = load_hook()
    guard_installer()
    finder = hook.MappedFinder()
    codes = compile_imports(
        unmapped_names("apkshim_counted_", misses, finder), "<benchmark>"
    )
    if finder_on:
        sys.meta_path.append(finder)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    # A collection would scan every compiled statement, at moments that differ
    # from child to child, so none runs while the misses are counted.
    gc.collect()
    gc.disable()
    if not idle:
        run_block(codes, namespace)


def count_child_instructions(finder_on: bool, misses: int, idle: bool) -> int:
    """Return the instructions of one child run under callgrind."""
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--count-child",
        "with" if finder_on else "without",
        "--count-misses",
        str(misses),
        *(["--count-idle"] if idle else []),
    ]
    # A fixed hash seed makes the set and dict layouts, and so the count, repeatable.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run failed: {' '.join(argv)}\n{result.stderr}")
    return int(match.group(1))


def measure_instructions(misses: int) -> None:
    """Print the instructions per unmapped miss without and with the finder."""
    if shutil.which("valgrind") is None:
        print("\ninstructions: valgrind is not installed, so they are not counted")
        return
    per_miss = {}
    for finder_on in (False, True):
        idle = count_child_instructions(finder_on, misses, idle=True)
        busy = count_child_instructions(finder_on, misses, idle=False)
        per_miss[finder_on] = (busy - idle) / misses
    print(f"\ninstructions per unmapped miss (callgrind, {misses} misses a run)")
    print(f"  without finder   {per_miss[False]:10,.0f}")
    print(f"  with finder      {per_miss[True]:10,.0f}")
    added = per_miss[True] - per_miss[False]
    ratio = per_miss[True] / per_miss[False]
    print(f"  ratio {ratio:.4f}  added {added:,.0f} instructions per import")


def parse_arguments() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=100,
        help="number of timed rounds, each running one block per finder set-up "
        "(default 100)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="number of untimed rounds before the timed ones (default 5)",
    )
    parser.add_argument(
        "--first-misses",
        type=int,
        default=50,
        help="number of new finders whose first miss is timed (default 50)",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=2000,
        help="number of bootstrap resamples for the ratio intervals (default 2000)",
    )
    parser.add_argument(
        "--instruction-misses",
        type=int,
        default=2000,
        help="number of misses per callgrind run, or 0 to skip counting "
        "instructions (default 2000)",
    )
    # The callgrind runs start this script again in one of these modes.
    parser.add_argument(
        "--count-child", choices=("with", "without"), help=argparse.SUPPRESS
    )
    parser.add_argument("--count-misses", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count-idle", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Set up the finder and the statements, then print every measure."""
    options = parse_arguments()
    for key in [key for key in os.environ if key.startswith("APKSHIM")]:
        del os.environ[key]
    # The distro-metadata route lists the distro's modules once per process, on
    # the first unmapped miss from user code; after that an unmapped miss is the
    # same set lookup as with the route off. Off here, so the blocks measure the
    # steady state and never run apt-cache or apk.
    os.environ["APKSHIM_METADATA"] = "0"
    if options.count_child is not None:
        run_count_child(
            options.count_child == "with", options.count_misses, options.count_idle
        )
        return

    print_header(f"{sys.executable} ({sys.version.split()[0]})")
    hook = load_hook()
    finder_module = guard_installer()
    print(f"sys.path entries searched by each miss: {len(sys.path)}")
    print(f"mapping files the finder reads: {finder_module.mapping_layers(os.environ)}")

    measure_unmapped(hook, options)
    measure_first_miss(hook, options.first_misses)
    measure_declined(hook, options)
    if options.instruction_misses > 0:
        measure_instructions(options.instruction_misses)


if __name__ == "__main__":
    main()
