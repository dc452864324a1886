"""One backfill run: list captures, fetch each one, check it, keep it as WARC, extract, archive;
resumably.

Every source applies the same filters (`Backfill.admit`): a dw.com article URL (`a-{id}`) in
the languages asked, captured in the date range. A capture that passes is fetched and checked
in memory (`check_record`: one whole WARC `response` record with status 200, for the URL the
index named) before anything is written: a revisit or a redirect is skipped, garbage is a
failed capture. What passes is appended to the project's own WARC files
(`backfill-<source>-*.warc.gz` in the archive's captures folder: Common Crawl's records byte
for byte, a Wayback capture as a `response` record dated as captured) and goes through the
crawl's extractor and normaliser (`crawler.warc.reextract.article_from_page`). The article goes
to the archive with its capture's date (`fetched_at`) and WARC location, so the archive's
history rule places it (`crawler.archive.history`).

Progress is kept in the archive, written in the same transaction as the articles it accounts
for (`Archive.write_batch(also=...)`), the WARC records appended just before it:

- `backfill_captures`: each capture handled (archived, or skipped for good: a revisit, a
  redirect, gone); a capture that failed is not there, so the next run fetches it again.
- `backfill_progress`: each unit of work (a CDX page or continuation, a CDX query, a CC-NEWS
  month's listing, a CC-NEWS WARC file), with the position reached in it, done or not. A unit is
  done only when nothing in it failed. A CC-NEWS unit records the languages and date range it
  was read for (`scope`) and counts as done for a run whose languages and range it covers; a
  CDX unit's name holds them already (the query's URL, with its endpoint). A listing that
  can still grow (a range that has not ended `BACKFILL_*_SETTLE_DAYS` ago) is never done: its
  pages are read again by the next run, the captures already handled are not fetched again.
- `backfill_warcs`: each WARC file a backfill wrote (by name, in the archive's captures folder)
  and its committed end: the bytes of it that the archive accounts for. A file is registered
  (end 0) in a transaction of its own before it is created, and its end moves with each batch
  in the batch's transaction. A run killed after appending a batch and before committing it
  leaves records past that end which the archive never recorded, and which the next run fetches
  and appends again: so each run first cuts every registered file back to its committed end (a
  file whose end is 0 is removed), under the backfill lock, before it writes anything
  (`drop_uncommitted`, counted as `dropped_uncommitted_records`). WARC files the archive does
  not register (the crawl's own, an older archive's, other tools') are never touched, nor is a
  record the archive points at (re-extracted after the kill): that tail is kept.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from crawler import dw
from crawler import settings as defaults
from crawler.archive import Archive, utc_now
from crawler.backfill import sources
from crawler.backfill.client import Failed, PoliteClient, Refused
from crawler.backfill.sources import BadListing, Capture, Query
from crawler.backfill.stream import (
    NETWORK_ERRORS,
    Damaged,
    StreamBroken,
    clock,
    open_stream,
    passing_records,
)
from crawler.dates import in_the_future, to_utc
from crawler.warc.capture import BUILDER, WarcFiles, gzip_member
from crawler.warc.read import Entry, decode, target_uri
from crawler.warc.reextract import article_from_page

logger = logging.getLogger("crawler.backfill")

PROGRESS = "backfill_progress"
CAPTURES = "backfill_captures"
WARCS = "backfill_warcs"
_HTTP_PROTOCOLS = ["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3"]


@dataclass
class Job:
    """What to backfill: the source, the languages, an inclusive date range (days), the Common
    Crawl crawls (`all`: every one that `collinfo.json` lists), where the archives are, and
    how the run behaves (batch size, progress interval, settle days)."""

    source: str
    languages: list[str]
    since: date | None
    until: date | None
    crawls: list[str] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    batch_size: int = defaults.BACKFILL_BATCH_SIZE
    progress_interval: float = defaults.BACKFILL_PROGRESS_INTERVAL
    settle_days: int = 0  # the source's BACKFILL_*_SETTLE_DAYS (cli.job_from)
    retries: int = defaults.BACKFILL_RETRIES

    def in_range(self, fetched_at: str) -> bool:
        day = fetched_at[:10]
        return not ((self.since and day < self.since.isoformat())
                    or (self.until and day > self.until.isoformat()))

    def settled(self, end: date | None) -> bool:
        """True when a listing ending on `end` will not grow any more: `settle_days` after it."""
        return end is not None and end + timedelta(days=self.settle_days) < datetime.now(UTC).date()

    @property
    def scope(self) -> str:
        """The languages and range a CC-NEWS unit is read for, as `backfill_progress` keeps it."""
        return f"{','.join(sorted(self.languages))}|{self.since or ''}|{self.until or ''}"


def covers(done_for: str, wanted: str, languages: bool = True) -> bool:
    """True when a unit read for the scope `done_for` holds everything the scope `wanted` asks:
    at least its range (an empty bound is none) and, with `languages`, its languages."""
    have_langs, have_since, have_until = done_for.split("|")
    want_langs, want_since, want_until = wanted.split("|")
    return ((not languages or set(want_langs.split(",")) <= set(have_langs.split(",")))
            and (not have_since or (bool(want_since) and have_since <= want_since))
            and (not have_until or (bool(want_until) and have_until >= want_until)))


class Skip(Exception):
    """A capture that is no article page to archive, for good (a revisit, a redirect, gone)."""


class Broken(Exception):
    """A capture that could not be fetched whole and sound: a failure. `again`: the archive's
    answer was at fault (a status, a cut connection, a wrong length), so the next run fetches it
    again; otherwise the stored bytes themselves are (not a WARC record, another URL, an
    undecodable page), which another fetch would not change."""

    def __init__(self, reason: str, again: bool = False):
        super().__init__(reason)
        self.again = again


@dataclass
class Checked:
    """A capture checked in memory: its gzip member, the page, its Content-Type, its time and URL."""

    member: bytes
    body: bytes
    content_type: str
    fetched_at: str
    uri: str


def check_record(data: bytes, expect_uri: str | None = None) -> Checked:
    """`data` as one whole WARC `response` record in one gzip member with HTTP status 200 (for
    `expect_uri` when given: the capture the index named), and its page decoded.

    Raises `Skip` for a revisit or another status, `Broken` for anything else: not one whole
    gzip member, not a WARC record, another URL, a block cut short, an undecodable payload.
    """
    decompressor = zlib.decompressobj(31)
    try:
        raw = decompressor.decompress(data)
    except zlib.error as exc:
        raise Broken(f"not a gzip member ({exc})") from None
    if not decompressor.eof:
        raise Broken("a gzip member cut short", again=True)
    if decompressor.unused_data.strip(b"\x00\r\n "):
        raise Broken("more than one gzip member")
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(raw))))
    except Exception as exc:  # noqa: BLE001 - warcio raises its own for any parse failure
        raise Broken(f"not a WARC record ({type(exc).__name__})") from None
    uri = target_uri(record.rec_headers.get_header("WARC-Target-URI"))
    if record.rec_type == "revisit":
        raise Skip("revisit")
    if record.rec_type != "response":
        raise Broken(f"a {record.rec_type} record, not a response")
    if expect_uri and not same_url(uri, expect_uri):
        raise Broken(f"the record is of {uri[:200]!r}, not of {expect_uri[:200]!r}")
    when = to_utc(record.rec_headers.get_header("WARC-Date")) or ""
    if not when:
        raise Broken("no WARC-Date")
    http = record.http_headers
    try:
        if http is None:  # warcio parses the HTTP head of http: and https: URIs only (case-sensitively)
            http = StatusAndHeadersParser(_HTTP_PROTOCOLS, verify=False).parse(record.raw_stream)
        status = int(http.get_statuscode() or 0)
        payload = record.raw_stream.read()
    except Exception as exc:  # noqa: BLE001 - a head that does not parse
        raise Broken(f"no HTTP response in the record ({type(exc).__name__})") from None
    if getattr(record.raw_stream, "limit", 0) > 0:
        raise Broken("its block is cut short", again=True)
    if status != 200:
        raise Skip(f"http_{status}")
    content_type = http.get_header("Content-Type") or ""
    entry = Entry("", 0, "response", uri, when, status, content_type, payload=payload,
                  content_encoding=(http.get_header("Content-Encoding") or "").lower(),
                  transfer_encoding=" ".join((http.get_header("Transfer-Encoding") or "").lower().split()))
    try:
        body = decode(entry)
    except ValueError as exc:
        raise Broken(str(exc)) from None
    return Checked(data, body, content_type, when, uri)


def same_url(a: str, b: str) -> bool:
    """True when two URLs name the same page: equal, or the same DW page in any of its forms."""
    if a == b:
        return True
    page = dw.parse_url(a)
    return page is not None and page == dw.parse_url(b) and dw.canonical_url(a) == dw.canonical_url(b)


class Stopper:
    """SIGINT and SIGTERM: stop the run (KeyboardInterrupt), but never between appending a batch
    to the WARC and committing it to the archive: there the stop waits for the commit."""

    def __init__(self):
        self.depth, self.pending = 0, False

    def __call__(self, signum=None, frame=None) -> None:
        if self.depth:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            self.pending = False
            raise KeyboardInterrupt


class Reporter:
    """A progress line every `interval` seconds from a thread of its own, whatever the run is
    doing (a long CDX answer, a backoff, a stream with nothing for DW)."""

    def __init__(self, interval: float, line: Callable[[], str]):
        self.interval, self.line = interval, line
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="backfill-progress", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a progress line never stops a run
                logger.info("%s", self.line())

    def __enter__(self) -> Reporter:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        logger.info("%s", self.line())


class Backfill:
    """Run a `Job` into an open `Archive`, with a `PoliteClient` and the WARC folder for copies
    (whose new files it registers in the archive before they are created: `register_warc`)."""

    def __init__(self, job: Job, archive: Archive, client: PoliteClient, warcs: WarcFiles,
                 counts: Counter, stopper: Stopper | None = None):
        self.job, self.archive, self.client, self.warcs, self.counts = job, archive, client, warcs, counts
        self.stopper = stopper or Stopper()
        self.languages = set(job.languages)
        self.pending: list[tuple[Checked, dict | None, tuple | None]] = []
        self.marks: list[tuple[str, str, int, str | None, bool]] = []  # progress to commit
        self.due = clock(job.progress_interval)  # when to save what is in hand (and the position)
        self.started = time.monotonic()
        self.reading: tuple[str, object] | None = None  # the WARC being streamed, for the progress line
        self.collinfo: list[dict] | None = None
        _create_tables(archive)
        warcs.before_open = self.register_warc

    # -- progress --------------------------------------------------------------------------

    def unit(self, name: str, scoped: bool = False) -> tuple[int, str | None, bool]:
        """(position, cursor, done) of a unit of work: a CDX unit by its name; a CC-NEWS unit
        (`scoped`) from the rows whose scope covers this job's (done when one is done, else the
        furthest position)."""
        rows = self.archive.db.execute(
            f"SELECT scope, position, cursor, done FROM {PROGRESS} WHERE source = ? AND unit = ?",
            [self.job.source, name]).fetchall()
        if scoped:  # done when the units done for this range, together, hold its languages
            done = [r for r in rows if r[3] and covers(r[0], self.job.scope, languages=False)]
            if set(self.job.languages) <= {lang for r in done for lang in r[0].split("|")[0].split(",")}:
                return 0, None, True
        rows = [r for r in rows if (covers(r[0], self.job.scope) if scoped else r[0] == "")]
        if any(r[3] for r in rows):
            done = next(r for r in rows if r[3])
            return done[1], done[2], True
        if rows:
            furthest = max(rows, key=lambda r: r[1] or 0)
            return furthest[1] or 0, furthest[2], False
        return 0, None, False

    def mark(self, name: str, *, scoped: bool = False, position: int = 0, cursor: str | None = None,
             done: bool = False) -> None:
        """Record a unit's progress with the next batch written (`flush`)."""
        self.marks.append((name, self.job.scope if scoped else "", position, cursor, done))

    def _write_marks(self, marks: list, captures: list) -> None:
        db = self.archive.db
        if captures:
            db.conn.executemany(
                f"INSERT OR IGNORE INTO {CAPTURES} (url, timestamp, digest, source) VALUES (?, ?, ?, ?)",
                [(*key, self.job.source) for key in captures])
        for name, scope, position, cursor, done in marks:
            db.execute(
                f"INSERT INTO {PROGRESS} (source, unit, scope, position, cursor, done, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, unit, scope) DO UPDATE SET"
                " position = excluded.position, cursor = excluded.cursor, done = excluded.done,"
                " updated_at = excluded.updated_at",
                [self.job.source, name, scope, position, cursor, int(done), utc_now()])

    def forget_pages(self, query: Query) -> None:
        """Clear the page marks of a listing that can still grow: the next run reads it again."""
        key = query.key
        self.archive.db.execute(
            f"DELETE FROM {PROGRESS} WHERE source = ? AND unit != ? AND substr(unit, 1, ?) = ?",
            [self.job.source, key, len(key), key])

    def captured(self, url: str, timestamp: str) -> bool:
        """True when this capture (URL and time) was handled before."""
        return self.archive.db.execute(f"SELECT 1 FROM {CAPTURES} WHERE url = ? AND timestamp = ?",
                                       [url, timestamp]).fetchone() is not None

    # -- the project's WARC files -----------------------------------------------------------

    def register_warc(self, path: Path) -> None:
        """Record a new WARC file (committed end 0) in a transaction of its own, before it is
        created: whatever it holds until a batch commits is dropped by the next run."""
        self.archive.write_batch([], also=lambda: self._commit_end(path.name, 0))

    def _commit_end(self, name: str, end: int) -> None:
        self.archive.db.execute(
            f"INSERT INTO {WARCS} (file, committed_end, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT(file) DO UPDATE SET committed_end = excluded.committed_end,"
            " updated_at = excluded.updated_at", [name, end, utc_now()])

    def drop_uncommitted(self) -> None:
        """Cut each registered WARC file in the captures folder back to its committed end (a
        file whose end is 0 is removed): the records past it were appended by a run killed before
        it committed them, and are fetched again. Call under the backfill lock, before writing.
        A file shorter than its committed end is logged and left as it is."""
        db = self.archive.db
        for name, end in db.execute(f"SELECT file, committed_end FROM {WARCS}").fetchall():
            path = self.warcs.directory / name
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # moved elsewhere, or (end 0) never created
                if not end:
                    db.execute(f"DELETE FROM {WARCS} WHERE file = ?", [name])
                continue
            if size == end:
                continue
            if size < end:
                self.counts["warc/shorter_than_committed"] += 1
                logger.error("%s holds %d bytes, fewer than the %d the archive committed: records"
                             " the archive points at are missing (cut, or restored from an older copy)",
                             path, size, end)
                continue
            if self._points_past(name, end):  # recorded since, by another writer: kept, whatever it costs
                self.counts["warc/uncommitted_kept"] += 1
                logger.warning("%s: the records past what the backfill committed (byte %d) are kept: the"
                               " archive points at them (re-extracted since); they may be kept twice",
                               path, end)
                db.execute(f"UPDATE {WARCS} SET committed_end = ?, updated_at = ? WHERE file = ?",
                           [size, utc_now(), name])
                continue
            with open(path, "r+b") as handle:
                handle.seek(end)
                dropped = _records_from(handle)
                if end:
                    handle.truncate(end)
                    handle.flush()
                    os.fsync(handle.fileno())
            if not end:
                path.unlink()
                db.execute(f"DELETE FROM {WARCS} WHERE file = ?", [name])
            self.counts["dropped_uncommitted_records"] += dropped
            logger.warning("%s: dropped %d records (%d bytes) past what the archive committed, left"
                           " by a run stopped before committing them (%s); they are fetched again",
                           path, dropped, size - end, "file removed" if not end else f"cut to {end} bytes")

    def _points_past(self, name: str, end: int) -> bool:
        """True when an article, revision or sighting points at a record of the WARC file `name`
        at or past byte `end` (as `crawler.reextract` leaves it when it read them)."""
        suffix = f"/{name}"
        return any(self.archive.db.execute(
            f"SELECT 1 FROM {table} WHERE (warc_file = ? OR substr(warc_file, -?) = ?) AND warc_offset >= ?"
            " LIMIT 1", [name, len(suffix), suffix, end]).fetchone()
            for table in ("articles", "revisions", "sightings"))

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Do the job; counts in `self.counts`. Raises sqlite3.Error when the archive cannot be
        written, `Unavailable` when an archive stopped answering, KeyboardInterrupt when stopped
        (each after writing what is in hand)."""
        self.drop_uncommitted()
        with Reporter(self.job.progress_interval, self.progress_line):
            try:
                if self.job.source == "cc-news":
                    self.run_news()
                else:
                    self.run_cdx()
            finally:
                self.flush()

    def progress_line(self) -> str:
        c, now = self.counts, time.monotonic()
        reading = ""
        if self.reading:
            name, stream = self.reading
            reading = (f", reading {name.rsplit('/', 1)[-1]} ({stream.pos / 1e6:.1f} MB,"
                       f" {c['records']} records seen)")
        return (f"backfill {self.job.source}: {c['listings/read']} listings read, {c['found']} captures"
                f" found, {c['fetched']} fetched ({c['fetched'] / max(now - self.started, 1e-6):.2f}/s),"
                f" {c['new']} new, {c['updated']} updated, {c['earlier']} earlier, {c['unchanged']}"
                f" unchanged, {c['failed']} failed, {c['requests']} requests{reading}")

    def admit(self, url: str, fetched_at: str) -> str | None:
        """Why a capture is not used (counted as `skipped/<why>`), or None: every source's filter."""
        kind = sources.wanted(url, self.languages)
        if kind != "article":
            return kind
        if not fetched_at or not self.job.in_range(fetched_at):
            return "out_of_range"
        if in_the_future(fetched_at):  # would stay the newest fetch for ever
            return "future_date"
        return None

    def listing_failed(self, why: str) -> None:
        self.counts["listings/failed"] += 1
        logger.error("Cannot read a listing: %s", why)

    def failed(self, what: str, reason: str, again: bool) -> None:
        self.counts["failed"] += 1
        self.counts[f"failed/capture/{reason.split(' (')[0].split(':')[0][:40]}"] += 1
        logger.warning("Capture %s failed: %s (%s)", what, reason, "fetched again by the next run" if again
                       else "its stored bytes are at fault: not fetched again")

    # -- CDX: Wayback, Common Crawl ----------------------------------------------------------

    def run_cdx(self) -> None:
        job = self.job
        if job.source == "wayback":
            queries = sources.language_queries(job.endpoints["wayback_cdx"], job.languages, job.since,
                                               job.until, "statuscode", collapse=True)
            for query in queries:
                self.run_query(query, closed=job.settled(job.until))
            return
        crawls = self.crawls()
        for crawl in crawls:
            for query in sources.language_queries(job.endpoints["commoncrawl_cdx"].format(crawl=crawl),
                                                  job.languages, job.since, job.until, "status",
                                                  collapse=False):
                self.run_query(query, closed=True)  # a crawl's index never changes

    def crawls(self) -> list[str]:
        """The crawls to read: `--crawl all` from `collinfo.json`; named ones checked against it
        when it can be read (a wrong id is a failed listing, not an empty one)."""
        job = self.job
        if job.crawls == ["all"]:
            try:
                return sources.crawls_in_range(self.crawl_list(), job.since, job.until)
            except (Failed, Refused, ValueError) as exc:
                self.listing_failed(f"the list of Common Crawl's crawls: {exc}")
                return []
        todo = [c for c in job.crawls if not all(
            self.unit(q.key)[2] for q in sources.language_queries(
                job.endpoints["commoncrawl_cdx"].format(crawl=c), job.languages, job.since, job.until,
                "status", collapse=False))]
        if not todo:
            return job.crawls
        try:
            known = {entry["id"] for entry in self.crawl_list()}
        except (Failed, Refused, ValueError) as exc:
            logger.warning("Cannot check the crawl ids against the list of crawls (%s): each crawl's"
                           " index is asked directly", exc)
            return job.crawls
        for crawl in todo:
            if crawl not in known:
                self.listing_failed(f"{crawl} is not one of the {len(known)} crawls"
                                    f" {job.endpoints['commoncrawl_collinfo']} lists")
        return [c for c in job.crawls if c not in todo or c in known]

    def crawl_list(self) -> list[dict]:
        if self.collinfo is None:
            self.collinfo = sources.crawl_list(self.client, self.job.endpoints["commoncrawl_collinfo"])
        return self.collinfo

    def run_query(self, query: Query, closed: bool) -> None:
        """One CDX query, page by page (or part by part after resumption keys); done for good
        when every page is done and the listing cannot grow any more."""
        if self.unit(query.key)[2]:
            self.counts["skipped/listing_done_before"] += 1
            return
        try:
            pages = sources.probe(self.client, query)
        except (Failed, Refused) as exc:
            self.listing_failed(str(exc))
            return
        complete = True
        if isinstance(pages, sources.CdxAnswer):  # no pages: the server answered with the rows
            self.counts["listings/read"] += 1
            complete = self.handle_rows(pages, query.url(showNumPages="true"))
        elif pages is not None:
            self.counts["listings/paged"] += 1
            for page in range(pages):
                name = query.url(page)
                if self.unit(name)[2]:
                    self.counts["skipped/page_done_before"] += 1
                    continue
                ok, _ = self.read_listing(name)
                complete &= bool(ok)
        else:
            name = query.url(showResumeKey="true")
            while name:
                _, cursor, done = self.unit(name)
                if done:
                    self.counts["skipped/page_done_before"] += 1
                else:
                    ok, cursor = self.read_listing(name)
                    if ok is None:  # could not be read: the rest is not known
                        complete = False
                        break
                    complete &= ok
                name = query.url(showResumeKey="true", resumeKey=cursor) if cursor else None
        self.flush()
        if complete and closed:
            self.mark(query.key, done=True)
            self.flush()
        elif complete:
            self.forget_pages(query)

    def read_listing(self, name: str) -> tuple[bool | None, str | None]:
        """Read one CDX page (or part) and handle its captures: (True when all were handled,
        False when some failed, None when the page itself could not be read; the resumption key
        it ended with)."""
        try:
            response = self.client.get(name)
        except (Failed, Refused) as exc:
            self.listing_failed(str(exc))
            return None, None
        try:
            text = response.text
        except requests.RequestException as exc:
            self.listing_failed(f"{name}: {exc}")
            return None, None
        if response.status_code == 200:
            try:
                answer = sources.cdx_answer(text)
            except BadListing as exc:
                self.listing_failed(f"{name}: {exc}")
                return None, None
        elif sources.no_captures(response.status_code, text):
            answer = sources.CdxAnswer([])
        else:
            self.listing_failed(f"{name}: HTTP {response.status_code}")
            return None, None
        self.counts["listings/read"] += 1
        return self.handle_rows(answer, name), answer.resume_key

    def handle_rows(self, answer: sources.CdxAnswer, name: str) -> bool:
        """Handle the captures of one CDX answer, then mark its unit; True when none failed."""
        ok = True
        for row in answer.rows:
            try:
                capture = sources.as_capture(row, needs_record=self.job.source == "commoncrawl")
            except ValueError as exc:
                self.counts["failed"] += 1
                self.counts["failed/cdx_row"] += 1
                logger.warning("A CDX row that names no capture, left out: %s", exc)
                continue
            ok &= self.consider(capture)
        self.mark(name, cursor=answer.resume_key, done=ok)
        self.flush()
        return ok

    def consider(self, capture: Capture) -> bool:
        """Fetch, check, keep and archive one listed capture, unless filtered out or handled
        before; False when it failed (it is fetched again by the next run)."""
        self.counts["captures/listed"] += 1
        why = self.admit(capture.url, capture.fetched_at)
        if why is None and capture.status not in ("", "200"):
            why = "not_200"
        if why:
            self.counts[f"skipped/{why}"] += 1
            return True
        if self.captured(capture.url, capture.timestamp):
            self.counts["skipped/archived_before"] += 1
            return True
        self.counts["found"] += 1
        key = (capture.url, capture.timestamp, capture.digest)
        try:
            checked = self.fetch(capture)
        except (Failed, Refused) as exc:
            self.failed(f"{capture.timestamp} {capture.url}", getattr(exc, "reason", "refused"), again=True)
            return False
        except Broken as exc:
            self.failed(f"{capture.timestamp} {capture.url}", str(exc), again=exc.again)
            if exc.again:
                return False
            self.pending.append((None, None, key))  # its bytes will not change: not fetched again
            return True
        except Skip as exc:
            self.counts[f"skipped/{exc}"] += 1
            self.pending.append((None, None, key))  # handled: not fetched again
            return True
        self.counts["fetched"] += 1
        self.take(checked, key)
        if len(self.pending) >= self.job.batch_size or self.due():
            self.flush()
        return True

    def fetch(self, capture: Capture) -> Checked:
        """The capture, fetched and checked. Raises `Failed` / `Refused` (the client), `Broken`,
        `Skip`."""
        if self.job.source == "commoncrawl":
            url = f"{self.job.endpoints['commoncrawl_data'].rstrip('/')}/{capture.filename.lstrip('/')}"
            end = capture.offset + capture.length - 1
            response = self.client.get(url, headers={"Range": f"bytes={capture.offset}-{end}"}, stream=True)
            with response:
                if response.status_code != 206:  # 200: the whole file; never read it
                    raise Broken(f"http_{response.status_code} (asked for bytes {capture.offset}-{end})",
                                 again=True)
                try:
                    data = response.raw.read(capture.length + 1, decode_content=False)  # as stored
                except NETWORK_ERRORS as exc:
                    raise Broken(f"network ({type(exc).__name__})", again=True) from None
            if len(data) != capture.length:
                raise Broken(f"wrong_length ({len(data)} bytes, the index says {capture.length})", again=True)
            return check_record(data, capture.url)
        url = f"{self.job.endpoints['wayback_replay'].rstrip('/')}/{capture.timestamp}id_/{capture.url}"
        response = self.client.get(url)
        if response.status_code in (404, 410):
            raise Skip(f"gone/http_{response.status_code}")
        if 300 <= response.status_code < 400:
            raise Skip(f"redirected/http_{response.status_code}")
        if response.status_code != 200:
            raise Broken(f"http_{response.status_code}", again=True)
        try:
            content = response.content
        except requests.RequestException as exc:
            raise Broken(f"network ({type(exc).__name__})", again=True) from None
        # `requests` removed the content encoding; the record says what it holds.
        headers = [(k, v) for k, v in response.headers.items()
                   if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")]
        headers.append(("Content-Length", str(len(content))))
        record = BUILDER.create_warc_record(
            capture.url, "response", payload=io.BytesIO(content), length=len(content),
            http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": capture.fetched_at, "WARC-Source-URI": url})
        return check_record(gzip_member(record), capture.url)

    # -- CC-NEWS ---------------------------------------------------------------------------

    def run_news(self) -> None:
        job = self.job
        for year, month in sources.months(job.since, job.until):
            listing = f"crawl-data/CC-NEWS/{year}/{month:02d}/warc.paths.gz"
            url = f"{job.endpoints['commoncrawl_data'].rstrip('/')}/{listing}"
            if self.unit(url, scoped=True)[2]:
                self.counts["skipped/listing_done_before"] += 1
                continue
            try:
                paths = sources.news_paths(self.client, url)
            except (Failed, Refused, ValueError) as exc:
                self.listing_failed(f"the CC-NEWS files of {year}-{month:02d}: {exc}")
                continue
            self.counts["listings/read"] += 1
            complete = True
            for path in paths:
                complete &= self.run_news_file(path)
            last_day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
            if complete and job.settled(last_day):
                self.mark(url, scoped=True, done=True)
                self.flush()

    def run_news_file(self, path: str) -> bool:
        """Stream one WARC, keeping the DW article records the job admits; True when it was read
        to its end (a broken download is resumed from the last saved position, `retries` times)."""
        url = f"{self.job.endpoints['commoncrawl_data'].rstrip('/')}/{path.lstrip('/')}"
        position, _, done = self.unit(url, scoped=True)
        if done:
            self.counts["skipped/file_done_before"] += 1
            return True
        for attempt in range(self.job.retries + 1):
            try:
                self.read_news_file(url, position)
            except StreamBroken as exc:
                self.flush()
                position = self.unit(url, scoped=True)[0]
                self.counts["retry/stream_broken"] += 1
                logger.warning("%s broke off (%s): resuming at byte %d", url, exc, position)
                if attempt < self.job.retries:
                    self.client.sleep(self.client.backoff * 2 ** attempt)
                continue
            except Damaged as exc:
                self.flush()
                self.counts["files/failed"] += 1
                logger.error("%s cannot be read to its end: %s (read again by the next run)", url, exc)
                return False
            except (Failed, Refused) as exc:
                self.flush()
                self.counts["files/failed"] += 1
                logger.error("Cannot read %s: %s", url, exc)
                return False
            self.counts["files/done"] += 1
            return True
        self.counts["files/failed"] += 1
        self.client.failed(url, "stream_broken")  # counts toward the breaker
        logger.error("%s kept breaking off: read on from byte %d by the next run", url, position)
        return False

    def read_news_file(self, url: str, position: int) -> None:
        stream, response = open_stream(self.client, url, position, self.counts)
        self.reading = (url, stream)
        hold = None  # where the first record to fetch again begins: no position saved past it
        try:
            for passing in passing_records(stream, self.counts, self.due):
                here = position + passing.offset
                if passing.uri is None:  # a checkpoint: every record before this one is handled
                    at = here if hold is None else min(here, hold)
                    self.flush(lambda at=at: self.mark(url, scoped=True, position=at))
                    continue
                when = to_utc(passing.date) or ""
                why = self.admit(passing.uri, when)
                if why:
                    self.counts[f"skipped/{why}"] += 1
                    continue
                stamp14 = when.replace("-", "").replace(":", "").replace("T", "").replace("Z", "")
                if self.captured(passing.uri, stamp14):
                    self.counts["skipped/archived_before"] += 1
                    continue
                self.counts["found"] += 1
                key = (passing.uri, stamp14, "")
                try:
                    checked = check_record(passing.read())
                except Skip as exc:
                    self.counts[f"skipped/{exc}"] += 1
                    self.pending.append((None, None, key))
                    continue
                except Broken as exc:
                    self.failed(f"{when} {passing.uri}", str(exc), again=exc.again)
                    if exc.again:  # cut short: the file is read again from here by the next run
                        hold = here if hold is None else hold
                    else:  # the file's own bytes: reading it again would not change them
                        self.pending.append((None, None, key))
                    continue
                self.counts["fetched"] += 1
                self.take(checked, key)
                if len(self.pending) >= self.job.batch_size or self.due():
                    # everything before this record is handled, and this one is in the batch
                    at = here if hold is None else min(here, hold)
                    self.flush(lambda at=at: self.mark(url, scoped=True, position=at))
            self.client.succeeded(url)
            if hold is not None:
                self.flush(lambda: self.mark(url, scoped=True, position=hold))
                raise Damaged(f"a record at byte {hold} was cut short")
            self.flush(lambda: self.mark(url, scoped=True, done=True))
        finally:
            self.reading = None
            response.close()

    # -- one capture -----------------------------------------------------------------------

    def take(self, checked: Checked, key: tuple) -> None:
        """Extract the capture's article and add both to what the next `flush` writes."""
        charset = checked.content_type.lower().partition("charset=")[2].split(";")[0].strip() or None
        try:
            result = article_from_page(checked.body, dw.canonical_url(checked.uri), charset)
        except Exception:  # noqa: BLE001 - one bad page never ends the run; it is counted
            logger.exception("Extraction failed on %s", checked.uri)
            result = "extractor_error"
        if result == "extractor_error":
            self.counts["failed"] += 1
            self.counts["failed/extractor_error"] += 1
            result = None
        elif isinstance(result, str):
            self.counts[f"skipped/{result}"] += 1
            result = None
        else:
            result.update(fetched_at=checked.fetched_at)
        self.pending.append((checked, result, key))

    def flush(self, also: Callable[[], None] | None = None) -> None:
        """Append the records in hand to the WARC and write their articles, the captures handled,
        the progress marks (and `also`'s) and the WARC file's new committed end to the archive in
        one transaction."""
        if also is not None:
            also()
        pending, marks = self.pending, self.marks
        if not pending and not marks:
            return
        self.pending, self.marks = [], []
        with self.stopper.critical():
            members = [checked.member for checked, _, _ in pending if checked is not None]
            articles, end = [], None
            if members:
                warc_file, offset = self.warcs.append(members)
                end = (Path(warc_file).name, offset + sum(map(len, members)))
                for checked, article, _ in pending:
                    if checked is None:
                        continue
                    if article is not None:
                        article.update(warc_file=warc_file, warc_offset=offset)
                        articles.append(article)
                    offset += len(checked.member)
            captures = [key for _, _, key in pending if key]
            links = [(dw.encode_short_code(a["id"]), a["id"]) for a in articles]
            def bookkeeping() -> None:
                self._write_marks(marks, captures)
                if end is not None:
                    self._commit_end(*end)

            written = self.archive.write_batch(articles, links, cause=self.job.source, also=bookkeeping)
            for verdict in ("new", "updated", "unchanged", "earlier", "older", "refused"):
                self.counts[verdict] += written[verdict]


def _records_from(handle) -> int:
    """The WARC records (warcinfo left out) from where `handle` is to the file's end; a last
    one the kill cut short is counted."""
    count = 0
    try:
        for record in ArchiveIterator(handle):
            count += record.rec_type != "warcinfo"
    except Exception:  # noqa: BLE001 - warcio raises its own for a member cut short
        count += 1
    return count


def _create_tables(archive: Archive) -> None:
    db = archive.db
    if db[PROGRESS].exists() and "scope" not in db[PROGRESS].columns_dict:
        # Kept before progress recorded the languages and range it was made for, and marked
        # done whatever failed: not to be trusted. Listings are read again; captures already
        # archived are not fetched again (backfill_captures).
        logger.warning("Backfill progress from before 2026-12 is not trusted: listings will be read again")
        db[PROGRESS].drop()
    if not db[PROGRESS].exists():
        db[PROGRESS].create({"source": str, "unit": str, "scope": str, "position": int, "cursor": str,
                             "done": int, "updated_at": str}, pk=("source", "unit", "scope"))
    if not db[CAPTURES].exists():
        db[CAPTURES].create({"url": str, "timestamp": str, "digest": str, "source": str},
                            pk=("url", "timestamp"))
        db[CAPTURES].create_index(["url", "digest"])
    if not db[WARCS].exists():
        db[WARCS].create({"file": str, "committed_end": int, "updated_at": str}, pk="file")

