"""Where a crawled article's time goes: py-spy over a real crawl, over the floor, over extraction.

    python -m benchmarks.profile crawl [--articles 2000]   # `scrapy crawl dw`, then the bare floor
    python -m benchmarks.profile extraction [--seconds 20] # extract() over the real and sample pages

`crawl` runs `scrapy crawl dw -a lang=all` against the mirror of a generated site exactly as
`benchmarks/crawl.py` does, under `py-spy record` (every thread, idle ones left out), then the
bare spider (`benchmarks/bare_spider.py`) on the URLs the crawl fetched, likewise. Proof of
work: the mirror's access log of each (every article page answered 200; the archive holds every
article). `extraction` runs `extract()` over the pages of the extraction bench, the caches
emptied before each round as there. Each sample is put in one row of the table below, by the
innermost of the project's frames in its stack (a library's frames count for the project code
that called it); the table gives each row's share of the busy samples and its CPU ms per
article. On a shared machine the milliseconds grow with the load; the shares hold. The stacks
are kept in `benchmarks/work/profile-*.txt` (py-spy's raw format: one stack and its count a
line, for flamegraph.pl or speedscope).

py-spy is not a dependency of the project: `.venv/bin/pip install py-spy`.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, WORK
from benchmarks.crawl import (
    ARTICLE_PATH,
    CRAWL,
    NoProofOfWork,
    _log,
    floor_command,
    generated_site,
    remove_archive,
)
from crawler.extract import page as page_module
from devtools.demo import crawl_command
from devtools.mirror import running_mirror

RATE = 250  # samples per second per thread
PY_SPY = Path(sys.executable).parent / "py-spy"

# -- sorting a stack into a row -----------------------------------------------------------------

_FRAME = re.compile(r"(?P<function>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")
# The line of `identify` that hands the page to lexbor (no Python frame of its own).
_PARSE_LINE = next(str(inspect.getsourcelines(page_module.identify)[1] + n)
                   for n, line in enumerate(inspect.getsourcelines(page_module.identify)[0])
                   if "LexborHTMLParser(" in line)

EXTRACTION = (  # (file prefix, function part or "", row), the first that fits
    ("crawler/extract/page.py", "refuse_costly", "extraction: page-cost guard (attribute scan)"),
    ("crawler/extract/page.py", "attribute_counts", "extraction: page-cost guard (attribute scan)"),
    ("crawler/extract/page.py", "nesting_depth", "extraction: page-cost guard (attribute scan)"),
    ("crawler/extract/page.py", "decode", "extraction: decode"),
    ("crawler/extract/page.py", "_truncated", "extraction: decode"),
    ("crawler/extract/page.py", "_binary", "extraction: decode"),
    ("crawler/extract/page.py", "_utf8", "extraction: decode"),
    ("crawler/extract/jsonld.py", "", "extraction: JSON-LD and page state"),
    ("crawler/extract/lenient_json.py", "", "extraction: JSON-LD and page state"),
    ("crawler/extract/state.py", "", "extraction: JSON-LD and page state"),
    ("crawler/extract/normalize.py", "", "extraction: normaliser"),
    ("crawler/text.py", "", "extraction: normaliser"),
    ("crawler/extract/body.py", "", "extraction: body (DOM, both layouts)"),
    ("crawler/extract/nodes.py", "", "extraction: body (DOM, both layouts)"),
    ("crawler/extract/dom.py", "", "extraction: body (DOM, both layouts)"),
    ("crawler/extract/old_layout.py", "", "extraction: body (DOM, both layouts)"),
)
EXTRACTION_REST = "extraction: the rest (identify, metas, merge, URLs, dates, credits)"
EXTRACTION_FILES = ("crawler/extract/", "crawler/text.py", "crawler/dw/", "crawler/dates.py",
                    "crawler/items.py")
# Scrapy's and Twisted's own work, told apart by their innermost frame that says which it is.
DOWNLOADER = ("scrapy/core/downloader/", "scrapy/downloadermiddlewares/", "scrapy/core/http2/",
              "twisted/web/", "twisted/internet/tcp.py", "twisted/internet/abstract.py",
              "twisted/internet/endpoints.py", "twisted/protocols/", "scrapy/responsetypes.py",
              "scrapy/utils/response.py")
ENGINE = ("scrapy/core/engine", "scrapy/core/scraper", "scrapy/core/scheduler", "scrapy/pqueues",
          "scrapy/squeues", "scrapy/core/spidermw", "scrapy/spidermiddlewares", "scrapy/signalmanager",
          "scrapy/utils/signal", "pydispatch", "scrapy/dupefilters")
WIRE_HEAD = ("_WireHeadParser.", "_WireHeadProtocol.", "_WireHeadFactory.", "WireHeadDownloadHandler.")

ROWS = ("Scrapy: engine, scheduler, scraper, signals, reactor loop",
        "Scrapy: downloader, its middlewares, Twisted HTTP",
        "extraction: lexbor parse", "extraction: page-cost guard (attribute scan)", "extraction: decode",
        "extraction: JSON-LD and page state", "extraction: body (DOM, both layouts)",
        "extraction: normaliser",
        EXTRACTION_REST, "spider callbacks (ids, requests, item)", "discovery (sitemaps, feeds)",
        "project downloader middlewares (origins, retries)", "pipelines (normalise, hand to the archive)",
        "archive: on the reactor thread (buffer, hand-over)",
        "archive writes (writer thread): SQLite, dedup, history",
        "archive writes (writer thread): search index rows (folding)",
        "WARC capture (records, gzip, file)", "stats and logging (spidermon's field coverage too)",
        "process start and exit (imports, settings, outcome)")


def _frames(stack: str) -> list[tuple[str, str, str]]:
    out = []
    for frame in stack.split(";"):
        m = _FRAME.match(frame)
        out.append((m["function"], m["file"], m["line"] or "") if m else (frame, "", ""))
    return out


def _extraction_row(frames) -> str:
    for function, file, line in reversed(frames):
        if function == "identify" and file == "crawler/extract/page.py" and line == _PARSE_LINE:
            return "extraction: lexbor parse"
        for prefix, part, row in EXTRACTION:
            if file.startswith(prefix) and part in function:
                return row
        if file.startswith(EXTRACTION_FILES):
            return EXTRACTION_REST
    return EXTRACTION_REST


def _library_row(frames) -> str:
    for _, file, _ in reversed(frames):
        if any(part in file for part in DOWNLOADER):
            return ROWS[1]
        if file.startswith(ENGINE):
            return ROWS[0]
    return ROWS[0]


def row_of(frames: list[tuple[str, str, str]]) -> str | None:
    """The row of one sample's stack (root first); None for a thread waiting idle."""
    if not frames:
        return ROWS[-1]
    files = [file for _, file, _ in frames]
    if frames[-1][0] in ("Condition.wait", "wait") and files[-1].endswith("threading.py"):
        return None  # the writer thread waiting for a batch (py-spy counts it busy)
    if frames[-1][0] == "_worker" and files[-1].endswith("concurrent/futures/thread.py"):
        return None  # the WARC capture thread waiting for records (its queue's get)
    if any(file.startswith("crawler/warc/") for file in files) and not any(
            "asyncioreactor.py" in file for file in files):
        return ROWS[16]  # the WARC capture thread compressing and appending
    if any(file.startswith("<frozen importlib") for file in files):
        return ROWS[-1]
    if any("crawler/archive/writer.py" in file for file in files):
        return ROWS[15] if any(file.startswith("crawler/search.py") for file in files) else ROWS[14]
    if any(file.endswith("logging/__init__.py") or "scrapy/statscollectors.py" in file or "spidermon" in file
           or file.startswith(("crawler/extensions.py", "crawler/health.py", "crawler/outcome.py"))
           for file in files):
        return ROWS[17]
    if any(file.startswith("crawler/extract/") for file in files):
        return _extraction_row(frames)
    if not any("asyncioreactor.py" in file or "base_events.py" in file for file in files):
        return ROWS[-1]  # before the reactor runs or after it stops
    warc = [(function, file) for function, file, _ in frames if file.startswith("crawler/warc/")]
    if warc:
        own = [function for function, _ in warc if not function.startswith(WIRE_HEAD)]
        if own or files[-1].startswith("crawler/warc/"):
            return ROWS[16]
        return _library_row(frames)  # Twisted's parsing, run through the subclass that keeps the head
    if any(file.startswith(("crawler/archive/", "crawler/search.py")) for file in files):
        return ROWS[13]
    if any(file.startswith("pipelines/") for file in files):
        return ROWS[12]
    if any(file.startswith(("crawler/discovery/", "crawler/spiders/listings.py")) for file in files):
        return ROWS[10]
    if any(file.startswith("crawler/middlewares.py") for file in files):
        return ROWS[11]
    if any(file.startswith(("crawler/spiders/", "crawler/dw/", "crawler/items.py", "crawler/dates.py"))
           for file in files):
        return ROWS[9]
    return _library_row(frames)


def table(raw: Path) -> tuple[dict[str, int], int]:
    """Samples per row of py-spy's raw output (`--threads`: the first frame names the thread)."""
    rows: collections.Counter = collections.Counter()
    idle = 0
    with open(raw, encoding="utf-8", newline="\n") as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            frames = _frames(stack)[1:] if stack.startswith("thread") else _frames(stack) if stack else []
            row = row_of(frames)
            if row is None:
                idle += int(count)
            else:
                rows[row] += int(count)
    return dict(rows), idle


def print_table(title: str, rows: dict[str, int], idle: int, units: int, unit: str) -> None:
    busy = sum(rows.values())
    print(f"\n{title}: {busy:,} busy samples at {RATE} Hz ({busy / RATE:.2f} s of CPU; {idle:,} idle"
          f" waits left out), {units:,} {unit}s")
    print(f"| row | share | ms per {unit} |\n|---|---|---|")
    for row in [r for r in ROWS if r in rows] + sorted(set(rows) - set(ROWS)):
        print(f"| {row} | {rows[row] / busy:.1%} | {1000 * rows[row] / RATE / units:.3f} |")
    print(f"| **all** | 100% | **{1000 * busy / RATE / units:.3f}** |")


# -- running under py-spy -----------------------------------------------------------------------


def recorded(command: list[str], out: Path, **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    if not PY_SPY.exists():
        raise SystemExit(f"py-spy is missing: {PY_SPY.parent}/pip install py-spy")
    spy = [str(PY_SPY), "record", "--rate", str(RATE), "--threads", "--format", "raw", "-o", str(out), "--"]
    start = time.perf_counter()
    run = subprocess.run(spy + command, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, run


def profile_crawl(articles: int) -> None:
    site = generated_site(articles)
    log = WORK / f"access-profile-{os.getpid()}.log"
    archive = WORK / "profile.db"
    remove_archive(archive)
    log.write_text("")
    with running_mirror(site, log) as origin:
        wall, run = recorded(crawl_command(origin, archive, "-a", "lang=all", *CRAWL),
                             WORK / "profile-crawl.txt", cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"the crawl failed: {run.stderr[-2000:]}")
    requests = _log(log)
    pages = sum(1 for path, status in requests if status == 200 and ARTICLE_PATH.search(path))
    with sqlite3.connect(archive) as conn:
        archived = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    if pages < articles or archived < articles:
        raise NoProofOfWork(f"the mirror answered {pages} article pages 200 and the archive holds {archived}")
    print(f"crawl: {wall:.1f} s wall under py-spy; mirror log {len(requests):,} requests, {pages:,} article"
          f" pages answered 200; {archived:,} archived")
    print_table("`scrapy crawl dw -a lang=all`", *table(WORK / "profile-crawl.txt"), articles, "article")
    remove_archive(archive)

    place = Path(tempfile.mkdtemp(prefix="dw-profile-floor-", dir="/tmp"))
    try:
        shutil.copy(ROOT / "benchmarks" / "bare_spider.py", place / "bare_spider.py")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}
        log.write_text("")
        with running_mirror(site, log) as origin:
            urls = place / "urls.txt"
            urls.write_text("".join(f"{origin}{path}\n" for path, _ in requests if path != "/robots.txt"))
            wall, run = recorded(floor_command(urls), WORK / "profile-floor.txt", cwd=place, env=env)
    finally:
        shutil.rmtree(place, ignore_errors=True)
    floor = _log(log)
    if run.returncode != 0 or len(floor) < len(requests) - 1:
        raise NoProofOfWork(f"the floor's mirror log holds {len(floor)} of {len(requests)} requests")
    print(f"\nfloor: {wall:.1f} s wall under py-spy; mirror log {len(floor):,} requests,"
          f" {sum(1 for _, s in floor if s == 200):,} answered 200")
    print_table("bare spider (the floor), the same URLs", *table(WORK / "profile-floor.txt"), articles,
                "article")
    log.unlink(missing_ok=True)


def profile_extraction(seconds: float) -> None:
    for group in ("real", "sample"):
        out = WORK / f"profile-extraction-{group}.txt"
        command = [sys.executable, "-m", "benchmarks.profile", "_extract", group, str(seconds)]
        wall, run = recorded(command, out, cwd=ROOT)
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        pages = int(re.search(r"^extracted (\d+)$", run.stdout, re.M)[1])  # py-spy writes there too
        rows, idle = table(out)
        rows = {row: count for row, count in rows.items() if row.startswith("extraction")}
        print_table(f"extract() over the {group} pages", rows, idle, pages, "page")


def _extract_loop(group: str, seconds: float) -> None:
    """(In the profiled process.) extract() over one group of pages until `seconds` have passed."""
    from benchmarks.extraction import REAL_PAGES, forget_caches, known_answers
    from crawler.extract import extract

    pages = [p.read_bytes() for p, _ in known_answers() if (p.parent == REAL_PAGES) == (group == "real")]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        forget_caches()
        for html in pages:
            extract(html)
        done += len(pages)
    print(f"extracted {done}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_extract"]:
        _extract_loop(args[1], float(args[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("crawl", "extraction"))
    parser.add_argument("--articles", type=int, default=2000, help="the generated site's size (crawl)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per group of pages (extraction)")
    options = parser.parse_args(args)
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} at the start")
    if options.what == "crawl":
        profile_crawl(options.articles)
    else:
        profile_extraction(options.seconds)
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
