"""Hand each article to the archive, which writes it in the next batch (see `ArchiveExtension`)."""

from __future__ import annotations

import sqlite3

from crawler.archive import ArchiveExtension


class ArchivePipeline:
    """The item pipeline's last step: articles go to the crawl's `ArchiveExtension`."""

    def __init__(self, archive: ArchiveExtension):
        self.archive = archive

    @classmethod
    def from_crawler(cls, crawler):
        archive = crawler.get_extension(ArchiveExtension)
        if archive is None:
            raise ValueError("ArchivePipeline needs crawler.archive.ArchiveExtension in EXTENSIONS")
        return cls(archive)

    def open_spider(self):
        if getattr(self.archive.crawler.spider, "argument_error", None):
            return  # the run is refused before it begins: the archive is not opened, nor created
        try:
            self.archive.archive  # noqa: B018 - opened now, a bad path is reported before fetching
        except (sqlite3.Error, OSError) as exc:
            self.archive.fail(self.archive.describe(exc, "cannot open"), 0)

    def process_item(self, item):
        self.archive.store_article(item)
        return item

    def close_spider(self):
        self.archive.flush()
