"""Reading captures within the crawl's own limits, through the real commands (#27):

- the crawl asks for gzip and deflate (br and zstd come all the same from some servers):
  `python -m crawler.reextract` reads each back;
- a gzip or brotli bomb served to the crawl is refused before it is stored (the capture
  middleware checks what Scrapy's size check would refuse), counted;
- a bomb in a WARC, and a record larger than `DOWNLOAD_MAXSIZE`, are counted and skipped by
  re-extraction, in bounded memory, never a MemoryError;
- a crawl while re-extraction writes the same archive is refused by the run lock they share,
  naming it; run after it, every row's `first_seen_at` is its earliest fetch and its stored
  version its newest.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from io import BytesIO

import brotli
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.archive.lock import holder
from crawler.warc.read import scan
from devtools.demo import crawl_command
from devtools.sitegen import render_article, url_of, write_site
from devtools.warcgen import Page, write_warc
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, archived_ids, crawl, last_run, query, running_mirror
from tests.hostile import articles, faults_file, measured, write_hostile_site

MAX_SIZE = 16 * 1024 * 1024  # the project's DOWNLOAD_MAXSIZE


def zstd_compress(data: bytes) -> bytes:
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    return zstd.compress(data)


def gzip_bomb(size: int) -> bytes:
    """`size` bytes of zeros, gzipped, written without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(size >> 20)), packer.flush()])


CODINGS = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress, "zstd": zstd_compress}


# -- the crawl: bombs refused before capture, every coding captured and read back -------------

@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("codings")
    spec = articles(8)
    ids = [a["id"] for a in spec]
    encoded = {ids[n]: coding for n, coding in enumerate(CODINGS, start=1)}
    bombs = {ids[5]: ("gzip", gzip_bomb(200 << 20)),  # the issue's: ~200 KB inflating to 200 MB
             ids[6]: ("br", brotli.compress(bytes(200 << 20), quality=1))}
    variants = {i: (lambda article, page, c=coding: CODINGS[c](page.encode()))
                for i, coding in encoded.items()}
    variants.update({i: (lambda article, page, body=body: body) for i, (_, body) in bombs.items()})
    files = write_hostile_site(tmp / "site", spec, variants)
    faults = faults_file(tmp / "faults.json", {
        "/" + files[i].relative_to(tmp / "site").as_posix().removesuffix(".html"): f"encoding={coding}"
        for i, coding in [*encoded.items(), *((i, c) for i, (c, _) in bombs.items())]})
    db = tmp / "dw.db"
    with running_mirror(tmp / "site", tmp / "access.log", faults) as origin:
        run = measured(crawl_command(origin, db, "-a", "lang=en"))
    return run, db, ids, encoded, bombs


def test_a_bomb_served_to_the_crawl_is_refused_before_it_is_stored(crawled):
    run, db, ids, encoded, bombs = crawled
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.peak_mib < 600, run.peak_mib
    stats = last_run(db)["stats"]
    assert stats["dw/warc/refused_too_large"] == len(bombs)
    assert stats["dw/failed/article/too_large"] == len(bombs)
    assert archived_ids(db) == set(ids) - set(bombs)
    captured = {entry.uri for path in (db.parent / "dw.db-warc").glob("*.warc.gz")
                for entry in scan(path) if entry.kind == "response"}
    bomb_urls = {url for url in captured if any(f"a-{i}" in url for i in bombs)}
    assert bomb_urls == set()  # nothing of them kept
    assert sum(p.stat().st_size for p in (db.parent / "dw.db-warc").glob("*")) < 1_000_000


def test_every_coding_the_crawl_accepts_is_read_back_by_reextract(crawled, tmp_path):
    run, db, ids, encoded, bombs = crawled
    rebuilt = tmp_path / "rebuilt.db"
    redo = measured([sys.executable, "-m", "crawler.reextract", "--archive", str(rebuilt),
                     str(db.parent / "dw.db-warc")])
    assert redo.returncode == 0 and "Traceback" not in redo.stderr, redo.stderr[-3000:]
    counts = json.loads(redo.stdout.strip().splitlines()[-1])
    assert "skipped/undecodable" not in counts and counts["new"] == len(ids) - len(bombs)
    assert archived_ids(rebuilt) == archived_ids(db)
    same = "SELECT id, title, body, content_hash FROM articles ORDER BY id"
    assert query(rebuilt, same) == query(db, same)
    encodings = {entry.content_encoding for path in (db.parent / "dw.db-warc").glob("*.warc.gz")
                 for entry in scan(path) if entry.kind == "response"}
    assert set(CODINGS) <= encodings  # stored as received, each coding


# -- re-extraction of other WARCs: bombs and records over the limit ---------------------------

def response_record(writer: WARCWriter, url: str, body: bytes, coding: str | None = None):
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    if coding:
        headers.append(("Content-Encoding", coding))
    http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=BytesIO(body), length=len(body),
                                     http_headers=http,
                                     warc_headers_dict={"WARC-Date": "2026-01-10T10:00:00Z"})


def test_bombs_and_oversized_records_in_a_warc_are_counted_and_skipped(tmp_path):
    spec = articles(5)
    pages = {a["id"]: render_article(a).encode() for a in spec}
    warc = tmp_path / "other-tool.warc"
    writer = WARCWriter(None, gzip=False, warc_version="1.1")
    with open(warc, "wb") as out:
        writer.out = out
        records = [
            response_record(writer, url_of(spec[0]), pages[spec[0]["id"]]),
            response_record(writer, url_of(spec[1]), zstd_compress(pages[spec[1]["id"]]), "zstd"),
            response_record(writer, url_of(spec[2]), gzip_bomb(400 << 20), "gzip"),  # 400 MB inflated
            response_record(writer, url_of(spec[3]), brotli.compress(bytes(200 << 20), quality=1), "br"),
            # Stored as is, larger than any response the crawl accepts.
            response_record(writer, url_of(spec[4]), pages[spec[4]["id"]] + b" " * MAX_SIZE),
        ]
        for record in records:
            writer.write_record(record)
    db = tmp_path / "dw.db"
    run = measured([sys.executable, "-m", "crawler.reextract", "--archive", str(db), str(warc)])
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "MemoryError" not in run.stderr
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    assert counts["new"] == 2 and counts["skipped/too_large"] == 3, counts
    assert archived_ids(db) == {spec[0]["id"], spec[1]["id"]}
    # Memory: the 400 MB and 200 MB bombs were never inflated whole, the 16 MB record never held.
    assert run.peak_mib < 300, run.peak_mib


# -- a crawl while re-extraction writes the same archive ---------------------------------------

def _holding_the_run_lock(process: subprocess.Popen, db, timeout: float = 120) -> bool:
    """Wait until `process` holds the archive's run lock (the kernel's lock table says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if holder(db) == process.pid:
            return True
        time.sleep(0.005)
    return False


def test_a_crawl_while_reextract_writes_the_same_archive_is_refused_naming_it(tmp_path):
    """Re-extraction takes the archive's run lock, as a crawl does (crawler/archive/lock.py): a
    crawl started meanwhile is refused at once with one line naming the lock and the process
    holding it, and writes nothing; run after it, the crawl's fetch is every article's newest
    version, the older captures earlier revisions, and no row's dates go back."""
    spec = articles(250)
    site, db = tmp_path / "site", tmp_path / "dw.db"
    write_site({"articles": spec, "others": []}, site)
    # Captures of an older version, from another tool (dated before any crawl here).
    older = tmp_path / "older.warc.gz"
    write_warc(older, [Page(url_of(a), "2026-01-01T00:00:00Z",
                            render_article(dict(a, title="Old: " + a["title"])).encode()) for a in spec])
    log = tmp_path / "access.log"
    with running_mirror(site, log) as origin:
        mirror = Mirror(origin, log)
        assert crawl(mirror, db, "-a", "lang=en").returncode == 0
        for article in spec:
            article["title"] = "Edited: " + article["title"]
        write_site({"articles": spec, "others": []}, site)
        reextract = forkserver.start([sys.executable, "-m", "crawler.reextract", "--archive", str(db),
                                      "--workers", "1", str(older)], cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert _holding_the_run_lock(reextract, db), f"never held the lock ({reextract.poll()=})"
            # Held where it stands: the crawl meets the lock whatever this machine's speed.
            os.kill(reextract.pid, signal.SIGSTOP)
            assert holder(db) == reextract.pid
            runs_before = query(db, "SELECT count(*) FROM crawl_runs")
            mirror.clear()
            refused = crawl(mirror, db, "-a", "lang=en", "-a", "refresh=all")
            assert refused.returncode == 3, refused.stderr[-3000:]
            assert refused.stderr.rstrip().splitlines()[-1] == (
                "dw crawl failed: another crawl is running on this archive"
                f" (lock {os.path.realpath(db)}, pid {reextract.pid})")
            assert query(db, "SELECT count(*) FROM crawl_runs") == runs_before  # nothing written
            assert mirror.article_pages() == []  # refused before any article was fetched
        except BaseException:
            reextract.kill()  # our own child, by its id
            raise
        finally:
            if reextract.poll() is None:
                os.kill(reextract.pid, signal.SIGCONT)
        out, err = reextract.communicate(timeout=300)
        assert reextract.returncode == 0 and "Traceback" not in err, err[-3000:]
        # The older captures became earlier revisions, none the current version.
        assert json.loads(out.strip().splitlines()[-1]).get("earlier", 0) == len(spec)
        assert query(db, "SELECT count(*) FROM articles WHERE title LIKE 'Old: %'") == [(0,)]
        # Now alone on the archive, the crawl runs and stores the edited version.
        again = crawl(mirror, db, "-a", "lang=en", "-a", "refresh=all")
    assert again.returncode == 0, again.stderr[-3000:]
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT count(*) FROM articles WHERE last_seen_at < first_seen_at") == [(0,)]
    assert query(db, "SELECT count(*) FROM articles WHERE title NOT LIKE 'Edited: %'") == [(0,)]
    # The stored version is each article's newest fetch, first_seen_at its earliest.
    wrong = query(db, """
        SELECT a.id FROM articles a LEFT JOIN revisions r ON r.article_id = a.id GROUP BY a.id
        HAVING a.fetched_at < max(coalesce(r.fetched_at, ''))
            OR a.first_seen_at > min(coalesce(r.fetched_at, a.fetched_at), a.fetched_at)""")
    assert wrong == []
    assert query(db, "SELECT min(first_seen_at) FROM articles") == [("2026-01-01T00:00:00Z",)]
