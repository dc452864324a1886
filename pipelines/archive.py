"""Hand each article to the archive, which writes it in the next batch (see `ArchiveExtension`)."""

from __future__ import annotations

import logging
import sqlite3

from crawler.archive import ArchiveExtension

logger = logging.getLogger(__name__)


class ArchivePipeline:
    """The item pipeline's last step: articles go to the crawl's `ArchiveExtension`."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def archive(self) -> ArchiveExtension:
        return self.crawler.get_extension(ArchiveExtension)

    def open_spider(self):
        try:
            self.archive.archive  # noqa: B018 - opening it here reports a bad path before fetching
        except (sqlite3.Error, OSError) as exc:
            self.archive.fail(f"cannot open {self.archive.path}: {exc}", 0)

    def process_item(self, item):
        self.archive.store_article(item)
        return item

    def close_spider(self):
        self.archive.flush()
