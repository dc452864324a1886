"""Backfill (crawler/backfill) against real servers on loopback: a real pywb (CDX server, raw `id_`
replay) standing for the Wayback Machine and Common Crawl's index, and a plain static server
(Range requests) standing for Common Crawl's WARC store with a CC-NEWS month."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crawler import dw
from crawler.backfill.client import Failed, PoliteClient, Refused, retry_after
from devtools import warcgen
from devtools.archives import pywb_installed, running_pywb, running_store
from tests.conftest import ROOT
from tests.crawling import query

needs_pywb = pytest.mark.skipif(not pywb_installed(), reason="pywb is not installed (make pywb)")
EDITED = 79010001  # captured twice, differently
OLD, NEW = "2023-06-01T08:00:00Z", "2024-01-30T10:00:00Z"


def pages() -> list[warcgen.Page]:
    return warcgen.dw_pages(NEW)


def edited_capture() -> warcgen.Page:
    """The older capture of EDITED: another headline."""
    page = next(p for p in pages() if p.url.endswith(f"a-{EDITED}"))
    body = page.body.replace(b"EU leaders agree on new climate target", b"EU leaders near a climate deal")
    assert body != page.body
    return warcgen.Page(page.url, OLD, body)


def dw_ids(selected: list[warcgen.Page]) -> set[int]:
    return {dw.parse_url(p.url).id for p in selected}


def backfill(archive: Path, *args: str, env: dict | None = None,
             timeout: float = 120) -> tuple[int, dict, str]:
    run = subprocess.run([sys.executable, "-m", "crawler.backfill", *args, "--archive", str(archive),
                          "-s", "BACKFILL_DELAY=0", "-s", "BACKFILL_WAYBACK_CDX_DELAY=0",
                          "-s", f"WARC_DIR={archive.parent / 'warc'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    return run.returncode, json.loads(lines[-1]) if lines else {}, run.stderr


@contextlib.contextmanager
def catch_all():
    """A listener every non-loopback request would reach (set as HTTP(S)_PROXY); yields the list
    of connections it received."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    seen, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                seen.append(conn.recv(200))
                conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1"}, seen
    finally:
        stop.set()
        thread.join()
        sock.close()


# -- Wayback and Common Crawl's index: pywb ----------------------------------------------------------

@pytest.fixture(scope="module")
def pywb(tmp_path_factory):
    if not pywb_installed():
        pytest.skip("pywb is not installed (make pywb)")
    work = tmp_path_factory.mktemp("pywb")
    others = list(warcgen.other_host_pages(6, NEW, size=2000))
    everything = pages() + others
    warcgen.write_warc(work / "new.warc.gz", everything)
    warcgen.write_warc(work / "old.warc.gz", [edited_capture()])
    # Two "crawls" for Common Crawl: the old capture in one, the rest in the other.
    with running_pywb({"dw": [work / "new.warc.gz", work / "old.warc.gz"],
                       "CC-MAIN-2023-23": [work / "old.warc.gz"],
                       "CC-MAIN-2024-05": [work / "new.warc.gz"]}, root=work / "pywb") as origin:
        with running_store(work, work / "store.log") as store:
            yield work, origin, store


def wayback_settings(origin: str) -> list[str]:
    return ["-s", f"BACKFILL_WAYBACK_CDX={origin}/dw/cdx", "-s", f"BACKFILL_WAYBACK_REPLAY={origin}/dw"]


@needs_pywb
def test_wayback_archives_every_dw_article_once_with_its_two_captures_as_a_revision(pywb, tmp_path):
    _, origin, _ = pywb
    db = tmp_path / "dw.db"
    with catch_all() as (env, connections):
        code, counts, err = backfill(db, "wayback", "--lang", "all", "--since", "2010-01-01",
                                     "--until", "2026-06-30", *wayback_settings(origin), env=env)
    assert code == 0, err[-2000:]
    assert connections == []  # nothing but the configured pywb was asked
    ids = {i for (i,) in query(db, "SELECT id FROM articles")}
    assert ids == dw_ids(pages())
    assert len({lang for (lang,) in query(db, "SELECT language FROM articles")}) >= 5
    assert query(db, "SELECT count(*) FROM articles WHERE url NOT LIKE 'https://www.dw.com/%'") == [(0,)]
    # the older capture is an earlier revision, the newer one the article, each with its date
    assert query(db, "SELECT title, fetched_at FROM articles WHERE id = ?", EDITED) == [
        ("EU leaders agree on new climate target for 2040", NEW)]
    assert query(db, "SELECT article_id, title, cause, fetched_at FROM revisions") == [
        (EDITED, "EU leaders near a climate deal for 2040", "wayback", OLD)]
    assert counts["new"] == len(ids) and counts["found"] == len(ids) + 1
    # each archived article points at its capture in the project's own WARC files
    for warc_file, offset in query(db, "SELECT warc_file, warc_offset FROM articles"):
        from crawler.warc.read import read_payload

        body, _ = read_payload(warc_file, offset)
        assert b"<html" in body.lower() and Path(warc_file).name.startswith("backfill-wayback")
    code, again, err = backfill(db, "wayback", "--lang", "all", "--since", "2010-01-01",
                                "--until", "2026-06-30", *wayback_settings(origin))
    assert code == 0 and again.get("requests", 0) == 0 and again.get("fetched", 0) == 0, again


@needs_pywb
def test_wayback_filters_by_language_and_date(pywb, tmp_path):
    _, origin, _ = pywb
    db = tmp_path / "dw.db"
    code, counts, err = backfill(db, "wayback", "--lang", "en", "--month", "2023-06",
                                 *wayback_settings(origin))
    assert code == 0, err[-2000:]
    assert query(db, "SELECT id, title FROM articles") == [
        (EDITED, "EU leaders near a climate deal for 2040")]


@needs_pywb
def test_commoncrawl_reads_each_named_crawl_and_fetches_records_by_range(pywb, tmp_path):
    work, origin, store = pywb
    db = tmp_path / "dw.db"
    code, counts, err = backfill(
        db, "commoncrawl", "--crawl", "CC-MAIN-2024-05,CC-MAIN-2023-23", "--lang", "en,de",
        "-s", f"BACKFILL_COMMONCRAWL_CDX={origin}/{{crawl}}/cdx", "-s", f"BACKFILL_COMMONCRAWL_DATA={store}")
    assert code == 0, err[-2000:]
    english_german = {dw.parse_url(p.url).id for p in pages()
                      if dw.parse_url(p.url).language in ("en", "de")}
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == english_german
    assert query(db, "SELECT article_id, cause FROM revisions") == [(EDITED, "commoncrawl")]
    ranges = [line.split()[3] for line in (work / "store.log").read_text().splitlines()]
    assert all(r.startswith("bytes=") for r in ranges) and len(ranges) == counts["fetched"]
    assert counts["fetched"] == len(english_german) + 1


# -- CC-NEWS: a plain static server ---------------------------------------------------------------

@pytest.fixture(scope="module")
def news(tmp_path_factory):
    """A CC-NEWS month: two WARCs mixing DW pages with other hosts' (some with dw in their
    names), one article captured in both, differently; listed in warc.paths.gz."""
    root = tmp_path_factory.mktemp("news")
    month = root / "crawl-data" / "CC-NEWS" / "2024" / "01"
    month.mkdir(parents=True)
    dw_pages = [warcgen.Page(p.url, NEW, p.body) for p in pages()]  # all crawled in that month
    others = list(warcgen.other_host_pages(120, NEW, size=20_000))
    earlier = warcgen.Page(edited_capture().url, "2024-01-15T08:00:00Z", edited_capture().body)
    first = [earlier] + [p for i, p in enumerate(dw_pages) if i % 2] + others[:60]
    second = [p for i, p in enumerate(dw_pages) if not i % 2] + others[60:]
    first.sort(key=lambda p: hash(p.url))  # DW records among the others
    names = ["CC-NEWS-20240115000000-00001.warc.gz", "CC-NEWS-20240130000000-00002.warc.gz"]
    warcgen.write_warc(month / names[0], first)
    warcgen.write_warc(month / names[1], second)
    paths = "".join(f"crawl-data/CC-NEWS/2024/01/{n}\n" for n in names)
    (month / "warc.paths.gz").write_bytes(gzip.compress(paths.encode()))
    return root, [month / n for n in names]


def news_run(db: Path, store: str, *extra: str, env=None):
    return backfill(db, "cc-news", "--month", "2024-01", "--lang", "all",
                    "-s", f"BACKFILL_COMMONCRAWL_DATA={store}", *extra, env=env)


def test_cc_news_keeps_every_dw_article_once_and_nothing_else(news, tmp_path):
    root, files = news
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log") as store, catch_all() as (env, connections):
        code, counts, err = news_run(db, store, env=env)
        assert code == 0, err[-2000:]
        assert connections == []
        assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(pages())
        assert query(db, "SELECT count(*) FROM articles WHERE url NOT LIKE 'https://www.dw.com/%'") == [(0,)]
        assert query(db, "SELECT article_id, title, cause FROM revisions") == [
            (EDITED, "EU leaders near a climate deal for 2040", "cc-news")]
        assert counts["records"] == len(pages()) + 1 + 120 and counts["fetched"] == len(pages()) + 1
        # the kept WARC holds the DW records only
        kept = list((tmp_path / "warc").glob("backfill-cc-news-*.warc.gz"))
        from crawler.warc.read import scan

        uris = [e.uri for f in kept for e in scan(f) if e.kind == "response"]
        assert len(uris) == len(pages()) + 1 and all(u.startswith(dw.WWW) for u in uris)
        requests_before = len((tmp_path / "access.log").read_text().splitlines())
        code, again, _ = news_run(db, store)
        assert code == 0 and again.get("requests", 0) == 0
        assert len((tmp_path / "access.log").read_text().splitlines()) == requests_before


def test_a_429_with_retry_after_is_waited_out(news, tmp_path):
    root, _ = news
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"/crawl-data/CC-NEWS/2024/01/warc.paths.gz": "status=429 retry-after=1"}))
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log", faults) as store:
        code, counts, err = news_run(db, store)
    assert code == 0, err[-2000:]
    assert counts["retry/retry_after_honoured"] == 1
    listing = [line.split() for line in (tmp_path / "access.log").read_text().splitlines()
               if "warc.paths.gz" in line]
    assert [row[2] for row in listing] == ["429", "200"]
    assert float(listing[1][4]) - float(listing[0][4]) >= 1.0
    assert len(query(db, "SELECT id FROM articles")) == len(dw_ids(pages()))


def test_a_run_killed_mid_file_resumes_from_where_it_was(news, tmp_path):
    root, files = news
    faults = tmp_path / "faults.json"
    path = "/" + files[0].relative_to(root).as_posix()
    faults.write_text(json.dumps({path: f"stall-after={files[0].stat().st_size // 2}"}))
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log", faults) as store:
        command = [sys.executable, "-m", "crawler.backfill", "cc-news", "--month", "2024-01", "--lang", "all",
                   "--archive", str(db), "-s", "BACKFILL_DELAY=0", "-s", "BACKFILL_BATCH_SIZE=1",
                   "-s", f"BACKFILL_COMMONCRAWL_DATA={store}", "-s", f"WARC_DIR={tmp_path / 'warc'}"]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, position = time.monotonic() + 60, 0
        while not position and time.monotonic() < deadline:
            time.sleep(0.1)
            with contextlib.suppress(sqlite3.Error):
                rows = query(db, "SELECT position FROM backfill_progress WHERE unit = ?", store + path)
                position = rows[0][0] if rows else 0
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert position > 0, "the run never recorded a position inside the stalled file"
        halfway = {i for (i,) in query(db, "SELECT id FROM articles")}
        code, counts, err = news_run(db, store)
    assert code == 0, err[-2000:]
    assert 0 < len(halfway) < len(dw_ids(pages()))
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(pages())
    resumed = [line.split() for line in (tmp_path / "access.log").read_text().splitlines()
               if line.split()[1] == path]
    assert resumed[-1][2] == "206" and resumed[-1][3].startswith("bytes=")
    assert int(resumed[-1][3].removeprefix("bytes=").rstrip("-")) >= position
    assert query(db, "SELECT article_id FROM revisions") == [(EDITED,)]


# -- the parts -------------------------------------------------------------------------------------

def test_retry_after_reads_seconds_and_http_dates():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("7", now) == 7.0
    assert retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_the_client_never_requests_off_its_origins():
    from collections import Counter

    counts = Counter()
    client = PoliteClient({"http://127.0.0.1:9/cdx": 0.0}, counts, user_agent="t", retries=0)
    for url in ("https://www.dw.com/en/x/a-1", "http://127.0.0.2:9/cdx", "file:///etc/passwd"):
        with pytest.raises(Refused):
            client.get(url)
    assert counts == Counter({"blocked/off_origin": 3})
    with pytest.raises(Failed):  # on its origin, nothing listening: tried, then a counted failure
        client.get("http://127.0.0.1:9/cdx?url=x")
    assert counts["failed/network"] == 1


def test_bad_arguments_are_refused_before_anything_is_opened(tmp_path):
    db = tmp_path / "dw.db"
    for args in (["wayback", "--lang", "xx"], ["cc-news", "--lang", "en"], ["commoncrawl"],
                 ["wayback", "--since", "2024-02-01", "--until", "2024-01-01"], ["gopher"]):
        code, _, err = backfill(db, *args)
        assert code == 2 and "bad argument" in err
    assert not db.exists()


# -- replay: pywb over the archive's own WARCs, linked from the reading view ------------------------

@needs_pywb
def test_the_reading_view_links_as_captured_to_pywb_replaying_the_project_warcs(pywb, tmp_path):
    import re
    import urllib.request
    from html import unescape

    from tests.datasette_archive import get

    _, origin, _ = pywb
    db = tmp_path / "dw.db"
    code, _, err = backfill(db, "wayback", "--lang", "en", "--since", "2024-01-01", "--until", "2024-12-31",
                            *wayback_settings(origin))
    assert code == 0, err[-2000:]
    page = get(db, f"/dw/articles/{EDITED}").text
    link = unescape(re.search(r'class="dw-as-captured" href="([^"]+)">as captured ([^<]+)<', page)[1])
    assert re.search(r"as captured 2024-01-30 10:00 UTC<", page)
    path = link.split("://", 1)[1].split("/", 1)[1]  # /dw/{14 digits}/{url}
    assert path.startswith("dw/20240130100000/https://www.dw.com/en/")
    own = sorted((tmp_path / "warc").glob("*.warc.gz"))
    assert own
    with running_pywb({"dw": own}, root=tmp_path / "replay") as replay:
        raw = urllib.request.urlopen(f"{replay}/{path.replace('/https:', 'id_/https:', 1)}", timeout=30)
        assert raw.headers["Memento-Datetime"] == "Tue, 30 Jan 2024 10:00:00 GMT"
        assert b"EU leaders agree on new climate target for 2040" in raw.read()
        framed = urllib.request.urlopen(f"{replay}/{path}", timeout=30).read()  # pywb's frame
        assert b'"20240130100000"' in framed
        shown = urllib.request.urlopen(f"{replay}/{path.replace('/https:', 'mp_/https:', 1)}", timeout=30)
        assert b"EU leaders agree on new climate target for 2040" in shown.read()
