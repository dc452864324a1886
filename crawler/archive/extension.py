"""The archive during a crawl: one Scrapy extension opens it, takes what the crawl hands it, writes
it in batches and closes it. The spider, the pipelines and the summary reach it with
`crawler.get_extension(ArchiveExtension)`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.defer import deferred_from_coro

from crawler.archive import integrity, runs
from crawler.archive.records import Fetched, Stored, as_record, utc_now
from crawler.archive.store import Archive

logger = logging.getLogger(__name__)


def run_lock_path(archive_path: str | os.PathLike) -> str:
    """The run lock of the archive at `archive_path`: beside the real file, so that a symlink to
    the archive takes the same lock."""
    return f"{os.path.realpath(archive_path)}.lock"


def lock_holder(path: str | os.PathLike, written: bool = True) -> int | None:
    """The process id holding a lock on the file at `path`: from the kernel's lock table
    (`/proc/locks`, matched by device and inode: the file's name plays no part), else (with
    `written`) the id a crawl writes into the file when it takes the lock, if that process is
    alive; None when no process holds it or it cannot be known."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    try:
        with open("/proc/locks") as table:
            lines = table.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        # `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF`; a waiter's line has `->`.
        fields = line.split()
        if len(fields) < 6 or "->" in fields:
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == (
                    os.major(info.st_dev), os.minor(info.st_dev), info.st_ino):
                return int(fields[4]) if int(fields[4]) > 0 else None
        except ValueError:
            continue
    return _written_holder(path) if written else None


def _written_holder(path: str | os.PathLike) -> int | None:
    try:
        pid = int(Path(path).read_text().strip() or 0)
        if pid > 0:
            os.kill(pid, 0)  # alive? (a crawl killed outright leaves its id behind)
            return pid
    except (OSError, ValueError):
        pass
    return None


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
        self.timeout = settings.getfloat("ARCHIVE_TIMEOUT", 30.0)
        self.max_pages = settings.getint("ARCHIVE_MAX_PAGES", 0)
        self.batch_size = settings.getint("ARCHIVE_BATCH_SIZE", 100)
        self.batch_seconds = settings.getfloat("ARCHIVE_BATCH_SECONDS", 5.0)
        self._archive: Archive | None = None
        self.articles: list[dict] = []
        self.short_links: list[tuple[str, int]] = []
        self.not_modified: list[Fetched] = []
        self.validators: dict[int, tuple[str | None, str | None]] = {}
        self.last_flush = time.monotonic()
        self.error: str | None = None
        self.damaged = False  # the archive was found damaged: nothing more is written to it
        self.locked_out: str | None = None  # another run holds the lock: this one writes nothing
        self.run_id: int | None = None  # this run's `crawl_runs` row, written when it starts

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.close, signal=signals.engine_stopped)
        return extension

    @property
    def archive(self) -> Archive:
        """The open archive, opened (and migrated) on first use; raises sqlite3.Error, OSError.

        Before it is opened for writing, it is checked read-only (`integrity.damage`): a damaged
        archive raises `integrity.ArchiveDamaged` and is never opened, not even migrated. When
        another run holds the lock the check is left out: this run will stop at the lock.
        """
        if self._archive is None:
            if self.damaged:
                raise integrity.ArchiveDamaged(self.path, "found when the run started")
            if not self._locked_elsewhere():
                started = time.perf_counter()
                problems = integrity.damage(self.path)
                self.stats.set_value("dw/archive/check_seconds",
                                     round(time.perf_counter() - started, 3))
                if problems:
                    self.damaged = True
                    raise integrity.ArchiveDamaged(self.path, problems)
            self._archive = Archive(self.path, timeout=self.timeout, max_pages=self.max_pages)
        return self._archive

    def _locked_elsewhere(self) -> bool:
        """True when another process holds the run lock now (asked of the kernel, not by trying
        it: a try, however short, could make a run starting at that moment stop)."""
        if self._lock is not None or self.lock_path is None:
            return False
        return lock_holder(self.lock_path, written=False) not in (None, os.getpid())

    @property
    def lock_path(self) -> str | None:
        """The file a run locks (flock) so that one crawl at a time writes this archive."""
        return run_lock_path(self.path)

    def take_run_lock(self) -> bool:
        """Take the archive's run lock, held until the crawl ends (`close`); False, logged, when
        another run holds it. Without a `lock_path` (a distributed worker: the run's lock is
        in Redis) there is nothing to take."""
        if self.lock_path is None or self._lock is not None:
            return True
        path = Path(self.lock_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(path, "a")  # noqa: SIM115 - held open: the lock lasts while it is
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Who holds it, for a run stopped by it where the kernel's lock table is not read.
            os.ftruncate(self._lock.fileno(), 0)
            self._lock.write(f"{os.getpid()}\n")
            self._lock.flush()
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            holder = lock_holder(path)
            self.locked_out = (f"another crawl is running on this archive (lock {path},"
                               f" {f'pid {holder}' if holder else 'its process unknown'})")
            self.stats.set_value("dw/archive/locked", self.locked_out)
            logger.error("Another crawl is running on this archive (lock %s held by %s); not"
                         " starting a second one", path, f"pid {holder}" if holder else "a process")
            return False
        return True

    def begin_run(self, arguments: dict) -> str | None:
        """Everything a run does before its first request, in order; the reason to stop, or None.

        A damaged or unusable archive (found when it was opened) stops it before the run lock is
        taken; then the lock (`archive_locked`); then the archive is read, and this run's
        `crawl_runs` row is written (`running`), earlier rows left `running` by a killed run
        being marked killed (crawler/archive/runs.py). A distributed worker (no `lock_path`)
        has no SQLite file to check or write.
        """
        if self.error:
            return "archive_error"
        if not self.take_run_lock():
            return "archive_locked"
        try:
            self.count()
        except (sqlite3.Error, OSError):
            return "archive_error"
        if self.lock_path is None:
            return None
        try:
            self.run_id, killed = runs.start(
                self.archive.db.conn, utc_now(),
                json.dumps({k: v for k, v in arguments.items() if v is not None}))
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0)
            return "archive_error"
        if killed:
            logger.warning("%d earlier run(s) of this archive never ended (killed); marked so in"
                           " crawl_runs", killed)
        return None

    def record_run(self, run: dict) -> None:
        """Write this run's `crawl_runs` row (keys: its columns) over the one written when it
        started. Nothing is written to an archive found damaged, nor by a run another run's
        lock stopped (that archive is the other run's). Raises sqlite3.Error, OSError."""
        if self.damaged or self.locked_out:
            logger.info("The run is not recorded in crawl_runs: %s",
                        "the archive is damaged" if self.damaged else self.locked_out)
            return
        runs.finish(self.archive.db.conn, self.run_id, run)

    def record_forced_stop(self) -> None:
        """The run was stopped by force (Ctrl-C twice) before it could decide its outcome: its
        row says so, when no write was in progress. Never raises."""
        if self._archive is None or self.run_id is None or self.damaged:
            return
        if self._archive.db.conn.in_transaction:
            return  # the next run marks it killed
        try:
            runs.finish(self._archive.db.conn, self.run_id,
                        {"finished_at": utc_now(), "finish_reason": "forced", "outcome": runs.FORCED})
        except sqlite3.Error as exc:
            logger.error("Could not record the forced stop in crawl_runs: %s", exc)

    # -- what the spider asks ------------------------------------------------------------

    def stored(self, article_id: int) -> Stored | None:
        """What the archive holds about one article (hash, last seen, validators), or None.
        An archive that cannot be read (a damaged page met mid-run) stops the crawl: CloseSpider."""
        try:
            return self.archive.stored(article_id)
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0)
            raise CloseSpider("archive_error") from None

    def due_for_revisit(self, now: datetime, languages: list[str]) -> list[tuple[int, str]]:
        """(id, url) of archived articles due for a re-check; see `Archive.due_for_revisit`."""
        try:
            return self.archive.due_for_revisit(now, languages)
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0)
            raise CloseSpider("archive_error") from None

    def count(self, table: str = "articles") -> int:
        """Rows in one table; also proves the archive can be opened and read (else `fail`s)."""
        try:
            return self.archive.count(table)
        except (sqlite3.Error, OSError) as exc:
            if integrity.is_damage(exc):
                self.damaged = True
            self.fail(self.describe(exc, "cannot read"), 0)
            raise

    def describe(self, exc: Exception, action: str | None = None) -> str:
        """An error opening or using the archive, in words that say what to do about it."""
        if isinstance(exc, integrity.ArchiveDamaged):
            return str(exc)
        if integrity.is_damage(exc):
            return integrity.damaged_message(self.path, str(exc))
        return f"{action} {self.path}: {exc}" if action else str(exc)

    def _failed_on(self, exc: Exception, lost: int) -> None:
        """`fail` for an error from SQLite; a damaged archive is written to no more."""
        if integrity.is_damage(exc):
            self.damaged = True
        self.fail(self.describe(exc), lost)

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
            self._failed_on(exc, len(articles))
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
        after every `spider_closed` handler). A failed merge loses nothing: the index stays
        correct, with more segments, and the next run merges them."""
        if self._lock is not None:
            os.ftruncate(self._lock.fileno(), 0)  # no process id left behind
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
