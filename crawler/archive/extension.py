"""The archive during a crawl: one Scrapy extension opens it, takes what the crawl hands it, writes
it in batches and closes it. The spider, the pipelines and the summary reach it with
`crawler.get_extension(ArchiveExtension)`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro

from crawler.archive.records import Fetched, Stored, as_record
from crawler.archive.store import Archive

logger = logging.getLogger(__name__)


def run_lock_path(archive_path: str | os.PathLike) -> str:
    """The run lock of the archive at `archive_path`: beside the real file, so that a symlink to
    the archive takes the same lock."""
    return f"{os.path.realpath(archive_path)}.lock"


class ArchiveExtension:
    """Owns the crawl's `Archive` at `ARCHIVE_PATH`; buffers and writes in batches.

    Everything the crawl learns for the archive goes through here: articles (from the item
    pipeline), HTTP validators, 304s and short links (from the spider). A batch is written in
    one transaction every `ARCHIVE_BATCH_SIZE` articles or `ARCHIVE_BATCH_SECONDS` seconds,
    and at the end of the crawl. If a batch cannot be written, the crawl stops (reason
    `archive_error`), `dw/archive/error` says why, and every article not stored is counted
    in `dw/archive/failed_articles`.
    """

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self._lock = None  # the run lock's open file while this crawl holds it
        self.path: str = settings.get("ARCHIVE_PATH")
        self.timeout = settings.getfloat("ARCHIVE_TIMEOUT")
        self.max_pages = settings.getint("ARCHIVE_MAX_PAGES")
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
        """The open archive, opened (and migrated) on first use; raises sqlite3.Error, OSError."""
        if self._archive is None:
            self._archive = Archive(self.path, timeout=self.timeout, max_pages=self.max_pages)
        return self._archive

    @property
    def lock_path(self) -> str | None:
        """The file a run locks (flock) so that one crawl at a time writes this archive."""
        return run_lock_path(self.path)

    def take_run_lock(self) -> bool:
        """Take the archive's run lock, held until the crawl ends (`close`); False, logged, when
        another run holds it. Without a `lock_path` (a distributed worker: the run's lock is
        in Redis) there is nothing to take."""
        if self.lock_path is None:
            return True
        path = Path(self.lock_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(path, "a")  # noqa: SIM115 - held open: the lock lasts while it is
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            logger.error("Another crawl is running on this archive (lock %s held); not starting"
                         " a second one", path)
            return False
        return True

    # -- what the spider asks ------------------------------------------------------------

    def stored(self, article_id: int) -> Stored | None:
        """What the archive holds about one article (hash, last seen, validators), or None."""
        return self.archive.stored(article_id)

    def due_for_revisit(self, now: datetime, languages: list[str]) -> list[tuple[int, str]]:
        """(id, url) of archived articles due for a re-check; see `Archive.due_for_revisit`."""
        return self.archive.due_for_revisit(now, languages)

    def count(self, table: str = "articles") -> int:
        """Rows in one table; also proves the archive can be opened and read (else `fail`s)."""
        try:
            return self.archive.count(table)
        except (sqlite3.Error, OSError) as exc:
            self.fail(self.describe(exc, "cannot read"), 0)
            raise

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
        self.articles.append(record)
        self._maybe_flush()

    def record_fetched(self, article_id: int, etag: str | None, last_modified: str | None) -> None:
        """Keep a fetched page's validators (`ETag`, `Last-Modified`) with its article's row."""
        if etag or last_modified:
            self.validators[article_id] = (etag, last_modified)

    def record_not_modified(self, article_id: int) -> None:
        """An archived article answered 304: mark it seen in the next batch."""
        self.not_modified.append(Fetched(article_id, not_modified=True))
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
        for verdict in ("new", "updated", "unchanged"):
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
        after every `spider_closed` handler). A failed merge loses nothing: the index stays
        correct, with more segments, and the next run merges them."""
        if self._lock is not None:
            self._lock.close()  # releases the run lock
            self._lock = None
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
