"""The SQLite archive: its schema (`schema`), reads and batched writes (`store`), and the Scrapy
extension that owns it during a crawl (`extension`), reached with
`crawler.get_extension(ArchiveExtension)`."""

from crawler.archive.extension import ArchiveExtension
from crawler.archive.schema import ARTICLE_COLUMNS, CONTENT_FIELDS, LIST_FIELDS
from crawler.archive.store import Archive, Fetched, Stored, as_record, content_hash, utc_now

__all__ = ["ARTICLE_COLUMNS", "CONTENT_FIELDS", "LIST_FIELDS", "Archive", "ArchiveExtension",
           "Fetched", "Stored", "as_record", "content_hash", "utc_now"]
