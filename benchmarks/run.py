"""`make bench`: where dw-archive stands, against its peers and its own floor, in one run.

Prints a table and writes benchmarks/results.json. Every figure is a median over repeated
runs; every comparison is a ratio taken in this same run on this machine. Nothing here is
part of the test suite.

    python -m benchmarks.run [--quick] [--sections extraction,crawl,incremental,archive,memory]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import lxml.html

from crawler import dw
from crawler.archive import Archive, content_hash
from crawler.extract import extract
from crawler.text import to_utc
from devtools.demo import crawl_command
from devtools.mirror import index_site, running_mirror
from devtools.sitegen import path_of, synthetic_spec, write_site

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
PEERS_PYTHON = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
REAL_PAGES = ROOT.parent / "shared" / "dw" / "pages"
SAMPLE = ROOT / "data" / "sample-site"
SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
FIELDS = ("title", "teaser", "authors", "published_at", "topics", "body", "subheads", "lead_caption")
CRAWL = [
    "-s",
    "CONCURRENT_REQUESTS=16",
    "-s",
    "CONCURRENT_REQUESTS_PER_DOMAIN=16",
    "-s",
    "LOG_LEVEL=WARNING",
    "-s",
    "AUTOTHROTTLE_ENABLED=False",
]


def median_time(fn, repeats: int) -> float:
    """Median wall seconds of `fn()` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- 1. extraction ----------------------------------------------------------------------------


def _each(fn, items) -> None:
    for item in items:
        fn(item)


def known_answers() -> list[tuple[Path, dict]]:
    """Pages with known fields: the real pages (when present) and the sample articles."""
    cases = []
    expected = REAL_PAGES / "expected.json"
    if expected.exists():
        for name, fields in json.loads(expected.read_text()).items():
            if not name.startswith("_"):
                lead = fields.get("lead_image", {})
                cases.append(
                    (
                        REAL_PAGES / name,
                        {
                            "title": fields["title"],
                            "teaser": fields.get("teaser"),
                            "authors": fields.get("authors"),
                            "published_at": fields.get("published_at"),
                            "topics": fields.get("topics"),
                            "body": fields.get("body_starts_with"),
                            "subheads": fields.get("subheads"),
                            "lead_caption": lead.get("caption"),
                        },
                    )
                )
    for article in SPEC["articles"]:
        images = article.get("images") or []
        cases.append(
            (
                SAMPLE / f"{path_of(article)}.html",
                {
                    "title": article["title"],
                    "teaser": article["teaser"],
                    "authors": article["authors"],
                    # a page without structured data states the day alone
                    "published_at": article["published_at"][:10]
                    if article.get("no_structured_data")
                    else article["published_at"],
                    "topics": article["topics"],
                    "body": article["blocks"][0].removeprefix("## ")[:80],
                    "subheads": [b[3:] for b in article["blocks"] if b.startswith("## ")],
                    "lead_caption": images[0]["caption"] if images else None,
                },
            )
        )
    return cases


def _norm(value):
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def score(got: dict, want: dict) -> tuple[int, int]:
    """(right, total) over the fields with a known answer."""
    right = total = 0
    for field in FIELDS:
        expected = want.get(field)
        if expected is None:
            continue
        total += 1
        value = got.get(field)
        if field == "body":
            right += bool(value) and _norm(value).startswith(_norm(expected))
        elif field == "published_at":
            day = len(expected) == 10
            right += bool(value) and (str(value)[:10] == expected[:10] if day else dw_utc(value) == expected)
        else:
            right += _norm(value) == _norm(expected)
    return right, total


def dw_utc(value) -> str | None:
    return to_utc(str(value)) if value else None


def ours(html: bytes) -> dict:
    article = extract(html)
    return {
        "title": article.title,
        "teaser": article.teaser,
        "authors": article.authors,
        "published_at": article.published_at,
        "topics": article.topics,
        "body": article.body,
        "subheads": article.subheads,
        "lead_caption": article.images[0]["caption"] if article.images else None,
    }


def bench_extraction(repeats: int) -> dict:
    cases = known_answers()
    groups = {
        "real pages": [c for c in cases if c[0].parent == REAL_PAGES],
        "sample pages": [c for c in cases if c[0].parent != REAL_PAGES],
    }
    results = {}
    peers = _peer_results([str(p) for p, _ in cases], repeats)
    for group, members in groups.items():
        if not members:
            continue
        pages = [p.read_bytes() for p, _ in members]
        n = len(pages)
        row = {
            "pages": n,
            "lxml parse ms": 1000
            * median_time(partial(_each, lxml.html.document_fromstring, pages), repeats)
            / n,
            "dw-archive ms": 1000 * median_time(partial(_each, extract, pages), repeats) / n,
        }
        right = total = 0
        for (_, want), html in zip(members, pages, strict=True):
            r, t = score(ours(html), want)
            right, total = right + r, total + t
        row["dw-archive fields right"] = right / total
        for name, peer in peers.items():
            if "error" in peer:
                row[f"{name} error"] = peer["error"]
                continue
            index = [i for i, (p, _) in enumerate(cases) if (p, _) in members]
            row[f"{name} ms"] = 1000 * peer["seconds"][group] / n
            right = total = 0
            for i in index:
                r, t = score(peer["fields"][i], cases[i][1])
                right, total = right + r, total + t
            row[f"{name} fields right"] = right / total
        results[group] = row
    return results


def _peer_results(paths: list[str], repeats: int) -> dict:
    """fundus and trafilatura, timed per group of pages, in their own environment."""
    if not PEERS_PYTHON.exists():
        return {
            "fundus": {"error": "peer environment missing (make bench installs it)"},
            "trafilatura": {"error": "peer environment missing"},
        }
    real = [p for p in paths if Path(p).parent == REAL_PAGES]
    sample = [p for p in paths if Path(p).parent != REAL_PAGES]
    out: dict = {}
    for group, members in (("real pages", real), ("sample pages", sample)):
        if not members:
            continue
        run = subprocess.run(
            [str(PEERS_PYTHON), str(ROOT / "benchmarks" / "peers.py"), str(repeats), *members],
            capture_output=True,
            text=True,
            timeout=900,
        )
        data = json.loads(run.stdout or "{}")
        for name, result in data.items():
            peer = out.setdefault(name, {"seconds": {}, "fields": []})
            if "error" in result:
                out[name] = {"error": result["error"]}
                continue
            if "error" not in peer:
                peer["seconds"][group] = result["seconds"]
                peer["fields"] += result["fields"]
    return out


# -- 2, 4, 5. crawling --------------------------------------------------------------------------


def generated_site(count: int) -> Path:
    site = WORK / f"site-{count}"
    if not (site / "robots.txt").exists():
        write_site(synthetic_spec(count), site)
    return site


def timed_run(command: list[str], cwd: Path = ROOT) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds, peak resident memory (KiB) of the command's process tree, and its result."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        " r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        " print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        " sys.stderr.write(r.stderr[-3000:]); sys.exit(r.returncode)"
    )
    run = subprocess.run([sys.executable, "-c", wrapper, *command], cwd=cwd, capture_output=True, text=True)
    seconds, peak = run.stdout.split()[-2:]
    return float(seconds), int(peak), run


def crawl_once(site: Path, archive: Path, log: Path) -> tuple[float, int, int, float]:
    """(wall seconds, peak KiB, requests, the crawl's own elapsed seconds) of one `scrapy crawl dw`."""
    log.write_text("")
    with running_mirror(site, log) as origin:
        seconds, peak, run = timed_run(crawl_command(origin, archive, "-a", "lang=all", *CRAWL))
    if run.returncode != 0:
        raise RuntimeError(f"the crawl failed: {run.stderr[-2000:]}")
    with sqlite3.connect(archive) as conn:
        stats = json.loads(
            conn.execute("SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
        )
    return seconds, peak, len(log.read_text().splitlines()), float(stats["elapsed_time_seconds"])


def bare_once(site: Path, log: Path) -> tuple[float, int]:
    """(seconds, peak KiB) of the bare spider fetching every article URL of the mirror."""
    log.write_text("")
    with running_mirror(site, log) as origin:
        urls = WORK / "bare-urls.txt"
        urls.write_text(
            "".join(f"{origin}/{path.removesuffix('.html')}\n" for path in index_site(site).values())
        )
        seconds, peak, run = timed_run(
            [
                sys.executable,
                "-m",
                "scrapy",
                "runspider",
                "-a",
                f"urls={urls}",
                *CRAWL,
                "-s",
                "ROBOTSTXT_OBEY=True",
                "-s",
                "TELNETCONSOLE_ENABLED=False",
                str(ROOT / "benchmarks" / "bare_spider.py"),
            ],
            cwd=WORK,
        )
    if run.returncode != 0:
        raise RuntimeError(f"the bare spider failed: {run.stderr[-2000:]}")
    return seconds, peak


def bench_crawl(count: int, repeats: int) -> dict:
    site = generated_site(count)
    log = WORK / "access.log"
    ours, bare, peaks, bare_peaks, second, second_requests, first_requests = [], [], [], [], [], [], []
    first_engine, second_engine = [], []
    for n in range(repeats):
        archive = WORK / f"crawl-{n}.db"
        for leftover in WORK.glob(f"crawl-{n}.db*"):
            leftover.unlink()
        seconds, peak, requests, engine = crawl_once(site, archive, log)
        ours.append(seconds)
        peaks.append(peak)
        first_requests.append(requests)
        first_engine.append(engine)
        seconds, _, requests, engine = crawl_once(site, archive, log)  # unchanged site: incremental
        second.append(seconds)
        second_requests.append(requests)
        second_engine.append(engine)
        seconds, peak = bare_once(site, log)
        bare.append(seconds)
        bare_peaks.append(peak)
    ours_rate, bare_rate = count / statistics.median(ours), count / statistics.median(bare)
    return {
        "articles": count,
        "dw-archive articles/s": ours_rate,
        "bare Scrapy articles/s": bare_rate,
        "share of the floor": ours_rate / bare_rate,
        "dw-archive peak MiB": statistics.median(peaks) / 1024,
        "bare Scrapy peak MiB": statistics.median(bare_peaks) / 1024,
        "first crawl s": statistics.median(ours),
        "first crawl requests": statistics.median(first_requests),
        "second crawl s": statistics.median(second),
        "second crawl requests": statistics.median(second_requests),
        "second/first time": statistics.median(second) / statistics.median(ours),
        "first crawl elapsed s": statistics.median(first_engine),
        "second crawl elapsed s": statistics.median(second_engine),
        "second/first elapsed": statistics.median(second_engine) / statistics.median(first_engine),
        "second/first requests": statistics.median(second_requests) / statistics.median(first_requests),
    }


def bench_memory(sizes: list[int]) -> dict:
    out = {}
    log = WORK / "access.log"
    for count in sizes:
        site = generated_site(count)
        archive = WORK / f"memory-{count}.db"
        for leftover in WORK.glob(f"memory-{count}.db*"):
            leftover.unlink()
        seconds, peak, _, _ = crawl_once(site, archive, log)
        bare_seconds, bare_peak = bare_once(site, log)
        out[str(count)] = {
            "dw-archive peak MiB": peak / 1024,
            "bare Scrapy peak MiB": bare_peak / 1024,
            "dw-archive s": seconds,
            "bare Scrapy s": bare_seconds,
        }
    return out


# -- 3. archive growth ------------------------------------------------------------------------

WORDS = (
    "government minister election parliament talks agreement economy climate energy security "
    "border court protest health report vote budget trade summit Bundestag Wahl Klima "
    "حكومة انتخابات governo eleição gobierno elección"
).split()


def build_archive(path: Path, rows: int) -> None:
    """An archive holding `rows` generated articles, with agencies, authors and FTS, built in SQL."""
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    Archive(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.create_function(
        "words",
        2,
        lambda seed, n: " ".join(WORDS[(seed * 7 + i * 13) % len(WORDS)] for i in range(n)),
        deterministic=True,
    )
    conn.execute(
        "INSERT OR IGNORE INTO authors (name) SELECT 'Reporter ' || value FROM generate_series(0, 96)"
        if _has_series(conn)
        else "INSERT OR IGNORE INTO authors (name) VALUES ('Reporter 0')"
    )
    conn.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO articles (id, url, short_url, language, kind, title, teaser, body, subheads,
            published_at, modified_at, authors, topics, credit_line, agencies, images,
            first_seen_at, last_seen_at, content_hash)
        SELECT i, 'https://www.dw.com/en/x/a-' || i, 'https://p.dw.com/p/' || i,
            CASE i % 5 WHEN 0 THEN 'en' WHEN 1 THEN 'de' WHEN 2 THEN 'es' WHEN 3 THEN 'ar' ELSE 'pt-br' END,
            'article', words(i, 8), words(i + 1, 25), words(i + 2, 120), '[]',
            strftime('%Y-%m-%dT%H:%M:%SZ', 1500000000 + i * 60, 'unixepoch'), NULL, '["Reporter 0"]',
            '["News"]', 'ab/cd (AFP, dpa)', '["AFP","dpa"]', '[]',
            '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', hex(i)
        FROM n""",
        [rows],
    )
    conn.execute(
        "INSERT INTO article_agencies (article_id, agency, role) SELECT id, 'AFP', 'text' FROM articles"
    )
    conn.execute(
        "INSERT INTO article_agencies (article_id, agency, role) SELECT id, 'dpa', 'text' FROM articles"
    )
    conn.execute(
        "INSERT INTO article_authors (article_id, author, position) SELECT id, 'Reporter 0', 0 FROM articles"
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _has_series(conn) -> bool:
    try:
        conn.execute("SELECT * FROM generate_series(0, 1)").fetchall()
        return True
    except sqlite3.OperationalError:
        return False


def fresh_articles(start: int, count: int) -> list[dict]:
    spec = synthetic_spec(count, seed=start)
    rows = []
    for offset, article in enumerate(spec["articles"]):
        row = {
            "id": 900_000_000 + start + offset,
            "url": f"https://www.dw.com/en/x/a-{900_000_000 + start + offset}",
            "short_url": dw.short_url(900_000_000 + start + offset),
            "language": article["language"],
            "kind": "article",
            "title": article["title"],
            "teaser": article["teaser"],
            "body": "\n\n".join(b.removeprefix("## ") for b in article["blocks"]),
            "subheads": [b[3:] for b in article["blocks"] if b.startswith("## ")],
            "published_at": article["published_at"],
            "modified_at": article["modified_at"],
            "authors": article["authors"],
            "topics": article["topics"],
            "credit_line": article["credit_line"],
            "agencies": ["AFP", "dpa", "Reuters"],
            "images": article["images"],
        }
        row["content_hash"] = content_hash(row)
        rows.append(row)
    return rows


def _query(archive: Archive, sql: str) -> list:
    return archive.db.execute(sql).fetchall()


def bench_archive(sizes: list[int], repeats: int) -> dict:
    out = {}
    for size in sizes:
        path = WORK / f"archive-{size}.db"
        started = time.perf_counter()
        build_archive(path, size)
        built = time.perf_counter() - started
        archive = Archive(path)
        # One warm-up batch, then the mean of ten: FTS5 merges its segments in bursts, a real
        # cost that only an average over many batches shows fairly.
        batches = [fresh_articles(n * 1000, 1000) for n in range(11)]
        upserts = []
        for batch in batches:
            start = time.perf_counter()
            for n in range(0, len(batch), 100):  # as the pipeline writes: batches of 100
                archive.write_batch(batch[n : n + 100])
            upserts.append(time.perf_counter() - start)
        upserts = upserts[1:]
        ids = [1 + (size * k) // 97 for k in range(97)]
        lookup = median_time(partial(_each, archive.stored, ids), repeats) / len(ids)
        fts = median_time(
            partial(
                _query,
                archive,
                "SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'Bundestag AND Klima' LIMIT 20",
            ),
            repeats,
        )
        facet = median_time(
            partial(
                _query,
                archive,
                "SELECT agency, count(*) FROM article_agencies"
                " WHERE role = 'text' GROUP BY agency ORDER BY 2 DESC",
            ),
            repeats,
        )
        archive.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        archive.close()
        out[str(size)] = {
            "build s": built,
            "upsert 1000 s": statistics.mean(upserts),
            "bytes per article": path.stat().st_size / (size + 1000 * repeats),
            "lookup by id ms": lookup * 1000,
            "FTS query ms": fts * 1000,
            "agency facet ms": facet * 1000,
        }
        for leftover in WORK.glob(f"archive-{size}.db*"):
            leftover.unlink()
    return out


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
                "crawl ≥ 70% of the bare-Scrapy floor",
                f"{crawl['share of the floor']:.0%}",
                crawl["share of the floor"] >= 0.7,
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
            (f"upsert at {int(large):,} ≤ 1.3× upsert at {int(small):,}", f"{ratio:.2f}×", ratio <= 1.3)
        )
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a try-out")
    parser.add_argument("--sections", default="extraction,crawl,archive,memory")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    sections = args.sections.split(",")
    repeats = 3 if args.quick else 5
    results: dict = {"machine": machine()}
    if "extraction" in sections:
        results["extraction"] = bench_extraction(repeats=5 if args.quick else 15)
    if "crawl" in sections:
        results["crawl"] = bench_crawl(300 if args.quick else 2000, repeats=1 if args.quick else 3)
    if "archive" in sections:
        results["archive"] = bench_archive(
            [1000, 10_000] if args.quick else [1000, 100_000, 1_000_000], repeats
        )
    if "memory" in sections:
        results["memory"] = bench_memory([300, 1000] if args.quick else [2000, 20_000])
    results["targets"] = targets(results)
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print_report(results)
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
