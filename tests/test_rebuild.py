"""An archive rebuilt from its WARC files (`python -m crawler.reextract` into a new file) equals
the crawl's own, table by table and row by row (README: "the archive can be rebuilt from it").

One module-scoped pair of real crawls of the sample site through the mirror. In the first, one
page is cut short once (then retried whole), one every time (failed) and one reset mid-body
once: each cut response is kept as a `WARC-Truncated: disconnect` record; a listed article
never served and one answering 404 once are gone. The second, after the article sitemap's
`lastmod` moved for four articles, gets an edited page (a revision), a 304 with validators of
its own (a `revisit` record: a sighting, the new validators kept), the same content sent anew,
gzip-encoded (a 200 of unchanged content: a sighting, new validators), the article gone once
(back: no longer gone) and the failed page whole. Then the rebuild, and every table compared,
`gone_articles` too.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, query, running_mirror

LANGS = "lang=en,de,ar,pt-br,es"
EDITED = ("en/bundestag-debates-pension-reform/a-79010005.html", 79010005)
# lastmod moved, page as it was: a conditional GET answered 304, with new validators
NOT_MODIFIED = (79010007, "en/pope-calls-for-ceasefire/a-79010007.html",
                "/en/pope-calls-for-ceasefire/a-79010007")
MOVED_ETAG = 'W/"moved"'
RESENT = ("en/a-new-museum-for-bauhaus-design/a-79010006.html", 79010006)  # same text, gzip-encoded
SITEMAP = "en/article-sitemap.xml"
CUT_ONCE = "/en/flood-warnings-issued-across-northern-italy/a-79010003"
CUT_ALWAYS = ("/en/how-a-berlin-startup-recycles-batteries/a-79010004", 79010004)
RESET_ONCE = "/en/eu-leaders-agree-on-new-climate-target/a-79010001"  # reset mid-body, then whole
# Its body delimited by the connection's close (no Content-Length, not chunked), reset mid-body.
RESET_UNFRAMED = "/en/germany-unemployment-rises-in-november/a-79010002"
# Listed, never served: gone (404) in the first crawl, not asked again in the second.
GONE = ("https://www.dw.com/en/a-page-dw-took-down/a-79019999", 79019999)
# 404 in the first crawl (gone), listed as changed before the second, which it answers: no more gone.
BACK = ("/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046", 16825046)
# 304 to the first crawl's unconditional request (the server's error: failed, not stored), a 200
# to the second's.
UNASKED_304 = "/de/mietpreise-steigen-weiter/a-79020007"

# What may differ, and why: `crawl_runs` is the crawl's account of its runs (a rebuild runs
# none); `reextract_progress` is the rebuild's own checkpoint (empty once it completes);
# `sqlite_sequence`/FTS shadow tables are SQLite's bookkeeping (the index is compared through
# `articles_search` itself). Surrogate row ids (`revisions.id`, `sightings.id`) number rows in
# the order they were written, not what they hold, so rows are compared without them.
NOT_ABOUT_ARTICLES = {"crawl_runs", "reextract_progress", "sqlite_sequence"}
SURROGATE = {"revisions": "id", "sightings": "id"}


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """(the crawl's archive, the archive rebuilt from its WARC folder, reextract's counts)."""
    work = tmp_path_factory.mktemp("rebuild")
    site = work / "site"
    shutil.copytree(ROOT / "data" / "sample-site", site)
    db, log, faults = work / "dw.db", work / "access.log", work / "faults.json"
    faults.write_text(json.dumps({CUT_ONCE: "truncate times=1", CUT_ALWAYS[0]: "truncate",
                                  RESET_ONCE: "reset times=1", RESET_UNFRAMED: "reset no-length times=1",
                                  BACK[0]: "status=404 times=1", UNASKED_304: "status=304"}))
    sitemap = site / SITEMAP
    sitemap.write_text(sitemap.read_text().replace("</urlset>", f"<url><loc>{GONE[0]}</loc>"
                                                   "<lastmod>2026-11-01T09:00:00Z</lastmod></url></urlset>"))
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)
        first = crawl(mirror, db, "-a", LANGS, "-a", "sources=news,articles,feeds",
                      "-s", "RETRY_TIMES=1", "-s", "RETRY_BACKOFF_BASE=0.05")
        assert first.returncode == 0, first.stderr[-2000:]
        (first_stats,) = query(db, "SELECT stats FROM crawl_runs")
        # After the first crawl's last capture (second precision): the four listed as changed.
        time.sleep(1.1)
        moved = stamp(datetime.now(UTC))
        edited = site / EDITED[0]
        edited.write_text(edited.read_text().replace("unaffordable", "unaffordable and unfair"))
        resent = site / RESENT[0]
        resent.write_bytes(gzip.compress(resent.read_bytes()))
        # The 304 carries validators of its own (RFC 9110 §15.4.5): a weak ETag, as a server
        # that compresses on the fly makes of a strong one, and the Last-Modified of a file
        # touched, its content the same.
        os.utime(site / NOT_MODIFIED[1], (time.time(), time.time()))
        faults.write_text(json.dumps({"/" + RESENT[0].removesuffix(".html"): "encoding=gzip",
                                      NOT_MODIFIED[2]: f"etag={MOVED_ETAG}"}))
        text = sitemap.read_text()
        for article_id in (EDITED[1], NOT_MODIFIED[0], RESENT[1], BACK[1]):  # CUT_ALWAYS is missing: fetched
            text, n = re.subn(rf"(a-{article_id}</loc><lastmod>)[^<]+", rf"\g<1>{moved}", text)
            assert n == 1
        sitemap.write_text(text)
        time.sleep(1.1)  # the second crawl's captures come after `moved`
        mirror.clear()
        second = crawl(mirror, db, "-a", LANGS, "-a", "sources=articles")
        assert second.returncode == 0, second.stderr[-2000:]
        statuses = {path: status for path, status in mirror.requests() if "/a-" in path}
    # The second crawl did what the test is about (else it proves nothing).
    assert sorted(statuses.values()) == [200, 200, 200, 200, 200, 304], statuses
    assert statuses[UNASKED_304] == 200
    assert statuses[CUT_ALWAYS[0]] == 200
    target = work / "rebuilt.db"
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(target),
                          "--workers", "1", str(work / "dw.db-warc")], cwd=ROOT, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    return db, target, json.loads(run.stdout.splitlines()[-1]), json.loads(first_stats[0])


def tables(db: Path) -> list[str]:
    names = [row[0] for row in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name NOT LIKE 'articles_search_%' ORDER BY name")]
    return [name for name in names if name not in NOT_ABOUT_ARTICLES]


def rows(db: Path, table: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")
                   if row[1] != SURROGATE.get(table)]
        if table == "articles_search":  # FTS5: its rowid is the article's id
            columns = ["rowid", *columns]
        listed = ", ".join(columns)
        return [tuple(zip(columns, row, strict=True))
                for row in conn.execute(f"SELECT {listed} FROM {table} ORDER BY {listed}")]


def test_the_crawl_saw_an_edit_a_304_and_the_same_content_resent(rebuilt):
    db, _, _, _ = rebuilt
    assert query(db, "SELECT article_id FROM revisions") == [(EDITED[1],)]
    assert query(db, "SELECT count(*) FROM sightings WHERE article_id = ? AND warc_file IS NULL",
                 NOT_MODIFIED[0]) == [(1,)]
    assert query(db, "SELECT count(DISTINCT warc_file) FROM sightings WHERE article_id = ?",
                 RESENT[1]) == [(2,)]


def test_the_rebuild_reads_the_304_and_counts_nothing_skipped_that_the_crawl_stored(rebuilt):
    _, _, counts, first_stats = rebuilt
    assert counts["not_modified"] == 1 and "skipped/revisit" not in counts
    # A 304 to a request without validators is the server's error in both (tester try27: the
    # rebuild counted it not_modified, the crawl failed/article/http_304).
    assert first_stats["dw/failed/article/http_304"] == 1 and counts["skipped/http_304"] == 1
    assert counts["new"] == 31 and counts["updated"] == 1 and counts["unchanged"] == 1
    # The responses cut short (one, two for the page that failed, one reset): never read as
    # articles.
    assert counts["skipped/warc_truncated/disconnect"] == 5


def test_the_rebuilt_archive_has_every_table_the_crawls_archive_has(rebuilt):
    db, target, _, _ = rebuilt
    assert tables(target) == tables(db)


@pytest.mark.parametrize("table", ["articles", "revisions", "sightings", "short_links",
                                   "agencies", "article_agencies", "authors", "article_authors",
                                   "images", "articles_search", "gone_articles"])
def test_the_rebuilt_archive_equals_the_crawls_row_by_row(rebuilt, table):
    db, target, _, _ = rebuilt
    crawled, again = rows(db, table), rows(target, table)
    assert crawled  # every table holds something to compare
    assert [r for r in again if r not in crawled] == [] and [r for r in crawled if r not in again] == []
    assert again == crawled


def test_the_rebuild_remembers_the_articles_the_crawl_found_gone(rebuilt):
    """`gone_articles` is rebuilt from the request records (which listed article was asked) and
    each run's other answers; before, 404/410 records were only `skipped/http_404` and the
    rebuilt table empty, so the first crawl after a rebuild asked for every gone article again."""
    db, target, counts, _ = rebuilt
    # The crawl's own: the article answering 404 in both runs' listings; the one that answered
    # the second run is no longer gone.
    assert query(db, "SELECT id, url, status FROM gone_articles") == [(GONE[1], GONE[0], 404)]
    assert query(target, "SELECT * FROM gone_articles") == query(db, "SELECT * FROM gone_articles")
    assert counts["skipped/http_404"] == 2  # not articles: each record read for what it says
    # Both found gone; the one the archive saw answer later is not written.
    assert counts["gone"] == 2 and counts["gone_remembered"] == 1, counts
    assert "gone/unknown" not in counts and "gone_not_remembered" not in counts


def test_the_rebuilt_archive_keeps_the_validators_for_the_next_conditional_request(rebuilt):
    _, target, _, _ = rebuilt
    assert query(target, "SELECT count(*) FROM articles"
                         " WHERE etag IS NULL OR last_modified IS NULL") == [(0,)]


def test_a_304s_own_validators_are_what_the_next_conditional_request_sends(rebuilt):
    """RFC 9111 §4.3.4: a 304 updates the stored validators with those it carries; the crawl's
    archive and the rebuilt one both hold the 304's, which the next run's request sends."""
    from crawler.archive import Archive
    from crawler.warc.read import scan

    db, target, _, _ = rebuilt
    answers = sorted((entry.date, entry.kind, entry.etag, entry.last_modified)
                     for path in (db.parent / "dw.db-warc").glob("*.warc.gz") for entry in scan(path)
                     if entry.kind in ("response", "revisit") and entry.uri.endswith(NOT_MODIFIED[2]))
    (_, _, *first), (_, kind, *revisit) = answers
    assert kind == "revisit" and revisit[0] == MOVED_ETAG and revisit[1] != first[1], answers
    for archive_path in (db, target):
        archive = Archive(archive_path)
        try:  # what `DwSpider.schedule` reads to make the conditional request
            stored = archive.stored(NOT_MODIFIED[0])
        finally:
            archive.close()
        assert [stored.etag, stored.last_modified] == revisit, archive_path


# -- a run killed between fetching and storing ------------------------------------------------

DELAYED = "/en/germany-unemployment-rises-in-november/a-79010002"  # held by the mirror until the kill


def article_responses(folder: Path) -> int:
    from crawler.warc.read import scan

    return sum(1 for path in folder.glob("*.warc.gz") for entry in scan(path)
               if entry.kind == "response" and entry.status == 200 and "/a-" in entry.uri)


def test_what_a_killed_run_fetched_but_never_stored_is_stored_by_the_next_run_as_a_rebuild_stores_it(
        tmp_path):
    """The killed run's captures are the first of those articles: the next run stores them from
    its WARC files (it does not fetch them again), so the crawl's archive and the rebuilt one
    agree on every article's first capture (`fetched_at`, `warc_file`, `warc_offset`)."""
    site, log, faults = tmp_path / "site", tmp_path / "access.log", tmp_path / "faults.json"
    shutil.copytree(ROOT / "data" / "sample-site", site)
    faults.write_text(json.dumps({DELAYED: "delay=600"}))
    db, folder = tmp_path / "dw.db", tmp_path / "dw.db-warc"
    args = ("-a", LANGS, "-a", "sources=news,articles,feeds")
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)
        # Batches written only at the end: every article fetched is still in memory at the kill.
        command = crawl_command(origin, db, *args, "-s", "ARCHIVE_BATCH_SIZE=1000",
                                "-s", "ARCHIVE_BATCH_SECONDS=1000")
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if folder.is_dir() and article_responses(folder) >= 30:  # all but the one held
                break
            time.sleep(0.1)
        assert process.poll() is None, "the crawl ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert query(db, "SELECT count(*) FROM articles") == [(0,)]
        faults.write_text("{}")
        mirror.clear()
        second = crawl(mirror, db, *args)
        assert second.returncode == 0, second.stderr[-2000:]
        fetched_again = mirror.article_pages()
    assert "fetched but not stored: 30 new" in second.stderr
    assert fetched_again == [DELAYED]  # the 30 the killed run fetched are not fetched again
    assert query(db, "SELECT count(*) FROM articles") == [(31,)]
    target = tmp_path / "rebuilt.db"
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(target),
                          "--workers", "1", str(folder)], cwd=ROOT, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert tables(target) == tables(db)
    for table in tables(db):
        assert rows(target, table) == rows(db, table), table


# -- a response cut short ----------------------------------------------------------------------

def test_a_response_cut_short_is_kept_marked_truncated_and_the_article_still_fails(rebuilt):
    from warcio.archiveiterator import ArchiveIterator

    db, _, _, stats = rebuilt
    cut = {}
    for path in sorted(db.with_name("dw.db-warc").glob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_headers.get_header("WARC-Truncated"):
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    cut.setdefault(uri.split("dw.com", 1)[1], []).append(
                        (record.rec_type, record.rec_headers.get_header("WARC-Truncated"),
                         record.http_headers.get_header("Content-Length"), record.content_stream().read()))
    assert sorted(cut) == sorted([CUT_ONCE, CUT_ALWAYS[0], RESET_ONCE, RESET_UNFRAMED])
    assert [len(cut[path]) for path in (CUT_ONCE, CUT_ALWAYS[0], RESET_ONCE, RESET_UNFRAMED)] == [1, 2, 1, 1]
    page = (ROOT / "data" / "sample-site" / (CUT_ALWAYS[0].lstrip("/") + ".html")).read_bytes()
    for kind, reason, length, body in cut[CUT_ALWAYS[0]]:
        # The bytes that came (the mirror sends half), the length the server announced.
        assert (kind, reason, int(length)) == ("response", "disconnect", len(page))
        assert body == page[: len(page) // 2]
    # A connection reset mid-body (an RST after a third of the body): the bytes that came, kept
    # the same way; the retry got the page whole.
    page = (ROOT / "data" / "sample-site" / (RESET_ONCE.lstrip("/") + ".html")).read_bytes()
    [(kind, reason, length, body)] = cut[RESET_ONCE]
    assert (kind, reason, int(length), body) == ("response", "disconnect", len(page), page[: len(page) // 3])
    assert query(db, "SELECT count(*) FROM articles WHERE url LIKE ?", f"%{RESET_ONCE}") == [(1,)]
    # A body only the connection's close was to end, reset: Twisted ends it as it ends a close
    # (`partial`); it is cut all the same, never an article, kept the same way.
    page = (ROOT / "data" / "sample-site" / (RESET_UNFRAMED.lstrip("/") + ".html")).read_bytes()
    [(kind, reason, length, body)] = cut[RESET_UNFRAMED]
    assert (kind, reason, length, body) == ("response", "disconnect", None, page[: len(page) // 3])
    # The article is the retry's whole page, its last paragraph included.
    [(text, credit)] = query(db, "SELECT body, credit_line FROM articles WHERE url LIKE ?",
                             f"%{RESET_UNFRAMED}")
    assert text.endswith("The unemployment rate held steady at 6.3%.") and credit == "pg/AR/kle (dpa, afp)"
    assert stats["dw/warc/truncated"] == 5
    # The page that was cut every time failed, counted as before; none of its cut bytes is stored.
    # (The other failure is UNASKED_304's.)
    assert stats["dw/failed"] == 2 and stats["dw/failed/article/ResponseDataLossError"] == 1
    assert stats["dw/failed/article/http_304"] == 1
    assert query(db, "SELECT count(*) FROM sightings WHERE article_id = ?", CUT_ALWAYS[1]) == [(1,)]


# -- the pure parts, in their variants ---------------------------------------------------------

def write_warc(path: Path, info: dict | None, headers: list[tuple[str, str]] = (),
               warc_headers: dict | None = None, status: str = "200 OK",
               uri: str = "https://www.dw.com/en/a-story/a-79010001") -> Path:
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        if info is not None:
            writer.write_record(writer.create_warcinfo_record(path.name, info))
        http = StatusAndHeaders(status, [("Content-Type", "text/html"), *headers], protocol="HTTP/1.1")
        body = b"<html>part of a page</html>"
        writer.write_record(writer.create_warc_record(
            uri, "revisit" if status.startswith("304") else "response",
            payload=BytesIO(b"" if status.startswith("304") else body),
            length=0 if status.startswith("304") else len(body), http_headers=http,
            warc_headers_dict=warc_headers))
    return path


@pytest.mark.parametrize(("info", "cause"), [
    ({"software": "dw-archive/0.1.0 (warcio/1.7.4, Scrapy/2.13.3)"}, "crawl"),
    ({"software": "dw-archive backfill", "description": "captures from wayback"}, "wayback"),
    ({"software": "dw-archive backfill", "description": "captures from cc-news"}, "cc-news"),
    ({"software": "Wget/1.21.3", "format": "WARC File Format 1.1"}, "reextract"),
    (None, "reextract"),  # no warcinfo record at all
])
def test_the_cause_of_a_files_captures_is_read_off_its_warcinfo(tmp_path, info, cause):
    from crawler.warc.reextract import capture_cause

    assert capture_cause(write_warc(tmp_path / "x.warc.gz", info)) == cause


@pytest.mark.parametrize(("headers", "etag", "last_modified"), [
    ([("ETag", '"abc"'), ("Last-Modified", "Sun, 06 Dec 2026 04:00:00 GMT")],
     '"abc"', "Sun, 06 Dec 2026 04:00:00 GMT"),
    ([("ETag", '"first"'), ("etag", '"second"')], '"second"', None),  # Scrapy's: the last line
    ([("ETag", "")], None, None),
    ([], None, None),
])
def test_a_responses_validators_are_read_as_the_crawl_reads_them(tmp_path, headers, etag, last_modified):
    from crawler.warc.read import scan

    entry = next(e for e in scan(write_warc(tmp_path / "x.warc.gz", None, headers)) if e.kind == "response")
    assert (entry.etag, entry.last_modified) == (etag, last_modified)


@pytest.mark.parametrize(("status", "uri", "warc_headers", "kind"), [
    ("304 Not Modified", "https://www.dw.com/en/a-story/a-79010001", None, "not_modified"),
    ("304 Not Modified", "https://www.dw.com/en/news-sitemap.xml", None, "revisit"),
    ("304 Not Modified", "https://example.org/en/a-story/a-79010001", None, "revisit"),
    ("200 OK", "https://www.dw.com/en/a-story/a-79010001", {"WARC-Truncated": "disconnect"},
     "warc_truncated/disconnect"),
    ("200 OK", "https://www.dw.com/en/a-story/a-79010001", {"WARC-Truncated": "length"},
     "warc_truncated/length"),
    ("200 OK", "https://www.dw.com/en/a-story/a-79010001", None, "article"),
])
def test_what_a_record_is_to_the_rebuild(tmp_path, status, uri, warc_headers, kind):
    from crawler.warc.read import scan
    from crawler.warc.reextract import kind_of

    path = write_warc(tmp_path / "x.warc.gz", None, status=status, uri=uri, warc_headers=warc_headers)
    (entry,) = list(scan(path))
    assert kind_of(entry, entry.uri) == kind
