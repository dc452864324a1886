"""Sections 2, 4 and 5 of `make bench`: the crawl against its floor, a re-crawl, memory.

The floor is `benchmarks/bare_spider.py` run by `scrapy runspider` in a temporary directory
outside the checkout (no `scrapy.cfg` above it, no project settings), with the crawl's own
concurrency and `CONCURRENT_ITEMS`, fetching from the same mirror exactly the URLs the crawl
fetched (read from the mirror's access log: robots.txt, sitemaps, feeds, articles), and
yielding one item per page. Its proof of work is the mirror's access log of its run: with no
request there, no ratio is reported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scrapy.utils.conf import closest_scrapy_cfg

from benchmarks.common import ROOT, WORK
from crawler import settings as project_settings
from devtools.demo import crawl_command
from devtools.mirror import running_mirror
from devtools.sitegen import synthetic_spec, write_site

# What the crawl and the floor share, besides what the crawl's own settings fix.
SHARED = {"CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "LOG_LEVEL": "WARNING",
          "AUTOTHROTTLE_ENABLED": False}
# The floor's own settings: the project's values where they bear on speed.
FLOOR = {**SHARED, "CONCURRENT_ITEMS": project_settings.CONCURRENT_ITEMS, "ROBOTSTXT_OBEY": True,
         "COOKIES_ENABLED": False, "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
         "DOWNLOAD_TIMEOUT": project_settings.DOWNLOAD_TIMEOUT}
CRAWL = [arg for name, value in SHARED.items() for arg in ("-s", f"{name}={value}")]


ARTICLE_PATH = re.compile(r"/a-\d+$")  # an article page's path on the generated site


class NoProofOfWork(RuntimeError):
    """The floor's mirror log is empty (or short): its time measures nothing."""


@dataclass
class Run:
    """One timed run: wall seconds, peak KiB, and the mirror's access log of it."""

    seconds: float
    peak_kib: int
    requests: list[tuple[str, int]]  # (path, status), in order
    elapsed: float | None = None  # Scrapy's elapsed_time_seconds, for the crawl
    archived: int | None = None  # rows in the archive's `articles` after the crawl

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def ok(self) -> int:
        return sum(1 for _, status in self.requests if status == 200)


def access_log() -> Path:
    """This process's mirror log: two benches run at once (a section each) never share one."""
    return WORK / f"access-{os.getpid()}.log"


def remove_archive(archive: Path) -> None:
    """An earlier run's archive, its WAL and its captures folder (`<archive>-warc/`)."""
    for leftover in archive.parent.glob(archive.name + "*"):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def generated_site(count: int) -> Path:
    site = WORK / f"site-{count}"
    if not (site / "robots.txt").exists():
        write_site(synthetic_spec(count), site)
    return site


def timed_run(command: list[str], cwd: Path = ROOT,
              env: dict | None = None) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds, peak resident memory (KiB) of the command's process tree, and its result."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        " r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        " print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        " sys.stderr.write(r.stderr[-3000:]); sys.exit(r.returncode)"
    )
    run = subprocess.run([sys.executable, "-c", wrapper, *command], cwd=cwd, capture_output=True,
                         text=True, env=env)
    seconds, peak = run.stdout.split()[-2:]
    return float(seconds), int(peak), run


def _log(log: Path) -> list[tuple[str, int]]:
    rows = [line.split(" ") for line in log.read_text().splitlines() if line.strip()]
    return [(path, int(status)) for _, path, status in rows]


def crawl_once(site: Path, archive: Path, log: Path) -> Run:
    """One `scrapy crawl dw -a lang=all` of the mirror, timed, with the requests it made."""
    log.write_text("")
    with running_mirror(site, log) as origin:
        seconds, peak, run = timed_run(crawl_command(origin, archive, "-a", "lang=all", *CRAWL))
    if run.returncode != 0:
        raise RuntimeError(f"the crawl failed: {run.stderr[-2000:]}")
    with sqlite3.connect(archive) as conn:
        row = conn.execute("SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
        archived = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    stats = json.loads(row[0])
    return Run(seconds, peak, _log(log), float(stats["elapsed_time_seconds"]), archived)


def floor_command(urls: Path) -> list[str]:
    """`scrapy runspider` of the bare spider with the floor's settings."""
    settings = [arg for name, value in FLOOR.items() for arg in ("-s", f"{name}={value}")]
    return [sys.executable, "-m", "scrapy", "runspider", "-a", f"urls={urls}", *settings, "bare_spider.py"]


def floor_once(site: Path, log: Path, paths: list[str]) -> Run:
    """The bare spider fetching `paths` from a mirror of `site`, run outside the project.

    NoProofOfWork when the mirror saw fewer requests than it was given (robots.txt aside).
    """
    wanted = [p for p in paths if p != "/robots.txt"]
    log.write_text("")
    place = Path(tempfile.mkdtemp(prefix="dw-bench-floor-", dir="/tmp"))
    try:
        if closest_scrapy_cfg(str(place)):
            raise RuntimeError(f"{place} has a scrapy.cfg above it: the floor would load a project")
        shutil.copy(ROOT / "benchmarks" / "bare_spider.py", place / "bare_spider.py")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}
        with running_mirror(site, log) as origin:
            urls = place / "urls.txt"
            urls.write_text("".join(f"{origin}{path}\n" for path in wanted))
            seconds, peak, run = timed_run(floor_command(urls), cwd=place, env=env)
    finally:
        shutil.rmtree(place, ignore_errors=True)
    if run.returncode != 0:
        raise RuntimeError(f"the bare spider failed: {run.stderr[-2000:]}")
    done = Run(seconds, peak, _log(log))
    fetched = [p for p in done.paths() if p != "/robots.txt"]
    if len(fetched) < len(wanted):
        raise NoProofOfWork(f"the floor's mirror log holds {len(fetched)} of the {len(wanted)} requests it"
                            f" was given: no ratio. stderr: {run.stderr[-1500:]}")
    return done


def bench_crawl(count: int, repeats: int) -> dict:
    site = generated_site(count)
    log = access_log()
    firsts, seconds, floors = [], [], []
    for n in range(repeats):
        archive = WORK / f"crawl-{n}.db"
        remove_archive(archive)
        first = crawl_once(site, archive, log)
        firsts.append(first)
        seconds.append(crawl_once(site, archive, log))  # unchanged site: incremental
        floors.append(floor_once(site, log, first.paths()))
    proof = floors[-1]
    print(f"floor proof of work: the mirror logged {len(proof.requests)} requests of the bare spider"
          f" ({proof.ok()} answered 200) against the crawl's {len(firsts[-1].requests)}"
          f" ({firsts[-1].ok()} answered 200)", flush=True)

    def med(runs, attr):
        return statistics.median(getattr(r, attr) for r in runs)

    first_s, floor_s = med(firsts, "seconds"), med(floors, "seconds")
    first_requests = statistics.median(len(r.requests) for r in firsts)
    second_requests = statistics.median(len(r.requests) for r in seconds)
    return {
        "articles": count,
        "dw-archive articles/s": count / first_s,
        "bare Scrapy articles/s": count / floor_s,
        "share of the floor": floor_s / first_s,
        "floor requests (mirror log)": len(proof.requests),
        "floor 200s (mirror log)": proof.ok(),
        "dw-archive peak MiB": med(firsts, "peak_kib") / 1024,
        "bare Scrapy peak MiB": med(floors, "peak_kib") / 1024,
        "first crawl s": first_s,
        "bare Scrapy s": floor_s,
        "first crawl requests": first_requests,
        "second crawl s": med(seconds, "seconds"),
        "second crawl requests": second_requests,
        "second/first time": med(seconds, "seconds") / first_s,
        "first crawl elapsed s": med(firsts, "elapsed"),
        "second crawl elapsed s": med(seconds, "elapsed"),
        "second/first elapsed": med(seconds, "elapsed") / med(firsts, "elapsed"),
        "second/first requests": second_requests / first_requests,
    }


def bench_memory(sizes: list[int]) -> dict:
    """Peak resident memory of the crawl and of the floor over generated sites of `sizes` articles.

    Proof of work, for both: the mirror's access log of each run. The crawl's peak counts only
    when the mirror answered every article page 200 and the archive holds every article
    (NoProofOfWork otherwise); the floor's, when it fetched every URL the crawl fetched.
    """
    out = {}
    log = access_log()
    for count in sizes:
        site = generated_site(count)
        archive = WORK / f"memory-{count}.db"
        remove_archive(archive)
        ours = crawl_once(site, archive, log)
        pages = sum(1 for path, status in ours.requests if status == 200 and ARTICLE_PATH.search(path))
        if pages < count or (ours.archived or 0) < count:
            raise NoProofOfWork(f"the crawl of {count:,} articles: the mirror answered {pages:,} article"
                                f" pages 200 and the archive holds {ours.archived:,}: no memory figure")
        floor = floor_once(site, log, ours.paths())
        out[str(count)] = {
            "dw-archive peak MiB": ours.peak_kib / 1024,
            "bare Scrapy peak MiB": floor.peak_kib / 1024,
            "dw-archive s": ours.seconds,
            "bare Scrapy s": floor.seconds,
            "crawl requests (mirror log)": len(ours.requests),
            "crawl article pages 200 (mirror log)": pages,
            "articles archived": ours.archived,
            "floor requests (mirror log)": len(floor.requests),
            "floor 200s (mirror log)": floor.ok(),
        }
        print(f"memory at {count:,}: crawl peak {ours.peak_kib / 1024:.0f} MiB ({len(ours.requests):,}"
              f" requests in the mirror log, {pages:,} article pages answered 200, {ours.archived:,}"
              f" archived); floor {floor.peak_kib / 1024:.0f} MiB ({len(floor.requests):,} requests)",
              flush=True)
        remove_archive(archive)  # at 200k, a gigabyte of captures
    sizes = sorted(out, key=int)
    for before, after in zip(sizes, sizes[1:], strict=False):
        grown = out[after]["dw-archive peak MiB"] - out[before]["dw-archive peak MiB"]
        out[after][f"dw-archive growth kB per article since {int(before):,}"] = (
            grown * 1024 * 1.024 / (int(after) - int(before)))
    return out
