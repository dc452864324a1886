"""`make bench`, WARC part (issue 15): what capture costs a crawl, and how fast re-extraction is.

    python -m benchmarks.warc [--articles 2000] [--repeats 3]

- capture's cost: the crawl's CPU seconds (all its threads) and its own elapsed seconds
  (Scrapy's `elapsed_time_seconds`) crawling the same generated site with `WARC_ENABLED` on
  and off, runs alternated, median of each; and the capture code's own CPU per exchange,
  replaying the captured responses in-process, as a share of the crawl's CPU per article
  (target <= 10%, judged on this, which a busy machine disturbs least);
- WARC bytes per article: the capture of that crawl (every response and request, gzip) divided
  by the articles archived;
- re-extraction: `python -m crawler.reextract --workers 2` into a new archive, article pages per
  wall second, whole command (start-up, reading, extraction, writes), and CPU ms per page in
  all its processes; target >= 400/s on 2 cores.

Prints a small table and writes `benchmarks/results-warc.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from devtools.demo import crawl_command
from devtools.mirror import running_mirror
from devtools.sitegen import synthetic_spec, write_site

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "warc"
CRAWL = ["-a", "lang=all", "-s", "CONCURRENT_REQUESTS=16", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16",
         "-s", "LOG_LEVEL=WARNING", "-s", "AUTOTHROTTLE_ENABLED=False"]


def _site(count: int) -> Path:
    site = WORK / f"site-{count}"
    if not site.exists():
        write_site(synthetic_spec(count), site)
    return site


def _crawl(origin: str, run: Path, capture: bool) -> tuple[float, float]:
    """(the crawl's own elapsed seconds, its CPU seconds), into a fresh archive in `run`."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    db = run / "dw.db"
    command = crawl_command(origin, db, *CRAWL, "-s", f"WARC_ENABLED={capture}")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"the crawl failed: {stderr[-2000:].decode(errors='replace')}")
    with sqlite3.connect(db) as conn:
        stats = json.loads(conn.execute("SELECT stats FROM crawl_runs").fetchone()[0])
    return float(stats["elapsed_time_seconds"]), usage.ru_utime + usage.ru_stime


def capture_cpu_ms(warcs: Path, repeats: int) -> float:
    """CPU ms to capture one exchange, replaying the captured responses through the capture
    code in this process (steadier on a busy machine than the difference of two crawls)."""
    from scrapy.http import Request, Response
    from warcio.archiveiterator import ArchiveIterator

    from crawler.warc.capture import WarcFiles, exchange_records, gzip_member

    exchanges = []
    for path in sorted(warcs.iterdir()):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type == "response":
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    headers = [(k, v) for k, v in record.http_headers.headers]
                    request = Request(url, headers={"User-Agent": "dw-archive", "Accept": "*/*"})
                    exchanges.append((url, request, Response(
                        url, status=int(record.http_headers.get_statuscode()), headers=headers,
                        body=record.raw_stream.read(), request=request)))
    files = WarcFiles(WORK / "replay", 10**12, {"software": "benchmarks.warc"})
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for url, request, response in exchanges:
            files.append([gzip_member(r) for r in exchange_records(url, request, response)])
        times.append((time.process_time() - start) / len(exchanges) * 1000)
    files.close()
    shutil.rmtree(WORK / "replay", ignore_errors=True)
    return statistics.median(times)


def bench(count: int, repeats: int) -> dict:
    site = _site(count)
    on, off = [], []
    with running_mirror(site) as origin:
        for _ in range(repeats):
            off.append(_crawl(origin, WORK / "off", capture=False))
            on.append(_crawl(origin, WORK / "on", capture=True))
    db, warcs = WORK / "on" / "dw.db", WORK / "on" / "dw.db-warc"
    with sqlite3.connect(db) as conn:
        articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    warc_bytes = sum(f.stat().st_size for f in warcs.iterdir())
    with sqlite3.connect(db) as conn:
        stats = json.loads(conn.execute("SELECT stats FROM crawl_runs").fetchone()[0])
    exchanges = stats["dw/warc/records"] // 2
    per_exchange = capture_cpu_ms(warcs, repeats)
    rates, cpu = [], []
    for _ in range(repeats):
        target = WORK / "reextracted.db"
        for stale in WORK.glob("reextracted.db*"):
            stale.unlink()
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "crawler.reextract", "--archive", str(target),
                                    "--workers", "2", str(warcs)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise RuntimeError("re-extraction failed")
        rates.append(articles / (time.perf_counter() - start))
        # the workers are the command's children, reaped by it: counted in RUSAGE_CHILDREN
        cpu.append(usage.ru_utime + usage.ru_stime)
    (elapsed_on, cpu_on), (elapsed_off, cpu_off) = (
        [statistics.median(x) for x in zip(*runs, strict=True)] for runs in (on, off))
    return {
        "articles": articles,
        "crawl_seconds_capture_off": round(elapsed_off, 2),
        "crawl_seconds_capture_on": round(elapsed_on, 2),
        "capture_cost_share_elapsed": round((elapsed_on - elapsed_off) / elapsed_off, 3),
        "crawl_cpu_seconds_capture_off": round(cpu_off, 2),
        "crawl_cpu_seconds_capture_on": round(cpu_on, 2),
        "capture_cost_share_cpu": round((cpu_on - cpu_off) / cpu_off, 3),
        "warc_bytes_per_article": round(warc_bytes / articles),
        "capture_cpu_ms_per_exchange": round(per_exchange, 3),
        "exchanges_per_article": round(exchanges / articles, 3),
        "capture_cost_share_replayed": round(per_exchange * exchanges / articles
                                             / (cpu_off * 1000 / articles), 3),
        "reextract_pages_per_second_2_workers": round(statistics.median(rates)),
        "reextract_cpu_ms_per_page": round(statistics.median(cpu) / articles * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warc", description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    results = bench(args.articles, args.repeats)
    (ROOT / "benchmarks" / "results-warc.json").write_text(json.dumps(results, indent=2) + "\n")
    share, rate = results["capture_cost_share_replayed"], results["reextract_pages_per_second_2_workers"]
    print(f"WARC capture, {results['articles']} articles:")
    print(f"  crawl {results['crawl_seconds_capture_off']} s / {results['crawl_cpu_seconds_capture_off']}"
          f" CPU s without capture, {results['crawl_seconds_capture_on']} s /"
          f" {results['crawl_cpu_seconds_capture_on']} CPU s with: {results['capture_cost_share_cpu']:.1%}"
          f" more CPU, {results['capture_cost_share_elapsed']:.1%} more time")
    print(f"  capture replayed: {results['capture_cpu_ms_per_exchange']} CPU ms per exchange,"
          f" {results['exchanges_per_article']} exchanges per article: {share:.1%} of the crawl's"
          f" CPU (target <= 10%: {'met' if share <= 0.10 else 'NOT met'})")
    print(f"  {results['warc_bytes_per_article']:,} WARC bytes per article")
    print(f"  re-extraction {rate}/s on 2 workers, {results['reextract_cpu_ms_per_page']} CPU ms per page"
          f" in all processes (target >= 400/s: {'met' if rate >= 400 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
