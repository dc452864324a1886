"""A worker of a distributed crawl: its heartbeat, what it holds, when it may stop, how it is judged.

`ClusterWorker` (an extension the add-on enables) joins the run when the spider opens, keeps
a heartbeat, releases each request it popped once Scrapy is done with it (its items handed to
Redis, its follow-up requests queued), and keeps the spider open while other workers may still
produce work: a worker stops only when the whole run is finished. `ClusterSummary` judges a
worker's outcome on the run's totals, so that a worker whose articles others fetched did not
fail, and a run that fetched nothing it should have did, on every worker.
"""

from __future__ import annotations

import json
import logging
import time

import redis
from scrapy import signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy_redis.connection import get_redis_from_settings
from twisted.internet.task import LoopingCall, deferLater

from crawler import health
from crawler.archive import ArchiveExtension, utc_now
from crawler.distributed import state
from crawler.distributed.claims import Cluster, Keys
from crawler.extensions import CrawlSummary
from crawler.outcome import EXIT_OK, Outcome, Run, failed

logger = logging.getLogger(__name__)

# Stats summed over the run's workers: the crawl's counts, and Spidermon's field counts (health).
COUNTED = ("dw/", "spidermon_item_scraped_count/")


class ClusterWorker:
    """This process's membership of the run: heartbeat, in-flight requests, totals, stopping."""

    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.server = get_redis_from_settings(settings)  # connects on first use
        self.keys = Keys(settings.get("DW_REDIS_PREFIX"))
        self.heartbeat = settings.getfloat("DW_HEARTBEAT_SECONDS")
        self.writer_wait = settings.getfloat("DW_WRITER_WAIT")
        self.cluster = Cluster(self.server, self.keys, ttl=settings.getfloat("DW_HEARTBEAT_TTL"))
        self.coverage_history: list[dict] = []  # earlier runs' field coverage, read on joining
        self.inflight: dict[str, object] = {}  # token -> the Request popped under it
        self.flushed: dict[str, int] = {}  # dw/* stats already added to the run's totals
        self.loop: LoopingCall | None = None
        self.last_tick = time.monotonic()
        self.closing = False
        self._wake_call = None

    @classmethod
    def from_crawler(cls, crawler):
        worker = cls(crawler)
        crawler.signals.connect(worker.join, signal=signals.spider_opened)
        crawler.signals.connect(worker.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(worker.spider_closed, signal=signals.spider_closed)
        return worker

    # -- joining ---------------------------------------------------------------------------

    async def join(self, spider) -> None:
        """Join or start the run (raises CloseSpider when another crawl holds the lock)."""
        arguments = state.run_arguments(spider)
        try:
            verdict, run, other = self.cluster.join(arguments, utc_now())
        except redis.RedisError as exc:
            self.report_redis(exc)
            raise CloseSpider("redis_error") from None
        if verdict == "locked":
            logger.error("Another crawl (run %s, arguments %s) is running on this archive; a worker"
                         " with arguments %s does not join it", run, other, arguments)
            self.stats.set_value("dw/cluster/locked_by", run)
            raise CloseSpider("archive_locked")
        self.stats.set_value("dw/cluster/run", run)
        self.stats.set_value("dw/cluster/worker", self.cluster.worker)
        archive = self.crawler.get_extension(ArchiveExtension)
        if hasattr(archive, "envelope"):  # RedisArchive: its items name the run and the worker
            archive.envelope.update(run=run, worker=self.cluster.worker)
        logger.info("%s cluster run %s as worker %s", verdict.capitalize(), run, self.cluster.worker)
        self.loop = LoopingCall(self.tick)
        self.loop.start(self.heartbeat, now=False)
        await self._wait_for_writer(new_run=verdict == "started")

    async def _wait_for_writer(self, new_run: bool) -> None:
        """Wait for a running writer's state, and for it to be current.

        The worker that starts a run waits until the items of earlier runs are written (their
        state then is in Redis), then opens the run (`ready`); the workers that join wait for
        that, so that no worker decides what to fetch on stale state.
        """
        from twisted.internet import reactor

        waited, step = 0.0, 0.2
        while True:
            try:
                writer = self.server.hget(self.keys.state, "ready") and self.server.exists(self.keys.writer)
                if writer and new_run:
                    if not self.server.llen(self.keys.items) + self.server.llen(self.keys.writing):
                        self.server.hset(self.keys.run, "ready", 1)
                        return self._read_history()
                elif writer and self.server.hget(self.keys.run, "ready") == b"1":
                    return self._read_history()
                if waited >= self.writer_wait and writer:
                    logger.warning("The archive writer has not written the last run's items in %.0f s;"
                                   " starting on the state it has", waited)
                    self.server.hset(self.keys.run, "ready", 1)
                    return self._read_history()
            except redis.RedisError as exc:
                self.report_redis(exc)
                raise CloseSpider("redis_error") from None
            if waited >= self.writer_wait:
                logger.error("No archive writer is running with the archive's state after %.0f s:"
                             " start `scrapy archive-writer` with this REDIS_URL", waited)
                raise CloseSpider("no_archive_writer")
            await maybe_deferred_to_future(deferLater(reactor, step))
            waited += step

    def _read_history(self) -> None:
        """Earlier runs' field coverage, as the writer published it: read before this run's rows
        are written, so that the run is judged against runs before it (`ClusterSummary`)."""
        try:
            self.coverage_history = json.loads(self.server.hget(self.keys.state, "coverage") or "[]")
        except ValueError:
            self.coverage_history = []

    # -- while crawling ---------------------------------------------------------------------

    def track(self, token: str, request) -> None:
        """Remember a request popped under `token` until Scrapy is done with it."""
        self.inflight[token] = request

    def release_finished(self) -> None:
        """Release the requests Scrapy is done with, and add new dw/* counts to the run's totals.

        Both in one transaction: when a run's in-flight hashes are empty, its totals are complete.
        """
        engine = self.crawler.engine
        busy: set = set()
        if engine is not None:
            busy.update(engine.downloader.active)
            if engine.scraper.slot is not None:
                busy.update(engine.scraper.slot.active)
                busy.update(request for _, request, _ in engine.scraper.slot.queue)
        done = [token for token, request in self.inflight.items() if request not in busy]
        current = {k: v for k, v in self.stats.get_stats().items()
                   if k.startswith(COUNTED) and not k.startswith("dw/cluster/")
                   and isinstance(v, int) and not isinstance(v, bool)}
        delta = {k: v - self.flushed.get(k, 0) for k, v in current.items() if v != self.flushed.get(k, 0)}
        if not (done or delta):
            return
        pipe = self.server.pipeline(transaction=True)
        if done:
            pipe.hdel(self.keys.inflight(self.cluster.worker), *done)
        for key, value in delta.items():
            pipe.hincrby(self.keys.totals, key, value)
        pipe.execute()
        for token in done:
            del self.inflight[token]
        self.flushed.update(current)

    def keep_alive(self) -> None:
        """Renew the heartbeat if it is due: called while scheduling, so that a long stretch of
        work that holds the reactor (a sitemap of 50,000 URLs) does not pass for death."""
        if time.monotonic() - self.last_tick >= self.heartbeat:
            self.tick()

    def tick(self) -> None:
        """Heartbeat: renew this worker's key and the run's lock, release, re-queue the dead's work."""
        if self.closing or self.cluster.run is None:
            return
        self.last_tick = time.monotonic()
        try:
            self.cluster.tick()
            self.release_finished()
            _, requeued = self.cluster.reap()
            error = self.server.get(self.keys.writer_error)
        except redis.RedisError as exc:
            self.lost_redis(exc)
            return
        self._count_requeued(requeued)
        if error:
            self.stats.set_value("dw/archive/error", error.decode("utf-8", "replace"))
            logger.error("The archive writer cannot write the archive: %s; stopping", error)
            self._close("archive_error")

    def spider_idle(self, spider) -> None:
        """Stay open while the run has work anywhere; let go once it is finished."""
        if self.closing or self.cluster.run is None:
            return
        try:
            self.release_finished()
            verdict, requeued = self.cluster.reap(check=True, now=utc_now())
        except redis.RedisError as exc:
            self.lost_redis(exc)
            return
        self._count_requeued(requeued)
        if verdict == "finished":
            logger.info("Cluster run %s finished: nothing queued, nothing in flight", self.cluster.run)
        if verdict in ("finished", "over"):
            return
        self._wake_soon()
        raise DontCloseSpider

    def _count_requeued(self, requeued: int) -> None:
        if requeued:
            self.stats.inc_value("dw/cluster/requeued", requeued)
            logger.warning("Re-queued %d requests held by workers whose heartbeat stopped", requeued)

    def _wake_soon(self) -> None:
        """Look at the queue again shortly, not at Scrapy's 5 s heartbeat."""
        from twisted.internet import reactor

        if self._wake_call is None or not self._wake_call.active():
            self._wake_call = reactor.callLater(min(0.5, self.heartbeat), self._wake)

    def _wake(self) -> None:
        # Scrapy has no public way to run the engine's loop now: only its heartbeat, every 5 s
        # (`ExecutionEngine._SLOT_HEARTBEAT_INTERVAL`), or a request handed to `engine.crawl`,
        # which would push a popped request back to Redis. So the loop's own call, where this
        # Scrapy has it; without it the heartbeat does the same, 5 s later.
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None and slot.closing is None and not self.closing:
            slot.nextcall.schedule()

    # -- stopping ----------------------------------------------------------------------------

    def unarchived(self) -> int:
        """Items in Redis the writer has not archived yet, once it had `DW_WRITER_WAIT` seconds
        to archive them (asked at the end of the run: a running writer takes a moment, a hung or
        stopped one never does). Raises RedisError."""
        deadline = time.monotonic() + self.writer_wait
        while True:
            waiting = self.server.llen(self.keys.items) + self.server.llen(self.keys.writing)
            if not waiting or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.1)

    def final_totals(self) -> dict[str, int]:
        """The run's totals, this worker's last counts included."""
        self.release_finished()
        return self.cluster.totals()

    def spider_closed(self, spider, reason: str) -> None:
        """Add the last counts, hand back what this worker still holds, leave the run."""
        self.closing = True
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self._wake_call is not None and self._wake_call.active():
            self._wake_call.cancel()
        if self.cluster.run is None:
            return
        try:
            self.release_finished()
            _, handed_back = self.cluster.reap(leaving=True)
        except redis.RedisError as exc:
            logger.error("Could not leave the cluster run cleanly: %s", exc)
            return
        if handed_back:
            logger.info("Handed %d unfinished requests back to the queue", handed_back)

    def lost_redis(self, exc: Exception) -> None:
        """Redis is unreachable: say so once, and stop the crawl."""
        self.report_redis(exc)
        self._close("redis_error")

    def report_redis(self, exc: Exception) -> None:
        if self.stats.get_value("dw/cluster/redis_error") is None:
            logger.error("Cannot use Redis at %s: %s", self.crawler.settings.get("REDIS_URL"), exc)
            self.stats.set_value("dw/cluster/redis_error", str(exc))

    def _close(self, reason: str) -> None:
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None and not self.closing:
            self.closing = True
            self._closing = deferred_from_coro(engine.close_spider_async(reason=reason))


class ClusterSummary(CrawlSummary):
    """`CrawlSummary`, judging the run's totals (this worker's row keeps its own counts).

    The same rules (`crawler.outcome`), health among them: the run's field coverage, summed
    over its workers, against the coverage of earlier runs the writer published.
    """

    def run(self, reason: str, stats: dict) -> Run:
        worker = self.crawler.get_extension(ClusterWorker)
        thresholds = health.Thresholds.from_settings(self.crawler.settings)
        if worker is None or worker.cluster.run is None:
            return Run(reason, stats, thresholds=thresholds)  # never joined: no run to judge
        try:
            totals = worker.final_totals()
        except redis.RedisError as exc:
            logger.error("Cannot read the run's totals (%s); judging this worker alone", exc)
            return Run(reason, stats, thresholds=thresholds)
        merged = {k: v for k, v in stats.items() if not (k.startswith(COUNTED) and isinstance(v, int))}
        merged.update(totals)
        run = Run(reason, merged, health.coverage(merged), lambda: worker.coverage_history, thresholds)
        self.stats.set_value("dw/cluster/counts", run.counts)
        return run

    def verdict(self, run: Run) -> Outcome:
        """The rules' verdict; a run they find ok (or stopped at the user's limit) whose items
        still wait in Redis after `DW_WRITER_WAIT` failed: the run's job is an archive holding
        what it fetched (stat `dw/cluster/unarchived_items`)."""
        verdict = super().verdict(run)
        worker = self.crawler.get_extension(ClusterWorker)
        if verdict.exit_code != EXIT_OK or worker is None or worker.cluster.run is None:
            return verdict
        try:
            waiting = worker.unarchived()
        except redis.RedisError as exc:
            return failed(f"the run's items may not be archived: Redis cannot be read ({exc})")
        if waiting:
            self.stats.set_value("dw/cluster/unarchived_items", waiting)
            return failed(f"items not archived yet: {waiting} items wait in Redis for the archive"
                          f" writer after {worker.writer_wait:.0f} s (is `scrapy archive-writer` running?)")
        return verdict
