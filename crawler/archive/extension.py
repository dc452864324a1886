"""The archive during a crawl: one Scrapy extension takes its run lock and opens it, takes what
the crawl hands it, writes it in batches and closes it. The spider, the pipelines and the
summary reach it with `crawler.get_extension(ArchiveExtension)`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import datetime

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro

from crawler.archive.lock import ArchiveLocked, RunLock
from crawler.archive.records import Fetched, Stored, as_record, utc_now
from crawler.archive.store import Archive

logger = logging.getLogger(__name__)


class ArchiveUnavailable(Exception):
    """The archive cannot be read or reached: why, in words; the error behind it is its cause
    (`sqlite3.Error` in one process, `redis.RedisError` in a distributed worker)."""


class ArchiveExtension:
    """Owns the crawl's `Archive` at `ARCHIVE_PATH`, and its run lock; buffers and writes in batches.

    The archive is opened (`open`, by the archive pipeline when the spider opens) only under its
    run lock (crawler/archive/lock.py): a second run on it, under any name, stops at once with
    reason `archive_locked`. Everything the crawl learns for the archive goes through here:
    articles (from the item pipeline), HTTP validators, 304s and short links (from the spider).
    A batch is written in one transaction every `ARCHIVE_BATCH_SIZE` articles or
    `ARCHIVE_BATCH_SECONDS` seconds, and at the end of the crawl. If a batch cannot be written,
    the crawl stops (reason `archive_error`), `dw/archive/error` says why, and every article not
    stored is counted in `dw/archive/failed_articles`.
    """

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.path: str = settings.get("ARCHIVE_PATH")
        self.lock = RunLock(self.path)
        self.locked_out = False  # another run held the lock: this one never touches the archive
        self.batch_size = settings.getint("ARCHIVE_BATCH_SIZE")
        self.batch_seconds = settings.getfloat("ARCHIVE_BATCH_SECONDS")
        self._archive: Archive | None = None
        self.articles: list[dict] = []
        self.short_links: list[tuple[str, int]] = []
        self.not_modified: list[Fetched] = []
        self.validators: dict[int, tuple[str | None, str | None]] = {}
        self.last_flush = time.monotonic()
        self.error: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.close, signal=signals.engine_stopped)
        return extension

    @property
    def archive(self) -> Archive:
        """The open archive, opened (and migrated) on first use under the run lock, taken first.

        Raises `ArchiveLocked` when another run holds the lock; sqlite3.Error, OSError when the
        archive cannot be opened."""
        if self._archive is None:
            self.lock.acquire()
            self._archive = Archive.from_settings(self.crawler.settings)
        return self._archive

    def open(self) -> str | None:
        """Take the run lock and open the archive, before anything is fetched. None when it is
        open; else the reason to close the spider (`archive_locked`: another run holds it;
        `archive_error`: it cannot be opened, `fail`ed), logged once."""
        if self.locked_out:
            return "archive_locked"
        try:
            self.archive  # noqa: B018 - opened now, a bad path is reported before fetching
        except ArchiveLocked:
            self.locked_out = True
            logger.error("Another crawl is running on this archive (%s is locked); not starting a"
                         " second one", self.path)
            return "archive_locked"
        except (sqlite3.Error, OSError) as exc:
            self.fail(self.describe(exc, "cannot open"), 0)
            return "archive_error"
        return None

    # -- what the spider asks ------------------------------------------------------------

    def stored(self, article_id: int) -> Stored | None:
        """What the archive holds about one article (hash, last seen, validators), or None."""
        return self.archive.stored(article_id)

    def due_for_revisit(self, now: datetime, languages: list[str]) -> list[tuple[int, str]]:
        """(id, url) of archived articles due for a re-check; see `Archive.due_for_revisit`."""
        return self.archive.due_for_revisit(now, languages)

    def count(self, table: str = "articles") -> int:
        """Rows in one table; also proves the archive can be read (else `fail`s and raises
        `ArchiveUnavailable`)."""
        try:
            return self.archive.count(table)
        except (sqlite3.Error, OSError) as exc:
            reason = self.describe(exc, "cannot read")
            self.fail(reason, 0)
            raise ArchiveUnavailable(reason) from exc

    def describe(self, exc: Exception, action: str | None = None) -> str:
        """An error opening or using the archive, in words that say what to do about it."""
        if isinstance(exc, sqlite3.DatabaseError) and any(
                words in str(exc) for words in ("malformed", "not a database")):
            return (f"the archive is damaged ({exc}); run"
                    f" `sqlite3 {self.path} .recover | sqlite3 {self.path}.recovered`")
        return f"{action} {self.path}: {exc}" if action else str(exc)

    # -- what the crawl hands over ---------------------------------------------------------

    def store_article(self, item) -> None:
        """Buffer one normalised article item for the next batch (content hash computed here)."""
        try:
            record = as_record(item)
        except ValueError as exc:  # one bad article never costs its batch
            self.stats.inc_value("dw/archive/refused_articles")
            logger.warning("Refusing an article: %s", exc)
            return
        if self.error:
            self.stats.inc_value("dw/archive/failed_articles")
            return
        etag, last_modified = self.validators.pop(record["id"], (None, None))
        record["etag"], record["last_modified"] = etag, last_modified
        record["fetched_at"] = record.get("fetched_at") or utc_now()  # the archive orders by it
        self.articles.append(record)
        self._maybe_flush()

    def record_fetched(self, article_id: int, etag: str | None, last_modified: str | None) -> None:
        """Keep a fetched page's validators (`ETag`, `Last-Modified`) with its article's row."""
        if etag or last_modified:
            self.validators[article_id] = (etag, last_modified)

    def record_not_modified(self, article_id: int, fetched_at: str | None = None) -> None:
        """An archived article answered 304 (at `fetched_at`, default now): mark it seen in the
        next batch."""
        self.not_modified.append(Fetched(article_id, not_modified=True,
                                         fetched_at=fetched_at or utc_now()))
        self._maybe_flush()

    def record_short_link(self, code: str, article_id: int) -> None:
        """A p.dw.com code leads to this article: stored once the article is archived."""
        self.short_links.append((code, article_id))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (len(self.articles) >= self.batch_size
                or time.monotonic() - self.last_flush >= self.batch_seconds):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered in one transaction; on failure keep the archive as it was."""
        self.last_flush = time.monotonic()
        if self.error or not (self.articles or self.short_links or self.not_modified):
            return
        articles, self.articles = self.articles, []
        not_modified, self.not_modified = self.not_modified, []
        links = self.short_links
        try:
            archive = self.archive
            counts = archive.write_batch(articles, links, not_modified)
            # A short link whose article is not archived yet waits for a later batch.
            self.short_links = [link for link in links if not archive.has_short_link(link[0])]
        except (sqlite3.Error, OSError) as exc:
            self.fail(self.describe(exc), len(articles))
            return
        if counts.get("refused"):
            self.stats.inc_value("dw/archive/refused_articles", counts["refused"])
        for verdict in ("new", "updated", "unchanged", "earlier"):
            if counts[verdict]:
                self.stats.inc_value(f"dw/articles/{verdict}", counts[verdict])
        logger.debug("Archived a batch: %s", counts)

    def fail(self, error: str, lost: int) -> None:
        """Stop the crawl: fetching on is pointless when nothing can be stored."""
        if self.error:  # already stopping; the first error is the one to report
            self.stats.inc_value("dw/archive/failed_articles", lost)
            return
        self.error = error
        self.stats.inc_value("dw/archive/failed_articles", lost)
        self.stats.set_value("dw/archive/error", error)
        logger.error("The archive cannot be written (%s); %d articles not stored; stopping the crawl",
                     error, lost)
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            self._closing = deferred_from_coro(engine.close_spider_async(reason="archive_error"))

    # -- the end ---------------------------------------------------------------------------

    def spider_closed(self, spider, reason) -> None:
        """Write the last batch; report short links whose article never came."""
        self.flush()
        if self.short_links and not self.error:
            self.stats.inc_value("dw/short_links/unresolved", len(self.short_links))
            logger.warning("%d short links point at articles not in the archive: %s",
                           len(self.short_links), [code for code, _ in self.short_links][:20])

    def close(self) -> None:
        """Merge the search index's new segments and close the archive (at `engine_stopped`,
        after every `spider_closed` handler), then release the run lock. A failed merge loses
        nothing: the index stays correct, with more segments, and the next run merges them."""
        if self._archive is not None:
            if not self.error:
                try:
                    started = time.perf_counter()
                    steps = self._archive.merge_search_index()
                    logger.info("Search index merged in %d steps, %.2f s", steps,
                                time.perf_counter() - started)
                except sqlite3.Error as exc:
                    logger.warning("Search index not merged (%s); the next run will", exc)
            self._archive.close()
            self._archive = None
        self.lock.release()  # after the connection: see crawler/archive/lock.py
