"""Write articles and short links to the SQLite archive, in batches, one transaction each."""

from __future__ import annotations

import logging
import sqlite3
import time

from itemadapter import ItemAdapter
from scrapy.utils.defer import deferred_from_coro

from crawler.archive import archive_for
from crawler.items import Fetched, ShortLink

logger = logging.getLogger(__name__)


class ArchivePipeline:
    """Buffer items and write them to the archive every `ARCHIVE_BATCH_SIZE` items or seconds."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.batch_size = crawler.settings.getint("ARCHIVE_BATCH_SIZE", 100)
        self.batch_seconds = crawler.settings.getfloat("ARCHIVE_BATCH_SECONDS", 5.0)
        self.articles: list[dict] = []
        self.short_links: list[tuple[str, int]] = []
        self.fetches: list[Fetched] = []
        self.last_flush = time.monotonic()
        self.failed = False

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self):
        try:
            archive_for(self.crawler)
        except sqlite3.Error as exc:
            self._fail(f"cannot open {self.crawler.settings.get('ARCHIVE_PATH')}: {exc}", 0)

    def process_item(self, item):
        if isinstance(item, ShortLink):
            self.short_links.append((item.code, item.article_id))
        elif isinstance(item, Fetched):
            self.fetches.append(item)
        else:
            self.articles.append(ItemAdapter(item).asdict())
        if (len(self.articles) >= self.batch_size
                or time.monotonic() - self.last_flush >= self.batch_seconds):
            self.flush()
        return item

    def close_spider(self):
        self.flush()
        if self.short_links:
            self.stats.inc_value("dw/short_links/unresolved", len(self.short_links))
            logger.warning("%d short links point at articles not in the archive: %s",
                           len(self.short_links), [code for code, _ in self.short_links][:20])

    def flush(self) -> None:
        """Write what is buffered in one transaction; on failure keep the archive as it was."""
        self.last_flush = time.monotonic()
        if not (self.articles or self.short_links or self.fetches) or self.failed:
            return
        articles, self.articles = self.articles, []
        fetches, self.fetches = self.fetches, []
        links = self.short_links
        try:
            counts = archive_for(self.crawler).write_batch(articles, links, fetches)
        except sqlite3.Error as exc:
            self._fail(str(exc), len(articles))
            return
        # A short link whose article is not archived yet waits for a later batch.
        archive = archive_for(self.crawler)
        self.short_links = [link for link in links if not archive.has_short_link(link[0])]
        for verdict in ("new", "updated", "unchanged"):
            if counts[verdict]:
                self.stats.inc_value(f"dw/articles/{verdict}", counts[verdict])
        logger.debug("Archived a batch: %s", counts)

    def _fail(self, error: str, lost: int) -> None:
        """Stop the crawl: fetching on is pointless when nothing can be stored."""
        self.failed = True
        self.stats.inc_value("dw/archive/failed_articles", lost)
        self.stats.set_value("dw/archive/error", error)
        logger.error("The archive cannot be written (%s); %d articles not stored; stopping the crawl",
                     error, lost)
        self._stop("archive_error")

    def _stop(self, reason: str) -> None:
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            self._closing = deferred_from_coro(engine.close_spider_async(reason=reason))
