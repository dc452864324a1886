"""The archive during a crawl: one Scrapy extension takes its run lock, checks it for damage and
opens it, writes the run's `crawl_runs` row, takes what the crawl hands it, writes it in batches
and closes it. The spider, the pipelines and the summary reach it with
`crawler.get_extension(ArchiveExtension)`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.defer import deferred_from_coro

from crawler.archive import gone, integrity, paths, runs
from crawler.archive.lock import ArchiveLocked, RunLock
from crawler.archive.records import Fetched, Stored, as_record, utc_now
from crawler.archive.store import Archive
from crawler.archive.writer import Batch, BatchWriter
from crawler.outcome import FORCED, RUNNING

logger = logging.getLogger(__name__)

# Batches that may wait for the writer's thread (crawler/archive/writer.py) before the crawl
# waits for it: enough to ride out a slow commit, few enough that a SIGKILL loses little.
WRITE_AHEAD = 4
# The failure reason of an article fetched but not stored because the archive stopped.
NOT_WRITTEN = "archive_not_written"


class ArchiveUnavailable(Exception):
    """The archive cannot be read or reached: why, in words; the error behind it is its cause
    (`sqlite3.Error` in one process, `redis.RedisError` in a distributed worker)."""


class ArchiveExtension:
    """Owns the crawl's `Archive` at `ARCHIVE_PATH`, and its run lock; buffers and writes in batches.

    The archive is opened (`open`, by the archive pipeline when the spider opens) only under its
    run lock (crawler/archive/lock.py): a second run on it, under any name, stops at once with
    reason `archive_locked`, its last line naming the lock and the process holding it. Under the
    lock and before it is opened for writing, it is checked for damage (crawler/archive/integrity.py).
    Everything the crawl learns for the archive goes through here: articles (from the item
    pipeline), HTTP validators, 304s and short links (from the spider). A batch is written in
    one transaction every `ARCHIVE_BATCH_SIZE` articles or `ARCHIVE_BATCH_SECONDS` seconds, and
    at the end of the crawl, by a writer thread with its own connection (`BatchWriter`: the
    reactor's thread goes on meanwhile; at most `WRITE_AHEAD` batches wait for it; its counts
    are applied here by `collect`, and `flush` returns once everything handed over is written).
    If a batch cannot be written, the crawl stops (reason `archive_error`), `dw/archive/error`
    says why, and every article not stored is counted in `dw/archive/failed_articles` (and, as
    the reason, `dw/not_stored/archive_not_written`).
    """

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.path: str = settings.get("ARCHIVE_PATH")
        self.lock = RunLock(self.path)
        self.batch_size = settings.getint("ARCHIVE_BATCH_SIZE")
        self.batch_seconds = settings.getfloat("ARCHIVE_BATCH_SECONDS")
        self._archive: Archive | None = None
        self._writer: BatchWriter | None = None  # started with the first batch
        self.articles: list[dict] = []
        self.short_links: list[tuple[str, int]] = []
        self.not_modified: list[Fetched] = []
        self.validators: dict[int, tuple[str | None, str | None]] = {}
        self.last_flush = time.monotonic()
        self.error: str | None = None
        self.damaged = False  # the archive was found damaged: nothing more is written to it
        # Another run held the lock: this one never touches the archive. Its words, the run's
        # last line: "another crawl is running on this archive (lock FILE, pid N)".
        self.locked_out: str | None = None
        self.run_id: int | None = None  # this run's `crawl_runs` row, written when it starts
        # Articles gone (crawler/archive/gone.py): those the archive knows, {id: last asked},
        # read on first use; those this run found gone; those known gone that answered again.
        self._gone: dict[int, str] | None = None
        self.found_gone: dict[int, gone.Gone] = {}
        self.answered_again: set[int] = set()
        # When the earliest run this one marked killed had started (None: none was): what it
        # fetched and never stored is in its WARC files since then (`recover_killed`).
        self.killed_since: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.close, signal=signals.engine_stopped)
        return extension

    @property
    def archive(self) -> Archive:
        """The open archive, opened (and migrated) on first use under the run lock, taken first.

        Under the lock and before it is opened for writing, the file is checked read-only
        (`integrity.damage`): a damaged archive raises `integrity.ArchiveDamaged` (an
        sqlite3.Error) and is never opened, not even migrated. Raises `ArchiveLocked` when
        another run holds the lock; sqlite3.Error, OSError when the archive cannot be opened."""
        if self._archive is None:
            if self.damaged:
                raise integrity.ArchiveDamaged(self.path, "found when the run started")
            # Before the lock (the archive's own file: a FIFO would block it): what is no
            # archive, and an emptied archive whose captures show what it held.
            why = integrity.not_an_archive(self.path) or paths.lost_archive(
                self.path, self.crawler.settings.get("WARC_DIR"))
            if why:
                self.damaged = True
                raise integrity.NotAnArchive(why)
            self.lock.acquire()
            started = time.perf_counter()
            problems = integrity.damage(self.path)
            self.stats.set_value("dw/archive/check_seconds", round(time.perf_counter() - started, 3))
            if problems:
                self.damaged = True
                raise integrity.ArchiveDamaged(self.path, problems)
            self._archive = Archive.from_settings(self.crawler.settings)
        return self._archive

    def open(self) -> str | None:
        """Take the run lock, check the archive and open it, before anything is fetched. None when
        it is open; else the reason to close the spider, logged once: `archive_locked` (another
        run holds it: `locked_out` and the stat `dw/archive/locked` say which lock and process),
        `archive_error` (damaged or cannot be opened: `fail`ed)."""
        if self.locked_out:
            return "archive_locked"
        if self.error:
            return "archive_error"
        try:
            self.archive  # noqa: B018 - opened now, a bad path is reported before fetching
        except ArchiveLocked as exc:
            holder = f"pid {exc.pid}" if exc.pid else "its process unknown"
            self.locked_out = f"another crawl is running on this archive (lock {exc.path}, {holder})"
            self.stats.set_value("dw/archive/locked", self.locked_out)
            logger.error("Another crawl is running on this archive (%s is locked by %s); not"
                         " starting a second one", exc.path, holder)
            return "archive_locked"
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0, "cannot open")
            return "archive_error"
        return None

    def begin_run(self, arguments: dict) -> str | None:
        """Everything a run does before its first request, in order; the reason to stop, or None:
        the run lock taken, the archive checked and opened (`open`: `archive_locked`,
        `archive_error`), read (`count`), and this run's `crawl_runs` row written (`start_run`)."""
        reason = self.open()
        if reason:
            return reason
        try:
            self.count()
        except ArchiveUnavailable:
            return "archive_error"
        return self.start_run(arguments)

    def start_run(self, arguments: dict) -> str | None:
        """Write this run's `crawl_runs` row (`running`), marking killed the earlier rows a killed
        run left `running` (crawler/archive/runs.py); `archive_error` when it cannot be written."""
        try:
            (since,) = self.archive.db.execute("SELECT min(started_at) FROM crawl_runs WHERE outcome = ?",
                                               [RUNNING.text]).fetchone()
            self.run_id, killed = runs.start(
                self.archive.db.conn, utc_now(),
                json.dumps({k: v for k, v in arguments.items() if v is not None}))
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0)
            return "archive_error"
        if killed:
            logger.warning("%d earlier run(s) of this archive never ended (killed); marked so in"
                           " crawl_runs", killed)
            self.killed_since = since
        return None

    def recover_killed(self, recover: Callable[[Archive, str], Counter]) -> str | None:
        """Store what a run this one marked killed had fetched but never stored (the articles and
        304s of its last batches, in its WARC files), as a rebuild from the WARCs would:
        `recover(archive, since)` stores them and returns its counts (the spider passes
        `crawler.warc.reextract.recover`, a layer above this one); counted
        `dw/archive/recovered/<verdict>`. None when done or nothing to do, `archive_error` when
        the archive cannot be written."""
        if not self.killed_since:
            return None
        try:
            counts = recover(self.archive, self.killed_since)
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0)
            return "archive_error"
        verdicts = {k: n for k, n in counts.items() if n and k in (
            "new", "updated", "unchanged", "earlier", "older", "not_modified")}
        for verdict, n in verdicts.items():
            self.stats.set_value(f"dw/archive/recovered/{verdict}", n)
        if verdicts:
            logger.warning("Stored from the killed run's WARC files what it had fetched but not stored:"
                           " %s", ", ".join(f"{n} {verdict}" for verdict, n in sorted(verdicts.items())))
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
        row says so (`crawler.outcome.FORCED`), when no write was in progress. Never raises."""
        if self._archive is None or self.run_id is None or self.damaged:
            return
        if self._archive.db.conn.in_transaction or (self._writer is not None and self._writer.busy):
            return  # the next run marks it killed
        try:
            runs.finish(self._archive.db.conn, self.run_id,
                        {"finished_at": utc_now(), "finish_reason": "forced", "outcome": FORCED.text})
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

    def gone_checked_at(self, article_id: int) -> str | None:
        """When the archive last found this article gone (404/410 of a listed article), or None
        (crawler/archive/gone.py). An archive that cannot be read stops the crawl: CloseSpider."""
        if self._gone is None:
            try:
                self._gone = gone.load(self.archive.db.conn)
            except (sqlite3.Error, OSError) as exc:
                self._failed_on(exc, 0)
                raise CloseSpider("archive_error") from None
        return self._gone.get(article_id)

    def record_gone(self, found: gone.Gone) -> None:
        """A listed article's page answered 404/410: remembered when the run ends (`remember_gone`)."""
        self.found_gone[found.article_id] = found

    def record_answered(self, article_id: int) -> None:
        """An article's page answered (200, 304): if the archive held it as gone, it is no more."""
        if self.gone_checked_at(article_id) is not None:
            self.answered_again.add(article_id)

    def remember_gone(self) -> None:
        """At the end of the run: write the articles it found gone, and forget those that answered
        again. Only when some article page of the run answered (200, 304): when none did, the
        origin may be the wrong site or a route broken, and the ids are asked for again by the
        next run (their count decides the outcome: `crawler.outcome.every_article_gone`).
        Stat `dw/archive/gone_remembered`. Logs, never raises."""
        found = list(self.found_gone.values())
        answered = self.stats.get_value("dw/fetched", 0) + self.stats.get_value("dw/not_modified", 0)
        if found and not answered:
            logger.warning("%d articles answered 404/410 and no article page answered otherwise:"
                           " not remembered as gone, the next run asks for them again", len(found))
            found = []
        if not (found or self.answered_again):
            return
        if self.error or self.damaged or self.locked_out:
            logger.info("Articles found gone not remembered: the archive cannot be written")
            return
        try:
            gone.record(self.archive.db.conn, found, self.answered_again)
        except (sqlite3.Error, OSError) as exc:
            logger.error("Could not remember the %d articles found gone: %s", len(found), exc)
            return
        self.stats.set_value("dw/archive/gone_remembered", len(found))

    def due_for_revisit(self, now: datetime, languages: list[str]) -> list[tuple[int, str]]:
        """(id, url) of archived articles due for a re-check; see `Archive.due_for_revisit`."""
        try:
            return self.archive.due_for_revisit(now, languages)
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, 0)
            raise CloseSpider("archive_error") from None

    def count(self, table: str = "articles") -> int:
        """Rows in one table; also proves the archive can be read (else `fail`s and raises
        `ArchiveUnavailable`)."""
        try:
            return self.archive.count(table)
        except (sqlite3.Error, OSError) as exc:
            reason = self._failed_on(exc, 0, "cannot read")
            raise ArchiveUnavailable(reason) from exc

    def describe(self, exc: Exception, action: str | None = None) -> str:
        """An error opening or using the archive, in words that say what to do about it."""
        if isinstance(exc, integrity.ArchiveRefused):
            return str(exc)
        if integrity.is_damage(exc):
            return integrity.damaged_message(self.path, str(exc))
        return f"{action} {self.path}: {exc}" if action else str(exc)

    def _failed_on(self, exc: Exception, lost: int, action: str | None = None) -> str:
        """`fail` for an error from SQLite (or the file system); a damaged archive is written to
        no more. The reason, in words (`describe`)."""
        if integrity.is_damage(exc):
            self.damaged = True
        reason = self.describe(exc, action)
        self.fail(reason, lost)
        return reason

    # -- what the crawl hands over ---------------------------------------------------------

    def store_article(self, item) -> None:
        """Buffer one normalised article item for the next batch (content hash computed here)."""
        if self._writer is not None and self._writer.results:
            self.collect()
        try:
            record = as_record(item)
        except ValueError as exc:  # one bad article never costs its batch
            self.stats.inc_value("dw/archive/refused_articles")
            logger.warning("Refusing an article: %s", exc)
            return
        if self.error:
            self._not_stored(1)
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

    def record_not_modified(self, article_id: int, fetched_at: str | None = None,
                            etag: str | None = None, last_modified: str | None = None) -> None:
        """An archived article answered 304 (at `fetched_at`, default now): mark it seen in the
        next batch, with the validators the 304 carried (`ETag`, `Last-Modified`; None when it
        carried none), which the next conditional request sends (RFC 9111 §4.3.4)."""
        self.not_modified.append(Fetched(article_id, etag=etag, last_modified=last_modified,
                                         not_modified=True, fetched_at=fetched_at or utc_now()))
        self._maybe_flush()

    def record_short_link(self, code: str, article_id: int) -> None:
        """A p.dw.com code leads to this article: stored once the article is archived."""
        self.short_links.append((code, article_id))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (len(self.articles) >= self.batch_size
                or time.monotonic() - self.last_flush >= self.batch_seconds):
            self.submit()

    def submit(self) -> None:
        """Hand what is buffered to the writer's thread as one batch (one transaction), without
        waiting for it to be written; blocks while `WRITE_AHEAD` batches wait."""
        self.last_flush = time.monotonic()
        if self._writer is not None and self._writer.results:
            self.collect()
        if self.error:
            # A batch failed while these waited in the buffer: never written, counted so (as the
            # articles handed over after the failure are, in `store_article`).
            if self.articles:
                self._not_stored(len(self.articles))
            self.articles, self.short_links, self.not_modified = [], [], []
            return
        if not (self.articles or self.short_links or self.not_modified):
            return
        batch = Batch(self.articles, self.short_links, self.not_modified)
        self.articles, self.short_links, self.not_modified = [], [], []
        try:
            writer = self._writer or self._start_writer()
        except (sqlite3.Error, OSError) as exc:
            self._failed_on(exc, len(batch.articles))
            return
        writer.submit(batch)

    def flush(self) -> None:
        """Write what is buffered in one transaction, and wait until every batch handed over is
        written; on failure keep the archive as it was (see `collect`)."""
        self.submit()
        if self._writer is not None:
            self._writer.drain()
            self.collect()

    def written(self) -> None:
        """Wait until the batches handed over are written (what is buffered stays buffered)."""
        if self._writer is not None:
            self._writer.drain()
            self.collect()

    def _start_writer(self) -> BatchWriter:
        self.archive  # noqa: B018 - opened (locked, checked, migrated) here first, in this thread
        settings = self.crawler.settings
        self._writer = BatchWriter(lambda: Archive.from_settings(settings), WRITE_AHEAD, self._notify)
        return self._writer

    def _notify(self) -> None:
        """From the writer's thread: have the reactor's thread collect the results soon (when
        one runs; else they are collected at the next call, or when drained)."""
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is not None and getattr(reactor, "running", False):
            reactor.callFromThread(self.collect)

    def collect(self) -> None:
        """Apply what the writer's thread did, in order, in this (the crawl's) thread: the counts
        of the batches written; a failed batch stops the crawl (`fail`), its articles and those
        of the batches queued behind it counted as not stored."""
        writer = self._writer
        while writer is not None and writer.results:
            result = writer.results.popleft()
            if result[0] == "written":
                counts = result[1]
                if counts.get("refused"):
                    self.stats.inc_value("dw/archive/refused_articles", counts["refused"])
                for verdict in ("new", "updated", "unchanged", "earlier", "older"):
                    if counts[verdict]:
                        self.stats.inc_value(f"dw/articles/{verdict}", counts[verdict])
                logger.debug("Archived a batch: %s", counts)
            elif result[0] == "failed":
                self._failed_on(result[1], result[2])
            else:  # lost: queued behind a failed batch
                self._not_stored(result[1])

    def _not_stored(self, lost: int) -> None:
        """Count articles fetched but not stored because the archive stopped: `dw/archive/failed_articles`
        (the outcome's `not_stored`, apart from the failed), and the same number under the reason
        the run's closing line lists, `dw/not_stored/archive_not_written`."""
        self.stats.inc_value("dw/archive/failed_articles", lost)
        if lost:
            self.stats.inc_value(f"dw/not_stored/{NOT_WRITTEN}", lost)

    def fail(self, error: str, lost: int) -> None:
        """Stop the crawl: fetching on is pointless when nothing can be stored."""
        if self.error:  # already stopping; the first error is the one to report
            self._not_stored(lost)
            return
        self.error = error
        self._not_stored(lost)
        self.stats.set_value("dw/archive/error", error)
        logger.error("The archive cannot be written (%s); %d articles not stored; stopping the crawl",
                     error, lost)
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            self._closing = deferred_from_coro(engine.close_spider_async(reason="archive_error"))

    # -- the end ---------------------------------------------------------------------------

    def spider_closed(self, spider, reason) -> None:
        """Write the last batch; remember the articles found gone; report short links whose
        article never came."""
        self.flush()
        self.remember_gone()
        unresolved = self._writer.pending_links if self._writer is not None else self.short_links
        if unresolved and not self.error:
            self.stats.inc_value("dw/short_links/unresolved", len(unresolved))
            logger.warning("%d short links point at articles not in the archive: %s",
                           len(unresolved), [code for code, _ in unresolved][:20])

    def close(self) -> None:
        """Merge the search index's new segments and close the archive (at `engine_stopped`,
        after every `spider_closed` handler), then release the run lock. A failed merge loses
        nothing: the index stays correct, with more segments, and the next run merges them."""
        if self._writer is not None:  # everything handed over written, its connection closed
            self._writer.stop()
            self.collect()
            self._writer = None
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
