"""Statistics and machine details shared by the benchmark scripts."""

from __future__ import annotations

import datetime
import os
import platform
import random
import statistics
import sys


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Return the first quartile, the median and the third quartile."""
    first, median, third = statistics.quantiles(values, n=4, method="inclusive")
    return first, median, third


def ratio_interval(
    values: list[float], baseline: list[float], resamples: int, seed: int = 1
) -> tuple[float, float]:
    """Return a bootstrap 95% interval for median(values) / median(baseline).

    ``values[i]`` and ``baseline[i]`` must come from the same round. Rounds are
    resampled as pairs, because both measurements of a round ran back to back and
    share whatever else the machine was doing then.
    """
    rng = random.Random(seed)
    count = len(values)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(count) for _ in range(count)]
        ratios.append(
            statistics.median(values[i] for i in picks)
            / statistics.median(baseline[i] for i in picks)
        )
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def print_header(interpreter: str) -> None:
    """Print the date, machine, interpreter and command line behind the figures."""
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}")
    # Other jobs on the machine widen the spread, and the load average shows them.
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average at start: {load}")
    print(f"interpreter: {interpreter}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")


def target_verdict(low: float, high: float, target: float) -> str:
    """Return "met", "missed" or "inconclusive" for a ratio interval and its target."""
    if high <= target:
        return "met"
    if low > target:
        return "missed"
    return "inconclusive"
