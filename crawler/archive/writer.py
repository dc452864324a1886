"""The crawl's batches written off the reactor's thread: one writer thread, fed by a bounded queue.

`BatchWriter` takes batches (articles, short links, 304s) in the order the crawl hands them over
and writes each in one transaction (`Archive.write_batch`) through a connection of its own,
opened in its thread on the archive the crawl has opened, locked and checked already; the
reactor's thread goes on fetching and extracting meanwhile. What SQLite does (FTS5, B-trees,
the commit) runs without Python's GIL, so on a second core. Every guarantee of a synchronous
write holds:

- batches are written in order, one transaction each, all or nothing;
- nothing is counted before it is written: the counts (`new`, `updated`, ...) come back as
  results that the crawl's thread applies (`ArchiveExtension.collect`), and `drain()` returns
  only once every batch handed over is written or has failed;
- after a failed batch nothing more is written: the batches queued behind it are lost, counted
  so (`("lost", n)`), and the error goes back to the crawl, which stops;
- at most `depth` batches wait: `submit` blocks while they do (the crawl slows to the disk's
  pace, memory stays bounded), and a SIGKILL loses at most those, none of them acknowledged;
- short links whose article is not archived yet wait here for a later batch (`pending_links`).

The thread is a daemon: a forced stop (Ctrl-C twice) does not wait for it, and a batch it was
writing is rolled back by SQLite, as after a SIGKILL.
"""

from __future__ import annotations

import collections
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.archive.records import Fetched
from crawler.archive.store import Archive

logger = logging.getLogger(__name__)


@dataclass
class Batch:
    """What one transaction writes."""

    articles: list[dict] = field(default_factory=list)
    short_links: list[tuple[str, int]] = field(default_factory=list)
    not_modified: list[Fetched] = field(default_factory=list)


_STOP = object()


class BatchWriter:
    """Writes batches in a thread of its own, in order (see the module doc).

    `open_archive` opens the writer's connection (called in the writer's thread); `notify` is
    called from the writer's thread after each batch, to have the crawl's thread collect the
    results soon (it must only schedule, never touch the results itself).
    """

    def __init__(self, open_archive: Callable[[], Archive], depth: int = 4,
                 notify: Callable[[], None] | None = None):
        self.open_archive = open_archive
        self.notify = notify
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        # Results for the crawl's thread, in order: ("written", counts), ("failed", exc, lost),
        # ("lost", n). deque appends and pops are atomic.
        self.results: collections.deque = collections.deque()
        self.pending_links: list[tuple[str, int]] = []  # the writer's thread's own until drained
        self.busy = False  # a batch is being written (its transaction may be open)
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        """Hand a batch over; blocks while `depth` batches wait."""
        self.queue.put(batch)

    def drain(self) -> None:
        """Return once every batch handed over is written (or failed, or lost after a failure)."""
        self.queue.join()

    def stop(self) -> None:
        """Write what is queued, then end the thread and close its connection."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        archive = None
        try:
            while True:
                batch = self.queue.get()
                try:
                    if batch is _STOP:
                        return
                    if archive is None and self.failed is None:
                        try:
                            archive = self.open_archive()
                        except (sqlite3.Error, OSError) as exc:
                            self.failed = exc
                            self.results.append(("failed", exc, len(batch.articles)))
                            continue
                    self._write(archive, batch)
                finally:
                    self.queue.task_done()
                    if self.notify is not None:
                        self.notify()
        finally:
            if archive is not None:
                archive.close()

    def _write(self, archive: Archive | None, batch: Batch) -> None:
        if self.failed is not None:  # nothing is written after a failure: these are lost
            self.results.append(("lost", len(batch.articles)))
            return
        links = self.pending_links + batch.short_links
        self.busy = True
        try:
            counts = archive.write_batch(batch.articles, links, batch.not_modified)
            # A short link whose article is not archived yet waits for a later batch.
            self.pending_links = [link for link in links if not archive.has_short_link(link[0])]
        except (sqlite3.Error, OSError) as exc:
            self.failed = exc
            self.results.append(("failed", exc, len(batch.articles)))
            return
        except BaseException as exc:  # a bug: still reported, never a silent loss
            logger.exception("The archive's writer thread failed")
            self.failed = exc
            self.results.append(("failed", exc, len(batch.articles)))
            return
        finally:
            self.busy = False
        self.results.append(("written", counts))
