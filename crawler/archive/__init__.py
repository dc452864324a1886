"""The SQLite archive: its schema (`schema`), one stored article (`records`), reads and batched
writes (`store`), its run lock (`lock`), what it is on disk (`paths`), its damage check
(`integrity`), its runs' rows (`runs`), backup and restore (`backup`), and the Scrapy extension
that owns it during a crawl (`extension`), reached with `crawler.get_extension(ArchiveExtension)`."""

from crawler.archive.extension import ArchiveExtension, ArchiveUnavailable
from crawler.archive.lock import ArchiveLocked, RunLock
from crawler.archive.records import Fetched, Record, Stored, as_record, content_hash, utc_now
from crawler.archive.schema import ARTICLE_COLUMNS, CONTENT_FIELDS, LIST_FIELDS
from crawler.archive.store import Archive

__all__ = ["ARTICLE_COLUMNS", "CONTENT_FIELDS", "LIST_FIELDS", "Archive", "ArchiveExtension",
           "ArchiveLocked", "ArchiveUnavailable", "Fetched", "Record", "RunLock", "Stored", "as_record",
           "content_hash", "utc_now"]
