"""A job directory (`-s JOBDIR=...`) left by a run that was killed is not trusted.

Scrapy keeps a job's queued requests on disk as the run goes, but writes what makes them
readable (each disk queue's size header, `requests.queue/active.json`) and the spider's state
(`spider.state`) only when the run ends. A run killed outright (`kill -9`, a power cut) leaves
queue files whose size and contents disagree, the last record cut where Python's write buffer
stopped: a run resumed from them pops requests the killed run had sent already (articles fetched
twice) and never pops some of its own (articles never requested), and takes an older stop's
spider state for its own.

`JobDirGuard`, an extension (made before Scrapy's scheduler opens the job's queue), holds an
`flock` on `JOBDIR/dw-run.lock` for the run and writes its process id there; a run that ends
(`engine_stopped`: after the scheduler saved the queue and `SpiderState` the spider's state)
empties it. A run that finds it not empty knows that the last run of the job never ended: it
deletes the job's queue, its seen-requests file and its spider state before Scrapy reads them,
says so (`dw/jobdir/discarded_requests`: the records the queue held, as far as they could be
counted; a warning naming what could not be recovered), and starts the job afresh: sitemaps and
feeds are read on every run and the archive holds what was stored before the kill, so the run
fetches what is missing and nothing it already has. A second run on the same `JOBDIR` while one
runs is refused before it starts (`JobDirInUse`: exit status 3, crawler/commands/crawl.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured

logger = logging.getLogger(__name__)

MARKER = "dw-run.lock"
# What Scrapy keeps in a job directory: the scheduler's queue, the duplicate filter's seen
# requests, the spider's state (SpiderState).
JOB_FILES = ("requests.queue", "requests.seen", "spider.state")


class JobDirInUse(RuntimeError):
    """Another run is using this job directory now."""


def queued_records(queue_dir: Path) -> int:
    """How many requests the disk queues under `queue_dir` hold, counted from the length
    trailers of Scrapy's default LIFO disk queue files (queuelib's `LifoDiskQueue`: a size
    header, then each record followed by its 4-byte length), from the end; a file cut inside a
    record (a killed run's last write) counts the records after its cut: none."""
    total = 0
    for path in queue_dir.rglob("*") if queue_dir.is_dir() else ():
        if not path.is_file() or path.suffix == ".json":
            continue
        data = path.read_bytes()
        end = len(data)
        while end > 4 + 4:
            size = int.from_bytes(data[end - 4:end], "big")
            if size <= 0 or end - 4 - size < 4:
                break
            total += 1
            end -= 4 + size
    return total


class JobDirGuard:
    """Hold the job directory for this run; discard what a killed run left (module doc)."""

    def __init__(self, crawler, jobdir: Path):
        self.crawler = crawler
        self.jobdir = jobdir
        jobdir.mkdir(parents=True, exist_ok=True)
        self.lock = open(jobdir / MARKER, "a+")  # noqa: SIM115 - held until the run ends
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.close()
            raise JobDirInUse(f"another crawl is using the job directory {jobdir}") from None
        self.lock.seek(0)
        holder = self.lock.read().strip()
        if holder:
            self.discard(holder)
        self.lock.seek(0)
        self.lock.truncate()
        self.lock.write(f"{os.getpid()}\n")
        self.lock.flush()

    @classmethod
    def from_crawler(cls, crawler):
        jobdir = crawler.settings.get("JOBDIR")
        if not jobdir:
            raise NotConfigured("no JOBDIR")
        guard = cls(crawler, Path(jobdir))
        crawler.signals.connect(guard.ended, signal=signals.engine_stopped)
        return guard

    def discard(self, holder: str) -> None:
        """The last run of this job (process `holder`) never ended: forget its queue and state."""
        queued = queued_records(self.jobdir / "requests.queue")
        found = [name for name in JOB_FILES if (self.jobdir / name).exists()]
        for name in found:
            path = self.jobdir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.crawler.stats.set_value("dw/jobdir/discarded_requests", queued)
        logger.warning(
            "The last run with JOBDIR %s (process %s) never ended (killed?): its queue and state"
            " cannot be trusted and were discarded (%s; %d requests could be counted in the queue)."
            " This run reads the sitemaps and feeds again and fetches what the archive lacks;"
            " an article that run had queued and that no listing names any more is not recovered.",
            self.jobdir, holder, ", ".join(found) or "nothing there", queued)

    def ended(self) -> None:
        """The run ended with its queue and state saved: the next one may trust them."""
        try:
            self.lock.seek(0)
            self.lock.truncate()
            self.lock.flush()
        finally:
            self.lock.close()  # releases the flock
