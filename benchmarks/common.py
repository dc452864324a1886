"""What every benchmark section shares: paths and a median timer."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"


def median_time(fn, repeats: int, setup=None) -> float:
    """Median wall seconds of `fn()` over `repeats` runs; `setup()`, untimed, before each."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def each(fn, items) -> None:
    """Call `fn` on every item (a unit of work to time)."""
    for item in items:
        fn(item)


def median_times(fns: dict, repeats: int, setup=None) -> dict:
    """Median wall seconds of each of `fns` (name -> function), their repeats interleaved (one
    of each per round, `setup()` untimed before each call): on a shared machine a change of
    load between two sections would otherwise skew their ratio."""
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if setup is not None:
                setup()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
