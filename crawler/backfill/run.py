"""One backfill run: list captures, fetch each one, keep it as WARC, extract, archive; resumably.

Every capture used is appended to the project's own WARC files (`backfill-<source>-*.warc.gz`
in the crawl's WARC folder: Common Crawl's records byte for byte, a Wayback capture as a
`response` record dated as captured), read back with `crawler.warc.read.read_payload`, and run
through the crawl's extractor and normaliser (`crawler.warc.reextract.article_from_page`). The
article goes to the archive with its capture's date (`fetched_at`) and WARC location, so the
archive's rule places it: newer than what is stored, an update; older, an earlier revision,
with the source as its `cause`.

Progress is kept in the archive, in the same file as what it describes:
`backfill_progress` (a CDX page or a WARC file, with the offset reached in it, done or not) and
`backfill_captures` (the captures already archived). A page or file is marked only after the
batch holding its articles is committed, so a run stopped anywhere redoes at most one batch.
"""

from __future__ import annotations

import io
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from warcio.statusandheaders import StatusAndHeaders

from crawler import dw
from crawler.archive import Archive, utc_now
from crawler.backfill import sources
from crawler.backfill.client import Failed, PoliteClient, Refused
from crawler.backfill.sources import Capture, Query
from crawler.dates import to_utc
from crawler.warc.capture import BUILDER, WarcFiles, gzip_member
from crawler.warc.read import read_payload
from crawler.warc.reextract import article_from_page

logger = logging.getLogger("crawler.backfill")

PROGRESS = "backfill_progress"
CAPTURES = "backfill_captures"
LOG_EVERY = 10.0  # seconds between progress lines


@dataclass
class Job:
    """What to backfill: the source, the languages, an inclusive date range (days), the Common
    Crawl crawls (`all`: every one that `collinfo.json` lists), and where the archives are."""

    source: str
    languages: list[str]
    since: date | None
    until: date | None
    crawls: list[str] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    batch_size: int = 50

    def in_range(self, fetched_at: str) -> bool:
        day = fetched_at[:10]
        return not ((self.since and day < self.since.isoformat())
                    or (self.until and day > self.until.isoformat()))

    def closed(self) -> bool:
        """True when the range ended before today: its listings will not grow any more."""
        return self.until is not None and self.until < datetime.now(UTC).date()


class Backfill:
    """Run a `Job` into an open `Archive`, with a `PoliteClient` and the WARC folder for copies."""

    def __init__(self, job: Job, archive: Archive, client: PoliteClient, warcs: WarcFiles,
                 counts: Counter):
        self.job, self.archive, self.client, self.warcs, self.counts = job, archive, client, warcs, counts
        self.languages = set(job.languages)
        self.batch: list[dict] = []
        self.batch_marks: list[tuple] = []  # capture keys to record with the batch
        self.started = self.last_log = time.monotonic()
        _create_tables(archive)

    # -- progress --------------------------------------------------------------------------

    def unit(self, name: str) -> tuple[int, bool]:
        row = self.archive.db.execute(f"SELECT position, done FROM {PROGRESS} WHERE source = ? AND unit = ?",
                                      [self.job.source, name]).fetchone()
        return (row[0], bool(row[1])) if row else (0, False)

    def mark(self, name: str, position: int = 0, done: bool = False) -> None:
        self.archive.db.execute(
            f"INSERT INTO {PROGRESS} (source, unit, position, done, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(source, unit) DO UPDATE SET position = excluded.position,"
            " done = excluded.done, updated_at = excluded.updated_at",
            [self.job.source, name, position, int(done), utc_now()])

    def captured(self, capture: Capture) -> bool:
        """True when this capture (or one with its digest of the same URL) was archived before."""
        return self.archive.db.execute(
            f"SELECT 1 FROM {CAPTURES} WHERE url = ? AND (timestamp = ? OR (digest != '' AND digest = ?))",
            [capture.url, capture.timestamp, capture.digest]).fetchone() is not None

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Do the job; counts in `self.counts`. Raises sqlite3.Error when the archive cannot be
        written, KeyboardInterrupt when stopped (after writing what is in hand)."""
        try:
            if self.job.source == "cc-news":
                self.run_news()
            else:
                self.run_cdx()
        finally:
            self.flush()
            self.log_progress(force=True)

    def run_cdx(self) -> None:
        job = self.job
        if job.source == "wayback":
            queries = sources.language_queries(job.endpoints["wayback_cdx"], job.languages, job.since,
                                               job.until, "statuscode", collapse=True)
        else:
            crawls = job.crawls
            if crawls == ["all"]:
                try:
                    crawls = sources.crawl_list(self.client, job.endpoints["commoncrawl_collinfo"],
                                                job.since, job.until)
                except (Failed, Refused, ValueError) as exc:
                    self.listing_failed(str(exc))
                    return
            queries = [q for crawl in crawls for q in sources.language_queries(
                job.endpoints["commoncrawl_cdx"].format(crawl=crawl), job.languages, job.since,
                job.until, "status", collapse=False)]
        for query in queries:
            self.run_query(query)

    def run_query(self, query: Query) -> None:
        if self.unit(query.key)[1]:
            self.counts["skipped/listing_done_before"] += 1
            return
        try:
            pages = sources.page_count(self.client, query) if self.job.source == "commoncrawl" else 1
        except (Failed, Refused) as exc:
            self.listing_failed(str(exc))
            return
        for page in range(pages):
            name = query.url(page if pages > 1 else None)
            if pages > 1 and self.unit(name)[1]:
                continue
            try:
                response = self.client.get(name)
            except (Failed, Refused) as exc:
                self.listing_failed(str(exc))
                return
            if response.status_code not in (200, 404):  # pywb answers 404 for no captures
                self.listing_failed(f"{name}: HTTP {response.status_code}")
                return
            self.counts["listings/read"] += 1
            rows = sources.cdx_rows(response.text) if response.status_code == 200 else []
            for row in rows:
                self.consider(sources.as_capture(row))
            self.flush()
            self.mark(name, done=True)
            self.counts["listings/pages"] += 1
        if self.job.source == "commoncrawl" or self.job.closed():
            self.mark(query.key, done=True)

    def listing_failed(self, why: str) -> None:
        self.counts["listings/failed"] += 1
        logger.error("Cannot read a listing: %s", why)

    def consider(self, capture: Capture) -> None:
        """Fetch, keep and archive one listed capture, unless filtered out or done before."""
        self.counts["captures/listed"] += 1
        kind = sources.wanted(capture.url, self.languages)
        if kind != "article":
            self.counts[f"skipped/{kind}"] += 1
            return
        if capture.status not in ("", "200") or not self.job.in_range(capture.fetched_at):
            self.counts["skipped/status_or_date"] += 1
            return
        if self.captured(capture):
            self.counts["skipped/archived_before"] += 1
            return
        self.counts["found"] += 1
        try:
            member = self.fetch(capture)
        except (Failed, Refused) as exc:
            self.counts["failed"] += 1
            logger.warning("Capture %s %s not fetched: %s", capture.timestamp, capture.url, exc)
            return
        if member is None:
            return
        self.counts["fetched"] += 1
        self.take(member, capture.url, (capture.url, capture.timestamp, capture.digest))

    def fetch(self, capture: Capture) -> bytes | None:
        """The capture as one gzip member of a WARC response record, or None (counted) when the
        archive's answer is not one."""
        if self.job.source == "commoncrawl":
            url = f"{self.job.endpoints['commoncrawl_data'].rstrip('/')}/{capture.filename.lstrip('/')}"
            end = capture.offset + capture.length - 1
            response = self.client.get(url, headers={"Range": f"bytes={capture.offset}-{end}"},
                                       stream=True)
            with response:
                data = response.raw.read(capture.length + 1, decode_content=False)  # as stored
            if response.status_code != 206:
                return self.failed(capture, f"http_{response.status_code}")
            if len(data) != capture.length:
                return self.failed(capture, "wrong_length")
            return data
        url = f"{self.job.endpoints['wayback_replay'].rstrip('/')}/{capture.timestamp}id_/{capture.url}"
        response = self.client.get(url)
        if response.status_code != 200:
            return self.failed(capture, f"http_{response.status_code}")
        # `requests` removed the content encoding; the record says what it holds.
        headers = [(k, v) for k, v in response.headers.items()
                   if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")]
        headers.append(("Content-Length", str(len(response.content))))
        record = BUILDER.create_warc_record(
            capture.url, "response", payload=io.BytesIO(response.content), length=len(response.content),
            http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": capture.fetched_at, "WARC-Source-URI": url})
        return gzip_member(record)

    def failed(self, capture: Capture, reason: str) -> None:
        self.counts["failed"] += 1
        self.counts[f"failed/capture/{reason}"] += 1
        logger.warning("Capture %s %s: %s", capture.timestamp, capture.url, reason)
        return None

    # -- CC-NEWS ---------------------------------------------------------------------------

    def run_news(self) -> None:
        job = self.job
        for year, month in sources.months(job.since, job.until):
            listing = f"crawl-data/CC-NEWS/{year}/{month:02d}/warc.paths.gz"
            if self.unit(listing)[1]:
                self.counts["skipped/listing_done_before"] += 1
                continue
            url = f"{job.endpoints['commoncrawl_data'].rstrip('/')}/{listing}"
            try:
                paths = sources.news_paths(self.client, url)
            except (Failed, Refused, ValueError) as exc:
                self.listing_failed(str(exc))
                continue
            self.counts["listings/read"] += 1
            complete = True
            for path in paths:
                complete &= self.run_news_file(path)
            month_over = date(year + month // 12, month % 12 + 1, 1) <= datetime.now(UTC).date()
            if complete and month_over:
                self.mark(listing, done=True)

    def run_news_file(self, path: str) -> bool:
        """Stream one WARC, keeping its DW article records; True when it was read to its end."""
        from crawler.backfill.stream import dw_records

        position, done = self.unit(path)
        if done:
            return True
        url = f"{self.job.endpoints['commoncrawl_data'].rstrip('/')}/{path.lstrip('/')}"
        try:
            for offset, member, target in dw_records(self.client, url, position, self.counts):
                self.counts["fetched"] += 1
                if len(self.batch) >= self.job.batch_size:
                    self.flush()
                    self.mark(path, offset)  # everything before this record is written
                self.take(member, target, None)
        except (Failed, Refused, OSError, ValueError) as exc:
            self.flush()
            self.listing_failed(f"{url}: {exc}")
            return False
        self.flush()
        self.mark(path, done=True)
        self.counts["files/done"] += 1
        return True

    # -- one capture -----------------------------------------------------------------------

    def take(self, member: bytes, url: str, capture_key: tuple | None) -> None:
        """Keep the record, extract its article and add it to the batch."""
        warc_file, offset = self.warcs.append([member])
        try:
            body, content_type, fetched_at = read_payload_dated(warc_file, offset)
        except ValueError as exc:
            self.counts["failed"] += 1
            self.counts["failed/capture/unreadable"] += 1
            logger.warning("%s: %s", url, exc)
            return
        if not self.job.in_range(fetched_at):
            self.counts["skipped/status_or_date"] += 1
            return
        charset = content_type.lower().partition("charset=")[2].split(";")[0].strip() or None
        try:
            result = article_from_page(body, dw.canonical_url(url), charset)
        except Exception:  # noqa: BLE001 - one bad page never ends the run; it is counted
            logger.exception("Extraction failed on %s", url)
            result = "extractor_error"
        if isinstance(result, str):
            self.counts[f"skipped/{result}" if result != "extractor_error" else "failed/extractor_error"] += 1
            if capture_key:
                self.batch_marks.append(capture_key)
            return
        result.update(fetched_at=fetched_at, warc_file=warc_file, warc_offset=offset)
        self.batch.append(result)
        if capture_key:
            self.batch_marks.append(capture_key)
        if len(self.batch) >= self.job.batch_size and self.job.source != "cc-news":
            self.flush()
        self.log_progress()

    def flush(self) -> None:
        """Write the batch in one transaction, then record its captures as done."""
        batch, marks = self.batch, self.batch_marks
        self.batch, self.batch_marks = [], []
        if batch:
            links = [(dw.encode_short_code(a["id"]), a["id"]) for a in batch]
            written = self.archive.write_batch(batch, links, cause=self.job.source)
            for verdict in ("new", "updated", "unchanged", "earlier", "refused"):
                self.counts[verdict] += written[verdict]
        if marks:
            self.archive.db.conn.executemany(
                f"INSERT OR IGNORE INTO {CAPTURES} (url, timestamp, digest, source) VALUES (?, ?, ?, ?)",
                [(*mark, self.job.source) for mark in marks])

    def log_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_log < LOG_EVERY:
            return
        self.last_log = now
        c = self.counts
        logger.info("backfill %s: %d listings read, %d captures fetched (%.1f/s), %d new, %d updated,"
                    " %d earlier, %d unchanged, %d failed, %d requests", self.job.source,
                    c["listings/read"], c["fetched"], c["fetched"] / max(now - self.started, 1e-6),
                    c["new"], c["updated"], c["earlier"], c["unchanged"], c["failed"], c["requests"])


def read_payload_dated(path: str, offset: int) -> tuple[bytes, str, str]:
    """`read_payload` and the record's WARC-Date (archive form)."""
    from warcio.archiveiterator import ArchiveIterator

    body, content_type = read_payload(path, offset)
    with open(path, "rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        when = to_utc(record.rec_headers.get_header("WARC-Date")) or ""
    return body, content_type, when


def _create_tables(archive: Archive) -> None:
    db = archive.db
    if not db[PROGRESS].exists():
        db[PROGRESS].create({"source": str, "unit": str, "position": int, "done": int, "updated_at": str},
                            pk=("source", "unit"))
    if not db[CAPTURES].exists():
        db[CAPTURES].create({"url": str, "timestamp": str, "digest": str, "source": str},
                            pk=("url", "timestamp"))
        db[CAPTURES].create_index(["url", "digest"])
