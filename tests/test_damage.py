"""Damage found before anything is written: a crawled archive, damaged at random pages over 20
seeds, is refused by the real `scrapy crawl dw` (exit 3, the `.recover` line, the archive and its
captures as they were, nothing fetched) whenever SQLite's own `PRAGMA integrity_check` reports
the damage; a damaged page met mid-run stops the run the same way; re-extraction refuses too.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, crawled_sample_site, running_mirror
from tests.test_outcomes import last_line, snapshot

PAGE = 4096
SEEDS = range(20)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """The sample site's German and English articles, crawled once for the module."""
    return crawled_sample_site(tmp_path_factory, "en,de")


def reports(path: Path, pragma: str) -> bool:
    """True when SQLite's own check finds damage (asked here with plain sqlite3, read-only)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
        conn.text_factory = bytes
        try:
            return [row[0] for row in conn.execute(f"PRAGMA {pragma}")] != [b"ok"]
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        return True


KINDS = ("random bytes", "zeroed", "flipped bits", "swapped", "cut short")


def damaged(data: bytes, rng: random.Random, kind: str | None = None) -> tuple[str, bytes]:
    """The file with three of its pages damaged in one of the ways disks and copies damage
    them; the first page (header and schema) is left whole, as in the issue's archive."""
    pages = len(data) // PAGE
    out = bytearray(data)
    kind = kind or rng.choice(KINDS)
    chosen = rng.sample(range(1, pages), 3)
    for page in chosen:
        start = page * PAGE
        if kind == "random bytes":
            out[start:start + PAGE] = rng.randbytes(PAGE)
        elif kind == "zeroed":
            out[start:start + PAGE] = bytes(PAGE)
        elif kind == "flipped bits":
            for _ in range(rng.randint(1, 8)):
                out[start + rng.randrange(PAGE)] ^= 1 << rng.randrange(8)
    if kind == "swapped":
        a, b = chosen[0] * PAGE, chosen[1] * PAGE
        out[a:a + PAGE], out[b:b + PAGE] = out[b:b + PAGE], out[a:a + PAGE]
    if kind == "cut short":
        del out[max(chosen) * PAGE:]
    return kind, bytes(out)


def test_random_damage_that_integrity_check_reports_is_refused_before_any_write(crawled, mirror,
                                                                                  tmp_path):
    original = (crawled / "dw.db").read_bytes()
    cases = []
    for seed in SEEDS:
        rng = random.Random(seed)
        folder = tmp_path / f"seed-{seed}"
        shutil.copytree(crawled, folder)
        # One seed in four: a few flipped bits that only integrity_check sees (an index that
        # no longer matches its table), the damage a check with quick_check alone lets through.
        subtle = seed % 4 == 0
        for _ in range(500):  # damage in free space or unused bytes is no damage SQLite sees
            kind, data = damaged(original, rng, "flipped bits" if subtle else None)
            (folder / "dw.db").write_bytes(data)
            if reports(folder / "dw.db", "integrity_check") and not (
                    subtle and reports(folder / "dw.db", "quick_check")):
                break
        else:
            pytest.fail(f"seed {seed}: no {'subtle ' if subtle else ''}damage integrity_check reports")
        cases.append((seed, kind, folder, reports(folder / "dw.db", "quick_check"),
                      snapshot(folder)))

    def run(case):
        _, _, folder, _, _ = case
        return crawl(mirror, folder / "dw.db", "-a", "lang=en")

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(run, cases))
    for (seed, kind, folder, _, before), result in zip(cases, runs, strict=True):
        db = folder / "dw.db"
        assert result.returncode == 3, (seed, kind, result.stderr[-1500:])
        line = last_line(result)
        assert line.startswith("dw crawl failed: the archive could not be written: the archive is"
                               " damaged ("), (seed, kind, line)
        assert line.endswith(f"); run `sqlite3 {db} .recover | sqlite3 {db}.recovered`"), line
        assert snapshot(folder) == before, (seed, kind)  # not a byte written, no -wal made
    assert mirror.paths() == []  # not even robots.txt
    missed_by_quick = [(seed, kind) for seed, kind, _, quick, _ in cases if not quick]
    assert len(missed_by_quick) >= len(SEEDS) // 4, missed_by_quick


def test_a_file_that_is_no_database_is_refused_the_same_way(mirror, tmp_path):
    db = tmp_path / "dw.db"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)  # a header, then nonsense
    before = snapshot(tmp_path)
    run = crawl(mirror, db, "-a", "lang=en")
    assert run.returncode == 3
    assert "the archive is damaged (" in last_line(run) and ".recover" in last_line(run)
    assert snapshot(tmp_path) == before and mirror.paths() == []


def test_a_damaged_page_met_mid_run_stops_the_run_the_same_way(crawled, tmp_path):
    folder = tmp_path / "archive"
    shutil.copytree(crawled, folder)
    db = folder / "dw.db"
    spanish = ROOT / "data" / "sample-site" / "es"  # not in the archive: the run stores it
    article = "/es/" + sorted(p.relative_to(spanish).as_posix() for p in spanish.rglob("a-*.html"))[0]
    article = article.removesuffix(".html")
    faults, log = tmp_path / "faults.json", tmp_path / "access.log"
    faults.write_text(json.dumps({article: "delay=3"}))  # the run waits on it: then the damage
    with running_mirror(ROOT / "data" / "sample-site", log, faults) as origin:
        mirror = Mirror(origin, log)
        process = forkserver.start(
            crawl_command(origin, db, "-a", f"urls=https://www.dw.com{article}",
                          "-s", "ARCHIVE_BATCH_SIZE=1"),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and article not in mirror.paths():
            time.sleep(0.05)
        assert article in mirror.paths(), "the crawl never asked for the article"
        # Every page but the first (header, schema) overwritten, in place, as a failing disk
        # would: whatever the run reads next to write the article is damaged.
        rng = random.Random(7)
        with open(db, "r+b") as handle:
            size = handle.seek(0, 2)
            for page in range(1, size // PAGE):
                handle.seek(page * PAGE)
                handle.write(rng.randbytes(PAGE))
        _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert process.returncode == 3, stderr[-2000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("dw crawl failed: the archive could not be written: the archive is"
                           " damaged ("), line
    assert line.endswith(f"); run `sqlite3 {db} .recover | sqlite3 {db}.recovered`"), line


def test_reextraction_refuses_a_damaged_archive_before_writing(crawled, tmp_path):
    folder = tmp_path / "archive"
    shutil.copytree(crawled, folder)
    db = folder / "dw.db"
    data = bytearray(db.read_bytes())
    data[5 * PAGE:8 * PAGE] = bytes(3 * PAGE)
    db.write_bytes(bytes(data))
    before = snapshot(folder)
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(db)],
                         cwd=ROOT, timeout=120)
    assert run.returncode == 3
    assert "Traceback" not in run.stderr
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("dw reextract failed: the archive is damaged (") and line.endswith(
        f"run `sqlite3 {db} .recover | sqlite3 {db}.recovered`"), line
    assert snapshot(folder) == before


def test_backfill_refuses_a_damaged_archive_before_asking_anything(crawled, tmp_path):
    folder = tmp_path / "archive"
    shutil.copytree(crawled, folder)
    db = folder / "dw.db"
    data = bytearray(db.read_bytes())
    data[5 * PAGE:8 * PAGE] = bytes(3 * PAGE)
    db.write_bytes(bytes(data))
    before = snapshot(folder)
    run = forkserver.run([sys.executable, "-m", "crawler.backfill", "cc-news", "--month", "2024-01",
                          "--archive", str(db), "-s", "BACKFILL_COMMONCRAWL_DATA=http://127.0.0.1:9"],
                         cwd=ROOT, timeout=120)
    assert run.returncode == 3, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    line = run.stderr.strip().splitlines()[-1]
    assert "the archive is damaged (" in line and line.endswith(
        f"run `sqlite3 {db} .recover | sqlite3 {db}.recovered`"), line
    assert snapshot(folder) == before  # not even the backfill's lock file


def test_a_schema_whose_text_is_damaged_is_damage_not_a_traceback(tmp_path):
    # Seen once in the random test: a damaged byte in a table's name in sqlite_master makes
    # SQLite's own message invalid UTF-8; the checks before writing must say "damaged".
    from crawler.archive import integrity

    archive = tmp_path / "dw.db"
    conn = sqlite3.connect(archive)
    conn.execute("CREATE TABLE articles (id)")
    conn.execute("CREATE TABLE crawl_runs (id)")
    conn.commit()
    conn.close()
    data = bytearray(archive.read_bytes())
    data[data.index(b"crawl_runs") + 2] = 0x82
    archive.write_bytes(bytes(data))
    assert integrity.not_an_archive(archive) is None  # not "not an archive": damaged
    assert integrity.damage(archive)
    assert integrity.search_index_damage(archive) is None
