"""Backfill (crawler/backfill) against real servers on loopback: a real pywb (CDX server, raw `id_`
replay) standing for the Wayback Machine and Common Crawl's index, and a plain static server
(Range requests) standing for Common Crawl's WARC store with a CC-NEWS month."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from crawler import dw
from crawler.backfill.client import Failed, PoliteClient, Refused, retry_after
from devtools import warcgen
from devtools.archives import free_port, pywb_installed, running_pywb, running_store
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import last_run, query
from tests.fake_archive import Answer, FakeArchive, cdx, cdx_lines, serve_file

needs_pywb = pytest.mark.skipif(not pywb_installed(), reason="pywb is not installed (make pywb)")
EDITED = 79010001  # captured twice, differently
OLD, NEW = "2023-06-01T08:00:00Z", "2024-01-30T10:00:00Z"


def pages() -> list[warcgen.Page]:
    return warcgen.dw_pages(NEW)


def site_pages() -> list[warcgen.Page]:
    """The sample site's pages (the saved real pages left out: their dates are their own)."""
    return [p for p in pages() if "/saved/" not in p.url]


def edited_capture() -> warcgen.Page:
    """The older capture of EDITED: another headline."""
    page = next(p for p in pages() if p.url.endswith(f"a-{EDITED}"))
    body = page.body.replace(b"EU leaders agree on new climate target", b"EU leaders near a climate deal")
    assert body != page.body
    return warcgen.Page(page.url, OLD, body)


def dw_ids(selected: list[warcgen.Page]) -> set[int]:
    return {dw.parse_url(p.url).id for p in selected}


def backfill(archive: Path, *args: str, env: dict | None = None,
             timeout: float = 120, warc: Path | None = None) -> tuple[int, dict, str]:
    # forked from the suite's pre-imported parent: a process of its own (tests/forkserver.py)
    run = forkserver.run([sys.executable, "-m", "crawler.backfill", *args, "--archive", str(archive),
                          "-s", "BACKFILL_DELAY=0", "-s", "BACKFILL_WAYBACK_CDX_DELAY=0",
                          "-s", f"WARC_DIR={warc or archive.parent / 'warc'}"],
                         cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})
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

SAMPLE = ROOT / "data" / "sample-site"


def sample(rel: str, at: str, url: str | None = None, **replace: str) -> warcgen.Page:
    """A sample-site page (`en/slug/a-ID`) captured at `at` (at `url`, default its own), with
    `replace`d text (old=new pairs, as `variant`)."""
    body = (SAMPLE / f"{rel}.html").read_bytes()
    for old, new in replace.items():
        body = body.replace(old.encode(), new.encode())
    return warcgen.Page(url or f"{dw.WWW}/{rel}", at, body)


def title_of(page: warcgen.Page) -> str:
    from crawler.extract import extract

    return extract(page.body, url=dw.canonical_url(page.url)).title


A_PAGE = "en/germany-unemployment-rises-in-november/a-79010002"


@pytest.fixture(scope="module")
def pywb(tmp_path_factory):
    if not pywb_installed():
        pytest.skip("pywb is not installed (make pywb)")
    work = tmp_path_factory.mktemp("pywb")
    others = list(warcgen.other_host_pages(6, NEW, size=2000))
    everything = pages() + others
    warcgen.write_warc(work / "new.warc.gz", everything)
    warcgen.write_warc(work / "old.warc.gz", [edited_capture()])
    # One article captured A, B, A (an edit undone), each in a WARC of its own.
    edited = {"November": "the autumn"}
    for name, at, change in (("a1", "2020-04-01T00:00:00Z", {}), ("b", "2020-05-01T00:00:00Z", edited),
                             ("a2", "2020-06-01T00:00:00Z", {})):
        warcgen.write_warc(work / f"hist-{name}.warc.gz", [sample(A_PAGE, at, **change)])
    # An article a crawl archived later, captured the same and then edited by the Wayback Machine.
    warcgen.write_warc(work / "f8.warc.gz", [
        sample("en/flood-warnings-issued-across-northern-italy/a-79010003", "2025-01-01T00:00:00Z"),
        sample("en/flood-warnings-issued-across-northern-italy/a-79010003", "2025-06-01T00:00:00Z",
               **{"Flood warnings": "Storm warnings"})])
    # An article captured under an older slug.
    warcgen.write_warc(work / "slug.warc.gz", [sample(
        "en/bundestag-debates-pension-reform/a-79010005", "2023-12-01T09:30:00Z",
        url=f"{dw.WWW}/en/old-slug-of-pension-debate/a-79010005")])
    # Two "crawls" for Common Crawl: the old capture in one, the rest in the other.
    with running_pywb({"dw": [work / "new.warc.gz", work / "old.warc.gz"],
                       "CC-MAIN-2023-23": [work / "old.warc.gz"],
                       "CC-MAIN-2024-05": [work / "new.warc.gz"],
                       "hist": [work / f"hist-{n}.warc.gz" for n in ("a1", "b", "a2")],
                       "f8": [work / "f8.warc.gz"], "slug": [work / "slug.warc.gz"]},
                      root=work / "pywb") as origin:
        with running_store(work, work / "store.log") as store:
            yield work, origin, store


def wayback_settings(origin: str, collection: str = "dw") -> list[str]:
    return ["-s", f"BACKFILL_WAYBACK_CDX={origin}/{collection}/cdx",
            "-s", f"BACKFILL_WAYBACK_REPLAY={origin}/{collection}"]


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


# -- the history, whatever order the captures come in (tester-backfill.md 6, 8) -----------------

@needs_pywb
def test_an_identical_capture_at_another_time_is_a_sighting_that_restores_an_undone_edit(pywb, tmp_path):
    _, origin, _ = pywb
    db = tmp_path / "dw.db"
    a, b = title_of(sample(A_PAGE, NEW)), title_of(sample(A_PAGE, NEW, November="the autumn"))
    for until in ("2020-05-15", "2021-05-15", "2026-06-30"):  # A, B; then A again; then nothing new
        code, counts, err = backfill(db, "wayback", "--until", until, *wayback_settings(origin, "hist"))
        assert code == 0, err[-2000:]
    assert query(db, "SELECT title, first_seen_at, last_seen_at FROM articles") == [
        (a, "2020-04-01T00:00:00Z", "2020-06-01T00:00:00Z")]
    assert query(db, "SELECT title, seen_at, fetched_at FROM revisions ORDER BY seen_at") == [
        (a, "2020-05-01T00:00:00Z", "2020-04-01T00:00:00Z"),
        (b, "2020-06-01T00:00:00Z", "2020-05-01T00:00:00Z")]


@needs_pywb
def test_older_captures_backfilled_after_a_newer_crawl_keep_their_own_time_and_record(pywb, tmp_path):
    from crawler.archive import Archive
    from crawler.warc.reextract import article_from_page

    _, origin, _ = pywb
    db = tmp_path / "dw.db"
    rel = "en/flood-warnings-issued-across-northern-italy/a-79010003"
    crawled = article_from_page(sample(rel, NEW).body, f"{dw.WWW}/{rel}", "utf-8")
    crawled.update(fetched_at="2026-12-01T06:00:00Z", warc_file="/elsewhere/dw-crawl.warc.gz", warc_offset=7)
    archive = Archive(db)
    archive.write_batch([crawled], cause="crawl")  # as the crawl wrote it
    archive.close()
    code, counts, err = backfill(db, "wayback", "--since", "2025-01-01", "--until", "2025-06-30",
                                 *wayback_settings(origin, "f8"))
    assert code == 0, err[-2000:]
    revisions = query(db, "SELECT title, seen_at, fetched_at, warc_file, cause FROM revisions"
                          " ORDER BY seen_at")
    assert [r[:3] for r in revisions] == [
        (crawled["title"], "2025-06-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        ("Storm warnings issued across northern Italy", "2026-12-01T06:00:00Z", "2025-06-01T00:00:00Z")]
    assert all(Path(w).name.startswith("backfill-wayback-") for _, _, _, w, _ in revisions)
    assert query(db, "SELECT title, fetched_at, warc_file, warc_offset, first_seen_at FROM articles") == [
        (crawled["title"], "2026-12-01T06:00:00Z", "/elsewhere/dw-crawl.warc.gz", 7, "2025-01-01T00:00:00Z")]


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


def news_month(root: Path, month: str, files: dict[str, list[warcgen.Page] | bytes]) -> list[Path]:
    """A CC-NEWS month (`2024-03`) under `root`: its WARC files (pages, or bytes as they are) and
    its `warc.paths.gz`."""
    folder = root / "crawl-data" / "CC-NEWS" / month.replace("-", "/")
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            warcgen.write_warc(folder / name, content)
    listing = "".join(f"crawl-data/CC-NEWS/{month.replace('-', '/')}/{n}\n" for n in files)
    (folder / "warc.paths.gz").write_bytes(gzip.compress(listing.encode()))
    return [folder / n for n in files]


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
        code, counts, err = news_run(db, store, "-s", "BACKFILL_PROGRESS_INTERVAL=0.2")
    assert code == 0, err[-2000:]
    assert counts["retry/retry_after_honoured"] == 1
    # a progress line on a clock, also while it waits
    assert len(re.findall(r"backfill cc-news: 0 listings read, 0 captures found", err)) >= 2
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
        process = forkserver.start(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    kept = kept_uris(tmp_path / "warc", "cc-news", dated=True)  # killed mid-run: nothing kept twice
    assert len(kept) == len(set(kept)) == len(pages()) + 1


def gzip_member_at(path: Path, offset: int) -> bytes:
    """The whole gzip member (one WARC record) that begins at `offset` in `path`."""
    data = path.read_bytes()[offset:]
    inflater = zlib.decompressobj(31)
    inflater.decompress(data)
    assert inflater.eof
    return data[:len(data) - len(inflater.unused_data)]


def test_records_a_killed_run_left_past_the_committed_end_are_dropped_and_nothing_else(news, tmp_path):
    """What a SIGKILL between appending a batch to the WARC and committing it leaves, made
    without a kill: records past the end the archive committed, in the run's file and in a file
    registered but never committed. The next run drops them; the crawl's files and backfill
    files the archive does not register are left byte for byte."""
    from crawler.warc.capture import WarcFiles
    from crawler.warc.read import scan

    root, _ = news
    db, warcs = tmp_path / "dw.db", tmp_path / "warc"
    tables = ("articles", "revisions", "sightings", "backfill_captures", "backfill_progress")

    def archived() -> dict:
        return {t: query(db, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}

    with running_store(root, tmp_path / "access.log") as store:
        code, _, err = news_run(db, store)
        assert code == 0, err[-2000:]
        [kept] = warcs.glob("backfill-cc-news-*.warc.gz")
        committed, before = kept.read_bytes(), archived()
        (offset,) = query(db, "SELECT warc_offset FROM articles WHERE id = ?", EDITED)[0]
        copy = gzip_member_at(kept, offset)
        with kept.open("ab") as handle:  # the killed run's own file, past its committed end
            handle.write(copy)

        def register(path: Path) -> None:  # as a run registers its file before creating it
            with contextlib.closing(sqlite3.connect(db)) as conn, conn:
                conn.execute("INSERT INTO backfill_warcs (file, committed_end) VALUES (?, 0)", [path.name])

        never_committed = WarcFiles(warcs, 1 << 30, {"software": "test"}, prefix="backfill-cc-news",
                                    before_open=register)
        never_committed.serial = 7  # another name than the run's file
        never_committed.append([copy])
        never_committed.close()
        assert never_committed.path.exists()
        # files the archive does not register, each with the extra record: left as they are
        foreign = {warcs / "backfill-cc-news-20200101000000-1-00001.warc.gz": committed + copy,  # older
                   warcs / "dw-20240130000000-1-00001.warc.gz": committed + copy}  # the crawl's own
        for path, content in foreign.items():
            path.write_bytes(content)

        code, counts, err = news_run(db, store)
        assert code == 0, err[-2000:]
        assert counts.get("requests", 0) == 0  # nothing fetched again: all of it was committed
        entries = list(scan(kept))
        uris = [(e.uri, e.date) for e in entries if e.kind == "response"]
        assert len(uris) == len(set(uris)) == len(pages()) + 1  # each capture kept once
        assert kept.read_bytes() == committed
        assert not never_committed.path.exists()
        assert all(path.read_bytes() == content for path, content in foreign.items())
        assert archived() == before
        assert counts["dropped_uncommitted_records"] == 2
        assert f"{kept.name}: dropped 1 records" in err
        # every record the archive points at is still there, whole
        responses = {e.offset for e in entries if e.kind == "response"}
        pointed = query(db, "SELECT warc_file, warc_offset FROM articles UNION SELECT warc_file, warc_offset"
                            " FROM revisions")
        assert pointed and all(Path(f).name == kept.name and o in responses for f, o in pointed)

        code, counts, err = news_run(db, store)  # nothing left to drop
        assert code == 0 and "dropped_uncommitted_records" not in counts, err[-2000:]
        # records past the committed end that the archive points at since (as re-extraction
        # leaves them when it runs before the next backfill) are kept
        with kept.open("ab") as handle:
            handle.write(copy)
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE sightings SET warc_offset = ? WHERE id = (SELECT min(id) FROM sightings)",
                         [len(committed)])
        code, counts, err = news_run(db, store)
        assert code == 0 and "dropped_uncommitted_records" not in counts, err[-2000:]
        assert counts["warc/uncommitted_kept"] == 1 and kept.read_bytes() == committed + copy


def kept_uris(warc_dir: Path, source: str, dated: bool = False) -> list:
    """The target URIs (with `dated`, and WARC-Dates) of the records in the project's own
    backfill WARCs of `source`; every record read whole (no damage)."""
    from crawler.warc.read import scan

    entries = [e for f in sorted(warc_dir.glob(f"backfill-{source}-*.warc.gz")) for e in scan(f)]
    assert not [e for e in entries if e.kind in ("damaged", "truncated")]
    return [(e.uri, e.date) if dated else e.uri for e in entries if e.kind == "response"]


def test_cc_news_applies_the_languages_range_and_articles_only_and_keeps_only_what_it_archives(news,
                                                                                                 tmp_path):
    root, _ = news
    de = {n: f"de/{slug}/a-{n}" for n, slug in (
        (79020001, "bundesregierung-einigt-sich-auf-haushalt"), (79020002, "lokfuehrer-streiken-erneut"),
        (79020003, "forscher-entdecken-neue-tiefseeart"), (79020004, "katholikentag-in-wuerzburg"),
        (79020005, "schneechaos-in-bayern"), (79020006, "bundesliga-bayern-gewinnt-topspiel"),
        (79020007, "mietpreise-steigen-weiter"))}
    day = "2024-03-{:02d}T10:00:00Z".format
    upper = "HTTPS://WWW.DW.COM/" + de[79020003]
    captures = [
        sample(de[79020001], day(5)), sample(de[79020002], day(20)),  # in the range; after it
        sample(de[79020003], day(6), url=upper),  # an upper-case scheme and host
        sample(de[79020004], day(2)), sample(de[79020004], day(8)),  # the same page twice, one batch
        sample("en/germany-unemployment-rises-in-november/a-79010002", day(4)),  # another language
        sample("es/elecciones-en-chile/a-79050001", day(4)),
        sample(de[79020005], day(4), url=f"{dw.WWW}/de/schneechaos/video-79020005"),  # not articles,
        sample(de[79020006], day(4), url=f"{dw.WWW}/de/themen/s-9077"),  # whatever their pages say
        sample(de[79020007], day(4), url=f"{dw.WWW}/de/"),
        sample(de[79020007], "2024-02-28T23:00:00Z"),  # out of the month, in its file
        warcgen.Page(f"{dw.WWW}/{de[79020006]}", day(4), b"", revisit=True),
        warcgen.Page(f"{dw.WWW}/{de[79020005]}", day(4), b"gone", status=404),
    ] + list(warcgen.other_host_pages(20, day(4), size=3000))
    news_month(root, "2024-03", {"CC-NEWS-20240301000000-00001.warc.gz": captures})
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log") as store:  # one endpoint: progress is per endpoint
        def run(*args):
            code, counts, err = backfill(db, "cc-news", *args, "-s", f"BACKFILL_COMMONCRAWL_DATA={store}")
            assert code == 0, err[-2000:]
            return counts

        counts = run("--lang", "de", "--since", "2024-03-01", "--until", "2024-03-10")
        assert {i for (i,) in query(db, "SELECT id FROM articles")} == {79020001, 79020003, 79020004}
        assert query(db, "SELECT first_seen_at, last_seen_at FROM articles WHERE id = 79020004") == [
            (day(2), day(8))]
        assert (counts["found"], counts["fetched"]) == (6, 4)  # a revisit and a 404 are no pages to keep
        assert (counts["skipped/revisit"], counts["skipped/http_404"]) == (1, 1)
        assert counts["skipped/other_language"] == 2 and counts["skipped/out_of_range"] == 2
        assert counts["skipped/type/video"] == counts["skipped/type/section"] == 1
        kept = kept_uris(tmp_path / "warc", "cc-news")  # what was archived, and nothing else
        assert sorted(kept) == sorted([f"{dw.WWW}/{de[79020001]}", upper] + [f"{dw.WWW}/{de[79020004]}"] * 2)
        # the month read again for a wider range: the capture after the first range is archived now
        run("--lang", "de", "--month", "2024-03")
        assert 79020002 in {i for (i,) in query(db, "SELECT id FROM articles")}
        # and for another language: its article, though the file was read for German before
        run("--lang", "en", "--month", "2024-03")
        assert 79010002 in {i for (i,) in query(db, "SELECT id FROM articles")}
        assert len(kept_uris(tmp_path / "warc", "cc-news")) == 6  # nothing kept twice
        assert run("--lang", "de,en", "--month", "2024-03").get("requests", 0) == 0  # covered by both


def test_a_cc_news_file_cut_off_or_damaged_is_a_counted_failure_read_again_by_the_next_run(news, tmp_path):
    root, _ = news
    april = [warcgen.Page(p.url, "2024-04-10T10:00:00Z", p.body) for p in site_pages()]
    truncated = news_month(root, "2024-04", {"CC-NEWS-20240401000000-00001.warc.gz": april})[0]
    whole = truncated.read_bytes()
    truncated.write_bytes(whole[: len(whole) * 2 // 3])
    news_month(root, "2024-05", {"CC-NEWS-20240501000000-00001.warc.gz":
                                 whole[:5000] + b"\x00garbage" * 50 + whole[5000:]})
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log") as store:
        settings = ("--lang", "all", "-s", f"BACKFILL_COMMONCRAWL_DATA={store}")
        code, counts, err = backfill(db, "cc-news", "--month", "2024-04", *settings)
        assert code == 3 and counts["files/failed"] == 1 and not counts.get("listings/failed"), counts
        assert counts["outcome"] == "1 WARC files could not be read to their end"
        assert "truncated" in err
        some = {i for (i,) in query(db, "SELECT id FROM articles")}
        truncated.write_bytes(whole)  # the whole file, as it is on the server the next time
        code, counts, err = backfill(db, "cc-news", "--month", "2024-04", *settings)
        assert code == 0, err[-2000:]
        assert some and some < {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(site_pages())
        code, counts, err = backfill(db, "cc-news", "--month", "2024-05", *settings)
    assert code == 3 and counts["files/failed"] == 1 and not counts.get("listings/failed"), counts
    assert "WARC files could not be read" in counts["outcome"]


def test_a_cc_news_download_cut_or_stalled_is_resumed_from_its_position(news, tmp_path):
    root, files = news
    path = "/" + files[0].relative_to(root).as_posix()
    half = files[0].stat().st_size // 2
    faults = tmp_path / "faults.json"
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log", faults) as store:
        faults.write_text(json.dumps({path: f"cut-after={half}"}))
        code, counts, err = news_run(db, store, "-s", "BACKFILL_BATCH_SIZE=1", "-s", "BACKFILL_BACKOFF=0")
        assert code == 0, err[-2000:]
        assert counts["retry/stream_broken"] == 1 and counts["files/done"] == 2
        assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(pages())
        log = [line.split() for line in (tmp_path / "access.log").read_text().splitlines()
               if line.split()[1] == path]
        assert [row[2] for row in log] == ["200", "206"] and int(log[1][3][6:-1]) > 0  # resumed, not redone
        # stalled and given up (no retries): the position is kept; the next run resumes there
        # from a server that ignores Range (it reads up to the position and drops it)
        db2 = tmp_path / "two.db"
        faults.write_text(json.dumps({path: f"stall-after={half}"}))
        code, counts, err = news_run(db2, store, "-s", "BACKFILL_BATCH_SIZE=1", "-s", "BACKFILL_TIMEOUT=2",
                                     "-s", "BACKFILL_RETRIES=0")
        assert code == 3 and counts["files/failed"] == 1, counts
        (position,) = query(db2, "SELECT position FROM backfill_progress WHERE unit = ?", store + path)[0]
        assert position > 0
        faults.write_text(json.dumps({path: "ignore-range times=99"}))
        code, counts, err = news_run(db2, store)
    assert code == 0, err[-2000:]
    assert counts["range_ignored"] == 1
    assert {i for (i,) in query(db2, "SELECT id FROM articles")} == dw_ids(pages())
    assert query(db2, "SELECT article_id FROM revisions") == [(EDITED,)]


def test_progress_is_logged_and_the_position_saved_on_a_clock_and_sigterm_stops_like_ctrl_c(news, tmp_path):
    root, _ = news
    late = [warcgen.Page(p.url, "2024-06-20T10:00:00Z", p.body) for p in site_pages()[:4]]
    others = list(warcgen.other_host_pages(300, "2024-06-20T10:00:00Z", size=8000))
    files = news_month(root, "2024-06", {"CC-NEWS-20240601000000-00001.warc.gz": others + late})  # DW last
    path = "/" + files[0].relative_to(root).as_posix()
    size = files[0].stat().st_size
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({path: f"rate={size // 8}"}))  # eight seconds for the file
    db = tmp_path / "dw.db"
    with running_store(root, tmp_path / "access.log", faults) as store:
        command = [sys.executable, "-m", "crawler.backfill", "cc-news", "--month", "2024-06", "--lang", "all",
                   "--archive", str(db), "-s", "BACKFILL_DELAY=0", "-s", "BACKFILL_PROGRESS_INTERVAL=0.3",
                   "-s", f"BACKFILL_COMMONCRAWL_DATA={store}", "-s", f"WARC_DIR={tmp_path / 'warc'}"]
        process = forkserver.start(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        deadline, position = time.monotonic() + 60, 0
        while not position and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            with contextlib.suppress(sqlite3.Error):
                rows = query(db, "SELECT position FROM backfill_progress WHERE unit = ?", store + path)
                position = rows[0][0] if rows else 0
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert position > 0, "no position saved before the first DW record"
        assert process.returncode == 130, err[-2000:]
        assert "Traceback" not in err
        assert json.loads(out.strip().splitlines()[-1])["outcome"].startswith("stopped")
        assert last_run(db)["outcome"].startswith("stopped")
        assert re.search(r"backfill cc-news: .* 0 fetched .*reading CC-NEWS-20240601000000-00001\.warc\.gz",
                         err)
        faults.write_text("{}")
        code, counts, err = backfill(db, "cc-news", "--month", "2024-06", "--lang", "all",
                                     "-s", f"BACKFILL_COMMONCRAWL_DATA={store}")
    assert code == 0, err[-2000:]
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(late)
    resumed = [line.split() for line in (tmp_path / "access.log").read_text().splitlines()
               if line.split()[1] == path][-1]
    assert resumed[2] == "206" and int(resumed[3][6:-1]) >= position


# -- an archive on a bad day: a fake one answering as each test tells it ----------------------------

@pytest.fixture(scope="module")
def fake():
    with FakeArchive() as archive:
        yield archive


def wayback_fake(fake: FakeArchive, captures: list[warcgen.Page], *, down=lambda: False,
                 listing=None) -> dict:
    """Wayback's CDX (`/cdx`, rows for `url=www.dw.com/en/`; `listing(request)` instead, when
    given) and raw replay (`/web/{ts}id_/{url}`, a 503 while `down()`) on the fake; its settings."""
    by_key = {(p.date, p.url): p for p in captures}

    def stamp(page):
        return "".join(c for c in page.date if c.isdigit())

    rows = [{"urlkey": "k", "timestamp": stamp(p), "original": p.url, "mimetype": "text/html",
             "statuscode": "200", "digest": str(i), "length": "1"} for i, p in enumerate(captures)]

    def cdx_answer(request):
        if listing:
            return listing(request, rows)
        if "showNumPages" in request.query:
            return Answer(400, b"no paging here")
        return cdx(rows if request.query.get("url") == "www.dw.com/en/" else [])

    def replay(request):
        if down():
            return Answer(503, b"down")
        ts, _, url = request.path.removeprefix("/web/").partition("id_/")
        page = next((p for (d, u), p in by_key.items() if u == url and stamp(p) == ts), None)
        return Answer(200, page.body, {"Content-Type": page.content_type}) if page else Answer(404)

    fake.routes["/cdx"] = cdx_answer
    fake.prefixes["/web/"] = replay
    fake.log.clear()
    return ["-s", f"BACKFILL_WAYBACK_CDX={fake.origin}/cdx",
            "-s", f"BACKFILL_WAYBACK_REPLAY={fake.origin}/web"]


def en_site_pages(at: str) -> list[warcgen.Page]:
    return [warcgen.Page(p.url, at, p.body) for p in site_pages() if "/en/" in p.url]


def test_an_archive_that_keeps_failing_stops_the_run_and_what_failed_is_fetched_next_time(fake, tmp_path):
    captures = en_site_pages("2024-02-01T10:00:00Z")
    state = {"down": True}
    settings = wayback_fake(fake, captures, down=lambda: state["down"])
    db = tmp_path / "dw.db"
    quick = ("-s", "BACKFILL_RETRIES=1", "-s", "BACKFILL_BACKOFF=0.01", "-s", "BACKFILL_BREAKER=3")
    code, counts, err = backfill(db, "wayback", "--month", "2024-02", *settings, *quick)
    assert code == 3 and "kept failing" in counts["outcome"], counts
    assert len(fake.requests("/web/")) == 3 * 2  # three captures, each tried twice: then it stopped
    assert last_run(db)["outcome"] == counts["outcome"]
    state["down"] = False
    code, counts, err = backfill(db, "wayback", "--month", "2024-02", *settings, *quick)
    assert code == 0, err[-2000:]
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(captures)
    fake.log.clear()
    code, counts, _ = backfill(db, "wayback", "--month", "2024-02", *settings)
    assert code == 0 and fake.log == []  # a range long over: nothing asked again


def test_wayback_pages_where_the_server_pages_and_keeps_progress_per_page(fake, tmp_path):
    captures = en_site_pages("2024-02-01T10:00:00Z")
    pages_of = [captures[0:3], captures[3:6], captures[6:]]
    broken = {"page": "2"}

    def listing(request, rows):
        if "showNumPages" in request.query:
            return Answer(200, b"3")
        page = request.query.get("page")
        if page == broken["page"]:
            return Answer(503, b"busy")
        part = pages_of[int(page or 0)]  # unpaged, it answers the first page only (a server's cap)
        return cdx([r for r in rows if r["original"] in {p.url for p in part}])

    settings = wayback_fake(fake, captures, listing=listing)
    db = tmp_path / "dw.db"
    code, counts, err = backfill(db, "wayback", "--month", "2024-02", *settings, "-s", "BACKFILL_RETRIES=0")
    assert code == 3 and counts["listings/failed"] == 1, counts
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(pages_of[0] + pages_of[1])
    assert query(db, "SELECT count(*) FROM backfill_progress WHERE unit LIKE '%page=%' AND done") == [(2,)]
    broken["page"] = None
    fake.log.clear()
    code, counts, err = backfill(db, "wayback", "--month", "2024-02", *settings)
    assert code == 0, err[-2000:]
    assert [r[1].get("page") for r in fake.requests("/cdx")] == [None, "2"]  # showNumPages, the page left
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(captures)


def test_wayback_follows_resumption_keys_where_the_server_does_not_page(fake, tmp_path):
    captures = en_site_pages("2024-02-01T10:00:00Z")

    def listing(request, rows):
        if "showNumPages" in request.query:
            return Answer(400, b"no paging")
        if request.query.get("resumeKey") == "k2":
            return cdx(rows[4:])
        return cdx(rows[:4], resume_key="k2")  # the server's cap reached: the rest after the key

    settings = wayback_fake(fake, captures, listing=listing)
    db = tmp_path / "dw.db"
    code, counts, err = backfill(db, "wayback", "--month", "2024-02", *settings)
    assert code == 0, err[-2000:]
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(captures)


MALFORMED = {  # what a CDX server may answer: (body, status), exit status, the count that says so
    "cut-off JSON": ((b'[["urlkey","timestamp","original"],\n["com,dw)/en/x/a-1","2021010', 200), 3,
                     "listings/failed"),
    "plain-text CDX": ((b"com,dw)/en/x/a-79010001 20240201100000 https://www.dw.com/en/x/a-79010001 text/html"
                        b" 200 AAAA 1000\n", 200), 3, "listings/failed"),
    "an HTML page": ((b"<html><body>Down for maintenance</body></html>", 200), 3, "listings/failed"),
    "a 404 page": ((b"<html>Not Found</html>", 404), 3, "listings/failed"),
    "rows that are none": (("rows", 200), 0, "failed/cdx_row"),
    "an empty table": ((b"[]", 200), 0, None),
}


@pytest.mark.parametrize("form", list(MALFORMED))
def test_a_malformed_cdx_answer_is_a_counted_failure_never_a_traceback(fake, tmp_path, form):
    (body, status), exit_status, count = MALFORMED[form]
    captures = en_site_pages("2024-02-01T10:00:00Z")

    def listing(request, rows):
        if "showNumPages" in request.query:
            return Answer(400, b"no paging")
        if body == "rows":  # good rows among a null, a short one and one without a timestamp
            table = json.loads(cdx(rows).body)
            return Answer(200, json.dumps(table[:3] + [None, ["only"], ["k", "", "x", "", "", "", ""]]
                                          + table[3:]).encode())
        return Answer(status, body)

    settings = wayback_fake(fake, captures, listing=listing)
    db = tmp_path / "dw.db"
    code, counts, err = backfill(db, "wayback", "--month", "2024-02", *settings, "-s", "BACKFILL_RETRIES=0")
    assert code == exit_status, err[-2000:]
    assert counts["outcome"] == last_run(db)["outcome"]
    if count:
        assert counts[count] == (3 if count == "failed/cdx_row" else 1), counts
    if code == 0 and body == "rows":
        assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(captures)


def test_a_wayback_range_ended_recently_is_listed_again_until_it_settles(fake, tmp_path):
    from datetime import UTC, datetime, timedelta

    recent = (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%d")
    captures = en_site_pages(f"{recent}T10:00:00Z")[:1]
    settings = wayback_fake(fake, captures)
    db = tmp_path / "dw.db"
    for _ in range(2):
        code, counts, err = backfill(db, "wayback", "--since", recent, "--until", recent, *settings)
        assert code == 0, err[-2000:]
    assert counts["listings/read"] == 1 and counts.get("fetched", 0) == 0  # read again, nothing fetched twice
    code, counts, _ = backfill(db, "wayback", "--since", recent, "--until", recent, *settings,
                               "-s", "BACKFILL_WAYBACK_SETTLE_DAYS=0")
    fake.log.clear()
    code, counts, _ = backfill(db, "wayback", "--since", recent, "--until", recent, *settings,
                               "-s", "BACKFILL_WAYBACK_SETTLE_DAYS=0")
    assert code == 0 and fake.log == []


@pytest.fixture(scope="module")
def crawl_files(tmp_path_factory):
    """A Common Crawl WARC (three English articles, a revisit, bytes no record begins at) and the
    CDX lines a crawl's index has for them, one with an offset that is no number."""
    work = tmp_path_factory.mktemp("cc")
    at = "2024-02-01T10:00:00Z"
    good = en_site_pages(at)[:3]
    revisit = warcgen.Page(en_site_pages(at)[3].url, at, b"", revisit=True)
    where = warcgen.write_warc(work / "a.warc.gz", good + [revisit])
    with open(work / "a.warc.gz", "ab") as out:
        garbage_at = out.tell()
        out.write(b"\x1f\x8b\x08 not a member at all " * 40)
    rows = [{"urlkey": "k", "timestamp": "20240201100000", "url": p.url, "status": "200", "digest": "d",
             "filename": "crawl-data/a.warc.gz", "offset": str(o), "length": str(n)}
            for p, (o, n) in zip(good + [revisit], where, strict=True)]
    rows.append({**rows[0], "url": en_site_pages(at)[4].url, "offset": str(garbage_at), "length": "400"})
    rows.append({**rows[0], "url": en_site_pages(at)[5].url, "offset": "abc"})
    return work / "a.warc.gz", rows, good


def commoncrawl_fake(fake: FakeArchive, warc: Path, rows: list[dict], *, ignore_range=lambda: False,
                     collinfo=("CC-MAIN-2024-05",)) -> list[str]:
    def index(request):
        crawl = request.path.strip("/").removesuffix("-index")
        if crawl not in collinfo:
            return Answer(404, b"<html>Not Found</html>")
        if "showNumPages" in request.query:
            return Answer(200, json.dumps({"pages": 1, "pageSize": 5, "blocks": 1}).encode())
        if request.query.get("url") != "www.dw.com/en/":
            message = {"message": "No Captures found for: " + request.query["url"]}
            return Answer(404, json.dumps(message).encode())
        return cdx_lines(rows)

    fake.prefixes["/CC-MAIN-"] = index
    fake.routes["/collinfo.json"] = lambda request: Answer(200, json.dumps(
        [{"id": c, "from": "2024-01-20T00:00:00", "to": "2024-02-05T00:00:00"} for c in collinfo]).encode())
    fake.routes["/data/crawl-data/a.warc.gz"] = lambda request: serve_file(warc, request, ignore_range())
    fake.log.clear()
    return ["-s", f"BACKFILL_COMMONCRAWL_CDX={fake.origin}/{{crawl}}-index",
            "-s", f"BACKFILL_COMMONCRAWL_DATA={fake.origin}/data"]


def test_commoncrawl_checks_each_record_before_keeping_it_and_fetches_failures_again(fake, crawl_files,
                                                                                     tmp_path):
    warc, rows, good = crawl_files
    state = {"ignore_range": True}
    settings = commoncrawl_fake(fake, warc, rows, ignore_range=lambda: state["ignore_range"])
    db = tmp_path / "dw.db"
    args = ("commoncrawl", "--crawl", "CC-MAIN-2024-05", "--lang", "en,de", *settings)
    code, counts, err = backfill(db, *args)
    assert code == 3 and counts["failed/capture/http_200"] == 5, counts  # the whole file: not read
    assert query(db, "SELECT count(*) FROM articles") == [(0,)]
    state["ignore_range"] = False
    code, counts, err = backfill(db, *args)
    assert code == 0, err[-2000:]
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(good)
    assert counts["skipped/revisit"] == 1 and counts["failed/cdx_row"] == 1
    assert counts["failed/capture/not a gzip member"] == 1 and counts["fetched"] == 3
    assert sorted(kept_uris(tmp_path / "warc", "commoncrawl")) == sorted(p.url for p in good)  # nothing else
    fake.log.clear()
    assert backfill(db, *args)[0] == 0 and fake.log == []  # handled, failures of its bytes included


def test_a_listing_that_is_not_there_is_a_failure_not_an_empty_one(fake, crawl_files, tmp_path):
    warc, rows, good = crawl_files
    settings = commoncrawl_fake(fake, warc, rows)
    db = tmp_path / "dw.db"
    # a crawl the list of crawls does not have
    code, counts, err = backfill(db, "commoncrawl", "--crawl", "CC-MAIN-2021-49", *settings)
    assert code == 3 and "not one of the 1 crawls" in err and counts["listings/failed"] == 1
    # without a list of crawls to check against, the index's own 404 says it
    code, counts, err = backfill(db, "commoncrawl", "--crawl", "CC-MAIN-2021-49", *settings,
                                 "-s", f"BACKFILL_COMMONCRAWL_COLLINFO={fake.origin}/nothing-here.json")
    assert code == 3 and counts["outcome"] == "no index or listing could be read", counts
    # a CC-NEWS month the store has no list of files for (or a wrong endpoint): not done
    for data in (fake.origin, f"{fake.origin}/typo"):
        code, counts, err = backfill(db, "cc-news", "--month", "2023-02",
                                     "-s", f"BACKFILL_COMMONCRAWL_DATA={data}")
        assert code == 3 and counts["outcome"] == "no index or listing could be read", counts
    assert query(db, "SELECT count(*) FROM backfill_progress WHERE done") == [(0,)]


def test_crawl_all_asks_the_list_of_crawls_beside_the_configured_index_only(fake, crawl_files, tmp_path):
    warc, rows, good = crawl_files
    settings = commoncrawl_fake(fake, warc, rows, collinfo=("CC-MAIN-2024-05", "CC-MAIN-2024-10"))
    db = tmp_path / "dw.db"
    with catch_all() as (env, connections):
        code, counts, err = backfill(db, "commoncrawl", "--crawl", "all", "--month", "2024-02", *settings,
                                     env=env)
    assert connections == []
    assert code == 0, err[-2000:]
    assert {r[0] for r in fake.log} >= {"/collinfo.json", "/CC-MAIN-2024-05-index", "/CC-MAIN-2024-10-index"}
    assert {i for (i,) in query(db, "SELECT id FROM articles")} == dw_ids(good)


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


BAD = [["wayback", "--lang", "xx"], ["wayback", "--lang", ","], ["cc-news", "--lang", "en"],
       ["commoncrawl"],
       ["wayback", "--since", "2024-02-01", "--until", "2024-01-01"], ["gopher"],
       ["wayback", "--crawl", "CC-MAIN-2024-10"], ["commoncrawl", "--crawl", "CC-MAIN-2021-1O"],
       ["wayback", "-s", "BACKFILL_TIMEOUT=abc"], ["wayback", "-s", "BACKFILL_RETRIES=-1"],
       ["wayback", "-s", "BACKFILL_WAYBACK_CDX=ftp://archive.example/cdx"],
       ["commoncrawl", "--crawl", "all", "-s", "BACKFILL_COMMONCRAWL_CDX=https://index.example/cdx"],
       # The WARC settings, checked as `scrapy crawl` checks them.
       *[["wayback", "--lang", "en", "--since", "2024-01-01", "--until", "2024-01-31", "-s", warc_dir]
         for warc_dir in ("WARC_DIR=/dev/null", "WARC_DIR=")]]


def test_bad_arguments_and_settings_are_refused_before_anything_is_opened(tmp_path):
    runs = []
    for n, args in enumerate(BAD):  # all at once: each is a process of its own
        db = tmp_path / f"{n}.db"
        runs.append((args, db, forkserver.start(
            [sys.executable, "-m", "crawler.backfill", *args, "--archive", str(db)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for args, db, process in runs:
        _, err = process.communicate(timeout=120)
        # 3, as `scrapy crawl`'s bad argument or setting (argparse's own usage errors are 2)
        said = "dw backfill failed: bad setting" if "-s" in args else "dw backfill failed: bad argument"
        assert process.returncode == 3 and err.startswith(said), (args, err)
        assert len(err.strip().splitlines()) == 1 and not db.exists(), (args, err)


def test_an_archive_path_that_cannot_be_made_is_refused_with_its_last_line(tmp_path):
    # The WARC folder elsewhere: one under /proc/nope is refused as a bad setting first. The
    # archive's own path is now refused before anything is opened too (it was a failed run,
    # "the archive could not be written: … No such file or directory"; tester try26, item 8).
    code, counts, err = backfill(Path("/proc/nope/dw.db"), "wayback", warc=tmp_path / "warc")
    assert code == 3 and counts == {}, err
    assert err.strip().splitlines()[-1] == ("dw backfill failed: bad setting: ARCHIVE_PATH=/proc/nope/dw.db"
                                            " is under /proc, not a place for an archive; give the"
                                            " archive's file")


def test_the_backfill_lock_is_among_the_files_git_ignores():
    from crawler.archive.lock import RunLock

    lock = RunLock(ROOT / "data" / "dw.db", purpose="backfill").path
    ignored = subprocess.run(["git", "check-ignore", "-q", str(lock)], cwd=ROOT)
    assert ignored.returncode == 0


def test_a_second_backfill_is_refused_naming_the_one_that_holds_the_lock(tmp_path):
    from crawler.archive.lock import RunLock

    db = tmp_path / "dw.db"
    with RunLock(db, purpose="backfill") as held:  # this test's process stands for the first backfill
        code, counts, err = backfill(db, "wayback", "-s", "BACKFILL_WAYBACK_CDX=http://127.0.0.1:9/cdx",
                                     "-s", "BACKFILL_WAYBACK_REPLAY=http://127.0.0.1:9/web")
    assert code == 3, err[-2000:]
    assert counts == {"outcome": "another backfill is running on this archive"
                                 f" (lock {held.path}, pid {os.getpid()})"}
    assert err.strip().splitlines()[-1] == f"dw backfill failed: {counts['outcome']}"
    assert not db.exists()  # refused before the archive was opened


# -- replay: pywb over the archive's own WARCs, linked from the reading view ------------------------

def as_captured(html: str) -> tuple[str, str]:
    """(href, time shown) of a page's "as captured" link."""
    from html import unescape

    found = re.search(r'class="dw-as-captured" href="([^"]+)">(?:This version )?as captured ([^<]+) UTC<',
                      html)
    assert found, html[:3000]
    return unescape(found[1]), found[2]


@needs_pywb
def test_as_captured_links_replay_the_url_captured_at_its_time_on_the_configured_replay(pywb, tmp_path,
                                                                                          monkeypatch):
    import urllib.request

    from tests.datasette_archive import get

    work, origin, _ = pywb
    db = tmp_path / "dw.db"
    for collection in ("dw", "slug"):
        code, _, err = backfill(db, "wayback", "--lang", "en", "--since", "2023-01-01",
                                "--until", "2024-12-31", *wayback_settings(origin, collection))
        assert code == 0, err[-2000:]
    own = sorted((tmp_path / "warc").glob("*.warc.gz"))
    with running_pywb({"dw": own}, root=tmp_path / "replay") as replay:
        monkeypatch.setenv("DW_REPLAY", f"{replay}/dw")  # the replay is a setting, not the template's
        link, when = as_captured(get(db, f"/dw/articles/{EDITED}").text)
        assert (link, when) == (f"{replay}/dw/20240130100000/{dw.WWW}/en/"
                                f"eu-leaders-agree-on-new-climate-target/a-{EDITED}", "2024-01-30 10:00")
        raw = urllib.request.urlopen(link.replace("/https:", "id_/https:", 1), timeout=30)
        assert raw.headers["Memento-Datetime"] == "Tue, 30 Jan 2024 10:00:00 GMT"
        assert b"EU leaders agree on new climate target for 2040" in raw.read()
        assert b'"20240130100000"' in urllib.request.urlopen(link, timeout=30).read()  # pywb's frame
        shown = urllib.request.urlopen(link.replace("/https:", "mp_/https:", 1), timeout=30)
        assert b"EU leaders agree on new climate target for 2040" in shown.read()
        # captured under an older slug: the link is to the URL captured, which pywb has
        link, when = as_captured(get(db, "/dw/articles/79010005").text)
        assert link == f"{replay}/dw/20231201093000/{dw.WWW}/en/old-slug-of-pension-debate/a-79010005"
        raw = urllib.request.urlopen(link.replace("/https:", "id_/https:", 1), timeout=30)
        assert b"pension" in raw.read()
        # an earlier version links to its own capture
        ((revision,),) = query(db, "SELECT id FROM revisions WHERE article_id = ?", EDITED)
        link, when = as_captured(get(db, f"/dw/revisions/{revision}").text)
        assert when == "2023-06-01 08:00"
        older = urllib.request.urlopen(link.replace("/https:", "id_/https:", 1), timeout=30).read()
        assert b"EU leaders near a climate deal" in older


@needs_pywb
def test_make_replay_replays_warc_files_written_after_it_started_and_stops_pywb_on_sigterm(tmp_path):
    import urllib.request

    folder = tmp_path / "dw.db-warc"
    folder.mkdir()
    first, later = site_pages()[0], site_pages()[1]
    warcgen.write_warc(folder / "dw-1.warc.gz", [first])
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "devtools.archives", "replay", str(folder), "--port",
                                str(port), "--root", str(tmp_path / "replay"), "--interval", "1"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "pywb replaying 1 WARC files" in process.stdout.readline()
        warcgen.write_warc(folder / "dw-2.warc.gz", [later])  # a crawl beside it writes a new file
        deadline, seen = time.monotonic() + 90, b""
        while later.url.encode() not in seen and time.monotonic() < deadline:
            time.sleep(0.5)
            with contextlib.suppress(OSError):
                index = f"http://127.0.0.1:{port}/dw/cdx?url={later.url}"
                seen = urllib.request.urlopen(index, timeout=10).read()
        assert later.url.encode() in seen, "the new WARC file was never replayed"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # pywb goes with it
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("pywb still listens after make replay was stopped")
