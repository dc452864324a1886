"""The crawl's own extensions: at the end of a crawl, judge its outcome (`crawler.outcome`), log
what it did, record it in `crawl_runs` (`CrawlSummary`); the stats collector (`StatsCollector`);
the garbage collector's tuning while the crawl runs (`CollectorTuning`)."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3

from scrapy import signals
from scrapy.extensions.logcount import LogCount as ScrapyLogCount
from scrapy.statscollectors import MemoryStatsCollector

from crawler import health, logfile
from crawler.archive import ArchiveExtension, utc_now
from crawler.outcome import EXIT_OK, Outcome, Run, judge, summarize

logger = logging.getLogger(__name__)

try:  # Scrapy's warning for a `spider` argument to the stats methods (2.13+)
    from scrapy.utils.decorators import _warn_spider_arg
except ImportError:  # pragma: no cover - a Scrapy without it: no warning to keep
    def _warn_spider_arg(method):
        return method

# The methods Scrapy's StatsCollector.__getattribute__ wraps.
_STATS_METHODS = ("get_value", "get_stats", "set_value", "set_stats", "inc_value", "max_value",
                  "min_value", "clear_stats", "open_spider", "close_spider")


class StatsCollector(MemoryStatsCollector):
    """Scrapy's `MemoryStatsCollector` (`STATS_CLASS`), without its per-access cost.

    Scrapy 2.19's `StatsCollector.__getattribute__` (which wraps the stats methods to warn of a
    deprecated `spider` argument) runs for every attribute read on the collector, its own
    `self._stats` included, and each such read first fails to find a cached name (an
    AttributeError raised and caught). The crawl makes some thirty stats calls per article
    (spidermon's field coverage alone one per field): about 2% of the crawl's CPU went there.
    Here attributes are read as on any object, and the same methods are wrapped once, with the
    same warning, when the collector is made. What is counted, and how, is Scrapy's.
    """

    __getattribute__ = object.__getattribute__

    def __init__(self, crawler):
        super().__init__(crawler)
        for name in _STATS_METHODS:
            method = getattr(self, name, None)
            if callable(method):
                setattr(self, name, _warn_spider_arg(method))

class LogCount(ScrapyLogCount):
    """Scrapy's `LogCount` (stats `log_count/<LEVEL>`), counting until the stats are dumped.

    Scrapy's removes its log handler in its own `spider_closed` handler, connected when the
    extensions are made, so before every other component's: the errors logged after it, while
    the crawl closes (the run's outcome line, a last batch the archive could not write, a
    `crawl_runs` row not recorded), were in the log but not in `log_count/ERROR` (1 counted, 2
    or 3 in the log). Here the handler is removed by a `spider_closed` handler connected when the
    spider opens, after every component has connected its own: the last one to run before
    Scrapy dumps the stats.
    """

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        return extension

    def spider_opened(self, spider) -> None:
        super().spider_opened(spider)
        self.crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    def spider_closed(self, spider, reason: str) -> None:
        super().spider_closed(spider, reason)
        self.crawler.signals.disconnect(self.spider_closed, signal=signals.spider_closed)


# Loggers that report expected network failures (robots.txt unreachable) with a traceback;
# the message already names the error, so the traceback is dropped. Bugs keep theirs.
QUIET_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt",)


class _NoTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


# While a crawl runs, the young generation is collected every this many allocations (CPython's
# default, 700, collected ~600 times in a 2,000-article crawl: a page's objects, which reference
# counting frees anyway, were traversed again and again while they lived).
GC_YOUNG_THRESHOLD = 5_000


class CollectorTuning:
    """Python's cyclic garbage collector tuned for the crawl while it runs, as it was after.

    When the spider opens (everything imported, every component built) `gc.freeze()` puts every
    object then alive into the permanent generation, which no collection traverses: the ~86,000
    objects of Scrapy, Twisted, the search tables and the settings, which each full collection
    walked (70-80 ms each). And the young generation is collected every `GC_YOUNG_THRESHOLD`
    allocations. Over the 2,000-article bench crawl the collector's time fell from 0.73 s to
    0.06-0.08 s (measured with `gc.callbacks`). Frozen objects are still freed by reference
    counting; only a cycle among them that became garbage waits for the unfreeze. When the
    engine stops, the objects are unfrozen and the thresholds restored, so that a process that
    runs several crawls (a test's) collects as before.
    """

    def __init__(self):
        self.thresholds: tuple[int, int, int] | None = None

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls()
        crawler.signals.connect(extension.tune, signal=signals.spider_opened)
        crawler.signals.connect(extension.restore, signal=signals.engine_stopped)
        return extension

    def tune(self, spider=None) -> None:
        if self.thresholds is None:
            self.thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(GC_YOUNG_THRESHOLD, self.thresholds[0]), *self.thresholds[1:])

    def restore(self) -> None:
        if self.thresholds is not None:
            gc.set_threshold(*self.thresholds)
            gc.unfreeze()
            self.thresholds = None


# Listings read in part, or with dates not taken (counted by the spider, one warning each): in
# the closing line's reasons too, though no article was skipped or failed for them.
LISTING_DAMAGE = ("dw/discovery/truncated", "dw/discovery/not_well_formed", "dw/discovery/entries_not_read",
                  "dw/dates/in_future")


def closing_counts(counts: dict[str, int], not_fetched: int, reason: str) -> str:
    """The counts of the closing line: `found 31, fetched 31, …, gone 0`, and, when the run
    stopped with articles found but not fetched (the requests queued ahead, the articles
    admitted and waiting: a limit, Ctrl-C, an error), `not_fetched N (stopped)`, so that found
    = fetched + not_modified + failed + gone + not_fetched (`dw/not_fetched`, counted by the
    spider when it closes); `not_stored N` when articles fetched could not be stored (a part of
    fetched, not of failed). In a run that finished, a gap would be articles lost unseen: named
    without "(stopped)"."""
    line = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "not_stored")
    if counts.get("not_stored"):  # fetched, and counted so, but not in the archive
        line += f", not_stored {counts['not_stored']}"
    if not_fetched:
        line += f", not_fetched {not_fetched}" + (" (stopped)" if reason != "finished" else "")
    return line


class CrawlSummary:
    """Log the crawl's counts and reasons, judge its outcome (`crawler.outcome`; stat
    `dw/outcome`, and `self.outcome` for the crawl command's exit status) and record the run."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.started_at = utc_now()
        self.outcome: Outcome | None = None  # decided when the spider closes

    @classmethod
    def from_crawler(cls, crawler):
        for name in QUIET_LOGGERS:
            quiet = logging.getLogger(name)
            if not any(isinstance(f, _NoTraceback) for f in quiet.filters):
                quiet.addFilter(_NoTraceback())
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def run(self, reason: str, stats: dict) -> Run:
        """What this run is judged on: its own stats, and the coverage of the archive's recent
        runs over the same languages (a distributed worker judges its cluster run's totals
        instead: crawler/distributed/worker.py)."""
        return Run(reason, stats, health.coverage(stats), self._recent_coverage,
                   health.Thresholds.from_settings(self.crawler.settings))

    def verdict(self, run: Run) -> Outcome:
        """The run's outcome: `crawler.outcome.judge` (a distributed worker adds what only the
        cluster knows: crawler/distributed/worker.py)."""
        return judge(run)

    def _recent_coverage(self) -> list[dict]:
        lang = (getattr(self.crawler.spider, "arguments", None) or {}).get("lang") or ""
        runs = self.crawler.settings.getint("HEALTH_RECENT_RUNS")
        try:
            return health.recent_coverage(self.crawler.get_extension(ArchiveExtension).archive.db, runs, lang)
        except (sqlite3.Error, OSError, ValueError) as exc:
            logger.warning("Cannot read earlier runs' coverage: %s", exc)
            return []

    def _close_warc(self) -> None:
        """Close the WARC file now, before the run is judged: the capture middleware's own
        `spider_closed` handler runs after this one (downloader middlewares are made after the
        extensions), and a file that cannot be closed must be in the outcome and logged before
        the closing line, not after it."""
        from crawler.warc.capture import WarcCaptureMiddleware

        downloader = getattr(self.crawler.engine, "downloader", None)
        for middleware in getattr(getattr(downloader, "middleware", None), "middlewares", ()):
            if isinstance(middleware, WarcCaptureMiddleware):
                middleware.close()

    def spider_closed(self, spider, reason):
        archive = self.crawler.get_extension(ArchiveExtension)
        archive.flush()  # the last batch counts too, whichever spider_closed handler runs first
        self._close_warc()
        lost_log = logfile.failure()
        if lost_log is not None:  # said in the outcome, which reaches stderr: the log cannot
            self.stats.set_value("dw/failed/log_not_written", lost_log.lost)
            self.stats.set_value("dw/log/not_written", str(lost_log))
        stats = self.stats.get_stats()
        run = self.run(reason, stats)
        self.outcome = outcome = self.verdict(run)
        self.stats.set_value("dw/outcome", outcome.text)
        reasons = {k[3:]: v for k, v in sorted(stats.items())
                   if k.startswith(("dw/skipped/", "dw/failed/", "dw/blocked/", "dw/gone/", "dw/not_stored/"))
                   or k in LISTING_DAMAGE}
        log = logger.info if outcome.ok else logger.warning if outcome.exit_code == EXIT_OK else logger.error
        log("Crawl %s (%s): %s; reasons: %s", reason, outcome,
            closing_counts(run.counts, stats.get("dw/not_fetched", 0), reason), reasons or "none")
        if outcome.status == "degraded":
            logger.error("Field coverage fell (%s): a new page layout? Fix the extractor, then run"
                         " `python -m crawler.reextract` to mend what this run stored.",
                         outcome.text.removeprefix("degraded: "))
        if stats.get("dw/argument_error") or archive.locked_out:
            return  # refused before it began: the archive is not touched, not even created
        arguments = {k: v for k, v in getattr(spider, "arguments", {}).items() if v is not None}
        try:
            archive.record_run({
                "started_at": self.started_at, "finished_at": utc_now(),
                "arguments": json.dumps(arguments), "finish_reason": reason, "outcome": outcome.text,
                **summarize(stats), "stats": json.dumps(health.without_field_counts(stats), default=str,
                                                        sort_keys=True),
                "coverage": json.dumps(run.coverage),
            })
        except (sqlite3.Error, OSError) as exc:
            logger.error("Could not record the run in crawl_runs: %s", exc)
