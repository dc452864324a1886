"""WARC capture and re-extraction (issue 15): a real crawl of the sample site through the mirror,
its WARC files read by warcio's own CLI, and `python -m crawler.reextract` rebuilding, mending
and importing archives from them."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler import dw
from crawler.archive import content_hash
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, last_run, query, running_mirror

LANGS = "lang=en,de,ar,pt-br,es"
GZIPPED = "en/germany-unemployment-rises-in-november/a-79010002.html"  # served Content-Encoding: gzip
SHORT_LINKED = 79010004  # also requested through its p.dw.com short link
REVISITED = 79010001  # due for a revisit on the second crawl: answered 304
CONTENT = ("id", "url", "short_url", "language", "kind", "title", "teaser", "body", "subheads",
           "published_at", "modified_at", "authors", "topics", "credit_line", "agencies", "images",
           "content_hash")
LINKED = {"article_authors": "article_id, author, position", "images": "article_id, position, url,"
          " caption, credit", "article_agencies": "article_id, agency, role",
          "short_links": "code, article_id"}
WARCIO = str(Path(sys.executable).with_name("warcio"))


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Two crawls of the sample site (one page gzip-encoded, one short link, one 304)."""
    work = tmp_path_factory.mktemp("warc")
    site = work / "site"
    shutil.copytree(ROOT / "data" / "sample-site", site)
    page = site / GZIPPED
    page.write_bytes(gzip.compress(page.read_bytes()))
    faults = work / "faults.json"
    faults.write_text(json.dumps({"/" + GZIPPED.removesuffix(".html"): "encoding=gzip"}))
    db, log = work / "dw.db", work / "access.log"
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)
        short = f"{dw.SHORTLINK}/p/{dw.encode_short_code(SHORT_LINKED)}"
        first = crawl(mirror, db, "-a", LANGS, "-a", "sources=news,articles,feeds", "-a", f"urls={short}")
        assert first.returncode == 0, first.stderr[-2000:]
        shutil.copy(db, work / "first.db")  # the crawled archive, before a test date is changed
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE articles SET published_at = ?, last_seen_at = ? WHERE id = ?",
                         [stamp(-timedelta(hours=3)), stamp(-timedelta(hours=2)), REVISITED])
        # Captures are dated to the second, and an archive keeps one sighting of a content per
        # second: a second crawl started (forked) within the second of the first one's last
        # fetch would see its 304 merged with that fetch. A second apart, it is a sighting.
        time.sleep(1.0)
        second = crawl(mirror, db, "-a", LANGS)
        assert second.returncode == 0, second.stderr[-2000:]
    assert ("/" + GZIPPED.removesuffix(".html"), 200) in mirror.requests()
    return work, db, sorted((work / "dw.db-warc").glob("*.warc.gz")), origin


def warcio_index(files) -> list[dict]:
    run = subprocess.run([WARCIO, "index", "-f", "warc-type,warc-target-uri,http:status,offset",
                          *map(str, files)], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in run.stdout.splitlines()]


def reextract(db: Path, *warcs, extra=()) -> dict:
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(db), *extra,
                          *map(str, warcs)], cwd=ROOT, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def content(db: Path) -> dict:
    tables = {"articles": query(db, f"SELECT {', '.join(CONTENT)} FROM articles ORDER BY id")}
    for table, columns in LINKED.items():
        tables[table] = query(db, f"SELECT {columns} FROM {table} ORDER BY {columns}")
    return tables


def test_every_file_passes_warcio_check(crawled):
    _, _, files, _ = crawled
    assert len(files) == 2  # one per crawl
    for file in files:
        check = subprocess.run([WARCIO, "check", "-v", str(file)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:]
        assert "digest pass" in check.stdout and "fail" not in check.stdout


def test_warcio_index_lists_each_article_under_its_real_url(crawled):
    _, db, files, origin = crawled
    entries = {(Path(file).name, int(e["offset"])): e
               for file in files for e in warcio_index([file])}
    assert not [e for e in entries.values() if origin in e.get("warc-target-uri", "")]
    rows = query(db, "SELECT url, warc_file, warc_offset FROM articles")
    assert len(rows) == 31
    for url, warc_file, warc_offset in rows:
        entry = entries[(Path(warc_file).name, warc_offset)]
        found = (entry["warc-type"], entry["warc-target-uri"], entry["http:status"])
        assert found == ("response", url, "200")
    kinds = [(e["warc-type"], e.get("http:status")) for e in entries.values()]
    assert [e["warc-type"] for e in warcio_index(files[:1])][0] == "warcinfo"
    assert kinds.count(("request", None)) == len([k for k in kinds if k[0] in ("response", "revisit")])
    uris = {e.get("warc-target-uri") for e in entries.values()}
    assert {"https://www.dw.com/robots.txt", "https://www.dw.com/en/news-sitemap.xml",
            "https://rss.dw.com/rdf/rss-en-all",
            f"https://p.dw.com/p/{dw.encode_short_code(SHORT_LINKED)}"} <= uris
    assert ("response", "301") in kinds
    revisits = [e for e in entries.values() if e["warc-type"] == "revisit"]
    assert [(e["warc-target-uri"], e["http:status"]) for e in revisits] == [
        ("https://www.dw.com/en/eu-leaders-agree-on-new-climate-target/a-79010001", "304")]


def test_bodies_are_kept_as_received(crawled):
    _, db, _, _ = crawled
    (warc_file, warc_offset, title), = query(
        db, "SELECT warc_file, warc_offset, title FROM articles WHERE id = 79010002")
    with open(warc_file, "rb") as handle:
        handle.seek(warc_offset)
        record = next(iter(ArchiveIterator(handle)))
        raw = record.raw_stream.read()
        assert record.http_headers.get_header("Content-Encoding") == "gzip"
    assert raw[:2] == b"\x1f\x8b" and title.encode() in gzip.decompress(raw)


def test_reextract_rebuilds_the_archive_and_a_second_run_changes_nothing(crawled, tmp_path):
    _, db, files, _ = crawled
    rebuilt = tmp_path / "rebuilt.db"
    counts = reextract(rebuilt, *files)
    # The second crawl's 304 (a `revisit` record) is read as the crawl stored it: a sighting.
    assert counts["new"] == 31 and counts["not_modified"] == 1 and "skipped/revisit" not in counts
    assert content(rebuilt) == content(db.with_name("first.db"))
    assert query(rebuilt, "SELECT count(*) FROM revisions") == [(0,)]
    before = query(rebuilt, "SELECT * FROM articles ORDER BY id")
    again = reextract(rebuilt, *files)
    assert again["unchanged"] == 31 and "new" not in again and "updated" not in again
    assert again["not_modified"] == 1  # applied again, changing nothing
    assert query(rebuilt, "SELECT * FROM articles ORDER BY id") == before
    assert query(rebuilt, "SELECT count(*) FROM revisions") == [(0,)]


def test_an_article_stored_wrongly_is_mended_with_one_reextract_revision(crawled, tmp_path):
    _, db, files, _ = crawled
    copy = tmp_path / "dw.db"
    shutil.copy(db.with_name("first.db"), copy)
    original = content(copy)
    # What an older extractor that missed bylines and the last paragraph would have stored.
    with sqlite3.connect(copy) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM articles WHERE id = 79010006").fetchone())
        assert json.loads(row["authors"])
        row["authors"], row["body"] = "[]", row["body"].rsplit("\n\n", 1)[0]
        decoded = {k: json.loads(v) if k in ("subheads", "authors", "topics", "agencies", "images")
                   else v for k, v in row.items()}
        conn.execute("UPDATE articles SET authors = ?, body = ?, content_hash = ? WHERE id = 79010006",
                     [row["authors"], row["body"], content_hash(decoded)])
        conn.execute("DELETE FROM article_authors WHERE article_id = 79010006")
    counts = reextract(copy, *files)
    assert counts["updated"] == 1 and counts["unchanged"] == 30
    assert content(copy) == original
    assert query(copy, "SELECT article_id, cause, authors, json_extract(changed, '$') FROM revisions") == [
        (79010006, "reextract", "[]", '["body","authors"]')]


def test_reextract_fills_the_columns_an_upgrade_added_without_a_revision(crawled, tmp_path):
    _, db, files, _ = crawled
    copy = tmp_path / "dw.db"
    shutil.copy(db.with_name("first.db"), copy)
    columns = "id, tags, modified_at, last_seen_at, content_hash"
    before = query(copy, f"SELECT {columns} FROM articles ORDER BY id")
    assert len(before) == 31 and [row for row in before if row[2]]
    # An archive from before `tags` and `modified_at` existed: the upgrade adds them, empty.
    with sqlite3.connect(copy) as conn:
        conn.execute("ALTER TABLE articles DROP COLUMN tags")
        conn.execute("ALTER TABLE articles DROP COLUMN modified_at")
    counts = reextract(copy, *files)
    assert counts["filled"] == 31 and "updated" not in counts and "new" not in counts
    # The second crawl's 304, which this copy of the first crawl's archive never got, is
    # recorded: the article was last seen then. Nothing else moves.
    (seen,), = query(copy, "SELECT fetched_at FROM sightings WHERE article_id = ? AND warc_file IS NULL",
                     REVISITED)
    assert counts["not_modified"] == 1 and seen > before[1][3]
    before[1] = (*before[1][:3], seen, before[1][4])
    assert before[1][0] == REVISITED
    assert query(copy, f"SELECT {columns} FROM articles ORDER BY id") == before
    assert query(copy, "SELECT count(*) FROM revisions") == [(0,)]


def test_reextract_waits_for_no_crawl_it_takes_the_same_run_lock(crawled, tmp_path):
    import fcntl

    _, db, files, _ = crawled
    copy = tmp_path / "dw.db"
    shutil.copy(db.with_name("first.db"), copy)
    link = tmp_path / "other-name.db"
    link.hardlink_to(copy)
    before = copy.read_bytes()
    with open(copy, "rb") as held:  # as a running crawl of this archive holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(link),
                              *map(str, files)], cwd=ROOT, timeout=120)
    assert run.returncode == 3 and "locked" in run.stderr and "Traceback" not in run.stderr
    assert copy.read_bytes() == before and not Path(f"{link}-wal").exists()


def test_damaged_warcs_import_what_is_sound_and_count_the_rest(crawled, tmp_path):
    _, db, files, _ = crawled
    rows = dict(query(db, "SELECT warc_offset, id FROM articles WHERE warc_file = ?", str(files[0])))
    data = files[0].read_bytes()
    last, middle = max(rows), sorted(rows)[len(rows) // 2]
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(data[: last + 300])  # ends inside the last article's response
    garbled = bytearray(data)
    garbled[middle + 40: middle + 240] = bytes(200)  # inside one article's gzip member
    (tmp_path / "garbled.warc.gz").write_bytes(bytes(garbled))
    for name, lost, kind in (("truncated", last, "skipped/truncated"),
                             ("garbled", middle, "skipped/damaged")):
        target = tmp_path / f"{name}.db"
        counts = reextract(target, tmp_path / f"{name}.warc.gz")
        assert counts[kind] >= 1
        assert counts["new"] == len(rows) - 1
        kept = {i for (i,) in query(target, "SELECT id FROM articles")}
        assert kept == set(rows.values()) - {rows[lost]}


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed (make wget)")
def test_a_wget_warc_of_mirrored_pages_imports(crawled, tmp_path):
    work, db, _, _ = crawled
    ids = [79010003, 79020001, 79030002]
    paths = [p for (p,) in query(db, "SELECT url FROM articles WHERE id IN (?, ?, ?) ORDER BY id", *ids)]
    with running_mirror(work / "site") as origin:
        urls = [origin + dw.canonical_url(u).removeprefix(dw.WWW) for u in paths]
        urls.append(origin + "/en/news-sitemap.xml")
        subprocess.run(["wget", "--quiet", "--tries=1", "--output-document=/dev/null",
                        f"--warc-file={tmp_path / 'wget'}", *urls], check=True, timeout=60, cwd=tmp_path)
    warc = tmp_path / "wget.warc.gz"
    with gzip.open(warc, "rb") as handle:
        head = handle.read(4000)
    assert head.startswith(b"WARC/1.0") and b"WARC-Target-URI: <http" in head
    imported = tmp_path / "imported.db"
    counts = reextract(imported, warc, extra=("--origin", origin))
    assert counts["new"] == 3 and counts["skipped/not_dw_content"] == 1
    marks = ", ".join("?" * len(ids))
    assert query(imported, f"SELECT {', '.join(CONTENT)} FROM articles ORDER BY id") == query(
        db, f"SELECT {', '.join(CONTENT)} FROM articles WHERE id IN ({marks}) ORDER BY id", *ids)
    unmapped = reextract(tmp_path / "unmapped.db", warc)
    assert "new" not in unmapped and unmapped["skipped/not_dw"] == 4  # a mirror's URLs are not DW's


RESET_UNFRAMED = "/en/germany-unemployment-rises-in-november/a-79010002"


def test_capture_can_be_turned_off(tmp_path):
    """And without capture, a body only the connection's close ends, reset part-way, is still cut
    short, not whole: retried, the retry's page archived (before: handed on as whole, `No
    article in …: truncated page`, a failure never retried; a cut after `</article>` archived)."""
    db, log, faults = tmp_path / "dw.db", tmp_path / "access.log", tmp_path / "faults.json"
    faults.write_text(json.dumps({RESET_UNFRAMED: "reset no-length times=1"}))
    with running_mirror(ROOT / "data" / "sample-site", log, faults) as origin:
        mirror = Mirror(origin, log)
        run = crawl(mirror, db, "-a", "lang=en", "-s", "WARC_ENABLED=False")
        assert run.returncode == 0, run.stderr[-2000:]
        assert mirror.paths().count(RESET_UNFRAMED) == 2
    assert not (tmp_path / "dw.db-warc").exists() and not (tmp_path / "warc").exists()
    assert query(db, "SELECT count(*), count(warc_file) FROM articles") == [(8, 0)]
    assert "was cut short: the connection was reset after" in run.stderr
    stats = last_run(db)["stats"]
    assert "dw/failed" not in stats
    assert stats["retry/reason_count/scrapy.exceptions.ResponseDataLossError"] == 1
    [(text,)] = query(db, "SELECT body FROM articles WHERE url LIKE ?", f"%{RESET_UNFRAMED}")
    assert text.endswith("The unemployment rate held steady at 6.3%.")


def test_a_body_cut_short_that_the_crawl_is_told_to_take_is_kept_marked_truncated(tmp_path):
    """`DOWNLOAD_FAIL_ON_DATALOSS=False`: Scrapy hands a cut body on (flagged `dataloss`), and so
    does the handler for a reset body that the close ends; each record says it is cut (before:
    an untruncated record of a cut page, which a rebuild would read as the page)."""
    cut = "/en/flood-warnings-issued-across-northern-italy/a-79010003"
    db, log, faults = tmp_path / "dw.db", tmp_path / "access.log", tmp_path / "faults.json"
    faults.write_text(json.dumps({RESET_UNFRAMED: "reset no-length", cut: "truncate"}))
    with running_mirror(ROOT / "data" / "sample-site", log, faults) as origin:
        run = crawl(Mirror(origin, log), db, "-a", "lang=en", "-s", "DOWNLOAD_FAIL_ON_DATALOSS=False")
    assert run.returncode == 0, run.stderr[-2000:]
    marks = {}
    for path in (tmp_path / "dw.db-warc").glob("*.warc.gz"):
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type == "response" and uri.endswith((cut, RESET_UNFRAMED)):
                    marks.setdefault(uri.split("dw.com", 1)[1], []).append(
                        record.rec_headers.get_header("WARC-Truncated"))
    assert marks == {cut: ["disconnect"], RESET_UNFRAMED: ["disconnect"]}
    assert last_run(db)["stats"]["dw/warc/truncated"] == 2


def test_a_crawl_whose_capture_fails_stops_and_stores_nothing_without_its_record(mirror, tmp_path):
    # A WARC folder that fills up while the crawl runs: a 4 KiB tmpfs, so the first WARC file's
    # records run out of room within the first pages. (A WARC_DIR that cannot be made or
    # written, a file or an immutable folder, is refused before the crawl starts:
    # tests/test_settings_check.py.)
    full = tmp_path / "captures"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(full)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here: {mounted.stderr.strip()}")
    db = tmp_path / "dw.db"
    try:
        run = crawl(mirror, db, "-a", "lang=en", "-s", f"WARC_DIR={full}")
    finally:
        subprocess.run(["umount", str(full)], capture_output=True)
    assert run.returncode == 3
    assert "Cannot write the WARC file" in run.stderr and "No space left on device" in run.stderr
    assert query(db, "SELECT count(*) FROM articles WHERE warc_file IS NULL") == [(0,)]
    # The outcome, and so the last line, says why and where (was `stopped: warc_error` alone).
    outcome = query(db, "SELECT outcome FROM crawl_runs")[0][0]
    assert re.fullmatch(rf"stopped: warc_error \(cannot write the WARC file {re.escape(str(full))}/\S+"
                        r"\.warc\.gz: No space left on device\)", outcome), outcome
    assert run.stderr.strip().splitlines()[-1] == f"dw crawl failed: {outcome}"
    # What was dropped because its response could not be kept is counted with that reason; the
    # file, whose last record could not be flushed, could not be closed either: counted too.
    reasons = {k: v for k, v in last_run(db)["stats"].items() if k.startswith("dw/failed/")}
    assert reasons.pop("dw/failed/warc_not_closed") == 1
    assert reasons and all(k.endswith("/warc_not_written") for k in reasons), reasons
    # ... and said before the closing line, which stays the crawl's last line of its own (it
    # came after the closing line: tester try26).
    lines = run.stderr.splitlines()
    closing = max(n for n, line in enumerate(lines) if "[crawler.extensions] ERROR: Crawl warc_error" in line)
    assert max(n for n, line in enumerate(lines) if "Could not close the WARC file" in line) < closing
    assert "failed/warc_not_closed': 1" in lines[closing]
    assert not [line for line in lines[closing + 1:] if "[crawler." in line and "ERROR" in line]


# -- the archive's clock: every version dated by its fetch (issue 26) ---------------------------

def test_a_crawled_article_is_dated_by_its_captures_warc_date(crawled):
    from crawler.dates import to_utc

    _, db, _, _ = crawled
    rows = query(db, "SELECT warc_file, warc_offset, fetched_at, first_seen_at FROM articles")
    assert len(rows) == 31
    for warc_file, warc_offset, fetched_at, first_seen_at in rows:
        with open(warc_file, "rb") as handle:
            handle.seek(warc_offset)
            record = next(iter(ArchiveIterator(handle)))
        assert fetched_at == to_utc(record.rec_headers.get_header("WARC-Date")) == first_seen_at


def test_reextracting_an_older_foreign_capture_keeps_it_as_an_earlier_revision(crawled, tmp_path):
    from devtools import warcgen

    _, db, _, _ = crawled
    copy = tmp_path / "dw.db"
    shutil.copy(db, copy)
    before = query(copy, "SELECT * FROM articles ORDER BY id")
    (url, body_title, first_seen), = query(
        copy, "SELECT url, title, first_seen_at FROM articles WHERE id = 79010003")
    page = next(p for p in warcgen.dw_pages() if p.url.endswith("a-79010003"))
    older = warcgen.Page(url, "2020-05-01T09:00:00Z",
                         page.body.replace(body_title.encode(), b"An earlier headline"))
    assert older.body != page.body
    warcgen.write_warc(tmp_path / "other-tool.warc.gz", [older])
    counts = reextract(copy, tmp_path / "other-tool.warc.gz")
    assert counts.get("earlier") == 1 and "updated" not in counts
    after = query(copy, "SELECT * FROM articles ORDER BY id")
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 1  # only first_seen_at of that article moved, back to the capture
    assert query(copy, "SELECT title, first_seen_at FROM articles WHERE id = 79010003") == [
        (body_title, "2020-05-01T09:00:00Z")]
    assert query(copy, "SELECT title, seen_at, cause, fetched_at FROM revisions"
                       " WHERE article_id = 79010003") == [
        ("An earlier headline", first_seen, "reextract", "2020-05-01T09:00:00Z")]


def test_a_warc_file_that_cannot_be_closed_is_counted_and_said_once(tmp_path, caplog):
    """A real failure of the close (fsync of a descriptor gone: EBADF), not a stand-in: counted
    (`dw/failed/warc_not_closed`, `dw/warc/not_closed`), logged once, never raised; a second
    close (the crawl's summary closes it first, then the middleware's own handler) does nothing.
    Before, it was logged after the closing line and not in the outcome."""
    import logging
    import os

    from scrapy.utils.test import get_crawler

    from crawler.middlewares import Origins
    from crawler.warc.capture import WarcCaptureMiddleware, WarcFiles

    crawler = get_crawler()
    files = WarcFiles(tmp_path, 1_000_000, {"software": "test"})
    middleware = WarcCaptureMiddleware(crawler, files, Origins())
    files.append([b"a record"])
    os.close(files.handle.fileno())  # the descriptor gone under the file: fsync fails
    with caplog.at_level(logging.ERROR, logger="crawler.warc.capture"):
        middleware.close()
        middleware.close()
    stats = crawler.stats.get_stats()
    assert stats["dw/failed/warc_not_closed"] == 1
    assert stats["dw/warc/not_closed"] == f"{files.path}: Bad file descriptor"
    assert [r.getMessage() for r in caplog.records] == [
        f"Could not close the WARC file {files.path}: [Errno 9] Bad file descriptor"]
