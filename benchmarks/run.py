"""`make bench`: where dw-archive stands, against its peers and its own floor, in one run.

Prints a table and writes benchmarks/results.json. Every figure is a median over repeated
runs; every comparison is a ratio taken in this same run on this machine. Nothing here is
part of the test suite.

    python -m benchmarks.run [--quick] [SECTION ...]    # extraction, crawl, archive, memory
    python -m benchmarks.run crawl                       # the crawl against its floor, and a re-crawl
    python -m benchmarks.run archive --archive-sizes 1000,100000   # archives of chosen sizes
    python -m benchmarks.run memory --large              # memory at 2k, 20k and 200k articles
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.archive import bench_archive
from benchmarks.common import ROOT, WORK
from benchmarks.crawl import bench_crawl, bench_memory
from benchmarks.extraction import bench_extraction

# -- report -----------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def targets(results: dict) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target of the benchmarks issue."""
    rows = []
    for group, row in results.get("extraction", {}).items():
        if "dw-archive ms" in row:
            ratio = row["dw-archive ms"] / row["lxml parse ms"]
            rows.append((f"extraction ≤ lxml parse alone ({group})", f"{ratio:.2f}× lxml parse", ratio <= 1))
            if "fundus ms" in row:
                faster = row["dw-archive ms"] < row["fundus ms"]
                better = row["dw-archive fields right"] > row["fundus fields right"]
                rows.append(
                    (
                        f"faster than fundus and more fields right ({group})",
                        f"{row['fundus ms'] / row['dw-archive ms']:.2f}× fundus's speed, "
                        f"{row['dw-archive fields right']:.0%} vs {row['fundus fields right']:.0%}",
                        faster and better,
                    )
                )
    crawl = results.get("crawl")
    if crawl:
        rows.append(
            (
                "crawl ≥ 80% of the bare-spider floor, discovery included",
                f"{crawl['share of the floor']:.0%} (the floor made {crawl['floor requests (mirror log)']:,}"
                f" requests per the mirror log, {crawl['floor 200s (mirror log)']:,} answered 200)",
                crawl["share of the floor"] >= 0.8,
            )
        )
        rows.append(
            (
                "re-crawl of an unchanged site < 5% of the first",
                f"{crawl['second/first elapsed']:.1%} of the crawl time, "
                f"{crawl['second/first requests']:.1%} of the requests, "
                f"{crawl['second/first time']:.1%} of the wall time with process start",
                crawl["second/first elapsed"] < 0.05 and crawl["second/first requests"] < 0.05,
            )
        )
    archive = results.get("archive")
    if archive and len(archive) > 1:
        small, large = min(archive, key=int), max(archive, key=int)
        ratio = archive[large]["upsert 1000 s"] / archive[small]["upsert 1000 s"]
        rows.append(
            (f"upsert at {int(large):,} ≤ 1.3× upsert at {int(small):,} (mean over"
             f" {archive[large].get('upsert batches of 100', '?')} batches of 100)", f"{ratio:.2f}×",
             ratio <= 1.3)
        )
        for view in ("list", "reading view", "search", "search, Chinese word",
                     "search, words in every article", "agency filter", "agency facet"):
            if f"{view} ms" in archive[large]:
                facet = view == "agency facet"
                limit = ("200 ms facet limit" if facet else "the page within 1 s, each query within"
                         " datasette's 1 s, facets present or said to be left out")
                times = ", ".join(f"{archive[size][f'{view} ms']:,.0f} ms at {int(size):,}"
                                  for size in archive)
                rows.append((f"datasette {view} at {int(large):,} within its default limits ({limit})",
                             times, archive[large][f"{view} ok"]
                             and (facet or archive[large][f"{view} ms"] <= 1000)))
        if "agency CSV export s" in archive[large]:
            done = archive[large]
            rows.append((f"datasette agency CSV export at {int(large):,}: every article once",
                         ", ".join(f"{archive[size]['agency CSV export rows']:,} rows in"
                                   f" {archive[size]['agency CSV export s']:.1f} s" for size in archive),
                         done["agency CSV export ok"] and done["agency CSV export rows"] == int(large)))
    memory = results.get("memory")
    if memory and len(memory) > 1:
        small, large = min(memory, key=int), max(memory, key=int)
        ratio = memory[large]["dw-archive peak MiB"] / memory[large]["bare Scrapy peak MiB"]
        rows.append((f"peak memory at {int(large):,} articles ≤ 1.2× the bare spider's",
                     f"{ratio:.2f}× ({memory[large]['dw-archive peak MiB']:.0f} vs"
                     f" {memory[large]['bare Scrapy peak MiB']:.0f} MiB)", ratio <= 1.2))
        if len(memory) > 2:  # --large: flat from the middle size (20k) to the largest (200k)
            small = sorted(memory, key=int)[-2]
        growth = memory[large]["dw-archive peak MiB"] / memory[small]["dw-archive peak MiB"]
        bare = memory[large]["bare Scrapy peak MiB"] / memory[small]["bare Scrapy peak MiB"]
        rows.append((f"peak memory flat with the crawl ({int(small):,} -> {int(large):,} articles)",
                     f"{growth:.2f}× (the bare spider's {bare:.2f}×)", growth <= 1.2))
    return rows


def print_report(results: dict) -> None:
    print(
        f"\ndw-archive benchmarks — {results['machine']['date']}, {results['machine']['cpu']},"
        f" {results['machine']['cores']} cores, Python {results['machine']['python']}"
    )
    for section, data in results.items():
        if section in ("machine", "targets"):
            continue
        print(f"\n## {section}")
        rows = data.items() if isinstance(next(iter(data.values()), None), dict) else [("", data)]
        for name, row in rows:
            cells = ", ".join(f"{k} {v:,.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            print(f"- {name}: {cells}" if name else f"- {cells}")
    print("\n## targets")
    for target, measured, met in results["targets"]:
        print(f"- [{'met' if met else 'MISSED'}] {target}: {measured}")
    missed = [t for t, _, met in results["targets"] if not met]
    print(f"\nverdict: {len(results['targets']) - len(missed)} of {len(results['targets'])} targets met"
          + (f"; missed: {'; '.join(missed)}" if missed else ""))


def save(results: dict, path: Path) -> None:
    """Write what is measured so far: a later section's failure loses nothing before it."""
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))


SECTIONS = ("extraction", "crawl", "archive", "memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a try-out")
    parser.add_argument("section", nargs="*", help=f"only these of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--sections", help="the same, comma-separated")
    parser.add_argument("--archive-sizes", help="the archive section's sizes, comma-separated"
                        " (default 1000,100000,1000000; --quick 1000,10000)")
    parser.add_argument("--large", action="store_true", help="the memory section also at 200,000"
                        " articles (a generated site of 2.2 GB; about an hour more)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json",
                        help="where the results go (JSON), rewritten after each section")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    sections = args.section or (args.sections.split(",") if args.sections else list(SECTIONS))
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; use {', '.join(SECTIONS)}")
    repeats = 3 if args.quick else 5
    results: dict = {"machine": machine()}
    if "extraction" in sections:
        results["extraction"] = bench_extraction(repeats=5 if args.quick else 15)
    save(results, args.results)
    if "crawl" in sections:
        results["crawl"] = bench_crawl(300 if args.quick else 2000, repeats=1 if args.quick else 3)
    save(results, args.results)
    if "archive" in sections:
        sizes = ([int(n) for n in args.archive_sizes.split(",")] if args.archive_sizes
                 else [1000, 10_000] if args.quick else [1000, 100_000, 1_000_000])
        results["archive"] = bench_archive(sizes, repeats)
    save(results, args.results)
    if "memory" in sections:
        results["memory"] = bench_memory([300, 1000] if args.quick else
                                         [2000, 20_000, 200_000] if args.large else [2000, 20_000])
    results["targets"] = targets(results)
    save(results, args.results)
    print_report(results)
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
