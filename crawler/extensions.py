"""At the end of a crawl: judge its outcome (`crawler.outcome`), log what it did, record it in
`crawl_runs`."""

from __future__ import annotations

import json
import logging
import sqlite3

from scrapy import signals

from crawler import health
from crawler.archive import ArchiveExtension, utc_now
from crawler.outcome import EXIT_OK, Outcome, Run, judge, summarize

logger = logging.getLogger(__name__)

# Loggers that report expected network failures (robots.txt unreachable) with a traceback;
# the message already names the error, so the traceback is dropped. Bugs keep theirs.
QUIET_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt",)


class _NoTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


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

    def spider_closed(self, spider, reason):
        archive = self.crawler.get_extension(ArchiveExtension)
        archive.flush()  # the last batch counts too, whichever spider_closed handler runs first
        stats = self.stats.get_stats()
        run = self.run(reason, stats)
        self.outcome = outcome = self.verdict(run)
        self.stats.set_value("dw/outcome", outcome.text)
        reasons = {k[3:]: v for k, v in sorted(stats.items())
                   if k.startswith(("dw/skipped/", "dw/failed/", "dw/blocked/"))}
        log = logger.info if outcome.ok else logger.warning if outcome.exit_code == EXIT_OK else logger.error
        log("Crawl %s (%s): %s; reasons: %s", reason, outcome,
            ", ".join(f"{k} {v}" for k, v in run.counts.items()), reasons or "none")
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
